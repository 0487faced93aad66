/**
 * IoUringError: every failure the Driver reports for a request, with Node's fields (`code`,
 * `errno`, `syscall`, and `fd`, or `path` with `dest` for rename, link and symlink, or `address` and
 * `port` for connect and bind). `fromCompletion` is the one place where the loop's (result, outcome)
 * becomes an error:
 *
 * | outcome                    | code                     | errno            |
 * | -------------------------- | ------------------------ | ---------------- |
 * | IOU_OUTCOME_ERROR          | the errno name (`EBADF`) | result (-errno)  |
 * | IOU_OUTCOME_TIMEOUT        | `ETIMEDOUT`              | -ETIMEDOUT       |
 * | IOU_OUTCOME_CANCELLED      | `ABORT_ERR`, name `AbortError` | —          |
 * | IOU_OUTCOME_UNEXPECTED_EOF | `ERR_IOU_UNEXPECTED_EOF` (`bytes`: what was filled) | — |
 * | IOU_OUTCOME_ABANDONED      | `ERR_IOU_ABANDONED`      | —                |
 * | IOU_OUTCOME_WRITE_ZERO     | `EPIPE` (a write or send made no progress: the kernel returned 0) | -EPIPE |
 *
 * Every error of a readAt, writeAt, send or recv that the loop or closeFd ended (the kernel's
 * errno, `ETIMEDOUT`, `ABORT_ERR`, `EPIPE`, `ERR_IOU_UNEXPECTED_EOF`, closeFd's `EBADF`) carries
 * `bytes`: what it moved before it ended (movedBytes), so that a caller of a stream (a socket, a
 * pipe) or of a file that filled up knows what it received or wrote. Not an abandoned one's: the
 * kernel may still be moving bytes for it.
 *
 * The Driver adds `ERR_IOU_CLOSED` (a call on a closing or closed Driver), `ERR_IOU_UNAVAILABLE`
 * (the kernel refuses io_uring; the message is probe()'s reason), `ERR_IOU_OPERATION_NOT_ALLOWED`
 * (an operation outside the config's `operations`) and `ERR_IOU_CREDENTIALS_CHANGED` (a call after
 * the process changed its credentials).
 *
 * Each error decides its `reason` once, where it is made (the constructors below): what happened,
 * independent of the errno, so that nobody downstream re-derives it from `code` or the message.
 * The class itself is @iou/core's (IoUringError.ts), re-exported here.
 *
 * | reason          | code                                   |
 * | --------------- | -------------------------------------- |
 * | `Timeout`       | `ETIMEDOUT` (a deadline passed)        |
 * | `Closed`        | `ERR_IOU_CLOSED`                       |
 * | `Abandoned`     | `ERR_IOU_ABANDONED`                    |
 * | `UnexpectedEof` | `ERR_IOU_UNEXPECTED_EOF`               |
 * | `Unavailable`   | `ERR_IOU_UNAVAILABLE`                  |
 * | `NotAllowed`    | `ERR_IOU_OPERATION_NOT_ALLOWED` (outside the config's `operations`) |
 * | `CredentialsChanged` | `ERR_IOU_CREDENTIALS_CHANGED` (uid, gid or groups changed since the ring opened) |
 * | `Cancelled`     | `ABORT_ERR` (name `AbortError`)        |
 * | `SystemError`   | an errno name, or `ERR_IOU_INTERNAL`   |
 */
import { IoUringError } from "@iou/core"
import { constants } from "node:os"
import * as util from "node:util"
import * as Binding from "./binding.ts"
import { BY_OP, fdOf, OPERATIONS, SYSCALLS, type Syscall } from "./Operations.ts"

// The class (and its Reason) live in @iou/core, so that @iou/effect knows it without this package.
export { IoUringError, type IoUringErrorFields, type Reason } from "@iou/core"

/**
 * The system's message for `errno`. util.getSystemErrorMessage is newer than some Node this package
 * can be imported by (it came in Node 22.12), so a named import of it would fail when the module
 * links; before it, util.getSystemErrorMap has the same message.
 */
