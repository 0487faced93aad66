/**
 * The one place where the Driver's errors become IoUringErrors (or defects), by class:
 *
 * - the Driver's own `IoUringError` (@iou/native's, whose class is @iou/core's so that it is known
 *   here without loading @iou/native) has already decided its `reason` and carries
 *   Node's fields (`code`, `errno`, `syscall`, `fd`, `path`, `dest`, `address`, `port`): they are copied, and only the message is
 *   written here. Its `Cancelled` reason (an AbortError) is an interruption;
 * - argument errors (`TypeError`/`RangeError`, thrown synchronously by the Driver before anything
 *   reaches the loop, or by the config's validation: syscall "open" without an operation's
 *   `method`) are bugs in the caller and become defects;
 * - anything else is a defect.
 */
import { IoUringError as NativeError, Operations } from "@iou/core"
import { Cause, Effect } from "effect"
import { IoUringError, type ReasonTag, reasonOf, type Syscall } from "../IoUringError.ts"

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

const describeTarget = (syscall: Syscall | undefined, fd: number | undefined, error: NativeError): string =>
  error.path !== undefined
    ? `${syscall ?? "io_uring"} of '${error.path}'`
    : error.address !== undefined
      ? `${syscall ?? "io_uring"} to ${error.address}${error.port === undefined ? "" : `:${error.port}`}`
      : fd === undefined
        ? (syscall ?? "io_uring")
        : `${syscall ?? "io_uring"} on fd ${fd}`

/** An ERR_IOU_UNAVAILABLE's explanation: the Driver's message without the code it leads with. */
const explanationOf = (error: NativeError): string => error.message.replace(/^ERR_IOU_UNAVAILABLE: /, "")

const messageFor = (
  reason: ReasonTag,
  code: string,
  syscall: Syscall | undefined,
  fd: number | undefined,
  error: NativeError,
): string => {
  const native = error.message
  const target = describeTarget(syscall, fd, error)
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
      return `io_uring is unavailable on this machine (ERR_IOU_UNAVAILABLE): ${explanationOf(error)}`
    case "NotAllowed":
      return `${target} was refused because the ring was opened for other operations (ERR_IOU_OPERATION_NOT_ALLOWED); widen the layer's operations setting (IOU_OPERATIONS) or use a ring opened for this one`
    case "CredentialsChanged":
      return `${target} was refused because the process changed its uid, gid or groups after the ring was opened (ERR_IOU_CREDENTIALS_CHANGED): the ring would act with the old credentials; open the ring after dropping privileges`
    case "SystemError": {
      const hint = HINTS[code]
      return `${target} failed with ${code}${hint === undefined ? `: ${native}` : `: ${hint}`}`
    }
  }
}

/** The native error as an IoUringError; `syscall` and `fd` fill in what it does not carry. */
const fromNative = (error: NativeError, syscall: Syscall, fd: number | undefined): IoUringError => {
  const reason = error.reason as ReasonTag
  const finalSyscall = error.syscall ?? syscall
  const finalFd = error.fd !== undefined && error.fd >= 0 ? error.fd : fd
  return new IoUringError({
    reason: reasonOf(reason, error.bytes, reason === "Unavailable" ? explanationOf(error) : undefined),
    code: error.code,
    errno: error.errno,
    syscall: finalSyscall,
    fd: reason === "Unavailable" ? undefined : finalFd,
    path: error.path,
    dest: error.dest,
    address: error.address,
    port: error.port,
    message: messageFor(reason, error.code, finalSyscall, finalFd, error),
    cause: error,
  })
}

/**
 * What a failure reported by the Driver is, synchronously (thrown by a submit call) or through a
 * request's callback: the typed IoUringError for the Driver's IoUringError, or the Cause it is
 * otherwise: an interruption for a cancellation nobody asked for through interruption (it cannot
 * happen through this package), and a defect with a clear message for everything else (argument
 * errors are bugs in the caller).
 */
export const classify = (
  error: unknown,
  syscall: Syscall,
  fd: number | undefined,
  method?: Operations.Method,
): IoUringError | Cause.Cause<never> => {
  if (error instanceof NativeError) {
    return error.reason === "Cancelled" ? Cause.interrupt() : fromNative(error, syscall, fd)
  }
  if (error instanceof TypeError || error instanceof RangeError) {
    const name = error.name
    // Opening the Driver: a config error names its field (Config.rangeError/typeError); any other
    // (an allocation the config asked for failing) is no bug in the config.
    const opening = syscall === "open" && method === undefined
    const message = !opening
      ? `IoUring.${method ?? Operations.methodOf(syscall) ?? syscall}: invalid argument (a bug in the caller, reported as a defect): ${error.message}`
      : "field" in error
        ? `NodeIoUring: invalid Driver config (a bug in the caller, reported as a defect): ${error.message}`
        : `NodeIoUring: opening the Driver failed: ${error.message}`
    const wrapped = new (error instanceof TypeError ? TypeError : RangeError)(message, { cause: error })
    wrapped.name = name
    return Cause.die(wrapped)
  }
  return Cause.die(error)
}

/** The Effect for a failure reported by the Driver (see `classify`). */
export const failure = (
  error: unknown,
  syscall: Syscall,
  fd: number | undefined,
  method?: Operations.Method,
): Effect.Effect<never, IoUringError> => {
  if (error instanceof NativeError && error.reason === "Cancelled") return Effect.interrupt
  const classified = classify(error, syscall, fd, method)
  return classified instanceof IoUringError ? Effect.fail(classified) : Effect.failCause(classified)
}
