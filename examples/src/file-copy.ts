/**
 * A file copy with several readAt/writeAt requests in flight at once, and a progress bar.
 *
 *   npm run -w examples copy -- <source> <destination>
 *
 * `inFlight` workers each own one buffer and take the next chunk offset from a shared counter:
 * read the chunk (exact, so a file that shrinks under us is an error, not a silent short copy),
 * write it at the same offset, repeat. At most `inFlight` reads or writes are in flight, and no
 * buffer is allocated per chunk.
 *
 * What it refuses, before it writes anything (as cp does):
 * - a source that is not a regular file (a directory, a FIFO, a device): it has no size to copy,
 *   and opening a FIFO would wait for a writer;
 * - a destination that is the source itself (same device and inode), whether named directly,
 *   through a symlink or by another hard link;
 * - a destination that exists and is not a regular file (a directory, `/dev/null`, a FIFO):
 *   the copy replaces the destination by renaming a new file over it, which must not happen to a
 *   device, and fsync does not apply to such files anyway.
 *
 * The bytes go to a temporary file in the destination's directory, which gets the source's mode
 * and an fsync and is then renamed over the destination (a symlinked destination is resolved
 * first, so the file it points to is replaced, not the link); the directory is fsynced so that the
 * rename lasts. If anything fails, or the copy is interrupted, the temporary file is removed: the
 * destination is either untouched or the complete copy, never a partial one.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { randomBytes } from "node:crypto"
import { fileURLToPath } from "node:url"
import { runMain } from "@effect/platform-node/NodeRuntime"
import { Data, Effect, type Scope } from "effect"
import { IoUring, NodeIoUring, type IoUringError } from "@iou/effect"
import { fail } from "./cli.ts"

export interface CopyOptions {
  readonly chunkSize?: number
  readonly inFlight?: number
  /** Called after each chunk is written, with the bytes written so far and the total. */
  readonly onProgress?: (done: number, total: number) => void
}

/**
 * The copy was refused or a file-system call around it failed (node:fs's error as `cause`).
 * `SameFile` and `NotRegularFile` are refusals: nothing was created or changed.
 */
export class CopyError extends Data.TaggedError("CopyError")<{
  readonly reason: "SameFile" | "NotRegularFile" | "FileSystem"
  readonly message: string
  readonly cause?: unknown
}> {}

const fileSystem = <A>(what: string, run: () => A): Effect.Effect<A, CopyError> =>
  Effect.try({
    try: run,
    catch: (cause) => new CopyError({ reason: "FileSystem", message: `${what}: ${(cause as Error).message}`, cause }),
  })

/** What a non-regular file is, for the refusal. */
const kind = (stats: fs.BigIntStats): string =>
  stats.isDirectory()
    ? "a directory"
    : stats.isFIFO()
      ? "a FIFO"
      : stats.isCharacterDevice()
        ? "a character device"
        : stats.isBlockDevice()
          ? "a block device"
          : stats.isSocket()
            ? "a socket"
            : "not a regular file"

const notRegular = (role: string, file: string, stats: fs.BigIntStats) =>
  new CopyError({ reason: "NotRegularFile", message: `${role} ${file} is ${kind(stats)}, not a regular file` })

/** The source, open for the scope's lifetime: checked to be a regular file before it is opened. */
const openSource = (source: string): Effect.Effect<{ fd: number; stats: fs.BigIntStats }, CopyError, Scope.Scope> =>
  Effect.gen(function* () {
    const named = yield* fileSystem(`cannot read ${source}`, () => fs.statSync(source, { bigint: true }))
    if (!named.isFile()) return yield* Effect.fail(notRegular("source", source, named))
    const fd = yield* Effect.acquireRelease(
      fileSystem(`cannot open ${source}`, () => fs.openSync(source, "r")),
      (fd) => Effect.sync(() => fs.closeSync(fd)),
    )
    // The name may have been given to another file between the stat and the open.
    const stats = fs.fstatSync(fd, { bigint: true })
    if (stats.dev !== named.dev || stats.ino !== named.ino) {
      return yield* fileSystem(`cannot open ${source}`, () => {
        throw new Error("it was replaced while being opened")
      })
    }
    return { fd, stats }
  })

