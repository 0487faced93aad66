/**
 * IoUringError: every failure the Driver reports for a request, with Node's fields (`code`,
 * `errno`, `syscall`, `fd`). `fromCompletion` is the one place where the loop's (result, outcome)
 * becomes an error:
 *
 * | outcome                    | code                     | errno            |
 * | -------------------------- | ------------------------ | ---------------- |
 * | IOU_OUTCOME_ERROR          | the errno name (`EBADF`) | result (-errno)  |
 * | IOU_OUTCOME_TIMEOUT        | `ETIMEDOUT`              | -ETIMEDOUT       |
 * | IOU_OUTCOME_CANCELLED      | `ABORT_ERR`, name `AbortError` | —          |
 * | IOU_OUTCOME_UNEXPECTED_EOF | `ERR_IOU_UNEXPECTED_EOF` (`bytes`: what was filled) | — |
 * | IOU_OUTCOME_ABANDONED      | `ERR_IOU_ABANDONED`      | —                |
 * | IOU_OUTCOME_CLOSED         | `EPIPE` (a write or send made no progress: the kernel returned 0) | -EPIPE |
 *
 * The Driver adds `ERR_IOU_CLOSED` (a call on a closing or closed Driver) and `ERR_IOU_UNAVAILABLE`
 * (the kernel refuses io_uring; the message is probe()'s reason).
 */
import { constants } from "node:os"
import { getSystemErrorMessage, getSystemErrorName } from "node:util"
import {
  IOU_OP_NOP,
  IOU_OP_READ_AT,
  IOU_OP_RECV,
  IOU_OP_SEND,
  IOU_OP_SYNC,
  IOU_OP_WRITE_AT,
  IOU_OUTCOME_ABANDONED,
  IOU_OUTCOME_CANCELLED,
  IOU_OUTCOME_CLOSED,
  IOU_OUTCOME_ERROR,
  IOU_OUTCOME_OK,
  IOU_OUTCOME_TIMEOUT,
  IOU_OUTCOME_UNEXPECTED_EOF,
} from "./binding.ts"

/** The operation, named like Node's `syscall` field; "open" is the ring's setup. */
export type Syscall = "nop" | "read" | "write" | "send" | "recv" | "fsync" | "open"

/** Syscall names indexed by IOU_OP_*. */
export const SYSCALLS: ReadonlyArray<Syscall> = (() => {
  const names: Array<Syscall> = []
  names[IOU_OP_NOP] = "nop"
  names[IOU_OP_READ_AT] = "read"
  names[IOU_OP_WRITE_AT] = "write"
  names[IOU_OP_SEND] = "send"
  names[IOU_OP_RECV] = "recv"
  names[IOU_OP_SYNC] = "fsync"
  return names
})()

export interface IoUringErrorFields {
  readonly code: string
  readonly errno?: number | undefined
  readonly syscall?: Syscall | undefined
  readonly fd?: number | undefined
  /** For ERR_IOU_UNEXPECTED_EOF: the bytes filled before end of file. */
  readonly bytes?: number | undefined
  readonly cause?: unknown
}

export class IoUringError extends Error {
  /** `EBADF`, `ETIMEDOUT`, `EPIPE`, `ABORT_ERR`, `ERR_IOU_CLOSED`, `ERR_IOU_ABANDONED`, … */
  readonly code: string
  /** Negative errno where there is one (Node's convention): -9 for EBADF. */
  readonly errno: number | undefined
  readonly syscall: Syscall | undefined
  readonly fd: number | undefined
  /** For ERR_IOU_UNEXPECTED_EOF: the bytes filled before end of file or the peer's close. */
  readonly bytes: number | undefined

  constructor(message: string, fields: IoUringErrorFields) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause })
    this.name = fields.code === "ABORT_ERR" ? "AbortError" : "IoUringError"
    this.code = fields.code
    this.errno = fields.errno
    this.syscall = fields.syscall
    this.fd = fields.fd
    this.bytes = fields.bytes
  }
}

const ETIMEDOUT = -constants.errno.ETIMEDOUT
const EPIPE = -constants.errno.EPIPE

const where = (syscall: Syscall, fd: number | undefined): string =>
  fd === undefined || syscall === "nop" ? syscall : `${syscall} fd ${fd}`

