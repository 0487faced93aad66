/**
 * A file copy with several readAt/writeAt requests in flight at once, and a progress bar.
 *
 *   npm run -w examples copy -- <source> <destination>
 *
 * `inFlight` workers each own one buffer and take the next chunk offset from a shared counter:
 * read the chunk (exact, so a file that shrinks under us is an error, not a silent short copy),
 * write it at the same offset, repeat. At most `inFlight` reads or writes are in flight, and no
 * buffer is allocated per chunk. The copy ends with an fsync of the destination.
 */
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"
import { runMain } from "@effect/platform-node/NodeRuntime"
import { Data, Effect, type Scope } from "effect"
import { IoUring, NodeIoUring, type IoUringError } from "@iou/effect"

export interface CopyOptions {
  readonly chunkSize?: number
  readonly inFlight?: number
  /** Called after each chunk is written, with the bytes written so far and the total. */
  readonly onProgress?: (done: number, total: number) => void
}

/** Opening a file failed (node:fs's error, e.g. ENOENT, as `cause`). */
export class OpenError extends Data.TaggedError("OpenError")<{ readonly message: string; readonly cause: unknown }> {}

/** An fd opened with node:fs for the scope's lifetime. */
const openFd = (path: string, flags: string): Effect.Effect<number, OpenError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.try({
      try: () => fs.openSync(path, flags),
      catch: (cause) => new OpenError({ message: `cannot open ${path}: ${(cause as Error).message}`, cause }),
    }),
    (fd) => Effect.sync(() => fs.closeSync(fd)),
  )

/** Copies `source` to `destination` through the ring; succeeds with the bytes copied. */
export const copyFile = (
  source: string,
  destination: string,
  options: CopyOptions = {},
): Effect.Effect<number, IoUringError | OpenError, IoUring | Scope.Scope> =>
  Effect.gen(function* () {
    const io = yield* IoUring
    const chunkSize = options.chunkSize ?? 256 * 1024
    const inFlight = options.inFlight ?? 8
    const input = yield* openFd(source, "r")
    const output = yield* openFd(destination, "w")
    const total = fs.fstatSync(input).size
    let next = 0
    let done = 0
    const worker = Effect.gen(function* () {
      const buffer = new Uint8Array(chunkSize)
      while (next < total) {
        const offset = next
        next += chunkSize
        const length = Math.min(chunkSize, total - offset)
        yield* io.readAt(input, buffer, offset, { length, exact: true, timeout: "30 seconds" })
        yield* io.writeAt(output, buffer.subarray(0, length), offset, { timeout: "30 seconds" })
        done += length
        options.onProgress?.(done, total)
      }
    })
    yield* Effect.all(
      Array.from({ length: inFlight }, () => worker),
      { concurrency: "unbounded", discard: true },
    )
    yield* io.sync(output)
    return total
  })

const mib = (n: number) => `${(n / (1024 * 1024)).toFixed(1)} MiB`

/**
 * A progress bar on stderr: redrawn in place on a terminal; otherwise printed at each quarter so
 * logs stay readable.
 */
export const progressBar = (width = 30) => {
  let lastQuarter = -1
  return (done: number, total: number): void => {
    const ratio = total === 0 ? 1 : done / total
    const filled = Math.round(ratio * width)
    const line = `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${String(Math.floor(ratio * 100)).padStart(3)}% ${mib(done)} / ${mib(total)}`
    if (process.stderr.isTTY) {
      process.stderr.write(`\r${line}${done === total ? "\n" : ""}`)
    } else if (Math.floor(ratio * 4) > lastQuarter) {
      lastQuarter = Math.floor(ratio * 4)
      process.stderr.write(`${line}\n`)
    }
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [source, destination] = process.argv.slice(2)
  if (source === undefined || destination === undefined) {
    console.error("usage: node src/file-copy.ts <source> <destination>")
    process.exit(2)
  }
  const main = Effect.gen(function* () {
    const started = Date.now()
    const bytes = yield* copyFile(source, destination, { onProgress: progressBar() })
    const seconds = (Date.now() - started) / 1000
    yield* Effect.logInfo(`copied ${mib(bytes)} in ${seconds.toFixed(2)} s (${mib(bytes / seconds)}/s)`)
  }).pipe(Effect.scoped, Effect.provide(NodeIoUring.layerConfig))
  runMain(main)
}
