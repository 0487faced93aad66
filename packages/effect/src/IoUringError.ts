/**
 * IoUringError: every expected failure of the IoUring service and its layers.
 *
 * One class with a `reason`, so that callers can branch on what happened without knowing errno
 * names, and keep Node's fields (`code`, `errno`, `syscall`, `fd` or `path` and `dest`) for logs and for the rare case
 * that needs them:
 *
 * | reason          | code                        | what happened                                             |
 * | --------------- | --------------------------- | --------------------------------------------------------- |
 * | `Timeout`       | `ETIMEDOUT`                 | the request's `timeout` (its deadline in the loop) passed  |
 * | `Closed`        | `ERR_IOU_CLOSED`            | the ring was closing or closed (its scope ended)          |
 * | `Abandoned`     | `ERR_IOU_ABANDONED`         | still outstanding when the shutdown timeout expired       |
 * | `UnexpectedEof` | `ERR_IOU_UNEXPECTED_EOF`    | `exact` read/recv met end of file or a closed peer first  |
 * | `Unavailable`   | `ERR_IOU_UNAVAILABLE`       | the kernel refuses io_uring here (the probe says why)     |
 * | `SystemError`   | an errno name (`EBADF`, …)  | the kernel failed the operation                           |
 *
 * The mapping from the Driver's native errors lives in one function, `internal/errors.ts`: it
 * copies the native error's fields, `reason` included, instead of deriving them again.
 * Bad arguments (a negative fd, a range outside the buffer, an invalid timeout) are bugs in the
 * caller and surface as defects, never as an IoUringError.
 *
 * @since 0.0.0
 */
import type { Operations, Reason as NativeReason } from "@iou/core"
import { Data } from "effect"

/**
 * What went wrong, independent of the errno: the Driver's own `reason`, copied (a cancellation is
 * an interruption here, never an IoUringError).
 *
 * @since 0.0.0
 */
export type Reason = Exclude<NativeReason, "Cancelled">

/**
 * The operation that failed, named like Node's `syscall` field (`"open"` for the ring's setup).
 *
 * @since 0.0.0
 */
export type Syscall = Operations.Syscall | (string & {})

/**
 * @since 0.0.0
 */
export class IoUringError extends Data.TaggedError("IoUringError")<{
  readonly reason: Reason
  /** `ETIMEDOUT`, `ERR_IOU_…` or the errno name (`EBADF`, `ECONNRESET`, …). */
  readonly code: string
  /** Negative errno where there is one (Node's convention), e.g. -9 for EBADF. */
  readonly errno?: number | undefined
  readonly syscall?: Syscall | undefined
  readonly fd?: number | undefined
  /** The path of a path operation (open, stat, unlink, mkdir, rename's source…), as Node's errors carry it. */
  readonly path?: string | undefined
  /** rename's target, link's and symlink's new name (Node's `dest`). */
  readonly dest?: string | undefined
  /** For `UnexpectedEof`: the bytes filled before end of file or the peer's close. */
  readonly bytes?: number | undefined
  /** A sentence a person can act on. */
  readonly message: string
  /** The Driver's own error, kept for its stack. */
  readonly cause?: unknown
}> {}

/**
 * @since 0.0.0
 */
export const isIoUringError = (u: unknown): u is IoUringError => u instanceof IoUringError
