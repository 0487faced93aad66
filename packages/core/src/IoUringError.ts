/**
 * IoUringError: the class of every failure @iou/native's Driver reports for a request, with Node's
 * fields (`code`, `errno`, `syscall`, `fd` or `path` and `dest`, or a socket's `address` and `port`) and the `reason` its maker decided. It lives here, with
 * no native code, so that @iou/effect can recognise the Driver's errors by class (and make the
 * Unavailable one itself when @iou/native is not installed) without loading @iou/native, which
 * re-exports it and owns every constructor that maps the loop's outcomes to one (src/IoUringError.ts).
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
import type { Syscall } from "./Operations.ts"

/** What went wrong, independent of the errno: decided once, by the constructor that makes the error. */
export type Reason =
  | "Timeout"
  | "Closed"
  | "Abandoned"
  | "UnexpectedEof"
  | "Unavailable"
  | "NotAllowed"
  | "CredentialsChanged"
  | "Cancelled"
  | "SystemError"

export interface IoUringErrorFields {
  readonly code: string
  readonly reason: Reason
  readonly errno?: number | undefined
  readonly syscall?: Syscall | undefined
  readonly fd?: number | undefined
  /** The path a path operation acted on (Node's `path`). */
  readonly path?: string | undefined
  /** The second path of rename, link and symlink (Node's `dest`). */
  readonly dest?: string | undefined
  /** The address a connect or bind was for: an IP address, or a Unix socket's path (Node's `address`). */
  readonly address?: string | undefined
  /** The port a connect or bind was for (Node's `port`). */
  readonly port?: number | undefined
  /**
   * For ERR_IOU_UNEXPECTED_EOF: the bytes filled before end of file. For any other error of a
   * readAt, writeAt, send or recv that the loop or closeFd ended (ETIMEDOUT, ABORT_ERR, the
   * kernel's errno): the bytes it moved before it ended.
   */
  readonly bytes?: number | undefined
  readonly cause?: unknown
}

export class IoUringError extends Error {
  /** `EBADF`, `ETIMEDOUT`, `EPIPE`, `ABORT_ERR`, `ERR_IOU_CLOSED`, `ERR_IOU_ABANDONED`, … */
  readonly code: string
  /** What happened (see the table above); `Cancelled` is the AbortError. */
  readonly reason: Reason
  /** Negative errno where there is one (Node's convention): -9 for EBADF. */
  readonly errno: number | undefined
  readonly syscall: Syscall | undefined
  readonly fd: number | undefined
  /** The path of a path operation (open, stat, unlink, rename's source, mkdir…), as Node's errors carry it. */
  readonly path: string | undefined
  /** rename's target, link's and symlink's new name, as Node's errors carry it. */
  readonly dest: string | undefined
  /** The address a connect or bind was for (an IP address, or a Unix socket's path), as node:net's errors carry it. */
  readonly address: string | undefined
  /** The port a connect or bind was for, as node:net's errors carry it. */
  readonly port: number | undefined
  /**
   * For ERR_IOU_UNEXPECTED_EOF: the bytes filled before end of file or the peer's close. For any
   * other error of a readAt, writeAt, send or recv that the loop or closeFd ended (ETIMEDOUT,
   * ABORT_ERR, closeFd's EBADF, the kernel's errno after part of it moved): the bytes it moved
   * before it ended (in its buffer from its start, or the first of its data sent or written), 0
   * when none; undefined for an abandoned one (the kernel may still be moving its bytes).
   */
  readonly bytes: number | undefined

  constructor(message: string, fields: IoUringErrorFields) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause })
    this.name = fields.code === "ABORT_ERR" ? "AbortError" : "IoUringError"
    this.code = fields.code
    this.reason = fields.reason
    this.errno = fields.errno
    this.syscall = fields.syscall
    this.fd = fields.fd
    this.path = fields.path
    this.dest = fields.dest
    this.address = fields.address
    this.port = fields.port
    this.bytes = fields.bytes
  }
}
