/**
 * IoUringFileSystem's fused operations: `readFile` as one Effect over the Driver's `submitReadFile`
 * (open, fstat, reads and close, chained in the Driver), `writeFile` as one Effect
 * whose steps (open, write, close) are chained here over the Driver's callback API, and
 * a File's read (at a position, or at its cursor, which `after` then moves) as one
 * `Effect.callback` whose failures are PlatformErrors from the start, or started with no fiber at
 * all (`startReadAt`: the read-ahead stream's reads). Where the IoUring service is the ring's own
 * (`Ring.rawOf`), IoUringFileSystem uses these; otherwise (a wrapped service, such as the latency
 * histograms') it builds the same methods from `fsOps.ts`'s operations one by one. A fiber suspends
 * once per method instead of once per step.
 *
 * Outcomes are those of the composed methods, step by step: each step's failure is the ring's
 * IoUringError (the fstat's named "fstat", as `fsOps.stat` names it) as a PlatformError for the
 * method and its path; a failing close is a defect (as the composed release's `orDie`), elected
 * over a step's failure as acquireUseRelease elects it (readFile: the Driver reports the step's
 * failure and drops a close's failure after it).
 *
 * Interruption: the step in flight is cancelled in the kernel (`driver.cancel`; readFile's handle
 * cancels its step in flight). Once its callback ran, the fd the chain opened (or an fd the open
 * produced after all, when the cancel came too late) is closed with closeFd, and only then does
 * the interrupted fiber go on, as it would after acquireUseRelease's release. A close is never
 * cancelled.
 *
 * Invariants: the Driver calls each request's callback exactly once; the chain has at most one
 * request in flight, so it submits its next step (or resumes the fiber) only from the callback of
 * the one before, and the fiber is resumed, or the interruption released, exactly once, after the
 * close.
 */
import { Operations, type RequestHandle } from "@iou/core"
import { Cause, Effect, Exit, PlatformError } from "effect"
import { IoUringError } from "../IoUringError.ts"
import * as Errors from "./errors.ts"
import * as FsErrors from "./fsErrors.ts"
import { readOnly, renamed } from "./fsOps.ts"
import type { Raw } from "./ring.ts"

type Error = PlatformError.PlatformError

const NO_DEADLINE = 0
const MAX_SAFE_POSITION = BigInt(Number.MAX_SAFE_INTEGER)

/** readFile's failure for a file larger than Node reads. */
export const tooLarge = (path: string, size: number): Error => {
  const description = `File size (${size}) is greater than 2 GiB`
  return PlatformError.systemError({
    _tag: "Unknown",
    module: "FileSystem",
    method: "readFile",
    pathOrDescriptor: path,
    description,
    // As node:fs's, which NodeFileSystem's error carries.
    cause: Object.assign(new RangeError(description), { code: "ERR_FS_FILE_TOO_LARGE" }),
  })
}

/**
 * A Driver failure of operation `op` as the Cause the composed method fails with: the IoUringError
 * (renamed to `syscall` when given) as a PlatformError of `method` on `pathOrFd`, or the defect.
 */
const stepCause = (
  error: unknown,
  op: Operations.Method,
  fd: number | undefined,
  method: string,
  pathOrFd: string | number,
  syscall?: string,
): Cause.Cause<Error> => {
  const classified = Errors.classify(error, Operations.OPERATIONS[op].syscall, fd, op)
  if (!(classified instanceof IoUringError)) return classified
  const named = syscall === undefined || classified.syscall === syscall ? classified : renamed(classified, syscall)
  return Cause.fail(FsErrors.toPlatformError(named, method, pathOrFd))
}

/**
 * submitReadFile's failure as readFile's Cause, named as the composed method's steps are: the open,
 * the stat ("fstat") and the reads ("readAt") as PlatformErrors of readFile on its path, a failing
 * close as a defect, a file over 2 GiB - 1 as `tooLarge`.
 */
const readFileCause = (error: globalThis.Error, path: string): Cause.Cause<Error> => {
  if ((error as { code?: unknown }).code === "ERR_FS_FILE_TOO_LARGE") {
    return Cause.fail(tooLarge(path, Number(/\((\d+)\)/.exec(error.message)?.[1])))
  }
  const { syscall, fd } = error as { syscall?: unknown; fd?: number }
  switch (syscall) {
    case "close": {
      const classified = Errors.classify(error, "close", fd, "closeFd")
      return classified instanceof IoUringError
        ? Cause.die(FsErrors.toPlatformError(classified, "readFile", fd ?? path))
        : classified
    }
    case "fstat":
      return stepCause(error, "stat", fd, "readFile", path, "fstat")
    case "read":
      return stepCause(error, "readAt", fd, "readFile", path)
    case "open":
      return stepCause(error, "open", undefined, "readFile", path)
    default:
      return Cause.die(error) // not the ring's (a Buffer's allocation failing)
  }
}