const systemErrorMessage = (errno: number): string =>
  typeof util.getSystemErrorMessage === "function"
    ? util.getSystemErrorMessage(errno)
    : (util.getSystemErrorMap().get(errno)?.[1] ?? `errno ${-errno}`)

const ETIMEDOUT = -constants.errno.ETIMEDOUT
/** What a request's own deadline says in place of the kernel's text for ETIMEDOUT. */
const TIMEOUT_TEXT = "the request's deadline passed"
const EPIPE = -constants.errno.EPIPE

/**
 * What a request acted on, as its errors carry it: the paths of a path operation (Node's `path` and
 * `dest`), or the endpoint of a connect or bind (node:net's `address` and `port`; a Unix socket's
 * path is its `address`).
 */
export interface Place {
  readonly path?: string | undefined
  readonly dest?: string | undefined
  readonly address?: string | undefined
  readonly port?: number | undefined
}

const NO_PLACE: Place = {}

const where = (syscall: Syscall, fd: number | undefined, place: Place = NO_PLACE): string => {
  if (place.path !== undefined) {
    return place.dest === undefined ? `${syscall} '${place.path}'` : `${syscall} '${place.path}' -> '${place.dest}'`
  }
  if (place.address !== undefined) {
    return place.port === undefined ? `${syscall} ${place.address}` : `${syscall} ${place.address}:${place.port}`
  }
  return fd === undefined || syscall === "nop" ? syscall : `${syscall} fd ${fd}`
}

/** The error fields of `place`. */
const fieldsOf = (place: Place): Place => ({
  path: place.path,
  dest: place.dest,
  address: place.address,
  port: place.port,
})

/**
 * node:net's message for a step of a listen or connect that failed at an endpoint (`place.address`:
 * socket, setsockopt, bind, listen, connect…): "connect ECONNREFUSED 127.0.0.1:1" for a connect,
 * "bind EADDRINUSE: address already in use 127.0.0.1:80" for the others (as node:net's server says
 * its listen's); the port only when above 0, a Unix socket's path alone.
 */
const netMessage = (syscall: Syscall, code: string, text: string, place: Place): string => {
  const at = place.port !== undefined && place.port > 0 ? `${place.address}:${place.port}` : `${place.address}`
  return syscall === "connect" ? `${syscall} ${code} ${at}` : `${syscall} ${code}: ${text} ${at}`
}

/**
 * An error from a negative errno, with Node's message: node:fs's form ("EBADF: bad file
 * descriptor, read fd 99", "ENOENT: no such file or directory, open '/x'"), or node:net's for a
 * failure at an endpoint (netMessage).
 */
export const errnoError = (
  errno: number,
  syscall: Syscall,
  fd: number | undefined,
  place: Place = NO_PLACE,
  bytes?: number,
): IoUringError => {
  let code: string
  let text: string
  try {
    code = util.getSystemErrorName(errno)
    text = systemErrorMessage(errno)
  } catch {
    code = `E${-errno}`
    text = `errno ${-errno}`
  }
  const message =
    place.address !== undefined
      ? netMessage(syscall, code, text, place)
      : `${code}: ${text}, ${where(syscall, fd, place)}`
  return new IoUringError(message, {
    code,
    reason: code === "ETIMEDOUT" ? "Timeout" : "SystemError",
    errno,
    syscall,
    fd,
    ...fieldsOf(place),
    bytes,
  })
}

/**
 * A request on an fd that `closeFd` closes: one made meanwhile is refused before the kernel, one
 * still outstanding is cancelled; both end with EBADF (the fd is as good as closed), so that no
 * request can land on the fd number once it is reused. `bytes`: see movedBytes.
 */
export const closingFdError = (syscall: Syscall, fd: number, bytes?: number): IoUringError =>
  new IoUringError(`EBADF: the file descriptor is closed by closeFd, ${where(syscall, fd)}`, {
    code: "EBADF",
    reason: "SystemError",
    errno: -constants.errno.EBADF,
    syscall,
    fd,
    bytes,
  })

