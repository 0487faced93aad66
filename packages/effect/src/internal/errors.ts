/**
 * The one place where the Driver's errors become IoUringErrors (or defects).
 *
 * The Driver reports failures as its own `IoUringError` (an `Error` with Node's fields `code`,
 * `errno`, `syscall`, `fd`). Argument errors (`TypeError`/`RangeError`, thrown synchronously by the
 * Driver before anything reaches the loop) are bugs in the caller and become defects; so does
 * anything else that is not an Error with a string `code`.
 */
import { Cause, Effect, Predicate } from "effect"
import { IoUringError, type Reason, type Syscall } from "../IoUringError.ts"

const REASONS: Readonly<Record<string, Reason>> = {
  ETIMEDOUT: "Timeout",
  ERR_IOU_CLOSED: "Closed",
  ERR_IOU_ABANDONED: "Abandoned",
  ERR_IOU_UNEXPECTED_EOF: "UnexpectedEof",
  ERR_IOU_UNAVAILABLE: "Unavailable",
}

/** What to try next, for the errnos a user of files and sockets meets most. */
const HINTS: Readonly<Record<string, string>> = {
  EBADF:
    "the file descriptor is not open (or not open for this access mode); was it closed while the request was pending?",
  ENOTSOCK: "the file descriptor is not a socket; send/recv need a socket, readAt/writeAt a file",
  ECONNRESET: "the peer reset the connection",
  EPIPE: "the peer closed the connection before everything was sent",
  ENOTCONN: "the socket is not connected",
  EINVAL:
    "the kernel rejected the arguments (an fd that does not support this operation, or an unaligned buffer with O_DIRECT)",
  ESPIPE: "the file descriptor is not seekable (a pipe or socket); use send/recv for streams",
  EISDIR: "the file descriptor refers to a directory",
  ENOSPC: "no space left on the device",
  EDQUOT: "the disk quota is exhausted",
  EIO: "the device reported an I/O error",
  EFBIG: "the write would exceed the file size limit",
}

const fieldOf = (error: object, key: string): unknown =>
  key in error ? (error as Record<string, unknown>)[key] : undefined

const describeTarget = (syscall: Syscall | undefined, fd: number | undefined): string =>
  fd === undefined ? (syscall ?? "io_uring") : `${syscall ?? "io_uring"} on fd ${fd}`

const messageFor = (
  reason: Reason,
  code: string,
  syscall: Syscall | undefined,
  fd: number | undefined,
  native: string,
): string => {
  const target = describeTarget(syscall, fd)
  switch (reason) {
    case "Timeout":
      return `${target} timed out: its deadline passed before the kernel completed it and the request was cancelled (ETIMEDOUT); raise the timeout option if the peer or device is just slow`
    case "Closed":
      return `${target} was refused because the ring is closing or closed (ERR_IOU_CLOSED); run operations inside the scope of the NodeIoUring layer`
    case "Abandoned":
      return `${target} was still in flight when the ring's shutdownTimeout expired and was abandoned (ERR_IOU_ABANDONED); its buffer stays quarantined if the kernel did not give it back, raise shutdownTimeout or interrupt the work before closing the layer`
    case "UnexpectedEof":
      return `${target} met end of file or a closed peer before the requested range was full (ERR_IOU_UNEXPECTED_EOF); without exact, a short read is returned instead`
    case "Unavailable":
      return `io_uring is unavailable on this machine (ERR_IOU_UNAVAILABLE): ${native}`
    case "SystemError": {
      const hint = HINTS[code]
      return `${target} failed with ${code}${hint === undefined ? `: ${native}` : `: ${hint}`}`
    }
  }
}

/**
 * Maps a native error to an IoUringError, or returns undefined when it is not one (a defect).
 * `syscall` and `fd` fill in what the native error does not carry.
 */
const fromNative = (error: unknown, syscall?: Syscall, fd?: number): IoUringError | undefined => {
  if (!Predicate.isObject(error) || !(error instanceof Error)) return undefined
  const code = fieldOf(error, "code")
  if (typeof code !== "string" || code === "ABORT_ERR" || code === "ERR_INVALID_ARG_TYPE") return undefined
  if (error instanceof TypeError || error instanceof RangeError) return undefined
  const errno = fieldOf(error, "errno")
  const nativeSyscall = fieldOf(error, "syscall")
  const nativeFd = fieldOf(error, "fd")
  const finalSyscall = typeof nativeSyscall === "string" ? nativeSyscall : syscall
  const finalFd = typeof nativeFd === "number" && nativeFd >= 0 ? nativeFd : fd
  const reason: Reason = REASONS[code] ?? "SystemError"
  const bytes = fieldOf(error, "bytes")
  return new IoUringError({
    bytes: reason === "UnexpectedEof" && typeof bytes === "number" ? bytes : undefined,
    reason,
    code,
    errno: typeof errno === "number" ? errno : undefined,
    syscall: finalSyscall,
    fd: reason === "Unavailable" ? undefined : finalFd,
    message: messageFor(reason, code, finalSyscall, finalFd, error.message),
    cause: error,
  })
}

/** True for the Driver's cancellation outcome (`AbortError` / `ABORT_ERR`). */
const isAbort = (error: unknown): boolean =>
  error instanceof Error && (error.name === "AbortError" || fieldOf(error, "code") === "ABORT_ERR")

/**
 * The Effect for a failure reported by the Driver, synchronously (thrown by a submit call) or through
 * a request's callback: a typed failure for an IoUringError, an interruption for a cancellation
 * nobody asked for through interruption (it cannot happen through this package), and a defect with
 * a clear message for everything else (argument errors are bugs in the caller).
 */
export const failure = (
  error: unknown,
  syscall: Syscall,
  fd: number | undefined,
): Effect.Effect<never, IoUringError> => {
  const mapped = fromNative(error, syscall, fd)
  if (mapped !== undefined) return Effect.fail(mapped)
  if (isAbort(error)) return Effect.interrupt
  if (error instanceof TypeError || error instanceof RangeError) {
    const name = error.name
    const wrapped = new (error instanceof TypeError ? TypeError : RangeError)(
      syscall === "open"
        ? `NodeIoUring: invalid Driver config (a bug in the caller, reported as a defect): ${error.message}`
        : `IoUring.${operationName(syscall)}: invalid argument (a bug in the caller, reported as a defect): ${error.message}`,
      { cause: error },
    )
    wrapped.name = name
    return Effect.die(wrapped)
  }
  return Effect.failCause(Cause.die(error))
}

const operationName = (syscall: Syscall): string => {
  switch (syscall) {
    case "read":
      return "readAt"
    case "write":
      return "writeAt"
    case "fsync":
      return "sync"
    default:
      return syscall
  }
}
