/**
 * IoUringFileSystem: Effect's `FileSystem` service (`effect/FileSystem`) over the ring.
 *
 * It behaves as `@effect/platform-node`'s `NodeFileSystem` does, method for method: the same
 * results, the same `PlatformError` reasons (`internal/fsErrors.ts`), the same `File` handle
 * semantics. A handle keeps its own cursor (a bigint), independent of the kernel's file offset:
 *
 * - `read`/`readAlloc` read at the cursor and advance it by what they read; with `position` they
 *   read there and leave it alone (a negative position is a `BadArgument`);
 * - `write`/`writeAll` write at the cursor and advance it; in append mode (`a`, `ax`, `a+`, `ax+`)
 *   the kernel puts every write at the end (O_APPEND) and the cursor, which reads use, stays put;
 * - `seek` moves it from the start or from itself, never before 0 (`BadArgument`, unchanged);
 * - `truncate` clamps it to the new length, except in append mode.
 *
 * Every method is built from the operations of `internal/fsOps.ts`, which puts each one on the ring
 * where the ring has it (all of them: open, close, statx, read, write, fsync, ftruncate, unlink,
 * rename, mkdir, symlink, link) and on node:fs otherwise (the methods io_uring has no opcode for);
 * the package README lists, per method, what runs where. Interrupting a ring operation cancels it
 * in the kernel, an `open` included (NodeFileSystem's open, an acquire, cannot be interrupted).
 * `stream` is overridden after `FileSystem.make`: it keeps several reads ahead in flight on the
 * ring, with the chunks (sizes and bytes) the derived stream would give. The File handle is
 * `internal/fsFile.ts`'s, the streams (`stream`, `watch`) `internal/fsStream.ts`'s.
 *
 * @since 0.0.0
 */
import * as Crypto from "node:crypto"
import * as NFS from "node:fs"
import * as OS from "node:os"
import * as Path from "node:path"
import { MAX_READ_FILE, UNKNOWN_SIZE_CHUNK, Views } from "@iou/core"
import { Effect, FileSystem, Layer, Option, PlatformError, Scope } from "effect"
import { IoUring } from "./IoUring.ts"
import * as Errors from "./internal/fsErrors.ts"
import * as Fused from "./internal/fsFused.ts"
import * as Ops from "./internal/fsOps.ts"
import * as Ring from "./internal/ring.ts"
import { infoOf, MAX_IO, RingFile, typeOf } from "./internal/fsFile.ts"
import { readAheadStream, watch } from "./internal/fsStream.ts"

type Error = PlatformError.PlatformError

const DEFAULT_MODE = 0o666
/** The permission and special bits of a mode: what open(2) keeps of the mode it is given. */
const S_IALLUGO = 0o7777

const { O_APPEND, O_CREAT, O_EXCL, O_NOFOLLOW, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY } = NFS.constants

const FLAG_BITS: Readonly<Record<FileSystem.OpenFlag, number>> = {
  r: O_RDONLY,
  "r+": O_RDWR,
  w: O_WRONLY | O_CREAT | O_TRUNC,
  wx: O_WRONLY | O_CREAT | O_TRUNC | O_EXCL,
  "w+": O_RDWR | O_CREAT | O_TRUNC,
  "wx+": O_RDWR | O_CREAT | O_TRUNC | O_EXCL,
  a: O_WRONLY | O_CREAT | O_APPEND,
  ax: O_WRONLY | O_CREAT | O_APPEND | O_EXCL,
  "a+": O_RDWR | O_CREAT | O_APPEND,
  "ax+": O_RDWR | O_CREAT | O_APPEND | O_EXCL,
}

// == arguments: refused before any operation, as Node refuses them

/** Why `path` is refused, or undefined when it is a path. */
const badPath = (method: string, path: unknown): Error | undefined =>
  typeof path !== "string"
    ? Errors.badArgument(method, `path must be a string, got ${typeof path}`)
    : path.includes("\u0000")
      ? Errors.badArgument(method, "path must not contain null bytes")
      : undefined