/** The outcome once the close failed with `closeCause`: a defect, after the step's failure elected to one too. */
const withCloseFailure = <A>(outcome: Exit.Exit<A, Error>, closeCause: Cause.Cause<never>): Exit.Exit<A, Error> => {
  if (Exit.isSuccess(outcome)) return Exit.failCause(closeCause)
  const error = Cause.findErrorOption(outcome.cause)
  return Exit.failCause(Cause.combine(error._tag === "Some" ? Cause.die(error.value) : outcome.cause, closeCause))
}

const OPEN = 0
const WRITE = 1
const CLOSE = 2
type State = typeof OPEN | typeof WRITE | typeof CLOSE

/**
 * One writeFile: its state (which request is in flight), the fd it opened, and its single
 * completion callback, which moves it on.
 */
class WriteChain {
  private state: State = OPEN
  /** The request in flight as `cancel` takes it; 0 while none can be cancelled (a close, a request ended without the loop). */
  private handle: RequestHandle = 0
  /** Counts callbacks, so that a callback run within its own submit call is told from a handle to keep. */
  private calls = 0
  /** The fd the open produced and no close has taken yet; -1 when none. */
  private fd = -1
  /** The fd being closed (for the close's error). */
  private closing = -1
  /** What the fiber gets once the fd is closed. */
  private outcome: Exit.Exit<void, Error> = Exit.void
  private delivered = false
  private interrupted = false
  private release: ((effect: Effect.Effect<void>) => void) | undefined

  private readonly callback = (error: globalThis.Error | null, value: number): void => this.completed(error, value)

  private readonly raw: Raw
  private readonly method = "writeFile"
  private readonly path: string
  private readonly resume: (effect: Effect.Effect<void, Error>) => void
  private readonly data: Uint8Array
  private readonly flags: number
  private readonly mode: number

  constructor(
    raw: Raw,
    path: string,
    resume: (effect: Effect.Effect<void, Error>) => void,
    data: Uint8Array,
    flags: number,
    mode: number,
  ) {
    this.raw = raw
    this.path = path
    this.resume = resume
    this.data = data
    this.flags = flags
    this.mode = mode
  }

  /** Submits the open; the cleanup to return from `Effect.callback`'s register, unless already resumed. */
  start(): Effect.Effect<void> | undefined {
    this.submit("open", undefined, () =>
      this.raw.driver.submitOpen(this.path, this.flags, this.mode, NO_DEADLINE, this.callback, true),
    )
    return this.delivered ? undefined : Effect.callback<void>((resume) => this.interrupt(resume))
  }

  /** The fiber was interrupted: cancel the step in flight; the close that follows releases `resume`. */
  private interrupt(resume: (effect: Effect.Effect<void>) => void): void {
    if (this.delivered) return resume(Effect.void)
    this.interrupted = true
    this.release = resume
    if (this.handle === 0) return
    try {
      this.raw.driver.cancel(this.handle)
    } catch {
      // The request is ending on its own: its callback still runs once and moves the chain on.
    }
  }

  private submit(op: Operations.Method, fd: number | undefined, call: () => RequestHandle): void {
    const calls = this.calls
    let handle: RequestHandle
    try {
      handle = call()
    } catch (error) {
      // Refused before the loop (a closed Driver, an argument the Driver refuses).
      return this.end(Exit.failCause(stepCause(error, op, fd, this.method, this.path)))
    }
    if (this.calls === calls) this.handle = handle
  }

  private completed(error: globalThis.Error | null, value: number): void {
    this.calls++
    this.handle = 0
    switch (this.state) {
      case OPEN:
        if (error === null) this.fd = value
        if (this.interrupted) return this.close()
        if (error !== null) return this.end(Exit.failCause(stepCause(error, "open", undefined, this.method, this.path)))
        return this.write()
      case WRITE:
        if (this.interrupted) return this.close()
        return this.end(
          error === null ? Exit.void : Exit.failCause(stepCause(error, "writeAt", this.fd, this.method, this.path)),
        )
      case CLOSE:
        return this.deliver(error)
    }
  }

  private write(): void {
    const data = this.data
    if (data.byteLength === 0) {
      // As write(2) of nothing: EBADF on an fd not open for writing (the ring would not ask the kernel).
      return this.end(
        readOnly(this.flags) ? Exit.fail(FsErrors.emptyWriteNotWritable("writeFile", this.path)) : Exit.void,
      )
    }
    this.state = WRITE
    const fd = this.fd
    this.submit("writeAt", fd, () => this.raw.driver.submitWriteAt(fd, data, 0, NO_DEADLINE, this.callback))
  }

  /** The method's outcome is decided: close the fd, then hand it over. */
  private end(outcome: Exit.Exit<void, Error>): void {
    this.outcome = outcome
    this.close()
  }

  private close(): void {
    if (this.fd < 0) return this.deliver(null)
    const fd = this.fd
    this.fd = -1
    this.closing = fd
    this.state = CLOSE
    try {
      this.raw.driver.submitCloseFd(fd, this.callback)
    } catch (error) {
      this.deliver(error)
    }
  }

