/**
 * IoUringError: every expected failure of the IoUring service and its layers.
 *
 * One class whose `reason` is a tagged class per kind of failure (Effect 4's convention, so that
 * `Effect.catchReason("IoUringError", "Timeout", …)` and `catchReasons` work), and which keeps Node's
 * fields (`code`, `errno`, `syscall`, `fd` or `path` and `dest`, or `address` and `port`) for logs and for the rare case that needs them:
 *
 * | reason `_tag`   | code                        | what happened                                             |
 * | --------------- | --------------------------- | --------------------------------------------------------- |
 * | `Timeout`       | `ETIMEDOUT`                 | the request's `timeout` (its deadline in the loop) passed (`bytes`: what a data request moved first) |
 * | `Closed`        | `ERR_IOU_CLOSED`            | the ring was closing or closed (its scope ended)          |
 * | `Abandoned`     | `ERR_IOU_ABANDONED`         | still outstanding when the shutdown timeout expired       |
 * | `UnexpectedEof` | `ERR_IOU_UNEXPECTED_EOF`    | `exact` read/recv met end of file or a closed peer first (`bytes`: what was filled) |
 * | `Unavailable`   | `ERR_IOU_UNAVAILABLE`       | the kernel refuses io_uring here (the probe says why)     |
 * | `NotAllowed`    | `ERR_IOU_OPERATION_NOT_ALLOWED` | the ring was opened for other operations (`operations`) |
 * | `CredentialsChanged` | `ERR_IOU_CREDENTIALS_CHANGED` | the process changed its uid, gid or groups since the ring opened |
 * | `SystemError`   | an errno name (`EBADF`, …)  | the kernel failed the operation                           |
 *
 * The mapping from the Driver's native errors lives in one function, `internal/errors.ts`: it
 * copies the native error's fields, its reason included, instead of deriving them again. The
 * conversions to Effect's platform errors (`toPlatformError`, `toSocketError`) live here, one table
 * each. Bad arguments (a negative fd, a range outside the buffer, an invalid timeout) are bugs in the
 * caller and surface as defects, never as an IoUringError.
 *
 * @since 0.0.0
 */
import type { Operations, Reason as NativeReason } from "@iou/core"
import { Data } from "effect"
import * as PlatformError from "effect/PlatformError"
import * as Socket from "effect/socket/Socket"

/**
 * The request's deadline in the loop passed; the loop cancelled it in the kernel. `bytes`, for
 * readAt, writeAt, send and recv: what the request moved before its deadline (in the buffer from
 * its start, recv's from `offset`; or the first bytes of the data sent), 0 when none; undefined for
 * other operations, and for a timeout the kernel reported itself (a socket's `ETIMEDOUT` errno).
 *
 * @since 0.0.0
 */
export class Timeout extends Data.TaggedError("Timeout")<{ readonly bytes?: number | undefined }> {
  override get message(): string {
    return this.bytes === undefined || this.bytes === 0
      ? "the request's deadline passed and it was cancelled in the kernel"
      : `the request's deadline passed after ${this.bytes} byte(s) and it was cancelled in the kernel`
  }
}

/**
 * The ring was closing or closed when the request was made.
 *
 * @since 0.0.0
 */
export class Closed extends Data.TaggedError("Closed")<{}> {
  override get message(): string {
    return "the ring is closing or closed"
  }
}

/**
 * The request was still outstanding when the ring's shutdown timeout expired.
 *
 * @since 0.0.0
 */
export class Abandoned extends Data.TaggedError("Abandoned")<{}> {
  override get message(): string {
    return "the request was abandoned when the ring's shutdown timeout expired"
  }
}

/**
 * An `exact` read or receive met end of file or a closed peer first; `bytes` were filled.
 *
 * @since 0.0.0
 */
export class UnexpectedEof extends Data.TaggedError("UnexpectedEof")<{ readonly bytes: number }> {
  override get message(): string {
    return `end of file or a closed peer after ${this.bytes} byte(s)`
  }
}

/**
 * The kernel refuses io_uring, lacks a feature the loop needs, or the addon is missing;
 * `explanation` is the probe's (what is missing, how to fix it).
 *
 * @since 0.0.0
 */
export class Unavailable extends Data.TaggedError("Unavailable")<{ readonly explanation?: string | undefined }> {
  override get message(): string {
    return this.explanation === undefined
      ? "io_uring is unavailable here"
      : `io_uring is unavailable here: ${this.explanation}`
  }
}