const checkPath = (method: string, path: unknown): Effect.Effect<string, Error> => {
  const bad = badPath(method, path)
  return bad === undefined ? Effect.succeed(path as string) : Effect.fail(bad)
}

const flagBits = (method: string, flag: FileSystem.OpenFlag, noFollow: boolean): Effect.Effect<number, Error> => {
  const bits = Object.hasOwn(FLAG_BITS, flag) ? FLAG_BITS[flag] : undefined
  return bits === undefined
    ? Effect.fail(Errors.badArgument(method, `unknown open flag ${JSON.stringify(flag)}`))
    : Effect.succeed(noFollow ? bits | O_NOFOLLOW : bits)
}

const checkMode = (method: string, mode: number | undefined): Effect.Effect<number, Error> =>
  mode === undefined
    ? Effect.succeed(DEFAULT_MODE)
    : Number.isInteger(mode) && mode >= 0 && mode <= 0xffffffff
      ? Effect.succeed(mode)
      : Effect.fail(Errors.badArgument(method, `mode must be an integer in [0, 2^32), got ${String(mode)}`))

/**
 * The FileSystem over `ops`; `fused` (when the ring's Driver is reachable) does readFile, writeFile
 * and File's reads with one Effect each; `backend` is the WatchBackend present when the layer was built.
 */
