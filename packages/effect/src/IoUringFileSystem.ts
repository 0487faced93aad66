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
 * `stream` is overridden after `FileSystem.make`: it keeps several reads ahead in flight on the ring, with the
 * chunks (sizes and bytes) the derived stream would give.
 *
 * @since 0.0.0
 */
import * as Crypto from "node:crypto"
import * as NFS from "node:fs"
import * as OS from "node:os"
import * as Path from "node:path"
import {
  BigInt as BI,
  ByteSize,
  Cause,
  Effect,
  Fiber,
  FileSystem,
  Layer,
  Option,
  PlatformError,
  Queue,
  Scope,
  Stream,
} from "effect"
import { IoUring } from "./IoUring.ts"
import * as Errors from "./internal/fsErrors.ts"
import * as Ops from "./internal/fsOps.ts"

type Error = PlatformError.PlatformError

/** Largest file offset (off_t is signed 64-bit). */
const MAX_POSITION = (1n << 63n) - 1n
/** Node's chunk for files whose size fstat does not tell (procfs, pipes). */
const UNKNOWN_SIZE_CHUNK = 64 * 1024
/** Node's largest readFile (its kIoMaxLength). */
const MAX_READ_FILE = 2 ** 31 - 1
const DEFAULT_MODE = 0o666

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

const checkPath = (method: string, path: unknown): Effect.Effect<string, Error> =>
  typeof path !== "string"
    ? Effect.fail(Errors.badArgument(method, `path must be a string, got ${typeof path}`))
    : path.includes("\u0000")
      ? Effect.fail(Errors.badArgument(method, "path must not contain null bytes"))
      : Effect.succeed(path)

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

const negativePosition = (method: string) => Errors.badArgument(method, "Cannot read before the start of the file")

// == metadata

const typeOf = (stats: Ops.Stats): FileSystem.File.Type =>
  stats.isFile()
    ? "File"
    : stats.isDirectory()
      ? "Directory"
      : stats.isSymbolicLink()
        ? "SymbolicLink"
        : stats.isBlockDevice()
          ? "BlockDevice"
          : stats.isCharacterDevice()
            ? "CharacterDevice"
            : stats.isFIFO()
              ? "FIFO"
              : stats.isSocket()
                ? "Socket"
                : "Unknown"

/**
 * `stats` as a `File.Info`. dev_t, ino_t and nlink_t are unsigned 64-bit, but arrive through a
 * signed 64-bit field: `asUintN` gives them back their value.
 */
const infoOf = (stats: Ops.Stats, method: string): Effect.Effect<FileSystem.File.Info, Error> => {
  const mode = Number(stats.mode)
  if (!Number.isSafeInteger(mode)) {
    return Effect.fail(Errors.badArgument(method, `mode exceeds the safe integer range: ${stats.mode}`))
  }
  return Effect.succeed({
    type: typeOf(stats),
    mtime: Option.fromNullishOr(stats.mtime),
    atime: Option.fromNullishOr(stats.atime),
    birthtime: Option.fromNullishOr(stats.birthtime),
    dev: BigInt.asUintN(64, stats.dev),
    rdev: Option.some(BigInt.asUintN(64, stats.rdev)),
    ino: Option.some(BigInt.asUintN(64, stats.ino)),
    mode,
    nlink: Option.some(BigInt.asUintN(64, stats.nlink)),
    uid: BI.toNumber(stats.uid),
    gid: BI.toNumber(stats.gid),
    size: ByteSize.bytes(stats.size),
    blksize: Option.some(ByteSize.bytes(stats.blksize)),
    blocks: Option.some(stats.blocks),
  })
}

// == the File handle

/**
 * An open file: its fd, whether it was opened for appending, and its cursor. Reads go through
 * `readChunk`, which the read-ahead stream also uses.
 */
class RingFile implements FileSystem.File {
  readonly [FileSystem.FileTypeId]: typeof FileSystem.FileTypeId = FileSystem.FileTypeId
  /** The cursor: where the next read without a position, and the next write outside append mode, go. */
  private position = 0n

