/**
 * The FileSystem behaviour suite, run twice with the same expectations: against
 * @effect/platform-node's NodeFileSystem (the reference) and against IoUringFileSystem on a real
 * ring. Real files in a scratch directory; errors compared by reason, method, syscall and target.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, layer } from "@effect/vitest"
import { probe } from "@iou/native"
import { Effect, Fiber, FileSystem, Latch, type Layer, Option, type PlatformError, Stream } from "effect"
import { composedRingLayer, decode, nodeLayer, ringLayer, scratchDir, shapeOf, text } from "./fileSystems.ts"

const supported = probe().supported

const fdOf = (file: FileSystem.File): number => (file as unknown as { readonly fd: number }).fd

/** The `code` of the error under a PlatformError (node:fs's, the ring's, or one made as Node's). */
const causeCode = (error: PlatformError.PlatformError): unknown =>
  (error.reason.cause as { code?: unknown } | undefined)?.code

const suite = (name: string, fsLayer: Layer.Layer<FileSystem.FileSystem, unknown>) =>
  layer(fsLayer, { timeout: 30_000, excludeTestServices: true })(name, (it) => {
    it.effect("writeFile then readFile round-trip bytes and strings; empty and 1 MiB files", () =>
      Effect.gen(function* () {
        const fsys = yield* FileSystem.FileSystem
        const dir = yield* scratchDir
        const file = path.join(dir, "a")
        yield* fsys.writeFileString(file, "hello, ring")
        assert.strictEqual(yield* fsys.readFileString(file), "hello, ring")
        yield* fsys.writeFile(file, new Uint8Array(0))
        assert.strictEqual((yield* fsys.readFile(file)).byteLength, 0)
        const big = new Uint8Array(1 << 20).map((_, i) => (i * 7) & 0xff)
        yield* fsys.writeFile(file, big)
        assert.deepStrictEqual(new Uint8Array(yield* fsys.readFile(file)), big)
      }),
    )

    it.effect("readFile of a missing file is NotFound (open); of a directory BadResource (read)", () =>
      Effect.gen(function* () {
        const fsys = yield* FileSystem.FileSystem
        const dir = yield* scratchDir
        const missing = yield* Effect.flip(fsys.readFile(path.join(dir, "none")))
        assert.deepStrictEqual(shapeOf(missing, dir), {
          tag: "NotFound",
          method: "readFile",
          syscall: "open",
          target: "none",
        })
        const directory = yield* Effect.flip(fsys.readFile(dir))
        assert.deepStrictEqual(shapeOf(directory, dir), {
          tag: "BadResource",
          method: "readFile",
          syscall: "read",
          target: "",
        })
      }),
    )

    it.effect("readFile reads a file whose size stat does not tell (procfs) to its end", () =>
      Effect.gen(function* () {
        const fsys = yield* FileSystem.FileSystem
        const status = decode(yield* fsys.readFile("/proc/self/status"))
        assert.match(status, /^Name:/)
        assert.match(status, /VmRSS|Threads/)
      }),
    )

    it.effect("writeFile flags: w truncates, a appends, r+ overwrites in place, wx refuses an existing file", () =>
      Effect.gen(function* () {
        const fsys = yield* FileSystem.FileSystem
        const dir = yield* scratchDir
        const file = path.join(dir, "f")
        yield* fsys.writeFileString(file, "0123456789")
        yield* fsys.writeFileString(file, "abc", { flag: "r+" })
        assert.strictEqual(yield* fsys.readFileString(file), "abc3456789")
        yield* fsys.writeFileString(file, "XY", { flag: "a" })
        assert.strictEqual(yield* fsys.readFileString(file), "abc3456789XY")
        yield* fsys.writeFileString(file, "w")
        assert.strictEqual(yield* fsys.readFileString(file), "w")
        const exists = yield* Effect.flip(fsys.writeFileString(file, "no", { flag: "wx" }))
        assert.deepStrictEqual(shapeOf(exists, dir), {
          tag: "AlreadyExists",
          method: "writeFile",
          syscall: "open",
          target: "f",
        })
        const missing = yield* Effect.flip(fsys.writeFileString(path.join(dir, "none"), "x", { flag: "r+" }))
        assert.deepStrictEqual(shapeOf(missing, dir), {
          tag: "NotFound",
          method: "writeFile",
          syscall: "open",
          target: "none",
        })
        const readOnly = yield* Effect.flip(fsys.writeFileString(file, "x", { flag: "r" }))
        assert.deepStrictEqual(shapeOf(readOnly, dir), {
          tag: "Unknown",
          method: "writeFile",
          syscall: "write",
          target: "f",
        })
        yield* fsys.writeFileString(path.join(dir, "m"), "x", { mode: 0o600 })
        assert.strictEqual((yield* fsys.stat(path.join(dir, "m"))).mode & 0o777, 0o600)
      }),
    )

    it.effect(
      "open: r on a missing file is NotFound, ax on an existing one AlreadyExists, noFollow refuses a symlink",
      () =>
        Effect.gen(function* () {
          const fsys = yield* FileSystem.FileSystem
          const dir = yield* scratchDir
          const file = path.join(dir, "f")
          const link = path.join(dir, "l")
          const missing = yield* Effect.flip(fsys.open(path.join(dir, "none")))
          assert.deepStrictEqual(shapeOf(missing, dir), {
            tag: "NotFound",
            method: "open",
            syscall: "open",
            target: "none",
          })
          yield* fsys.writeFileString(file, "data")
          const exists = yield* Effect.flip(fsys.open(file, { flag: "ax" }))
          assert.deepStrictEqual(shapeOf(exists, dir), {
            tag: "AlreadyExists",
            method: "open",
            syscall: "open",
            target: "f",
          })
          yield* fsys.symlink(file, link)
          const refused = yield* Effect.flip(fsys.open(link, { noFollow: true }))
          assert.deepStrictEqual(shapeOf(refused, dir), {
            tag: "BadResource",
            method: "open",
            syscall: "open",
            target: "l",
          })
          const followed = yield* fsys.open(link)
          assert.strictEqual(decode(Option.getOrThrow(yield* followed.readAlloc(16))), "data")
          const direct = yield* fsys.open(file, { noFollow: true })
          assert.strictEqual(decode(Option.getOrThrow(yield* direct.readAlloc(16))), "data")
          const created = yield* fsys.open(path.join(dir, "new"), { flag: "wx+", mode: 0o640 })
          assert.strictEqual((yield* created.stat).mode & 0o777, 0o640)
        }),
    )

    it.effect(
      "the File cursor: writes and reads advance it, seek from start and current, positioned reads leave it",
      () =>
        Effect.gen(function* () {
          const fsys = yield* FileSystem.FileSystem
          const dir = yield* scratchDir
          const file = yield* fsys.open(path.join(dir, "f"), { flag: "w+" })
          assert.strictEqual(yield* file.write(text("hello")), 5)
          yield* file.writeAll(text(", world"))
          assert.strictEqual(yield* file.seek(0n, "current"), 12n)
          const buffer = new Uint8Array(5)
          assert.strictEqual(yield* file.read(buffer), 0)
          assert.strictEqual(yield* file.seek(7n, "start"), 7n)
          assert.strictEqual(yield* file.read(buffer), 5)
          assert.strictEqual(decode(buffer), "world")
          assert.strictEqual(yield* file.seek(-5n, "current"), 7n)
          assert.strictEqual(yield* file.read(buffer, { position: 0n }), 5)
          assert.strictEqual(decode(buffer), "hello")
          assert.strictEqual(yield* file.seek(0n, "current"), 7n)
          assert.strictEqual(decode(Option.getOrThrow(yield* file.readAlloc(3, { position: 1n }))), "ell")
          assert.strictEqual(decode(Option.getOrThrow(yield* file.readAlloc(100))), "world")
          assert.isTrue(Option.isNone(yield* file.readAlloc(100)))
          assert.strictEqual(yield* file.read(new Uint8Array(0)), 0)
          // Writing past the end leaves a hole of zeros.
          yield* file.seek(14n, "start")
          yield* file.writeAll(text("!"))
          assert.deepStrictEqual(
            Array.from(Option.getOrThrow(yield* file.readAlloc(4, { position: 11n }))),
            [100, 0, 0, 33],
          )
          assert.strictEqual(Number((yield* file.stat).size), 15)
          yield* file.sync
        }),
    )

    it.effect("cursor errors: seek before 0 and negative positions are BadArgument and leave the cursor", () =>
      Effect.gen(function* () {
        const fsys = yield* FileSystem.FileSystem
        const dir = yield* scratchDir
        const file = yield* fsys.open(path.join(dir, "f"), { flag: "w+" })
        yield* file.writeAll(text("abc"))
        assert.deepStrictEqual(shapeOf(yield* Effect.flip(file.seek(-4n, "current"))), {
          tag: "BadArgument",
          method: "seek",
        })
        assert.strictEqual(yield* file.seek(0n, "current"), 3n)
        assert.deepStrictEqual(shapeOf(yield* Effect.flip(file.seek(-1n, "start"))), {
          tag: "BadArgument",
          method: "seek",
        })
        assert.deepStrictEqual(shapeOf(yield* Effect.flip(file.read(new Uint8Array(1), { position: -1n }))), {
          tag: "BadArgument",
          method: "read",
        })
        assert.deepStrictEqual(shapeOf(yield* Effect.flip(file.readAlloc(1, { position: -1n }))), {
          tag: "BadArgument",
          method: "readAlloc",
        })
        assert.deepStrictEqual(shapeOf(yield* Effect.flip(file.readAlloc(-1))), {
          tag: "BadArgument",
          method: "readAlloc",
        })
        assert.deepStrictEqual(
          shapeOf(yield* Effect.flip(file.read(new Uint8Array(4), { position: (1n << 63n) - 1n }))),
          {
            tag: "BadArgument",
            method: "read",
          },
        )
        // A position past 2^53 but within off_t is read there (past the end: nothing).
        assert.strictEqual(yield* file.read(new Uint8Array(4), { position: 1n << 60n }), 0)
        assert.strictEqual(yield* file.read(new Uint8Array(4), { position: (1n << 63n) - 5n }), 0)
        yield* file.seek(1n << 60n, "start")
        assert.deepStrictEqual(shapeOf(yield* Effect.flip(file.write(text("x")))), {
          tag: "BadArgument",
          method: "write",
        })
        assert.strictEqual(yield* file.seek(0n, "current"), 1n << 60n)
      }),
    )

    it.effect("append mode: writes go to the end and the read cursor keeps its own place", () =>
      Effect.gen(function* () {
        const fsys = yield* FileSystem.FileSystem
        const dir = yield* scratchDir
        const name = path.join(dir, "f")
        yield* fsys.writeFileString(name, "xyz")
        const file = yield* fsys.open(name, { flag: "a+" })
        assert.strictEqual(yield* file.write(text("abc")), 3)
        yield* file.writeAll(text("def"))
        assert.strictEqual(yield* file.seek(0n, "current"), 0n)
        assert.strictEqual(decode(Option.getOrThrow(yield* file.readAlloc(4))), "xyza")
        yield* file.seek(1n, "start")
        yield* file.writeAll(text("!"))
        assert.strictEqual(yield* file.seek(0n, "current"), 1n)
        assert.strictEqual(yield* fsys.readFileString(name), "xyzabcdef!")
        // truncate does not clamp the cursor in append mode
        yield* file.seek(8n, "start")
        yield* file.truncate(2)
        assert.strictEqual(yield* file.seek(0n, "current"), 8n)
        assert.strictEqual(yield* fsys.readFileString(name), "xy")
      }),
    )

    it.effect("truncate clamps the cursor to the new length; it grows a file with zeros", () =>
      Effect.gen(function* () {
        const fsys = yield* FileSystem.FileSystem
        const dir = yield* scratchDir
        const name = path.join(dir, "f")
        const file = yield* fsys.open(name, { flag: "w+" })
        yield* file.writeAll(text("0123456789"))
        yield* file.truncate(4)
        assert.strictEqual(yield* file.seek(0n, "current"), 4n)
        yield* file.truncate(6)
        assert.strictEqual(yield* file.seek(0n, "current"), 4n)
        assert.deepStrictEqual(Array.from(yield* fsys.readFile(name)), [48, 49, 50, 51, 0, 0])
        yield* file.truncate()
        assert.strictEqual(yield* file.seek(0n, "current"), 0n)
        assert.strictEqual(Number((yield* file.stat).size), 0)
        assert.deepStrictEqual(shapeOf(yield* Effect.flip(file.truncate(1.5))), {
          tag: "BadArgument",
          method: "truncate",
        })
      }),
    )

    it.effect(
      "a handle refuses what its mode does not allow: write (even of nothing) on r and read on a are EBADF (Unknown)",
      () =>
        Effect.gen(function* () {
          const fsys = yield* FileSystem.FileSystem
          const dir = yield* scratchDir
          const name = path.join(dir, "f")
          yield* fsys.writeFileString(name, "abc")
          const reader = yield* fsys.open(name)
          const write = yield* Effect.flip(reader.write(text("x")))
          assert.deepStrictEqual(shapeOf(write), { tag: "Unknown", method: "write", syscall: "write", target: "fd" })
          assert.strictEqual(write.reason._tag !== "BadArgument" && write.reason.pathOrDescriptor, fdOf(reader))
          const empty = yield* Effect.flip(reader.write(new Uint8Array(0)))
          assert.deepStrictEqual(shapeOf(empty), { tag: "Unknown", method: "write", syscall: "write", target: "fd" })
          assert.strictEqual(causeCode(empty), "EBADF")
          const writeAll = yield* Effect.flip(reader.writeAll(text("x")))
          assert.deepStrictEqual(shapeOf(writeAll), {
            tag: "Unknown",
            method: "writeAll",
            syscall: "write",
            target: "fd",
          })
          const truncate = yield* Effect.flip(reader.truncate(1))
          assert.deepStrictEqual(shapeOf(truncate), {
            tag: "Unknown",
            method: "truncate",
            syscall: "ftruncate",
            target: "fd",
          })
          const writer = yield* fsys.open(name, { flag: "a" })
          const read = yield* Effect.flip(writer.read(new Uint8Array(2)))
          assert.deepStrictEqual(shapeOf(read), { tag: "Unknown", method: "read", syscall: "read", target: "fd" })
          const readAlloc = yield* Effect.flip(writer.readAlloc(2))
          assert.deepStrictEqual(shapeOf(readAlloc), {
            tag: "Unknown",
            method: "readAlloc",
            syscall: "read",
            target: "fd",
          })
        }),
    )

    it.effect("stat, lstat and File.stat: types, sizes, NotFound with the syscall", () =>
      Effect.gen(function* () {
        const fsys = yield* FileSystem.FileSystem
        const dir = yield* scratchDir
        const name = path.join(dir, "f")
        yield* fsys.writeFileString(name, "12345")
        yield* fsys.symlink(name, path.join(dir, "l"))
        const info = yield* fsys.stat(name)
        assert.strictEqual(info.type, "File")
        assert.strictEqual(Number(info.size), 5)
        const reference = fs.statSync(name, { bigint: true })
        assert.strictEqual(info.ino._tag === "Some" && info.ino.value, reference.ino)
        assert.strictEqual(info.dev, reference.dev)
        assert.strictEqual((yield* fsys.stat(path.join(dir, "l"))).type, "File")
        assert.strictEqual((yield* fsys.lstat(path.join(dir, "l"))).type, "SymbolicLink")
        assert.strictEqual((yield* fsys.stat(dir)).type, "Directory")
        assert.strictEqual((yield* fsys.stat("/dev/null")).type, "CharacterDevice")
        const file = yield* fsys.open(name)
        assert.strictEqual(Number((yield* file.stat).size), 5)
        assert.deepStrictEqual(shapeOf(yield* Effect.flip(fsys.stat(path.join(dir, "none"))), dir), {
          tag: "NotFound",
          method: "stat",
          syscall: "stat",
          target: "none",
        })
        assert.deepStrictEqual(shapeOf(yield* Effect.flip(fsys.lstat(path.join(dir, "none"))), dir), {
          tag: "NotFound",
          method: "lstat",
          syscall: "lstat",
          target: "none",
        })
        assert.deepStrictEqual(shapeOf(yield* Effect.flip(fsys.stat(path.join(name, "x"))), dir), {
          tag: "BadResource",
          method: "stat",
          syscall: "stat",
          target: "f/x",
        })
      }),
    )

    it.effect("directories: makeDirectory (recursive or not), rename, remove with its errors", () =>
      Effect.gen(function* () {
        const fsys = yield* FileSystem.FileSystem
        const dir = yield* scratchDir
        const sub = path.join(dir, "sub")
        yield* fsys.makeDirectory(sub, { mode: 0o750 })
        assert.strictEqual((yield* fsys.stat(sub)).mode & 0o777, 0o750)
        assert.deepStrictEqual(shapeOf(yield* Effect.flip(fsys.makeDirectory(sub)), dir), {
          tag: "AlreadyExists",
          method: "makeDirectory",
          syscall: "mkdir",
          target: "sub",
        })
        // Typed void; at run time, as Node's mkdir -p, the first directory made (none: undefined).
        const made = (effect: Effect.Effect<void, unknown>) => effect as Effect.Effect<unknown, unknown>
        assert.strictEqual(yield* made(fsys.makeDirectory(sub, { recursive: true })), undefined)
        assert.strictEqual(
          yield* made(fsys.makeDirectory(path.join(dir, "a/b/c"), { recursive: true })),
          path.join(dir, "a"),
        )
        assert.strictEqual(
          yield* made(fsys.makeDirectory(path.join(dir, "a/b/d"), { recursive: true })),
          path.join(dir, "a/b/d"),
        )
        assert.strictEqual((yield* fsys.stat(path.join(dir, "a/b/c"))).type, "Directory")
        assert.deepStrictEqual(shapeOf(yield* Effect.flip(fsys.makeDirectory(path.join(dir, "x/y"))), dir), {
          tag: "NotFound",
          method: "makeDirectory",
          syscall: "mkdir",
          target: "x/y",
        })
        yield* fsys.writeFileString(path.join(sub, "f"), "f")
        yield* fsys.rename(path.join(sub, "f"), path.join(dir, "g"))
        assert.strictEqual(yield* fsys.readFileString(path.join(dir, "g")), "f")
        assert.deepStrictEqual(
          shapeOf(yield* Effect.flip(fsys.rename(path.join(dir, "none"), path.join(dir, "h"))), dir),
          {
            tag: "NotFound",
            method: "rename",
            syscall: "rename",
            target: "none",
          },
        )
        yield* fsys.remove(path.join(dir, "g"))
        assert.isFalse(yield* fsys.exists(path.join(dir, "g")))
        assert.deepStrictEqual(shapeOf(yield* Effect.flip(fsys.remove(path.join(dir, "g"))), dir), {
          tag: "NotFound",
          method: "remove",
          syscall: "lstat",
          target: "g",
        })
        yield* fsys.remove(path.join(dir, "g"), { force: true })
        const removeDir = yield* Effect.flip(fsys.remove(sub))
        assert.deepStrictEqual(shapeOf(removeDir, dir), {
          tag: "Unknown",
          method: "remove",
          syscall: "rm",
          target: "sub",
        })
        assert.strictEqual(causeCode(removeDir), "ERR_FS_EISDIR")
        yield* fsys.remove(path.join(dir, "a"), { recursive: true })
        assert.isFalse(yield* fsys.exists(path.join(dir, "a")))
      }),
    )

    it.effect(
      "makeDirectory recursive as Node's mkdir -p: a file, a dangling link or a file parent in the way; modes as node:fs takes them",
      () =>
        Effect.gen(function* () {
          const fsys = yield* FileSystem.FileSystem
          const dir = yield* scratchDir
          const file = path.join(dir, "f")
          yield* fsys.writeFileString(file, "x")
          fs.symlinkSync("none", path.join(dir, "dangling"))
          const failure = (target: string, options?: Parameters<FileSystem.FileSystem["makeDirectory"]>[1]) =>
            Effect.map(Effect.flip(fsys.makeDirectory(path.join(dir, target), options)), (e) => shapeOf(e, dir))
          assert.deepStrictEqual(yield* failure("f", { recursive: true }), {
            tag: "AlreadyExists",
            method: "makeDirectory",
            syscall: "mkdir",
            target: "f",
          })
          assert.deepStrictEqual(yield* failure("f/a/b", { recursive: true }), {
            tag: "BadResource",
            method: "makeDirectory",
            syscall: "mkdir",
            target: "f/a/b",
          })
          // mkdir says EEXIST, the stat that follows the link finds nothing: NotFound, named mkdir.
          assert.deepStrictEqual(yield* failure("dangling", { recursive: true }), {
            tag: "NotFound",
            method: "makeDirectory",
            syscall: "mkdir",
            target: "dangling",
          })
          // A parent that exists (EEXIST) but is no directory, even a dangling link: NotADirectory.
          assert.deepStrictEqual(yield* failure("dangling/sub", { recursive: true }), {
            tag: "BadResource",
            method: "makeDirectory",
            syscall: "mkdir",
            target: "dangling/sub",
          })
          // Relative paths resolve against the working directory, and a trailing slash is no error.
          const relative = path.relative(process.cwd(), path.join(dir, "r/s/"))
          yield* fsys.makeDirectory(relative + "/", { recursive: true })
          assert.strictEqual((yield* fsys.stat(path.join(dir, "r/s"))).type, "Directory")
          // The kernel keeps a mode's low 12 bits; node:fs takes any integer in [0, 2^32).
          yield* fsys.makeDirectory(path.join(dir, "m"), { mode: 0o40700 })
          assert.strictEqual((yield* fsys.stat(path.join(dir, "m"))).mode & 0o7777, 0o700)
          yield* fsys.makeDirectory(path.join(dir, "p/q"), { recursive: true, mode: 0o40700 })
          assert.strictEqual((yield* fsys.stat(path.join(dir, "p"))).mode & 0o7777, 0o700)
          for (const mode of [-1, 1.5, 2 ** 32]) {
            assert.deepStrictEqual(yield* failure(`bad${mode}`, { mode }), {
              tag: "BadArgument",
              method: "makeDirectory",
            })
            assert.isFalse(fs.existsSync(path.join(dir, `bad${mode}`)))
          }
          const opened = yield* fsys.open(path.join(dir, "o"), { flag: "w", mode: 0o100600 })
          assert.strictEqual((yield* opened.stat).mode & 0o7777, 0o600)
        }),
    )

    it.effect("File.truncate beyond a safe integer is a BadArgument and changes nothing", () =>
      Effect.gen(function* () {
        const fsys = yield* FileSystem.FileSystem
        const dir = yield* scratchDir
        const name = path.join(dir, "f")
        yield* fsys.writeFileString(name, "12345")
        const file = yield* fsys.open(name, { flag: "r+" })
        assert.deepStrictEqual(shapeOf(yield* Effect.flip(file.truncate(2 ** 60))), {
          tag: "BadArgument",
          method: "truncate",
        })
        assert.strictEqual(Number((yield* file.stat).size), 5)
      }),
    )

    it.effect("links: symlink, link, readLink, realPath; an existing target is AlreadyExists", () =>
      Effect.gen(function* () {
        const fsys = yield* FileSystem.FileSystem
        const dir = yield* scratchDir
        const name = path.join(dir, "f")
        yield* fsys.writeFileString(name, "x")
        yield* fsys.symlink("f", path.join(dir, "s"))
        assert.strictEqual(yield* fsys.readLink(path.join(dir, "s")), "f")
        assert.strictEqual(yield* fsys.realPath(path.join(dir, "s")), fs.realpathSync(name))
        yield* fsys.link(name, path.join(dir, "h"))
        assert.strictEqual((yield* fsys.stat(name)).nlink.pipe(Option.getOrThrow), 2n)
        assert.deepStrictEqual(shapeOf(yield* Effect.flip(fsys.symlink("f", path.join(dir, "h")))), {
          tag: "AlreadyExists",
          method: "symlink",
          syscall: "symlink",
          target: "f",
        })
        assert.deepStrictEqual(
          shapeOf(yield* Effect.flip(fsys.link(path.join(dir, "none"), path.join(dir, "k"))), dir),
          {
            tag: "NotFound",
            method: "link",
            syscall: "link",
            target: "none",
          },
        )
      }),
    )

    it.effect("truncate(path) shortens and grows; a missing path is NotFound (open)", () =>
      Effect.gen(function* () {
        const fsys = yield* FileSystem.FileSystem
        const dir = yield* scratchDir
        const name = path.join(dir, "f")
        yield* fsys.writeFileString(name, "0123456789")
        yield* fsys.truncate(name, 3)
        assert.strictEqual(yield* fsys.readFileString(name), "012")
        yield* fsys.truncate(name, 5)
        assert.deepStrictEqual(Array.from(yield* fsys.readFile(name)), [48, 49, 50, 0, 0])
        yield* fsys.truncate(name)
        assert.strictEqual(Number((yield* fsys.stat(name)).size), 0)
        assert.deepStrictEqual(shapeOf(yield* Effect.flip(fsys.truncate(path.join(dir, "none"), 1)), dir), {
          tag: "NotFound",
          method: "truncate",
          syscall: "open",
          target: "none",
        })
      }),
    )

    it.effect("truncate(path) with a length beyond a safe integer is a BadArgument before anything is opened", () =>
      Effect.gen(function* () {
        const fsys = yield* FileSystem.FileSystem
        const dir = yield* scratchDir
        const e = yield* Effect.flip(fsys.truncate(path.join(dir, "none"), 2 ** 54))
        assert.strictEqual(e.reason._tag, "BadArgument")
        assert.isFalse(fs.existsSync(path.join(dir, "none")))
      }),
    )

    it.effect(
      "opens inside an uninterruptible region run to their end when the fiber is interrupted (truncate, open wx, writeFile)",
      () =>
        Effect.gen(function* () {
          const fsys = yield* FileSystem.FileSystem
          const dir = yield* scratchDir
          const n = 20
          for (let i = 0; i < n; i++) fs.writeFileSync(path.join(dir, `t${i}`), "0123456789")
          for (let i = 0; i < n; i++) {
            const programs = [
              fsys.truncate(path.join(dir, `t${i}`), 2),
              Effect.scoped(fsys.open(path.join(dir, `o${i}`), { flag: "wx" })),
              fsys.writeFileString(path.join(dir, `w${i}`), "written"),
            ]
            for (const program of programs) {
              const fiber = yield* Effect.forkChild(Effect.uninterruptible(program))
              yield* Effect.yieldNow
              yield* Fiber.interrupt(fiber)
            }
          }
          for (let i = 0; i < n; i++) {
            assert.strictEqual(fs.readFileSync(path.join(dir, `t${i}`), "latin1"), "01")
            assert.isTrue(fs.existsSync(path.join(dir, `o${i}`)))
            assert.strictEqual(fs.readFileSync(path.join(dir, `w${i}`), "latin1"), "written")
          }
        }),
    )

    it.effect("stream with a chunkSize too large to allocate fails with BadArgument (readAlloc)", () =>
      Effect.gen(function* () {
        const fsys = yield* FileSystem.FileSystem
        const dir = yield* scratchDir
        const name = path.join(dir, "f")
        fs.writeFileSync(name, "0123456789")
        const e = yield* Effect.flip(Stream.runCollect(fsys.stream(name, { chunkSize: 2 ** 40 })))
        assert.deepStrictEqual([e.reason._tag, (e.reason as { method?: string }).method], ["BadArgument", "readAlloc"])
      }),
    )

    it.effect("scoped temporary files and directories are gone when their scope closes", () =>
      Effect.gen(function* () {
        const fsys = yield* FileSystem.FileSystem
        const dir = yield* scratchDir
        const [tempDir, tempFile] = yield* Effect.scoped(
          Effect.gen(function* () {
            const d = yield* fsys.makeTempDirectoryScoped({ directory: dir, prefix: "td-" })
            const f = yield* fsys.makeTempFileScoped({ directory: dir, prefix: "tf-", suffix: ".txt" })
            assert.strictEqual((yield* fsys.stat(d)).type, "Directory")
            assert.strictEqual(Number((yield* fsys.stat(f)).size), 0)
            assert.isTrue(path.basename(d).startsWith("td-"))
            assert.isTrue(path.basename(path.dirname(f)).startsWith("tf-"))
            assert.isTrue(f.endsWith(".txt"))
            yield* fsys.writeFileString(path.join(d, "inner"), "x")
            return [d, f] as const
          }),
        )
        assert.isFalse(fs.existsSync(tempDir))
        assert.isFalse(fs.existsSync(path.dirname(tempFile)))
        const kept = yield* fsys.makeTempFile({ directory: dir })
        assert.isTrue(fs.existsSync(kept))
        assert.deepStrictEqual(
          shapeOf(yield* Effect.flip(fsys.makeTempDirectory({ directory: path.join(dir, "none") })), dir),
          {
            tag: "NotFound",
            method: "makeTempDirectory",
            syscall: "mkdtemp",
            target: "none",
          },
        )
      }),
    )

    it.effect("stream honours offset, bytesToRead and chunkSize; sink writes what it is given", () =>
      Effect.gen(function* () {
        const fsys = yield* FileSystem.FileSystem
        const dir = yield* scratchDir
        const name = path.join(dir, "f")
        const data = new Uint8Array(100_000).map((_, i) => (i * 13) & 0xff)
        yield* Stream.make(data.subarray(0, 30_000), data.subarray(30_000)).pipe(Stream.run(fsys.sink(name)))
        assert.deepStrictEqual(new Uint8Array(yield* fsys.readFile(name)), data)
        const sizes = (chunks: ReadonlyArray<Uint8Array>) => chunks.map((c) => c.byteLength)
        const all = yield* Stream.runCollect(fsys.stream(name, { chunkSize: 16_384 }))
        assert.deepStrictEqual(sizes(all), [16384, 16384, 16384, 16384, 16384, 16384, 1696])
        const part = yield* Stream.runCollect(
          fsys.stream(name, { offset: 1000, bytesToRead: 40_000, chunkSize: 16_384 }),
        )
        assert.deepStrictEqual(sizes(part), [16384, 16384, 7232])
        const joined = new Uint8Array(part.flatMap((c) => Array.from(c)))
        assert.deepStrictEqual(joined, data.subarray(1000, 41_000))
        const tail = yield* Stream.runCollect(fsys.stream(name, { offset: 99_990, bytesToRead: 1000 }))
        assert.deepStrictEqual(sizes(tail), [10])
        assert.deepStrictEqual(sizes(yield* Stream.runCollect(fsys.stream(name, { bytesToRead: 0 }))), [])
        assert.deepStrictEqual(sizes(yield* Stream.runCollect(fsys.stream(name, { offset: 200_000 }))), [])
        assert.deepStrictEqual(sizes(yield* Stream.runCollect(fsys.stream(name, { chunkSize: 0 }))), [])
        const first = yield* Stream.runCollect(Stream.take(fsys.stream(name, { chunkSize: 10 }), 2))
        assert.deepStrictEqual(sizes(first), [10, 10])
        const missing = yield* Effect.flip(Stream.runCollect(fsys.stream(path.join(dir, "none"))))
        assert.deepStrictEqual(shapeOf(missing, dir), {
          tag: "NotFound",
          method: "open",
          syscall: "open",
          target: "none",
        })
        const directory = yield* Effect.flip(Stream.runCollect(fsys.stream(dir)))
        assert.deepStrictEqual(shapeOf(directory, dir), {
          tag: "BadResource",
          method: "readAlloc",
          syscall: "read",
          target: "fd",
        })
        yield* Stream.make(text("more")).pipe(Stream.run(fsys.sink(name, { flag: "a" })))
        assert.strictEqual(decode((yield* fsys.readFile(name)).subarray(100_000)), "more")
      }),
    )

    it.effect(
      "a stream reads on a file that grows while it is read: its end is where the file ends when the consumer gets there",
      () =>
        Effect.gen(function* () {
          const fsys = yield* FileSystem.FileSystem
          const dir = yield* scratchDir
          const name = path.join(dir, "growing")
          fs.writeFileSync(name, new Uint8Array(5000))
          let chunks = 0
          let bytes = 0
          yield* Stream.runForEach(fsys.stream(name, { chunkSize: 1000 }), (chunk) =>
            Effect.sync(() => {
              // While the third chunk is handled (the reads ahead have found the end by then), 3,000
              // bytes more.
              if (++chunks === 3) fs.appendFileSync(name, new Uint8Array(3000))
              bytes += chunk.byteLength
            }),
          )
          assert.strictEqual(bytes, 8000)
        }),
    )

    it.effect(
      "a read or write of more than 2^31 - 1 bytes is a BadArgument, and a writeFile of nothing with flag r fails as write(2) (EBADF)",
      () =>
        Effect.gen(function* () {
          const fsys = yield* FileSystem.FileSystem
          const dir = yield* scratchDir
          const name = path.join(dir, "f")
          yield* fsys.writeFileString(name, "x")
          const huge = Buffer.allocUnsafeSlow(2 ** 31) // never touched: no memory behind it
          const file = yield* fsys.open(name, { flag: "r+" })
          for (const attempt of [file.read(huge), file.write(huge)]) {
            assert.strictEqual(shapeOf(yield* Effect.flip(attempt), dir).tag, "BadArgument")
          }
          const empty = yield* Effect.flip(fsys.writeFile(name, new Uint8Array(0), { flag: "r" }))
          assert.deepStrictEqual(shapeOf(empty, dir), {
            tag: "Unknown",
            method: "writeFile",
            syscall: "write",
            target: "f",
          })
        }),
    )

    it.effect(
      "readFile of a file over 2 GiB - 1 fails as Node's does (Unknown, readFile, its path, ERR_FS_FILE_TOO_LARGE as its cause) and leaves no fd",
      () =>
        Effect.gen(function* () {
          const fsys = yield* FileSystem.FileSystem
          const dir = yield* scratchDir
          const name = path.join(dir, "big")
          fs.writeFileSync(name, "")
          fs.truncateSync(name, 2 ** 31) // a hole: no disk space
          const fds = fs.readdirSync("/proc/self/fd").length
          const e = yield* Effect.flip(fsys.readFile(name))
          assert.deepStrictEqual(shapeOf(e, dir), {
            tag: "Unknown",
            method: "readFile",
            syscall: undefined,
            target: "big",
          })
          assert.strictEqual(causeCode(e), "ERR_FS_FILE_TOO_LARGE")
          assert.strictEqual(fs.readdirSync("/proc/self/fd").length, fds)
        }),
    )

    it.effect(
      // One read(2) moves at most 0x7ffff000 bytes; the ring's readAt goes on from a short read
      // (the loop's partial progress), so the composed readFile's one readAt gets the whole file too.
      "readFile of a file larger than one read(2) moves (0x7ffff000 bytes) returns every byte",
      () =>
        Effect.gen(function* () {
          const fsys = yield* FileSystem.FileSystem
          const dir = yield* scratchDir
          const name = path.join(dir, "large")
          const oneRead = 0x7ffff000
          const size = oneRead + 8
          fs.writeFileSync(name, "")
          fs.truncateSync(name, size) // a hole but for the marks: no disk space
          const fd = fs.openSync(name, "r+")
          fs.writeSync(fd, "head", 0, "latin1")
          fs.writeSync(fd, "[mid]", oneRead - 2, "latin1") // across the first read's end
          fs.writeSync(fd, "tail", size - 4, "latin1")
          fs.closeSync(fd)
          let bytes: Uint8Array | undefined = yield* fsys.readFile(name)
          const got = {
            length: bytes.length,
            head: Buffer.from(bytes.subarray(0, 4)).toString("latin1"),
            mid: Buffer.from(bytes.subarray(oneRead - 2, oneRead + 3)).toString("latin1"),
            tail: Buffer.from(bytes.subarray(size - 4)).toString("latin1"),
          }
          bytes = undefined // 2 GiB: not kept past the test
          assert.deepStrictEqual(got, { length: size, head: "head", mid: "[mid]", tail: "tail" })
        }),
      60_000,
    )

    it.effect("the methods that stay on Node: access, exists, chmod, utimes, copy, copyFile, readDirectory", () =>
      Effect.gen(function* () {
        const fsys = yield* FileSystem.FileSystem
        const dir = yield* scratchDir
        const name = path.join(dir, "f")
        yield* fsys.writeFileString(name, "x")
        yield* fsys.access(name, { readable: true, writable: true })
        assert.isTrue(yield* fsys.exists(name))
        assert.isFalse(yield* fsys.exists(path.join(dir, "none")))
        assert.deepStrictEqual(shapeOf(yield* Effect.flip(fsys.access(path.join(dir, "none"))), dir), {
          tag: "NotFound",
          method: "access",
          syscall: "access",
          target: "none",
        })
        yield* fsys.chmod(name, 0o604)
        assert.strictEqual((yield* fsys.stat(name)).mode & 0o777, 0o604)
        yield* fsys.utimes(name, 1_000_000, new Date(2_000_000_000))
        assert.strictEqual((yield* fsys.stat(name)).mtime.pipe(Option.getOrThrow).getTime(), 2_000_000_000)
        assert.deepStrictEqual(shapeOf(yield* Effect.flip(fsys.utimes(path.join(dir, "none"), 0, 0)), dir), {
          tag: "NotFound",
          method: "utime",
          syscall: "utime",
          target: "none",
        })
        yield* fsys.copyFile(name, path.join(dir, "g"))
        yield* fsys.makeDirectory(path.join(dir, "d/e"), { recursive: true })
        yield* fsys.writeFileString(path.join(dir, "d/e/h"), "h")
        yield* fsys.copy(path.join(dir, "d"), path.join(dir, "d2"))
        assert.strictEqual(yield* fsys.readFileString(path.join(dir, "d2/e/h")), "h")
        assert.deepStrictEqual((yield* fsys.readDirectory(dir)).sort(), ["d", "d2", "f", "g"])
        assert.deepStrictEqual((yield* fsys.readDirectory(path.join(dir, "d"), { recursive: true })).sort(), [
          "e",
          "e/h",
        ])
        const entries = yield* fsys.readDirectoryEntries(path.join(dir, "d"))
        assert.deepStrictEqual(entries, [{ name: "e", type: "Directory" }])
        assert.deepStrictEqual((yield* fsys.glob("**/h", { root: dir })).sort(), ["d/e/h", "d2/e/h"])
        assert.deepStrictEqual(shapeOf(yield* Effect.flip(fsys.readDirectory(path.join(dir, "none"))), dir), {
          tag: "NotFound",
          method: "readDirectory",
          syscall: "scandir",
          target: "none",
        })
      }),
    )

    it.effect("watch reports a created file (an Update for its write may come first)", () =>
      Effect.gen(function* () {
        const fsys = yield* FileSystem.FileSystem
        const dir = yield* scratchDir
        const ready = yield* Latch.make()
        const fiber = yield* fsys.watch(dir, { onReady: () => ready.openUnsafe() }).pipe(
          Stream.filter((event) => event._tag === "Create"),
          Stream.take(1),
          Stream.runCollect,
          Effect.forkChild,
        )
        yield* ready.await
        yield* fsys.writeFileString(path.join(dir, "new"), "x")
        const events = yield* Fiber.join(fiber)
        assert.deepStrictEqual(events, [{ _tag: "Create", path: "new" }])
      }),
    )
  })