const makeWith = (
  ops: Ops.FsOps,
  fused: Fused.Fused | undefined,
  backend: Option.Option<FileSystem.WatchBackend["Service"]>,
): FileSystem.FileSystem => {
  /** A node:fs call for the methods that stay on Node, its errors mapped for `method`. */
  const node = <A>(
    method: string,
    pathOrFd: string | number,
    call: (callback: (error: NodeJS.ErrnoException | null, value: A) => void) => void,
  ): Effect.Effect<A, Error> => Errors.mapTo(method, pathOrFd)(Ops.node(call))
  const done =
    (callback: (error: NodeJS.ErrnoException | null, value: void) => void) => (error: NodeJS.ErrnoException | null) =>
      callback(error, undefined)

  /**
   * An open, run by withFd and open below with the caller's own interruptibility (`restore`, where
   * an acquire would make it uninterruptible, and NodeFileSystem's open cannot be stopped at all):
   * where the caller can be interrupted, the ring cancels the open in the kernel, and an fd the
   * kernel made all the same is closed by the Driver, so an interrupted open leaves nothing to
   * release; inside the caller's uninterruptible region it runs to its end.
   */
  const openFd = (method: string, path: string, flags: number, mode: number): Effect.Effect<number, Error> =>
    Errors.mapTo(method, path)(ops.open(path, flags, mode))

  const closeFd = (method: string, fd: number): Effect.Effect<void> =>
    Effect.orDie(Errors.mapTo(method, fd)(ops.close(fd)))

  /** Opens `path` for `method`; the fd is closed when `use` ends, however it ends. */
  const withFd = <A, R>(
    method: string,
    path: string,
    flags: number,
    mode: number,
    use: (fd: number) => Effect.Effect<A, Error, R>,
  ): Effect.Effect<A, Error, R> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(restore(openFd(method, path, flags, mode)), (fd) =>
        Effect.onExit(restore(use(fd)), () => closeFd(method, fd)),
      ),
    )

  const open = (
    method: string,
    path: string,
    options?: {
      readonly flag?: FileSystem.OpenFlag | undefined
      readonly mode?: number | undefined
      readonly noFollow?: boolean | undefined
    },
  ): Effect.Effect<RingFile, Error, Scope.Scope> =>
    Effect.gen(function* () {
      yield* checkPath(method, path)
      const flag = options?.flag ?? "r"
      const flags = yield* flagBits(method, flag, options?.noFollow === true)
      const mode = yield* checkMode(method, options?.mode)
      const fd = yield* Effect.uninterruptibleMask((restore) =>
        Effect.tap(restore(openFd(method, path, flags, mode)), (fd) => Effect.addFinalizer(() => closeFd(method, fd))),
      )
      return new RingFile(ops, fd, flag.startsWith("a"), flag !== "r", fused)
    })

  const readFile = (path: string): Effect.Effect<Uint8Array, Error> => {
    // The path is checked here, not in a step of its own: the fused readFile is then one Effect.
    const bad = badPath("readFile", path)
    if (bad !== undefined) return Effect.fail(bad)
    return fused !== undefined
      ? fused.readFile(path)
      : withFd("readFile", path, O_RDONLY, DEFAULT_MODE, (fd) => {
          const read = (buffer: Uint8Array, position: number) =>
            Errors.mapTo("readFile", path)(ops.readAt(fd, buffer, position))
          // Plain flatMaps on the common path (a regular file: fstat, then one read of its size).
          return Effect.flatMap(Errors.mapTo("readFile", path)(ops.stat(fd, { followSymlinks: true })), (stats) => {
            // As Node: the size fstat gives is read for regular files; other files are read to their end.
            const size = stats.isFile() ? Number(stats.size) : 0
            if (size > MAX_READ_FILE) return Effect.fail(Fused.tooLarge(path, size))
            if (size > 0) {
              const buffer = Buffer.allocUnsafeSlow(size)
              return Effect.map(read(buffer, 0), (n) => (n === size ? buffer : Buffer.from(buffer.subarray(0, n))))
            }
            return readToEnd(read)
          })
        })
  }

  /** A file of unknown size (not a regular file), read to its end. */
  const readToEnd = (read: (buffer: Uint8Array, position: number) => Effect.Effect<number, Error>) =>
    Effect.gen(function* () {
      const chunks: Array<Buffer> = []
      let total = 0
      for (;;) {
        const chunk = Buffer.allocUnsafeSlow(UNKNOWN_SIZE_CHUNK)
        const n = yield* read(chunk, total)
        if (n === 0) break
        chunks.push(chunk.subarray(0, n))
        total += n
      }
      return Buffer.concat(chunks, total)
    })

  const writeFile: FileSystem.FileSystem["writeFile"] = (path, data, options) =>
    Effect.gen(function* () {
      yield* checkPath("writeFile", path)
      const flags = yield* flagBits("writeFile", options?.flag ?? "w", false)
      const mode = yield* checkMode("writeFile", options?.mode)
      // A plain-JS caller's string (or other value) is a defect, as every invalid argument: without
      // this, a byteLength that is undefined would write nothing over the operations one by one. So
      // is a view of a resizable ArrayBuffer, which the ring's write refuses: both before the file is
      // opened (and truncated).
      if (!(data instanceof Uint8Array)) {
        return yield* Effect.die(new TypeError(`FileSystem.writeFile: data must be a Uint8Array, got ${typeof data}`))
      }
      if (Views.isResizable(data)) {
        return yield* Effect.die(
          new TypeError(
            "FileSystem.writeFile: data is a view of a resizable ArrayBuffer, which may shrink while the kernel uses it",
          ),
        )
      }
      // One write moves at most MAX_IO bytes: refused before the file is opened (and created or
      // truncated), where node:fs would throw out of its own callback.
      if (data.byteLength > MAX_IO) {
        return yield* Errors.badArgument("writeFile", `data must be at most ${MAX_IO} bytes, got ${data.byteLength}`)
      }
      if (fused !== undefined) return yield* fused.writeFile(path, data, flags, mode & S_IALLUGO)
      yield* withFd("writeFile", path, flags, mode, (fd) =>
        data.byteLength > 0
          ? Errors.mapTo("writeFile", path)(ops.writeAt(fd, data, 0))
          : Ops.readOnly(flags)
            ? Effect.fail(Errors.emptyWriteNotWritable("writeFile", path)) // as write(2) of nothing
            : Effect.void,
      )
    })

  // node:fs for good: mkdtemp(3) has no io_uring opcode.
  const makeTempDirectoryFor =
    (method: string): FileSystem.FileSystem["makeTempDirectory"] =>
    (options) =>
      Effect.suspend(() => {
        const directory = typeof options?.directory === "string" ? Path.join(options.directory, ".") : OS.tmpdir()
        const prefix = options?.prefix ?? ""
        const template = prefix === "" ? `${directory}/` : Path.join(directory, prefix)
        return node<string>(method, template, (cb) => NFS.mkdtemp(template, cb))
      })

  /**
   * remove: a tree (`recursive`) is node:fs's rm for good (a walk with no io_uring opcode);
   * otherwise the entry is looked at (lstat) and unlinked, refusing a directory as Node's rm does.
   */
  const removeFor =
    (method: string): FileSystem.FileSystem["remove"] =>
    (path, options) => {
      const force = options?.force ?? false
      if (options?.recursive === true) {
        return node<void>(method, path, (cb) => NFS.rm(path, { recursive: true, force }, done(cb)))
      }
      const ignoreMissing = <A>(effect: Effect.Effect<A, Error>) =>
        force
          ? Effect.catchIf(
              effect,
              (e) => e.reason._tag === "NotFound",
              () => Effect.void,
            )
          : effect
      return Effect.gen(function* () {
        yield* checkPath(method, path)
        const stats = yield* Errors.mapTo(method, path)(ops.stat(path, { followSymlinks: false }))
        if (stats.isDirectory()) return yield* Errors.removeDirectory(method, path)
        yield* Errors.mapTo(method, path)(ops.unlink(path, { directory: false }))
      }).pipe(ignoreMissing, Effect.asVoid)
    }

  const makeTempFileFor =
    (method: string): FileSystem.FileSystem["makeTempFile"] =>
    (options) =>
      Effect.gen(function* () {
        const directory = yield* makeTempDirectoryFor(method)(options)
        const name = Crypto.randomBytes(6).toString("hex") + (options?.suffix ?? "")
        const file = Path.join(directory, name)
        yield* writeFile(file, new Uint8Array(0))
        return file
      })

  const statFor = (method: string, followSymlinks: boolean) => (path: string) =>
    Effect.gen(function* () {
      yield* checkPath(method, path)
      const stats = yield* Errors.mapTo(method, path)(ops.stat(path, { followSymlinks }))
      return yield* infoOf(stats, method)
    })

  const remove = removeFor("remove")

  const fileSystem = FileSystem.make({
    // node:fs for good: access(2) has no io_uring opcode.
    access: (path, options) => {
      const mode =
        NFS.constants.F_OK |
        (options?.readable === true ? NFS.constants.R_OK : 0) |
        (options?.writable === true ? NFS.constants.W_OK : 0)
      return node<void>("access", path, (cb) => NFS.access(path, mode, done(cb)))
    },
    // node:fs for good: a tree walk (cp -r).
    copy: (fromPath, toPath, options) =>
      node<void>("copy", fromPath, (cb) =>
        NFS.cp(
          fromPath,
          toPath,
          {
            recursive: true,
            force: options?.overwrite ?? false,
            preserveTimestamps: options?.preserveTimestamps ?? false,
          },
          done(cb),
        ),
      ),
    // node:fs for good: copy_file_range/FICLONE in the kernel beat a read/write pair through the ring.
    copyFile: (fromPath, toPath) => node<void>("copyFile", fromPath, (cb) => NFS.copyFile(fromPath, toPath, done(cb))),
    // node:fs for good: no io_uring opcode for chmod/chown/utimes.
    chmod: (path, mode) => node<void>("chmod", path, (cb) => NFS.chmod(path, mode, done(cb))),
    chown: (path, uid, gid) => node<void>("chown", path, (cb) => NFS.chown(path, uid, gid, done(cb))),
    link: (fromPath, toPath) =>
      Effect.flatMap(checkPath("link", fromPath), () =>
        Effect.flatMap(checkPath("link", toPath), () => Errors.mapTo("link", fromPath)(ops.link(fromPath, toPath))),
      ),
    lstat: statFor("lstat", false),
    makeDirectory: (path, options) =>
      Effect.flatMap(checkPath("makeDirectory", path), () =>
        Errors.mapTo(
          "makeDirectory",
          path,
        )(ops.mkdir(path, { mode: options?.mode, recursive: options?.recursive ?? false })),
      ),
    makeTempDirectory: makeTempDirectoryFor("makeTempDirectory"),
    makeTempDirectoryScoped: (options) =>
      Effect.acquireRelease(makeTempDirectoryFor("makeTempDirectoryScoped")(options), (directory) =>
        Effect.orDie(removeFor("makeTempDirectoryScoped")(directory, { recursive: true, force: true })),
      ),
    makeTempFile: makeTempFileFor("makeTempFile"),
    makeTempFileScoped: (options) =>
      Effect.acquireRelease(makeTempFileFor("makeTempFileScoped")(options), (file) =>
        Effect.orDie(removeFor("makeTempFileScoped")(Path.dirname(file), { recursive: true, force: true })),
      ),
    open: (path, options) => open("open", path, options),
    // node:fs for good: no io_uring opcode for getdents.
    readDirectory: (path, options) =>
      Errors.mapTo(
        "readDirectory",
        path,
      )(
        Effect.tryPromise({
          try: () => NFS.promises.readdir(path, options?.recursive === true ? { recursive: true } : undefined),
          catch: (error) => error,
        }),
      ),
    readDirectoryEntries: (path) =>
      Errors.mapTo(
        "readDirectoryEntries",
        path,
      )(
        Effect.tryPromise({
          try: () => NFS.promises.readdir(path, { withFileTypes: true }),
          catch: (error) => error,
        }),
      ).pipe(
        Effect.map((entries) =>
          entries.map(
            (entry): FileSystem.DirectoryEntry => ({
              name: entry.name,
              type: typeOf(entry as unknown as Ops.Stats),
            }),
          ),
        ),
      ),
    readFile,
    // node:fs for good: no io_uring opcode for readlink or realpath.
    readLink: (path) => node<string>("readLink", path, (cb) => NFS.readlink(path, cb)),
    realPath: (path) => node<string>("realPath", path, (cb) => NFS.realpath(path, cb)),
    remove,
    rename: (oldPath, newPath) =>
      Effect.flatMap(checkPath("rename", oldPath), () =>
        Effect.flatMap(checkPath("rename", newPath), () =>
          Errors.mapTo("rename", oldPath)(ops.rename(oldPath, newPath)),
        ),
      ),
    stat: statFor("stat", true),
    symlink: (target, path) =>
      Effect.flatMap(checkPath("symlink", target), () =>
        Effect.flatMap(checkPath("symlink", path), () => Errors.mapTo("symlink", target)(ops.symlink(target, path))),
      ),
    // truncate(path): open for writing, ftruncate, close, as Node's fs.truncate.
    truncate: (path, length) =>
      Effect.gen(function* () {
        yield* checkPath("truncate", path)
        const requested = length ?? 0
        // Checked before the file is opened, as node:fs validates it first.
        if (!Number.isSafeInteger(requested)) {
          return yield* Errors.badArgument("truncate", `length must be a safe integer, got ${String(length)}`)
        }
        yield* withFd("truncate", path, O_RDWR, DEFAULT_MODE, (fd) =>
          Errors.mapTo("truncate", path)(ops.truncate(fd, Math.max(0, requested))),
        )
      }),
    // node:fs for good: no io_uring opcode. "utime" is the method NodeFileSystem's errors name.
    utimes: (path, atime, mtime) => node<void>("utime", path, (cb) => NFS.utimes(path, atime, mtime, done(cb))),
    watch: (path, options) => watch(backend, statFor("stat", true), path, options),
    writeFile,
  })

  return { ...fileSystem, stream: readAheadStream(fileSystem.stream, (path) => open("open", path, { flag: "r" })) }
}

// == layer

/**
 * The FileSystem service over the IoUring service in context.
 *
 * @since 0.0.0
 */
export const make: Effect.Effect<FileSystem.FileSystem, never, IoUring> = Effect.gen(function* () {
  const io = yield* IoUring
  const backend = yield* Effect.serviceOption(FileSystem.WatchBackend)
  const raw = Ring.rawOf(io)
  return makeWith(Ops.make(io), raw === undefined ? undefined : Fused.make(raw), backend)
})

/**
 * `FileSystem` on the ring of the `IoUring` service (provide `NodeIoUring.layer` under it).
 *
 * @since 0.0.0
 */
export const layer: Layer.Layer<FileSystem.FileSystem, never, IoUring> = Layer.effect(FileSystem.FileSystem)(make)
