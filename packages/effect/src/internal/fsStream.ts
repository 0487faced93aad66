/**
 * IoUringFileSystem's streams: `stream` with reads ahead on the ring (overriding the one
 * `FileSystem.make` derives) and `watch`, on node:fs for good (inotify has no io_uring opcode).
 */
import * as NFS from "node:fs"
import * as Path from "node:path"
import { ByteSize, Cause, Effect, Fiber, FileSystem, Option, PlatformError, Queue, Scope, Stream } from "effect"

type Error = PlatformError.PlatformError

import type { RingFile } from "./fsFile.ts"

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
export const readAheadStream =
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
