/**
 * The File handle of IoUringFileSystem over the ring (its own cursor, append mode, reads at a
 * position; see IoUringFileSystem.ts's header for the semantics), and a statx result as a
 * `File.Info`.
 */
import { BigInt as BI, ByteSize, Effect, Exit, type Fiber, FileSystem, Option, PlatformError } from "effect"
import * as Errors from "./fsErrors.ts"
import type { Fused } from "./fsFused.ts"
import * as Ops from "./fsOps.ts"

type Error = PlatformError.PlatformError

/** Largest file offset (off_t is signed 64-bit). */
export const MAX_POSITION = (1n << 63n) - 1n
/** A position no read can pass MAX_POSITION from: a buffer is shorter than 2^53 bytes. */
const SAFE_POSITION = MAX_POSITION - (1n << 53n)
/** The most bytes one read or write moves (node:fs's kIoMaxLength; the ring's as well): beyond, a BadArgument as Node's. */
export const MAX_IO = 2 ** 31 - 1

const tooLong = (method: string, length: number) =>
  Errors.badArgument(method, `length must be at most ${MAX_IO} bytes, got ${length}`)

export const negativePosition = (method: string) =>
  Errors.badArgument(method, "Cannot read before the start of the file")

// == metadata

export const typeOf = (stats: Ops.Stats): FileSystem.File.Type =>
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
export const infoOf = (stats: Ops.Stats, method: string): Effect.Effect<FileSystem.File.Info, Error> => {
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

/** Starts an Effect as a fiber of its own (`Effect.runForkWith` of the caller's services). */
export type Fork = <A, E>(effect: Effect.Effect<A, E>) => Fiber.Fiber<A, E>

/**
 * An open file: its fd, whether it was opened for appending, and its cursor. Reads go through
 * `readChunk`, which the read-ahead stream also uses.
 */
export class RingFile implements FileSystem.File {
  readonly [FileSystem.FileTypeId]: typeof FileSystem.FileTypeId = FileSystem.FileTypeId
  /** The cursor: where the next read without a position, and the next write outside append mode, go. */
  private position = 0n

  private readonly ops: Ops.FsOps
  readonly fd: number
  private readonly append: boolean
  /** Opened for writing: an empty write on a read-only handle fails as the kernel fails it (EBADF). */
  private readonly writable: boolean

  /** Reads as one Effect each, when the ring's Driver is reachable. */
  private readonly fused: Fused | undefined

  constructor(ops: Ops.FsOps, fd: number, append: boolean, writable: boolean, fused?: Fused) {
    this.ops = ops
    this.fused = fused
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
  readChunk(
    method: string,
    buffer: Uint8Array,
    position: bigint,
    after?: (n: number) => void,
  ): Effect.Effect<number, Error> {
    if (buffer.byteLength === 0) return Effect.succeed(0)
    if (buffer.byteLength > MAX_IO) return Effect.fail(tooLong(method, buffer.byteLength))
    // The common case is decided without a bigint computed per call.
    if (position > SAFE_POSITION && position > MAX_POSITION - BigInt(buffer.byteLength)) {
      return Effect.fail(
        Errors.badArgument(
          method,
          `position must be at most 2^63 - 1 - ${buffer.byteLength} for a read of ${buffer.byteLength} bytes, got ${position}`,
        ),
      )
    }
    if (this.fused !== undefined) return this.fused.readAt(method, this.fd, buffer, position, after)
    const read = Errors.mapTo(method, this.fd)(this.ops.readAt(this.fd, buffer, position))
    return after === undefined ? read : Effect.tap(read, (n) => Effect.sync(() => after(n)))
  }

  /**
   * readChunk("readAlloc", …) started without waiting for it: `done` runs exactly once with its
   * outcome, and the function returned cancels the read (in the kernel; `done` still runs). The
   * read-ahead stream's reads: on the ring's Driver directly when it is reachable, else as a fiber
   * that `fork` starts (with the caller's services).
   */
  startRead(
    buffer: Uint8Array,
    position: bigint,
    done: (exit: Exit.Exit<number, Error>) => void,
    fork: Fork,
  ): () => void {
    if (this.fused !== undefined && buffer.byteLength > 0 && buffer.byteLength <= MAX_IO && position <= SAFE_POSITION) {
      return this.fused.startReadAt("readAlloc", this.fd, buffer, position, done)
    }
    const fiber = fork(this.readChunk("readAlloc", buffer, position))
    fiber.addObserver(done)
    return () => fiber.interruptUnsafe()
  }

  /** `stat` started as a fiber of `fork`, without waiting for it: `done` runs exactly once with its outcome. */
  startStat(done: (exit: Exit.Exit<FileSystem.File.Info, Error>) => void, fork: Fork): void {
    fork(this.stat).addObserver(done)
  }

  read(buffer: Uint8Array, options?: FileSystem.File.ReadOptions): Effect.Effect<number, Error> {
    const explicit = options?.position
    // At an explicit position the cursor stays where it is: the read alone.
    if (explicit !== undefined) {
      return explicit < 0n ? Effect.fail(negativePosition("read")) : this.readChunk("read", buffer, explicit)
    }
    return Effect.suspend(() => {
      const position = this.position
      return this.readChunk("read", buffer, position, (n) => {
        this.position = position + BigInt(n)
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
      // Refused before the allocation: a size one read cannot fill would allocate it for nothing.
      if (size > MAX_IO) return Effect.fail(tooLong("readAlloc", size))
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
      if (buffer.byteLength > MAX_IO) return Effect.fail(tooLong(method, buffer.byteLength))
      if (buffer.byteLength === 0) {
        return this.writable ? Effect.succeed(0) : Effect.fail(Errors.emptyWriteNotWritable(method, this.fd))
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
