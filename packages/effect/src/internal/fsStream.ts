/**
 * IoUringFileSystem's streams: `stream` with reads ahead on the ring (overriding the one
 * `FileSystem.make` derives) and `watch`, on node:fs for good (inotify has no io_uring opcode).
 */
import * as NFS from "node:fs"
import * as Path from "node:path"
import { ByteSize, Cause, Effect, Exit, FileSystem, Option, PlatformError, Queue, Scope, Stream } from "effect"

type Error = PlatformError.PlatformError

import type { Fork, RingFile } from "./fsFile.ts"

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

export const watch = (
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
/** The largest chunk read ahead (its READ_AHEAD + 1 buffers are allocated at once): 16 MiB. */
const MAX_READ_AHEAD_CHUNK = 16 * 1024 * 1024

/** A pull after the stream's scope closed: as the derived stream's read of the closed fd fails. */
const closedError = (fd: number): Error =>
  PlatformError.systemError({
    _tag: "Unknown",
    module: "FileSystem",
    method: "readAlloc",
    pathOrDescriptor: fd,
    syscall: "read",
    description: "EBADF: bad file descriptor",
  })

/** What one pull hands on: one chunk or more. */
type Chunks = readonly [Uint8Array, ...Array<Uint8Array>]

/** One read of the stream: `size` bytes at `position` into `buffer`, and its outcome once it came back. */
interface Read {
  readonly position: bigint
  readonly size: number
  /** Started before the consumer asked for its chunk (fill), not by a pull. */
  readonly ahead: boolean
  readonly buffer: Buffer
  cancel: () => void
  exit: Exit.Exit<number, Error> | undefined
}

/**
 * The derived stream reads `chunkSize` bytes at a time at the cursor, waiting for each read before
 * asking for the next. This one keeps the reads of the next READ_AHEAD chunks in flight (at the
 * positions the chunks before them end, if those come back full) while the consumer works, so the
 * ring reads while the consumer does and one submission carries several reads. The chunks are the
 * same: same positions, same sizes, a short read emitted as it is; reads ahead that turn out to be
 * at the wrong position (a chunk before them came back short) are cancelled in the kernel and the
 * right one issued. A pull hands on every chunk whose read has come back, in order. The end of the
 * file is decided by a read made when the consumer asks (a read ahead that found it is made again
 * then), so a file that grows while it is read is read on, as the derived stream reads it; a chunk
 * read ahead holds the file's bytes as they were when it was read.
 *
 * Reads ahead only on a seekable file (a regular file or a block device, as a stat started beside
 * the first read says): on a pipe, FIFO, socket or character device the position is ignored, so
 * the stream reads one chunk at a time, in order.
 *
 * The reads are the File's `startRead` (no fiber each); the stream's scope, as it closes, cancels
 * those still in flight and waits for each to come back before the file is closed; a pull still
 * waiting then fails as a read of the closed fd would (EBADF), not as the stream's end.
 *
 * Options the derived stream would refuse or treat specially (a chunk size that is not a positive
 * safe integer) go to the derived stream, so they fail the same way.
 */
export const readAheadStream =
  (
    derived: FileSystem.FileSystem["stream"],
    openForRead: (path: string) => Effect.Effect<RingFile, Error, Scope.Scope>,
  ): FileSystem.FileSystem["stream"] =>
  (path, options) => {
    const chunkSize = options?.chunkSize ?? 64 * 1024
    // Chunks too large to read ahead (READ_AHEAD of them at once): the derived stream, one chunk at a
    // time, whose readAlloc refuses a size it cannot read (BadArgument, as NodeFileSystem's).
    if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0 || chunkSize > MAX_READ_AHEAD_CHUNK) {
      return derived(path, options)
    }
    return Stream.unwrap(
      Effect.gen(function* () {
        const file = yield* openForRead(path)
        // Reads that run as fibers (over a wrapped IoUring service) run with this fiber's services.
        const fork: Fork = Effect.runForkWith(yield* Effect.context<never>())
        const offset = options?.offset === undefined ? 0n : ByteSize.fromInputUnsafe(options.offset)
        if (offset !== 0n) yield* file.seek(offset, "start")
        const bytesToRead =
          options?.bytesToRead === undefined ? undefined : ByteSize.fromInputUnsafe(options.bytesToRead)
        /** Where the next chunk starts, and the stream's bytes before it. */
        let position: bigint = offset
        let total = 0n
        /** The reads of the next chunks, in file order: each at the position the one before it ends if full. */
        let ahead: Array<Read> = []
        /** Where the next read ahead goes, and the stream's bytes up to there. */
        let nextPosition: bigint = offset
        let nextTotal = 0n
        /** Every read not come back yet, the dropped ones included. */
        const inFlight = new Set<Read>()
        /** The pull waiting for this read to come back, and how to wake it. */
        let waitingFor: Read | undefined
        let wake: ((effect: Effect.Effect<void>) => void) | undefined
        /** A read came back empty: the end of the file. */
        let ended = false
        /** The scope's finalizer waiting for the last read in flight. */
        let drained: ((effect: Effect.Effect<void>) => void) | undefined
        /** The stream's scope closed: a pull fails as a read of the closed fd would. */
        let closed = false
        /**
         * Reads ahead only once the file is known to be seekable (a regular file or a block
         * device): reads of a pipe, FIFO, socket or character device ignore their position, so
         * several in flight would share its bytes in whatever order they complete. The stat runs
         * beside the first read; until it answers, one read at a time.
         */
        let seekable = false

        const sizeAt = (read: bigint): number =>
          bytesToRead === undefined
            ? chunkSize
            : bytesToRead - read < BigInt(chunkSize)
              ? Number(bytesToRead - read)
              : chunkSize
        /** Starts the read of the chunk at nextPosition and moves nextPosition past it. */
        const startNext = (size: number, readAhead: boolean): void => {
          const read: Read = {
            position: nextPosition,
            size,
            ahead: readAhead,
            buffer: Buffer.allocUnsafeSlow(size),
            cancel: () => {},
            exit: undefined,
          }
          nextPosition += BigInt(size)
          nextTotal += BigInt(size)
          ahead.push(read)
          inFlight.add(read)
          read.cancel = file.startRead(
            read.buffer,
            read.position,
            (exit) => {
              read.exit = exit
              inFlight.delete(read)
              if (read === waitingFor && wake !== undefined) {
                const resume = wake
                waitingFor = undefined
                wake = undefined
                resume(Effect.void)
              }
              if (inFlight.size === 0 && drained !== undefined) drained(Effect.void)
            },
            fork,
          )
        }
        /** Cancels every read ahead (in the kernel); they are no longer waited for but by the finalizer. */
        const dropAhead = (): void => {
          const dropped = ahead
          ahead = []
          for (const read of dropped) read.cancel()
        }
        /** Keeps READ_AHEAD reads in flight past the chunks handed on, each assuming the ones before come back full. */
        const fill = (): void => {
          while (ahead.length < (seekable ? READ_AHEAD : 0)) {
            const size = sizeAt(nextTotal)
            if (size <= 0) break
            startNext(size, true)
          }
        }
        /**
         * The chunks of the reads at the front that have come back, in order, up to the first short
         * one, and the reads ahead refilled when the last was full. A failed read fails the pull
         * that reaches it; those before it are handed on first.
         */
        const take = (): Effect.Effect<Chunks, Error | Cause.Done> => {
          if (closed) return Effect.fail(closedError(file.fd))
          const chunks: Array<Uint8Array> = []
          let full = false
          for (;;) {
            const read = ahead[0]
            if (read === undefined || read.exit === undefined) break
            if (read.position !== position || read.size !== sizeAt(total)) break
            full = false
            if (Exit.isFailure(read.exit)) {
              if (chunks.length > 0) break
              ahead.shift()
              dropAhead()
              return Effect.failCause(read.exit.cause)
            }
            ahead.shift()
            const n = read.exit.value
            if (n === 0) {
              dropAhead()
              // A read ahead found the end of the file before the consumer asked for that chunk:
              // the file may have grown since, so the end is decided by a read made now (as the
              // derived stream, which reads only when asked).
              if (read.ahead) return chunks.length > 0 ? Effect.succeed(chunks as unknown as Chunks) : pull
              ended = true
              break
            }
            chunks.push(n === read.size ? read.buffer : Buffer.from(read.buffer.subarray(0, n)))
            position += BigInt(n)
            total += BigInt(n)
            if (n < read.size) {
              // Short: the reads ahead assumed a full chunk; the next pull reads at the right place.
              dropAhead()
              break
            }
            full = true
          }
          if (full) fill()
          return chunks.length > 0 ? Effect.succeed(chunks as unknown as Chunks) : Cause.done()
        }

        file.startStat((exit) => {
          seekable = Exit.isSuccess(exit) && (exit.value.type === "File" || exit.value.type === "BlockDevice")
        }, fork)
        yield* Effect.addFinalizer(() =>
          Effect.callback<void>((resume) => {
            closed = true
            dropAhead()
            for (const read of inFlight) read.cancel()
            if (inFlight.size === 0) return resume(Effect.void)
            drained = resume
          }),
        )

        const pull = Effect.suspend((): Effect.Effect<Chunks, Error | Cause.Done> => {
          if (closed) return Effect.fail(closedError(file.fd))
          if (ended || (bytesToRead !== undefined && bytesToRead <= total)) return Cause.done()
          const head = ahead[0]
          if (head === undefined || head.position !== position || head.size !== sizeAt(total)) {
            dropAhead()
            nextPosition = position
            nextTotal = total
            startNext(sizeAt(total), false)
          }
          const first = ahead[0]!
          if (first.exit !== undefined) return take()
          return Effect.flatMap(
            Effect.callback<void>((resume) => {
              // The fiber may have yielded between the check above and this registration.
              if (first.exit !== undefined) return resume(Effect.void)
              waitingFor = first
              wake = resume
              return Effect.sync(() => {
                waitingFor = undefined
                wake = undefined
              })
            }),
            take,
          )
        })
        return Stream.fromPull(Effect.succeed(pull))
      }),
    )
  }