  private readonly ops: Ops.FsOps
  readonly fd: number
  private readonly append: boolean
  /** Opened for writing: an empty write on a read-only handle fails as the kernel fails it (EBADF). */
  private readonly writable: boolean

  constructor(ops: Ops.FsOps, fd: number, append: boolean, writable: boolean) {
    this.ops = ops
    this.fd = fd
    this.append = append
    this.writable = writable
  }

  get stat(): Effect.Effect<FileSystem.File.Info, Error> {
    return Effect.flatMap(Errors.mapTo("stat", this.fd)(this.ops.stat(this.fd, { followSymlinks: true })), (stats) =>
      infoOf(stats, "stat"),
    )
  }

  get sync(): Effect.Effect<void, Error> {
    return Errors.mapTo("sync", this.fd)(this.ops.sync(this.fd))
  }

  seek(offset: bigint, from: FileSystem.SeekMode): Effect.Effect<bigint, Error> {
    return Effect.suspend(() => {
      const position = from === "start" ? offset : this.position + offset
      if (position < 0n) return Effect.fail(Errors.badArgument("seek", "Cannot seek before the start of the file"))
      this.position = position
      return Effect.succeed(position)
    })
  }

  /**
   * Reads into `buffer` at `position` (not the cursor). As Node: an empty buffer reads nothing,
   * and a range that would end past the largest offset is a BadArgument.
   */
  readChunk(method: string, buffer: Uint8Array, position: bigint): Effect.Effect<number, Error> {
    if (buffer.byteLength === 0) return Effect.succeed(0)
    if (position > MAX_POSITION - BigInt(buffer.byteLength)) {
      return Effect.fail(
        Errors.badArgument(
          method,
          `position must be at most 2^63 - 1 - ${buffer.byteLength} for a read of ${buffer.byteLength} bytes, got ${position}`,
        ),
      )
    }
    return Errors.mapTo(method, this.fd)(this.ops.readAt(this.fd, buffer, position))
  }

  read(buffer: Uint8Array, options?: FileSystem.File.ReadOptions): Effect.Effect<number, Error> {
    const explicit = options?.position
    // At an explicit position the cursor stays where it is: the read alone.
    if (explicit !== undefined) {
      return explicit < 0n ? Effect.fail(negativePosition("read")) : this.readChunk("read", buffer, explicit)
    }
    return Effect.suspend(() => {
      const position = this.position
      return Effect.map(this.readChunk("read", buffer, position), (n) => {
        this.position = position + BigInt(n)
        return n
      })
    })
  }

  readAlloc(size: number, options?: FileSystem.File.ReadOptions): Effect.Effect<Option.Option<Uint8Array>, Error> {
    return Effect.suspend(() => {
      if (!Number.isInteger(size) || size < 0) {
        return Effect.fail(Errors.badArgument("readAlloc", "size must be a non-negative integer"))
      }
      const explicit = options?.position
      if (explicit !== undefined && explicit < 0n) return Effect.fail(negativePosition("readAlloc"))
      let buffer: Buffer
      try {
        buffer = Buffer.allocUnsafeSlow(size)
      } catch (cause) {
        return Effect.fail(Errors.badArgument("readAlloc", String((cause as Error).message ?? cause), cause))
      }
      const position = explicit ?? this.position
      return Effect.map(this.readChunk("readAlloc", buffer, position), (n): Option.Option<Uint8Array> => {
        if (n === 0) return Option.none()
        if (explicit === undefined) this.position = position + BigInt(n)
        return Option.some(n === size ? buffer : Buffer.from(buffer.subarray(0, n)))
      })
    })
  }

  truncate(length?: number): Effect.Effect<void, Error> {
    return Effect.suspend(() => {
      // As Node's ftruncate: absent, 0 or NaN is 0; a negative length is 0; a fraction is refused.
      const requested = length || 0
      if (!Number.isInteger(requested)) {
        return Effect.fail(Errors.badArgument("truncate", `length must be an integer, got ${String(length)}`))
      }
      const len = Math.max(0, requested)
      return Effect.map(Errors.mapTo("truncate", this.fd)(this.ops.truncate(this.fd, len)), () => {
        if (!this.append && this.position > BigInt(len)) this.position = BigInt(len)
      })
    })
  }