describe.skipIf(!supported)(
  "IoUringFileSystem on a kernel without MKDIRAT, SYMLINKAT and LINKAT (before Linux 5.15)",
  () => {
    // The Driver learns which opcodes the kernel lacks when it opens, which the layer below does
    // before its test runs; the test puts the variable back first thing.
    const saved = process.env["IOU_SIMULATE_MISSING"]
    process.env["IOU_SIMULATE_MISSING"] = "OP_MKDIRAT,OP_SYMLINKAT,OP_LINKAT"
    layer(ringLayer, { timeout: 30_000, excludeTestServices: true })("mkdir, symlink and link", (it) => {
      it.effect("go through node:fs, as NodeFileSystem's do", () =>
        Effect.gen(function* () {
          if (saved === undefined) delete process.env["IOU_SIMULATE_MISSING"]
          else process.env["IOU_SIMULATE_MISSING"] = saved
          const fsys = yield* FileSystem.FileSystem
          const dir = yield* scratchDir
          yield* fsys.makeDirectory(path.join(dir, "d"))
          yield* fsys.makeDirectory(path.join(dir, "a", "b", "c"), { recursive: true })
          yield* fsys.writeFileString(path.join(dir, "f"), "x")
          yield* fsys.symlink("f", path.join(dir, "s"))
          yield* fsys.link(path.join(dir, "f"), path.join(dir, "l"))
          assert.isTrue(fs.statSync(path.join(dir, "d")).isDirectory())
          assert.isTrue(fs.statSync(path.join(dir, "a", "b", "c")).isDirectory())
          assert.strictEqual(fs.readlinkSync(path.join(dir, "s")), "f")
          assert.strictEqual(fs.statSync(path.join(dir, "l")).nlink, 2)
          const exists = yield* Effect.flip(fsys.makeDirectory(path.join(dir, "d")))
          assert.deepStrictEqual(shapeOf(exists, dir), {
            tag: "AlreadyExists",
            method: "makeDirectory",
            syscall: "mkdir",
            target: "d",
          })
        }),
      )
    })
  },
)

describe("FileSystem behaviour", () => {
  suite("NodeFileSystem", nodeLayer)
  describe.skipIf(!supported)("on the ring", () => {
    suite("IoUringFileSystem", ringLayer)
    suite("IoUringFileSystem, operations one by one", composedRingLayer)
  })
})