  /** The fd is closed (`closeError` null) or its close failed: the fiber, or its interruption, goes on. */
  private deliver(closeError: unknown): void {
    this.delivered = true
    let closeCause: Cause.Cause<never> | undefined
    if (closeError !== null && closeError !== undefined) {
      const classified = Errors.classify(closeError, "close", this.closing, "closeFd")
      closeCause =
        classified instanceof IoUringError
          ? Cause.die(FsErrors.toPlatformError(classified, this.method, this.closing))
          : classified
    }
    if (this.interrupted) {
      return this.release!(closeCause === undefined ? Effect.void : Effect.failCause(closeCause))
    }
    this.resume(closeCause === undefined ? this.outcome : withCloseFailure(this.outcome, closeCause))
  }
}

export interface Fused {
  /** open O_RDONLY, fstat, read (the size fstat gives, or to the end), close: as readFile (the Driver's submitReadFile). */
  readonly readFile: (path: string) => Effect.Effect<Uint8Array, Error>
  /** open with `flags` and `mode`, write all of `data` at 0, close: as writeFile. */
  readonly writeFile: (path: string, data: Uint8Array, flags: number, mode: number) => Effect.Effect<void, Error>
  /**
   * A File's read of `buffer` at `position` on `fd`, for `method`: the bytes read, passed to
   * `after` first (the cursor's update) when given.
   */
  readonly readAt: (
    method: string,
    fd: number,
    buffer: Uint8Array,
    position: bigint,
    after?: (n: number) => void,
  ) => Effect.Effect<number, Error>
  /**
   * The same read without a fiber: `done` runs exactly once with its outcome (after a cancel too).
   * Returns the cancel, which cancels the read in the kernel if it is still there.
   */
  readonly startReadAt: (
    method: string,
    fd: number,
    buffer: Uint8Array,
    position: bigint,
    done: (exit: Exit.Exit<number, Error>) => void,
  ) => () => void
}

const nothingToCancel = (): void => {}

/** The fused operations over the ring's Driver. */
export const make = (raw: Raw): Fused => ({
  readFile: (path) =>
    Effect.callback<Uint8Array, Error>((resume) => {
      // settled: the request's callback has run (its fd is closed). release: set when interrupted.
      let settled = false
      let release: ((effect: Effect.Effect<void>) => void) | undefined
      let handle: RequestHandle
      try {
        handle = raw.driver.submitReadFile(path, NO_DEADLINE, (error, bytes) => {
          settled = true
          if (release !== undefined) return release(Effect.void)
          resume(error === null ? Effect.succeed(bytes!) : Effect.failCause(readFileCause(error, path)))
        })
      } catch (error) {
        // Refused before the loop (a closed Driver).
        return resume(Effect.failCause(stepCause(error, "open", undefined, "readFile", path)))
      }
      if (settled) return undefined
      return Effect.callback<void>((resumeRelease) => {
        if (settled) return resumeRelease(Effect.void)
        release = resumeRelease
        try {
          raw.driver.cancel(handle) // false once its close started: the callback still runs once
        } catch {
          // Ending on its own: its callback still runs once.
        }
      })
    }),
  writeFile: (path, data, flags, mode) =>
    Effect.callback<void, Error>((resume) => new WriteChain(raw, path, resume, data, flags, mode).start()),
  readAt: (method, fd, buffer, position, after) =>
    Effect.callback<number, Error>((resume) => {
      // settled: the request's callback has run. release: set by the cleanup when interrupted.
      let settled = false
      let release: ((effect: Effect.Effect<void>) => void) | undefined
      let handle: RequestHandle
      try {
        // The Driver takes either; a number is the cheaper for it to check and split.
        const at = position <= MAX_SAFE_POSITION ? Number(position) : position
        handle = raw.driver.submitReadAt(fd, buffer, at, buffer.byteLength, false, NO_DEADLINE, (error, n) => {
          settled = true
          if (release !== undefined) return release(Effect.void)
          if (error !== null) return resume(Exit.failCause(stepCause(error, "readAt", fd, method, fd)))
          if (after !== undefined) after(n)
          resume(Exit.succeed(n))
        })
      } catch (error) {
        return resume(Exit.failCause(stepCause(error, "readAt", fd, method, fd)))
      }
      if (settled) return
      return Effect.callback<void>((resumeCleanup) => {
        if (settled) return resumeCleanup(Effect.void)
        release = resumeCleanup
        try {
          raw.driver.cancel(handle)
        } catch {
          // The request is ending on its own: its callback still runs once and releases this cleanup.
        }
      })
    }),
  startReadAt: (method, fd, buffer, position, done) => {
    let settled = false
    let handle: RequestHandle
    try {
      const at = position <= MAX_SAFE_POSITION ? Number(position) : position
      handle = raw.driver.submitReadAt(fd, buffer, at, buffer.byteLength, false, NO_DEADLINE, (error, n) => {
        settled = true
        done(error !== null ? Exit.failCause(stepCause(error, "readAt", fd, method, fd)) : Exit.succeed(n))
      })
    } catch (error) {
      done(Exit.failCause(stepCause(error, "readAt", fd, method, fd)))
      return nothingToCancel
    }
    return () => {
      if (settled) return
      try {
        raw.driver.cancel(handle)
      } catch {
        // The request is ending on its own: its callback still runs once.
      }
    }
  },
})