/**
 * The kernel failed the operation; the error's `code` and `errno` say how. `bytes`, for readAt,
 * writeAt, send and recv: what the request moved before the kernel failed it (a write that filled
 * the disk part way, a receive that got part of a message before a reset), 0 when none.
 *
 * @since 0.0.0
 */
export class SystemError extends Data.TaggedError("SystemError")<{ readonly bytes?: number | undefined }> {
  override get message(): string {
    return "the kernel failed the operation"
  }
}

/**
 * The ring was opened for another class of operations (its `operations` config); refused before
 * the kernel.
 *
 * @since 0.0.0
 */
export class NotAllowed extends Data.TaggedError("NotAllowed")<{}> {
  override get message(): string {
    return "the ring was opened for another class of operations"
  }
}

/**
 * The process changed its uid, gid or groups since the ring opened; the ring refuses every request.
 *
 * @since 0.0.0
 */
export class CredentialsChanged extends Data.TaggedError("CredentialsChanged")<{}> {
  override get message(): string {
    return "the process's credentials changed since the ring opened"
  }
}

/**
 * What went wrong, independent of the errno: the Driver's own reason as a tagged class (a
 * cancellation is an interruption here, never an IoUringError).
 *
 * @since 0.0.0
 */
export type Reason =
  | Timeout
  | Closed
  | Abandoned
  | UnexpectedEof
  | Unavailable
  | SystemError
  | NotAllowed
  | CredentialsChanged

/**
 * The `_tag` of each reason: the Driver's reason strings (minus `Cancelled`).
 *
 * @since 0.0.0
 */
export type ReasonTag = Exclude<NativeReason, "Cancelled">

/**
 * The reason class for a native reason string (`bytes` only matters for `UnexpectedEof`,
 * `Timeout` and `SystemError`, `explanation` for `Unavailable`).
 *
 * @since 0.0.0
 */
export const reasonOf = (tag: ReasonTag, bytes?: number | undefined, explanation?: string | undefined): Reason => {
  switch (tag) {
    case "Timeout":
      return new Timeout({ bytes })
    case "Closed":
      return new Closed()
    case "Abandoned":
      return new Abandoned()
    case "UnexpectedEof":
      return new UnexpectedEof({ bytes: bytes ?? 0 })
    case "Unavailable":
      return new Unavailable({ explanation })
    case "SystemError":
      return new SystemError({ bytes })
    case "NotAllowed":
      return new NotAllowed()
    case "CredentialsChanged":
      return new CredentialsChanged()
  }
}

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
  /** The address a connect or bind was for: an IP address, or a Unix socket's path (node:net's `address`). */
  readonly address?: string | undefined
  /** The port a connect or bind was for (node:net's `port`). */
  readonly port?: number | undefined
  /** A sentence a person can act on. */
  readonly message: string
  /** The Driver's own error, kept for its stack. */
  readonly cause?: unknown
}> {}

/**
 * @since 0.0.0
 */
export const isIoUringError = (u: unknown): u is IoUringError => u instanceof IoUringError

/**
 * The PlatformError reason for an errno name, as @effect/platform-node's file system reports it, so
 * that a FileSystem on the ring fails with the same reasons as NodeFileSystem.
 */
const ERRNO_TAGS: Readonly<Record<string, PlatformError.SystemErrorTag | undefined>> = {
  ENOENT: "NotFound",
  EACCES: "PermissionDenied",
  EPERM: "PermissionDenied",
  EEXIST: "AlreadyExists",
  EISDIR: "BadResource",
  ENOTDIR: "BadResource",
  EBUSY: "Busy",
  ELOOP: "BadResource",
}

/**
 * The PlatformError `SystemError` tag of an errno code, as NodeFileSystem chooses it (the
 * `SystemError` row below).
 *
 * @since 0.0.0
 */
export const platformErrorTagOfCode = (code: string | undefined): PlatformError.SystemErrorTag =>
  (code === undefined ? undefined : ERRNO_TAGS[code]) ?? "Unknown"