/** An error from a negative errno, like Node's own: "EBADF: bad file descriptor, read fd 99". */
export const errnoError = (errno: number, syscall: Syscall, fd: number | undefined): IoUringError => {
  let code: string
  let text: string
  try {
    code = getSystemErrorName(errno)
    text = getSystemErrorMessage(errno)
  } catch {
    code = `E${-errno}`
    text = `errno ${-errno}`
  }
  return new IoUringError(`${code}: ${text}, ${where(syscall, fd)}`, { code, errno, syscall, fd })
}

/** A cancelled request (ring.cancel or an AbortSignal): name "AbortError", code "ABORT_ERR". */
export const abortError = (syscall: Syscall, fd: number | undefined, cause?: unknown): IoUringError =>
  new IoUringError(`The operation was aborted, ${where(syscall, fd)}`, { code: "ABORT_ERR", syscall, fd, cause })

/** A call on a closing or closed Driver. */
export const closedError = (syscall: Syscall, fd: number | undefined): IoUringError =>
  new IoUringError(`ERR_IOU_CLOSED: the Driver is closing or closed, ${where(syscall, fd)}`, {
    code: "ERR_IOU_CLOSED",
    syscall,
    fd,
  })

/** A request still in flight when the shutdown timeout expired. */
export const abandonedError = (syscall: Syscall, fd: number | undefined): IoUringError =>
  new IoUringError(
    `ERR_IOU_ABANDONED: the request was still in flight when the Driver's shutdown timeout expired, ${where(syscall, fd)}`,
    { code: "ERR_IOU_ABANDONED", syscall, fd },
  )

/** io_uring refused here; `reason` is probe()'s explanation. */
export const unavailableError = (reason: string, errno: number | undefined): IoUringError =>
  new IoUringError(`ERR_IOU_UNAVAILABLE: ${reason}`, { code: "ERR_IOU_UNAVAILABLE", errno, syscall: "open" })

/**
 * The one mapping from a completion to an error: null for IOU_OUTCOME_OK, an IoUringError
 * otherwise. `abortCause` is the AbortSignal's reason when a signal cancelled the request.
 */
export const fromCompletion = (
  op: number,
  fd: number | undefined,
  result: number,
  outcome: number,
  abortCause?: unknown,
): IoUringError | null => {
  const syscall = SYSCALLS[op] ?? "nop"
  const onFd = op === IOU_OP_NOP ? undefined : fd
  switch (outcome) {
    case IOU_OUTCOME_OK:
      return null
    case IOU_OUTCOME_ERROR:
      return errnoError(result < 0 ? result : -constants.errno.EIO, syscall, onFd)
    case IOU_OUTCOME_TIMEOUT:
      return new IoUringError(`ETIMEDOUT: the request's deadline passed, ${where(syscall, onFd)}`, {
        code: "ETIMEDOUT",
        errno: ETIMEDOUT,
        syscall,
        fd: onFd,
      })
    case IOU_OUTCOME_CANCELLED:
      return abortError(syscall, onFd, abortCause)
    case IOU_OUTCOME_UNEXPECTED_EOF:
      return new IoUringError(
        `ERR_IOU_UNEXPECTED_EOF: ${op === IOU_OP_RECV ? "the peer closed the connection" : "end of file"} after ${result} bytes, before the range was filled, ${where(syscall, onFd)}`,
        { code: "ERR_IOU_UNEXPECTED_EOF", syscall, fd: onFd, bytes: result },
      )
    case IOU_OUTCOME_ABANDONED:
      return abandonedError(syscall, onFd)
    case IOU_OUTCOME_CLOSED:
      return new IoUringError(
        `EPIPE: the ${op === IOU_OP_SEND ? "peer" : "file"} accepted no more bytes (the kernel wrote 0), ${where(syscall, onFd)}`,
        { code: "EPIPE", errno: EPIPE, syscall, fd: onFd },
      )
    default:
      return new IoUringError(`ERR_IOU_INTERNAL: unknown outcome ${outcome}, ${where(syscall, onFd)}`, {
        code: "ERR_IOU_INTERNAL",
        syscall,
        fd: onFd,
      })
  }
}
