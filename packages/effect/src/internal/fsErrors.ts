/**
 * The one place where IoUringFileSystem's failures become `PlatformError`s, so that a program sees
 * the same reasons NodeFileSystem gives it:
 *
 * - an `InvalidArgument` (refused before the file system was touched) is a `BadArgument`;
 * - an errno, from node:fs or from the ring's `SystemError`, is a `SystemError` whose `_tag` is
 *   chosen by its code (`ENOENT` NotFound, `EACCES`/`EPERM` PermissionDenied, `EEXIST`
 *   AlreadyExists, `EISDIR`/`ENOTDIR`/`ELOOP` BadResource, `EBUSY` Busy, anything else Unknown),
 *   with the operation's `syscall` and the method's path or fd;
 * - the ring's own reasons: `Timeout` is TimedOut, `UnexpectedEof` is UnexpectedEof, `Closed` and
 *   `Abandoned` (the ring's scope ended under the operation) are Unknown.
 */
import { Effect, PlatformError } from "effect"
import { IoUringError } from "../IoUringError.ts"
import { InvalidArgument, type OpError } from "./fsOps.ts"

const MODULE = "FileSystem"

const tagOfCode = (code: string | undefined): PlatformError.SystemErrorTag => {
  switch (code) {
    case "ENOENT":
      return "NotFound"
    case "EACCES":
    case "EPERM":
      return "PermissionDenied"
    case "EEXIST":
      return "AlreadyExists"
    case "EISDIR":
    case "ENOTDIR":
    case "ELOOP":
      return "BadResource"
    case "EBUSY":
      return "Busy"
    default:
      return "Unknown"
  }
}

const tagOfRing = (error: IoUringError): PlatformError.SystemErrorTag => {
  switch (error.reason) {
    case "Timeout":
      return "TimedOut"
    case "UnexpectedEof":
      return "UnexpectedEof"
    case "SystemError":
      return tagOfCode(error.code)
    default:
      return "Unknown"
  }
}

/** A BadArgument for `method`, described in a sentence. */
export const badArgument = (method: string, description: string, cause?: unknown): PlatformError.PlatformError =>
  PlatformError.badArgument({ module: MODULE, method, description, cause })

/** `error`, raised by an operation of `method` on `pathOrDescriptor`, as a PlatformError. */
export const toPlatformError = (
  error: OpError,
  method: string,
  pathOrDescriptor: string | number,
): PlatformError.PlatformError => {
  if (error instanceof InvalidArgument) return badArgument(method, error.description, error.cause)
  if (error instanceof IoUringError) {
    return PlatformError.systemError({
      _tag: tagOfRing(error),
      module: MODULE,
      method,
      pathOrDescriptor,
      syscall: error.syscall,
      cause: error,
    })
  }
  const errno = error as NodeJS.ErrnoException
  return PlatformError.systemError({
    _tag: tagOfCode(errno?.code),
    module: MODULE,
    method,
    pathOrDescriptor,
    syscall: errno?.syscall,
    cause: error,
  })
}

/** `effect` with its failures mapped for `method` on `pathOrDescriptor`. */
export const mapTo =
  (method: string, pathOrDescriptor: string | number) =>
  <A, R>(effect: Effect.Effect<A, OpError, R>): Effect.Effect<A, PlatformError.PlatformError, R> =>
    Effect.mapError(effect, (error) => toPlatformError(error, method, pathOrDescriptor))