/**
 * The PlatformError `SystemError` tag an IoUringError becomes:
 *
 * | reason          | PlatformError tag                                                   |
 * | --------------- | ------------------------------------------------------------------- |
 * | `Timeout`       | `TimedOut`                                                          |
 * | `UnexpectedEof` | `UnexpectedEof`                                                     |
 * | `Closed`        | `BadResource` (the ring it ran on is gone)                          |
 * | `Abandoned`     | `Unknown`                                                           |
 * | `Unavailable`   | `Unknown`                                                           |
 * | `NotAllowed`    | `PermissionDenied` (the ring was opened for other operations)       |
 * | `CredentialsChanged` | `PermissionDenied`                                             |
 * | `SystemError`   | by errno, as NodeFileSystem: ENOENT `NotFound`, EACCES/EPERM `PermissionDenied`, EEXIST `AlreadyExists`, EISDIR/ENOTDIR/ELOOP `BadResource`, EBUSY `Busy`, others `Unknown` |
 *
 * @since 0.0.0
 */
export const platformErrorTag = (error: IoUringError): PlatformError.SystemErrorTag => {
  switch (error.reason._tag) {
    case "Timeout":
      return "TimedOut"
    case "UnexpectedEof":
      return "UnexpectedEof"
    case "Closed":
      return "BadResource"
    case "Abandoned":
    case "Unavailable":
      return "Unknown"
    case "NotAllowed":
    case "CredentialsChanged":
      return "PermissionDenied"
    case "SystemError":
      return platformErrorTagOfCode(error.code)
  }
}

/**
 * The IoUringError as the `PlatformError` a FileSystem method reports (`effect/PlatformError`):
 * the tag from `platformErrorTag`, the IoUringError's `syscall`, the path or fd given, else the
 * IoUringError's own `path`, else its `fd`, and the IoUringError itself as `cause`.
 *
 * @since 0.0.0
 */
export const toPlatformError = (
  error: IoUringError,
  options: {
    readonly module: string
    readonly method: string
    readonly pathOrDescriptor?: string | number | undefined
  },
): PlatformError.PlatformError =>
  PlatformError.systemError({
    _tag: platformErrorTag(error),
    module: options.module,
    method: options.method,
    description: error.message,
    syscall: error.syscall,
    pathOrDescriptor: options.pathOrDescriptor ?? error.path ?? error.fd,
    cause: error,
  })

/**
 * Which side of a socket failed, for `toSocketError`.
 *
 * @since 0.0.0
 */
export type SocketSide = "Open" | "Read" | "Write"

/**
 * The IoUringError as the `SocketError` a Socket reports (`effect/socket/Socket`), the way NodeSocket
 * reports the same events:
 *
 * | reason          | Open                          | Read / Write                                |
 * | --------------- | ----------------------------- | ------------------------------------------- |
 * | `Timeout`       | `SocketOpenError` kind `Timeout` | `SocketReadError` / `SocketWriteError`   |
 * | `UnexpectedEof` | `SocketCloseError` code 1000  | `SocketCloseError` code 1000 (the peer closed) |
 * | `Closed`        | `SocketOpenError` kind `Unknown` | `SocketCloseError` code 1006 (the ring under it closed) |
 * | `Abandoned`     | `SocketOpenError` kind `Unknown` | `SocketCloseError` code 1006             |
 * | `Unavailable`   | `SocketOpenError` kind `Unknown` | `SocketReadError` / `SocketWriteError`   |
 * | `SystemError`   | `SocketOpenError` kind `Unknown` (ECONNREFUSED, …) | `SocketReadError` / `SocketWriteError` (ECONNRESET, EPIPE, …) |
 *
 * The IoUringError is the `cause` wherever the reason has one.
 *
 * @since 0.0.0
 */
export const toSocketError = (error: IoUringError, side: SocketSide): Socket.SocketError => {
  const tag = error.reason._tag
  if (tag === "UnexpectedEof") return new Socket.SocketError({ reason: new Socket.SocketCloseError({ code: 1000 }) })
  if (side === "Open") {
    return new Socket.SocketError({
      reason: new Socket.SocketOpenError({ kind: tag === "Timeout" ? "Timeout" : "Unknown", cause: error }),
    })
  }
  if (tag === "Closed" || tag === "Abandoned") {
    return new Socket.SocketError({ reason: new Socket.SocketCloseError({ code: 1006 }) })
  }
  return new Socket.SocketError({
    reason:
      side === "Read" ? new Socket.SocketReadError({ cause: error }) : new Socket.SocketWriteError({ cause: error }),
  })
}