/**
 * What a failed request's error carries as `bytes`: for an operation that moves data (readAt,
 * writeAt, send, recv), the bytes it moved before it ended (`moved`, the loop's count; 0 for one
 * that never reached the kernel), which are in its buffer or were sent or written; undefined for
 * any other operation.
 */
export const movedBytes = (op: number, moved: number): number | undefined =>
  BY_OP[op]?.movesData === true ? Math.max(moved, 0) : undefined

/**
 * dns.lookup's failure for `host` (ENOTFOUND, EAI_AGAIN…), with its code and Node's message
 * ("getaddrinfo ENOTFOUND host"); syscall "getaddrinfo".
 */
export const lookupError = (
  error: Error & { code?: string | undefined; errno?: number | undefined },
  host: string,
  port: number,
): IoUringError =>
  new IoUringError(`getaddrinfo ${error.code ?? "ENOTFOUND"} ${host}`, {
    code: error.code ?? "ENOTFOUND",
    reason: "SystemError",
    errno: typeof error.errno === "number" ? error.errno : undefined,
    syscall: "getaddrinfo",
    address: host,
    port,
    cause: error,
  })

/**
 * A cancelled request (ring.cancel or an AbortSignal): name "AbortError", code "ABORT_ERR".
 * `bytes`: see movedBytes.
 */
export const abortError = (
  syscall: Syscall,
  fd: number | undefined,
  cause?: unknown,
  place: Place = NO_PLACE,
  bytes?: number,
): IoUringError =>
  new IoUringError(`The operation was aborted, ${where(syscall, fd, place)}`, {
    code: "ABORT_ERR",
    reason: "Cancelled",
    syscall,
    fd,
    ...fieldsOf(place),
    bytes,
    cause,
  })

/** A call on a closing or closed Driver. */
export const closedError = (syscall: Syscall, fd: number | undefined, place: Place = NO_PLACE): IoUringError =>
  new IoUringError(`ERR_IOU_CLOSED: the Driver is closing or closed, ${where(syscall, fd, place)}`, {
    code: "ERR_IOU_CLOSED",
    reason: "Closed",
    syscall,
    fd,
    ...fieldsOf(place),
  })

/** A call of an operation outside the Driver's `operations` (config): refused before the loop. */
export const notAllowedError = (syscall: Syscall, fd: number | undefined, operations: string): IoUringError =>
  new IoUringError(
    `ERR_IOU_OPERATION_NOT_ALLOWED: the Driver was opened for operations: "${operations}", which does not include ${syscall}, ${where(syscall, fd)}`,
    { code: "ERR_IOU_OPERATION_NOT_ALLOWED", reason: "NotAllowed", syscall, fd },
  )

/**
 * A call after the process changed its uid, gid or supplementary groups since the ring was created:
 * work the ring runs asynchronously may act with the creator's credentials (CVE-2024-22017's class).
 */
export const credentialsChangedError = (syscall: Syscall, fd: number | undefined): IoUringError =>
  new IoUringError(
    `ERR_IOU_CREDENTIALS_CHANGED: the process changed its uid, gid or groups since the Driver was opened, and the ring could act with the old ones; open the Driver after dropping privileges, ${where(syscall, fd)}`,
    { code: "ERR_IOU_CREDENTIALS_CHANGED", reason: "CredentialsChanged", syscall, fd },
  )

/** A request still outstanding when the shutdown timeout expired. */
export const abandonedError = (syscall: Syscall, fd: number | undefined, place: Place = NO_PLACE): IoUringError =>
  new IoUringError(
    `ERR_IOU_ABANDONED: the request was still in flight when the Driver's shutdown timeout expired, ${where(syscall, fd, place)}`,
    { code: "ERR_IOU_ABANDONED", reason: "Abandoned", syscall, fd, ...fieldsOf(place) },
  )