  /** Writes all of `buffer` at the cursor (at the end in append mode); the cursor follows outside append mode. */
  private writeChunk(method: string, buffer: Uint8Array): Effect.Effect<number, Error> {
    return Effect.suspend(() => {
      const position = this.position
      if (!this.append && position > BigInt(Number.MAX_SAFE_INTEGER)) {
        return Effect.fail(Errors.badArgument(method, `position exceeds the safe integer range: ${position}`))
      }
      // The ring completes an empty write without the kernel; write(2) of 0 bytes on an fd not
      // open for writing fails with EBADF, and Node's write says so: so do we.
      if (buffer.byteLength === 0) {
        return this.writable
          ? Effect.succeed(0)
          : Effect.fail(
              PlatformError.systemError({
                _tag: "Unknown",
                module: "FileSystem",
                method,
                pathOrDescriptor: this.fd,
                syscall: "write",
                description: "EBADF: bad file descriptor",
              }),
            )
      }
      // With O_APPEND the kernel writes at the end whatever the offset given.
      return Effect.map(
        Errors.mapTo(method, this.fd)(this.ops.writeAt(this.fd, buffer, this.append ? 0 : position)),
        () => {
          if (!this.append) this.position = position + BigInt(buffer.byteLength)
          return buffer.byteLength
        },
      )
    })
  }

  write(buffer: Uint8Array): Effect.Effect<number, Error> {
    return this.writeChunk("write", buffer)
  }

  writeAll(buffer: Uint8Array): Effect.Effect<void, Error> {
    return buffer.byteLength === 0 ? Effect.void : Effect.asVoid(this.writeChunk("writeAll", buffer))
  }
}

// == the service

