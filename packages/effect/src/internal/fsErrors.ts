/**
 * The one place where IoUringFileSystem's failures become `PlatformError`s, so that a program sees
 * the same reasons NodeFileSystem gives it:
 *
 * - an `InvalidArgument` (refused before the file system was touched) is a `BadArgument`;
 * - an errno, from node:fs or from the ring's `SystemError`, is a `SystemError` whose `_tag` is
 *   chosen by its code (`ENOENT` NotFound, `EACCES`/`EPERM` PermissionDenied, `EEXIST`
 *   AlreadyExists, `EISDIR`/`ENOTDIR`/`ELOOP` BadResource, `EBUSY` Busy, anything else Unknown),
 *   with the operation's `syscall` and the method's path or fd;
 * - the ring's own reasons as `IoUringError`'s `platformErrorTag` maps them (`Timeout` is TimedOut,
 *   `UnexpectedEof` is UnexpectedEof, `Closed` BadResource, `Abandoned` Unknown).
 */
import { Effect, PlatformError } from "effect"
import { IoUringError, platformErrorTag, platformErrorTagOfCode } from "../IoUringError.ts"
import { InvalidArgument, type OpError } from "./fsOps.ts"

const MODULE = "FileSystem"

/** A BadArgument for `method`, described in a sentence. */
export const badArgument = (method: string, description: string, cause?: unknown): PlatformError.PlatformError =>
  PlatformError.badArgument({ module: MODULE, method, description, cause })

/** An error with the fields node:fs gives its own (`code`, `errno`, `syscall`, `path`): a made-up error's cause. */
const nodeStyle = (
  message: string,
  fields: { readonly code: string; readonly errno: number; readonly syscall: string; readonly path?: string },
): Error => Object.assign(new Error(message), fields)

/**
 * write(2) of 0 bytes on an fd not open for writing fails with EBADF, and Node's write says so; the
 * ring completes an empty write without the kernel, so this is made here, as Node's would read.
 */
export const emptyWriteNotWritable = (method: string, pathOrDescriptor: string | number): PlatformError.PlatformError =>
  PlatformError.systemError({
    _tag: "Unknown",
    module: MODULE,
    method,
    pathOrDescriptor,
    syscall: "write",
    description: "EBADF: bad file descriptor",
    cause: nodeStyle("EBADF: bad file descriptor, write", { code: "EBADF", errno: -9, syscall: "write" }),
  })

/** remove of a directory without `recursive`: refused as node:fs's rm refuses it (ERR_FS_EISDIR). */
export const removeDirectory = (method: string, path: string): PlatformError.PlatformError =>
  PlatformError.systemError({
    _tag: "Unknown",
    module: MODULE,
    method,
    pathOrDescriptor: path,
    syscall: "rm",
    description: "Path is a directory",
    cause: nodeStyle(`Path is a directory: rm returned EISDIR (is a directory) ${path}`, {
      code: "ERR_FS_EISDIR",
      errno: 21,
      syscall: "rm",
      path,
    }),
  })

/** `error`, raised by an operation of `method` on `pathOrDescriptor`, as a PlatformError. */
export const toPlatformError = (
  error: OpError,
  method: string,
  pathOrDescriptor: string | number,
): PlatformError.PlatformError => {
  if (error instanceof InvalidArgument) return badArgument(method, error.description, error.cause)
  if (error instanceof IoUringError) {
    return PlatformError.systemError({
      _tag: platformErrorTag(error),
      module: MODULE,
      method,
      pathOrDescriptor,
      syscall: error.syscall,
      cause: error,
    })
  }
  const errno = error as NodeJS.ErrnoException
  return PlatformError.systemError({
    _tag: platformErrorTagOfCode(errno?.code),
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