/**
 * A request whose deadline passed (in the kernel, the loop or the backpressure queue), said as the
 * kernel's ETIMEDOUT would be (at an endpoint: "connect ETIMEDOUT 10.0.0.1:80"). `bytes`: see
 * movedBytes.
 */
export const timeoutError = (
  syscall: Syscall,
  fd: number | undefined,
  place: Place = NO_PLACE,
  bytes?: number,
): IoUringError =>
  new IoUringError(
    place.address !== undefined
      ? netMessage(syscall, "ETIMEDOUT", TIMEOUT_TEXT, place)
      : `ETIMEDOUT: ${TIMEOUT_TEXT}, ${where(syscall, fd, place)}`,
    {
      code: "ETIMEDOUT",
      reason: "Timeout",
      errno: ETIMEDOUT,
      syscall,
      fd,
      ...fieldsOf(place),
      bytes,
    },
  )

/** io_uring refused here; `explanation` is probe()'s reason. */
export const unavailableError = (explanation: string, errno: number | undefined): IoUringError =>
  new IoUringError(`ERR_IOU_UNAVAILABLE: ${explanation}`, {
    code: "ERR_IOU_UNAVAILABLE",
    reason: "Unavailable",
    errno,
    syscall: "open",
  })

/** Where a request's errors say it happened: its syscall (an unlink of a directory is "rmdir"), fd, paths or endpoint. */
export interface Site extends Place {
  readonly syscall?: Syscall | undefined
}

/**
 * The one mapping from a completion to an error: null for Binding.IOU_OUTCOME_OK, an IoUringError
 * otherwise. `abortCause` is the AbortSignal's reason when a signal cancelled the request; `site`
 * the request's paths and its syscall where it is not the row's; `done` the completion's bytes done
 * (what moved before an IOU_OUTCOME_ERROR).
 */
export const fromCompletion = (
  op: number,
  fd: number | undefined,
  result: number,
  outcome: number,
  abortCause?: unknown,
  site: Site = NO_PLACE,
  done = 0,
): IoUringError | null => {
  const syscall = site.syscall ?? SYSCALLS[op] ?? "nop"
  const onFd = fdOf(op, fd)
  switch (outcome) {
    case Binding.IOU_OUTCOME_OK:
      return null
    case Binding.IOU_OUTCOME_ERROR:
      return errnoError(result < 0 ? result : -constants.errno.EIO, syscall, onFd, site, movedBytes(op, done))
    case Binding.IOU_OUTCOME_TIMEOUT:
      return timeoutError(syscall, onFd, site, movedBytes(op, result))
    case Binding.IOU_OUTCOME_CANCELLED:
      return abortError(syscall, onFd, abortCause, site, movedBytes(op, result))
    case Binding.IOU_OUTCOME_UNEXPECTED_EOF:
      return new IoUringError(
        `ERR_IOU_UNEXPECTED_EOF: ${op === OPERATIONS.recv.op ? "the peer closed the connection" : "end of file"} after ${result} bytes, before the range was filled, ${where(syscall, onFd)}`,
        { code: "ERR_IOU_UNEXPECTED_EOF", reason: "UnexpectedEof", syscall, fd: onFd, bytes: result },
      )
    case Binding.IOU_OUTCOME_ABANDONED:
      return abandonedError(syscall, onFd, site)
    case Binding.IOU_OUTCOME_WRITE_ZERO:
      return new IoUringError(
        `EPIPE: the ${op === OPERATIONS.send.op ? "peer" : "file"} accepted no more bytes (the kernel wrote 0), ${where(syscall, onFd)}`,
        { code: "EPIPE", reason: "SystemError", errno: EPIPE, syscall, fd: onFd, bytes: movedBytes(op, result) },
      )
    default:
      return new IoUringError(`ERR_IOU_INTERNAL: unknown outcome ${outcome}, ${where(syscall, onFd)}`, {
        code: "ERR_IOU_INTERNAL",
        reason: "SystemError",
        syscall,
        fd: onFd,
      })
  }
}