/** The FileSystem over `ops`; `backend` is the WatchBackend present when the layer was built. */
const makeWith = (
  ops: Ops.FsOps,
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
   * The open of an acquire, interruptible there (an acquire is not, and NodeFileSystem's open
   * cannot be stopped): the ring cancels it in the kernel, and an fd the kernel made all the same
   * is closed by the Driver, so an interrupted open leaves nothing to release.
   */
  const openFd = (method: string, path: string, flags: number, mode: number): Effect.Effect<number, Error> =>
    Effect.interruptible(Errors.mapTo(method, path)(ops.open(path, flags, mode)))

  /** Opens `path` for `method`; the fd is closed when `use` ends, however it ends. */
  const withFd = <A, R>(
    method: string,
    path: string,
    flags: number,
    mode: number,
    use: (fd: number) => Effect.Effect<A, Error, R>,
  ): Effect.Effect<A, Error, R> =>
    Effect.acquireUseRelease(openFd(method, path, flags, mode), use, (fd) =>
      Effect.orDie(Errors.mapTo(method, fd)(ops.close(fd))),
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
      const fd = yield* Effect.acquireRelease(openFd(method, path, flags, mode), (fd) =>
        Effect.orDie(Errors.mapTo(method, fd)(ops.close(fd))),
      )
      return new RingFile(ops, fd, flag.startsWith("a"), flag !== "r")
    })

  const readFile = (path: string): Effect.Effect<Uint8Array, Error> =>
    Effect.flatMap(checkPath("readFile", path), () =>
      withFd("readFile", path, O_RDONLY, DEFAULT_MODE, (fd) => {
        const read = (buffer: Uint8Array, position: number) =>
          Errors.mapTo("readFile", path)(ops.readAt(fd, buffer, position))
        // Plain flatMaps on the common path (a regular file: fstat, then one read of its size).
        return Effect.flatMap(Errors.mapTo("readFile", path)(ops.stat(fd, { followSymlinks: true })), (stats) => {
          // As Node: the size fstat gives is read for regular files; other files are read to their end.
          const size = stats.isFile() ? Number(stats.size) : 0
          if (size > MAX_READ_FILE) {
            return Effect.fail(
              PlatformError.systemError({
                _tag: "Unknown",
                module: "FileSystem",
                method: "readFile",
                pathOrDescriptor: path,
                description: `File size (${size}) is greater than 2 GiB`,
              }),
            )
          }
          if (size > 0) {
            const buffer = Buffer.allocUnsafeSlow(size)
            return Effect.map(read(buffer, 0), (n) => (n === size ? buffer : Buffer.from(buffer.subarray(0, n))))
          }
          return readToEnd(read)
        })
      }),
    )

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
      yield* withFd("writeFile", path, flags, mode, (fd) =>
        data.byteLength === 0 ? Effect.void : Errors.mapTo("writeFile", path)(ops.writeAt(fd, data, 0)),
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
        if (stats.isDirectory()) {
          return yield* PlatformError.systemError({
            _tag: "Unknown",
            module: "FileSystem",
            method,
            pathOrDescriptor: path,
            syscall: "rm",
            description: "Path is a directory",
          })
        }
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
        if (!Number.isInteger(requested)) {
          return yield* Errors.badArgument("truncate", `length must be an integer, got ${String(length)}`)
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

// == watch: node:fs for good (inotify has no io_uring opcode)

const watchNode = (
  stat: (path: string) => Effect.Effect<FileSystem.File.Info, Error>,
  path: string,
  info: FileSystem.File.Info,
  options: FileSystem.WatchOptions | undefined,
): Stream.Stream<FileSystem.WatchEvent, Error> =>
  Stream.callback<FileSystem.WatchEvent, Error>((queue) =>
    Effect.acquireRelease(
      Effect.sync(() => {
        const directory = info.type === "Directory" ? path : Path.dirname(path)
        const watcher = NFS.watch(path, { recursive: options?.recursive ?? false }, (event, name) => {
          if (!name) return
          if (event === "change") {
            Queue.offerUnsafe(queue, { _tag: "Update", path: name })
            return
          }
          // A rename is a creation when the name now exists, a removal otherwise.
          Effect.runFork(
            Effect.matchEffect(stat(Path.resolve(directory, name)), {
              onSuccess: () => Queue.offer(queue, { _tag: "Create", path: name }),
              onFailure: () => Queue.offer(queue, { _tag: "Remove", path: name }),
            }),
          )
        })
        watcher.on("error", (cause) => {
          Queue.failCauseUnsafe(
            queue,
            Cause.fail(
              PlatformError.systemError({
                _tag: "Unknown",
                module: "FileSystem",
                method: "watch",
                pathOrDescriptor: path,
                cause,
              }),
            ),
          )
        })
        watcher.on("close", () => {
          Queue.endUnsafe(queue)
        })
        return watcher
      }),
      (watcher) => Effect.sync(() => watcher.close()),
    ).pipe(Effect.tap(() => Effect.sync(() => options?.onReady?.()))),
  )

const watch = (
  backend: Option.Option<FileSystem.WatchBackend["Service"]>,
  stat: (path: string) => Effect.Effect<FileSystem.File.Info, Error>,
  path: string,
  options: FileSystem.WatchOptions | undefined,
): Stream.Stream<FileSystem.WatchEvent, Error> =>
  Stream.unwrap(
    Effect.map(Effect.all([stat(path), Effect.serviceOption(FileSystem.WatchBackend)]), ([info, callerBackend]) =>
      Option.orElse(callerBackend, () => backend).pipe(
        Option.flatMap((b) => b.register(path, info, options)),
        Option.getOrElse(() => watchNode(stat, path, info, options)),
      ),
    ),
  )

// == stream: reads ahead on the ring

/** Reads the read-ahead stream keeps in flight beyond the chunk being handed on. */
const READ_AHEAD = 4

/**
 * The derived stream reads `chunkSize` bytes at a time at the cursor, waiting for each read before
 * asking for the next. This one keeps the reads of the next READ_AHEAD chunks in flight (at the
 * positions the chunks before them end, if those come back full) while the consumer works, so the
 * ring reads while the consumer does and one submission carries several reads. The chunks are the
 * same: same positions, same sizes, a short read emitted as it is; reads ahead that turn out to be
 * at the wrong position (a chunk before them came back short) are interrupted, which cancels them
 * in the kernel, and the right one issued.
 *
 * Options the derived stream would refuse or treat specially (a chunk size that is not a positive
 * safe integer) go to the derived stream, so they fail the same way.
 */
const readAheadStream =
  (
    derived: FileSystem.FileSystem["stream"],
    openForRead: (path: string) => Effect.Effect<RingFile, Error, Scope.Scope>,
  ): FileSystem.FileSystem["stream"] =>
  (path, options) => {
    const chunkSize = options?.chunkSize ?? 64 * 1024
    if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) return derived(path, options)
    return Stream.unwrap(
      Effect.gen(function* () {
        const scope = yield* Scope.Scope
        const file = yield* openForRead(path)
        const offset = options?.offset === undefined ? 0n : ByteSize.fromInputUnsafe(options.offset)
        if (offset !== 0n) yield* file.seek(offset, "start")
        const bytesToRead =
          options?.bytesToRead === undefined ? undefined : ByteSize.fromInputUnsafe(options.bytesToRead)
        let position: bigint = offset
        let total = 0n
        /** Reads in flight, in file order: each at the position the one before it ends if full. */
        let ahead: Array<{
          readonly position: bigint
          readonly size: number
          readonly fiber: Fiber.Fiber<Uint8Array, Error>
        }> = []
        /** Where the next read ahead goes, and the stream's bytes up to there. */
        let nextPosition: bigint = offset
        let nextTotal = 0n

        const sizeAt = (read: bigint): number =>
          bytesToRead === undefined
            ? chunkSize
            : bytesToRead - read < BigInt(chunkSize)
              ? Number(bytesToRead - read)
              : chunkSize
        const readChunk = (at: bigint, size: number): Effect.Effect<Uint8Array, Error> =>
          Effect.suspend(() => {
            const buffer = Buffer.allocUnsafeSlow(size)
            return Effect.map(file.readChunk("readAlloc", buffer, at), (n) =>
              n === size ? buffer : Buffer.from(buffer.subarray(0, n)),
            )
          })
        /** Interrupts every read ahead (cancelled in the kernel). */
        const dropAhead = Effect.suspend(() => {
          const fibers = ahead.map((read) => read.fiber)
          ahead = []
          return fibers.length === 0 ? Effect.void : Fiber.interruptAll(fibers)
        })

        const pull = Effect.gen(function* () {
          if (bytesToRead !== undefined && bytesToRead <= total) return yield* Cause.done()
          const size = sizeAt(total)
          let chunk: Uint8Array
          const first = ahead[0]
          if (first !== undefined && first.position === position && first.size === size) {
            ahead.shift()
            chunk = yield* Fiber.join(first.fiber)
          } else {
            yield* dropAhead
            chunk = yield* readChunk(position, size)
            nextPosition = position + BigInt(chunk.byteLength)
            nextTotal = total + BigInt(chunk.byteLength)
          }
          if (chunk.byteLength === 0) return yield* Cause.done()
          position += BigInt(chunk.byteLength)
          total += BigInt(chunk.byteLength)
          if (chunk.byteLength === size) {
            // Keep READ_AHEAD reads in flight past this chunk, each assuming the ones before come back full.
            while (ahead.length < READ_AHEAD) {
              const nextSize = sizeAt(nextTotal)
              if (nextSize <= 0 || (bytesToRead !== undefined && nextTotal >= bytesToRead)) break
              const fiber = yield* Effect.forkIn(readChunk(nextPosition, nextSize), scope)
              ahead.push({ position: nextPosition, size: nextSize, fiber })
              nextPosition += BigInt(nextSize)
              nextTotal += BigInt(nextSize)
            }
          } else {
            // Short: the reads ahead assumed a full chunk; the next pull reads at the right place.
            yield* dropAhead
          }
          return [chunk] as const
        })
        return Stream.fromPull(Effect.succeed(pull))
      }),
    )
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
  return makeWith(Ops.make(io), backend)
})

/**
 * `FileSystem` on the ring of the `IoUring` service (provide `NodeIoUring.layer` under it).
 *
 * @since 0.0.0
 */
export const layer: Layer.Layer<FileSystem.FileSystem, never, IoUring> = Layer.effect(FileSystem.FileSystem)(make)