/** The path the copy is renamed to: the destination, or the file it links to when it exists. */
const checkDestination = (
  source: string,
  sourceStats: fs.BigIntStats,
  destination: string,
): Effect.Effect<string, CopyError> =>
  Effect.gen(function* () {
    let existing: fs.BigIntStats | undefined
    try {
      existing = fs.statSync(destination, { bigint: true })
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code !== "ENOENT") {
        return yield* fileSystem(`cannot write ${destination}`, () => {
          throw cause
        })
      }
    }
    if (existing === undefined) return destination
    if (existing.dev === sourceStats.dev && existing.ino === sourceStats.ino) {
      return yield* Effect.fail(
        new CopyError({ reason: "SameFile", message: `${source} and ${destination} are the same file` }),
      )
    }
    if (!existing.isFile()) return yield* Effect.fail(notRegular("destination", destination, existing))
    return yield* fileSystem(`cannot resolve ${destination}`, () => fs.realpathSync(destination))
  })

/** A new file next to `target`; closed, and removed unless `placed` was set, when the scope closes. */
const createTemporary = (target: string) =>
  Effect.acquireRelease(
    fileSystem(`cannot create a file in ${path.dirname(target)}`, () => {
      const file = path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(6).toString("hex")}.part`)
      return { path: file, fd: fs.openSync(file, "wx", 0o600), placed: false }
    }),
    (temporary) =>
      Effect.sync(() => {
        fs.closeSync(temporary.fd)
        if (!temporary.placed) fs.rmSync(temporary.path, { force: true })
      }),
  )

/** Copies `source` to `destination` through the ring; succeeds with the bytes copied. */
export const copyFile = (
  source: string,
  destination: string,
  options: CopyOptions = {},
): Effect.Effect<number, IoUringError | CopyError, IoUring> =>
  Effect.gen(function* () {
    const io = yield* IoUring
    const chunkSize = options.chunkSize ?? 256 * 1024
    const inFlight = options.inFlight ?? 8
    const input = yield* openSource(source)
    const target = yield* checkDestination(source, input.stats, destination)
    const output = yield* createTemporary(target)
    const total = Number(input.stats.size)
    let next = 0
    let done = 0
    const worker = Effect.gen(function* () {
      const buffer = new Uint8Array(chunkSize)
      while (next < total) {
        const offset = next
        next += chunkSize
        const length = Math.min(chunkSize, total - offset)
        yield* io.readAt(input.fd, buffer, offset, { length, exact: true, timeout: "30 seconds" })
        yield* io.writeAt(output.fd, buffer.subarray(0, length), offset, { timeout: "30 seconds" })
        done += length
        options.onProgress?.(done, total)
      }
    })
    yield* Effect.all(
      Array.from({ length: inFlight }, () => worker),
      { concurrency: "unbounded", discard: true },
    )
    // The permission bits as the source has them (setuid/setgid/sticky included), not umask's.
    yield* fileSystem(`cannot set the mode of ${output.path}`, () =>
      fs.fchmodSync(output.fd, Number(input.stats.mode & 0o7777n)),
    )
    yield* io.sync(output.fd)
    // One synchronous step, so that no interruption falls between the rename and the flag.
    yield* fileSystem(`cannot rename ${output.path} to ${target}`, () => {
      fs.renameSync(output.path, target)
      output.placed = true
    })
    const directory = yield* Effect.acquireRelease(
      fileSystem(`cannot open ${path.dirname(target)}`, () => fs.openSync(path.dirname(target), "r")),
      (fd) => Effect.sync(() => fs.closeSync(fd)),
    )
    yield* io.sync(directory)
    return total
  }).pipe(Effect.scoped)

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
  const [sourceArg, destinationArg] = process.argv.slice(2)
  if (sourceArg === undefined || destinationArg === undefined) {
    console.error("usage: node src/file-copy.ts <source> <destination>")
    process.exit(2)
  }
  // `npm run -w examples copy` runs this in examples/; INIT_CWD is where npm was started, the
  // directory the user's relative paths are relative to.
  const base = process.env["INIT_CWD"] ?? process.cwd()
  const source = path.resolve(base, sourceArg)
  const destination = path.resolve(base, destinationArg)
  const main = Effect.gen(function* () {
    const started = Date.now()
    const bytes = yield* copyFile(source, destination, { onProgress: progressBar() })
    const seconds = (Date.now() - started) / 1000
    yield* Effect.logInfo(`copied ${mib(bytes)} in ${seconds.toFixed(2)} s (${mib(bytes / seconds)}/s)`)
  }).pipe(
    Effect.provide(NodeIoUring.layerConfig),
    Effect.catchTags({
      CopyError: (error) => fail("copy", error.message),
      IoUringError: (error) => fail("copy", `${source} to ${destination}: ${error.message}`),
      ConfigError: (error) => fail("copy", error.message),
    }),
  )
  runMain(main)
}
