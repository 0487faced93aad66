/**
 * The file operations IoUringFileSystem is built from, one small function per operation: the one
 * place that decides whether an operation runs on the ring or through node:fs.
 *
 * Every FileSystem method in `IoUringFileSystem.ts` calls these functions and nothing below them, so
 * where an operation runs is decided by its one function here (and its row in `ON_RING`), not by
 * the methods. All of them run on the ring (mkdir, symlink and link through node:fs where the kernel
 * lacks their opcodes, before Linux 5.15). Where the ring's operation and node:fs differ in a way
 * a program could see, the function here makes it look as node:fs does: errors carry the syscall
 * Node names (fstat/lstat for a stat, mkdir for every step of mkdir -p), mkdir -p follows Node's
 * algorithm step by step, and an argument the ring would refuse as a bug but Node takes (a mode
 * above 0o7777) or refuses as a BadArgument (a mode or length out of range) is given to the ring
 * as the kernel would read it, or to node:fs to be refused there.
 *
 * Contract of each function:
 * - it fails with the raw error (an `IoUringError` from the ring, a Node `ErrnoException` from
 *   node:fs) or an `InvalidArgument` for an argument the operation refused before doing anything;
 *   `internal/fsErrors.ts` turns those into `PlatformError`s with the caller's method and path;
 * - interrupting it cancels it in the kernel (the IoUring service waits until the kernel let go of
 *   the request); an fd the kernel made for an interrupted `open` is closed by the Driver. `close`
 *   is not interruptible. `node` below, for the methods that stay on Node and the arguments node:fs
 *   refuses, cannot cancel a call on libuv's threadpool: the fiber is released at once and the late
 *   result dropped (a late fd is closed).
 */
import * as NFS from "node:fs"
import * as OS from "node:os"
import { Effect } from "effect"
import type { FileStats } from "@iou/core"
import type * as IoUring from "../IoUring.ts"
import { IoUringError } from "../IoUringError.ts"

/** An argument the operation refused before touching the file system (a `BadArgument` upstream). */
export class InvalidArgument {
  readonly _tag = "InvalidArgument"
  readonly description: string
  readonly cause?: unknown
  constructor(description: string, cause?: unknown) {
    this.description = description
    this.cause = cause
  }
}

/** What an operation fails with; mapped to a PlatformError in `fsErrors.ts`. */
export type OpError = unknown

/** File metadata as `fs.BigIntStats` shapes it: the ring's stat result (node:fs's BigIntStats fits it too). */
export type Stats = FileStats

export interface FsOps {
  /** open(2) with `O_*` bits; the fd is always close-on-exec (libuv adds O_CLOEXEC, and so does the ring). */
  readonly open: (path: string, flags: number, mode: number) => Effect.Effect<number, OpError>
  readonly close: (fd: number) => Effect.Effect<void, OpError>
  readonly stat: (
    pathOrFd: string | number,
    options: { readonly followSymlinks: boolean },
  ) => Effect.Effect<Stats, OpError>
  /** ftruncate(2). */
  readonly truncate: (fd: number, length: number) => Effect.Effect<void, OpError>
  /** unlink(2), or rmdir(2) with `directory`. */
  readonly unlink: (path: string, options: { readonly directory: boolean }) => Effect.Effect<void, OpError>
  readonly rename: (from: string, to: string) => Effect.Effect<void, OpError>
  /**
   * mkdir(2); with `recursive`, the missing parents too and no error when it exists (mkdir -p),
   * succeeding, as Node's, with the first directory it made (undefined when it made none).
   */
  readonly mkdir: (
    path: string,
    options: { readonly mode: number | undefined; readonly recursive: boolean },
  ) => Effect.Effect<string | undefined, OpError>
  readonly symlink: (target: string, path: string) => Effect.Effect<void, OpError>
  readonly link: (existing: string, path: string) => Effect.Effect<void, OpError>
  /** pread until `buffer` is full or end of file; the bytes read. */
  readonly readAt: (fd: number, buffer: Uint8Array, position: number | bigint) => Effect.Effect<number, OpError>
  /** pwrite of all of `data` (appends when the fd has O_APPEND, whatever `position`). */
  readonly writeAt: (fd: number, data: Uint8Array, position: number | bigint) => Effect.Effect<void, OpError>
  readonly sync: (fd: number) => Effect.Effect<void, OpError>
}

/** Which operations run on the ring (the README's table and the ring-counter test follow it). */
export const ON_RING: Readonly<Record<keyof FsOps, boolean>> = {
  open: true,
  close: true,
  stat: true,
  truncate: true,
  unlink: true,
  rename: true,
  mkdir: true,
  symlink: true,
  link: true,
  readAt: true,
  writeAt: true,
  sync: true,
}

/**
 * One node:fs callback call as an Effect (also used by the methods that stay on Node for good). A synchronous throw is Node's argument validation (an
 * `InvalidArgument`). Interruption releases the fiber at once (the threadpool cannot be told to
 * stop); a result that arrives afterwards goes to `onLate`, so that a late fd can be closed.
 */
export const node = <A>(
  call: (callback: (error: NodeJS.ErrnoException | null, value: A) => void) => void,
  onLate?: (value: A) => void,
): Effect.Effect<A, OpError> =>
  Effect.callback<A, OpError>((resume) => {
    let interrupted = false
    try {
      call((error, value) => {
        if (interrupted) {
          if (error === null && onLate !== undefined) onLate(value)
          return
        }
        resume(error === null ? Effect.succeed(value) : Effect.fail(error))
      })
    } catch (error) {
      resume(Effect.fail(new InvalidArgument(error instanceof Error ? error.message : String(error), error)))
      return
    }
    return Effect.sync(() => {
      interrupted = true
    })
  })

const ignore = (): void => {}

/** Open flags with neither O_WRONLY nor O_RDWR: an fd not open for writing. */
export const readOnly = (flags: number): boolean => (flags & (NFS.constants.O_WRONLY | NFS.constants.O_RDWR)) === 0

/** The permission and special bits of a mode: what open(2) and mkdir(2) keep of the mode they are given. */
const S_IALLUGO = 0o7777

/**
 * A mode node:fs accepts (its parseFileMode: an integer in [0, 2^32)). The ring takes only the
 * bits the kernel keeps, so a valid mode goes to it masked (the same file results); anything else
 * goes to node:fs, which refuses it as NodeFileSystem does.
 */
const validMode = (mode: number): boolean => Number.isInteger(mode) && mode >= 0 && mode <= 0xffffffff

/**
 * `error` with the `syscall` Node's error would carry (and, for mkdir -p, the `code` Node decides):
 * the ring names every stat "stat" where Node says "fstat" or "lstat", and Node's mkdir -p names
 * all its steps "mkdir".
 */
export const renamed = (error: IoUringError, syscall: string, code?: "EEXIST" | "ENOTDIR"): IoUringError =>
  new IoUringError({
    reason: error.reason,
    code: code ?? error.code,
    errno: code === undefined ? error.errno : -OS.constants.errno[code],
    syscall,
    fd: error.fd,
    path: error.path,
    dest: error.dest,
    address: error.address,
    port: error.port,
    message: error.message,
    cause: error.cause,
  })

/** `effect` with its errors named `syscall`. */
const renaming =
  (syscall: string) =>
  <A>(effect: Effect.Effect<A, IoUringError>): Effect.Effect<A, IoUringError> =>
    Effect.mapError(effect, (error) => (error.syscall === syscall ? error : renamed(error, syscall)))

/**
 * mkdir -p as Node's (its asynchronous MKDirp), step for step, so that every outcome is Node's:
 * a stack of directories to make, starting with `path`; for the one on top, mkdir and then
 *
 * - success: the next one, if any;
 * - EACCES, ENOSPC, ENOTDIR, EPERM: that error;
 * - ENOENT: its parent (cut at the last "/", as Node cuts) goes on the stack above it; with nothing
 *   to cut, the next one, or, when there is none, as EEXIST below;
 * - anything else: a stat (following links) decides. For a parent that failed with EEXIST, a
 *   directory means go on and anything else (a failed stat too) is ENOTDIR; otherwise a directory
 *   is success (the rest of the stack is dropped, as Node drops it), something else EEXIST, and a
 *   failed stat its own error.
 *
 * Every error is named "mkdir", as Node names them.
 */
const mkdirp = (
  io: IoUring.IoUring["Service"],
  path: string,
  mode: number,
): Effect.Effect<string | undefined, IoUringError> => {
  const stack = [path]
  /** The first directory made (the topmost: parents are made before their children), Node's result. */
  let first: string | undefined
  const fail = (error: IoUringError, code?: "EEXIST" | "ENOTDIR") => Effect.fail(renamed(error, "mkdir", code))
  const settle = (dir: string, error: IoUringError): Effect.Effect<string | undefined, IoUringError> => {
    const parent = error.code === "EEXIST" && stack.length > 0
    return Effect.matchEffect(io.stat(dir, { followSymlinks: true }), {
      onSuccess: (stats) =>
        parent
          ? stats.isDirectory()
            ? next()
            : fail(error, "ENOTDIR")
          : stats.isDirectory()
            ? Effect.succeed(first)
            : fail(error, "EEXIST"),
      onFailure: (statError) => (parent ? fail(error, "ENOTDIR") : fail(statError)),
    })
  }
  const next = (): Effect.Effect<string | undefined, IoUringError> => {
    const dir = stack.pop()!
    return Effect.matchEffect(io.mkdir(dir, { mode }), {
      onSuccess: () => {
        first ??= dir
        return stack.length === 0 ? Effect.succeed(first) : next()
      },
      onFailure: (error) => {
        switch (error.code) {
          case "ENOSYS": // no MKDIRAT on the ring: `make` takes mkdir -p to node:fs
            return Effect.fail(error)
          case "EACCES":
          case "ENOSPC":
          case "ENOTDIR":
          case "EPERM":
            return fail(error)
          case "ENOENT": {
            const cut = dir.lastIndexOf("/")
            const up = cut === -1 ? dir : dir.slice(0, cut)
            if (up !== dir) {
              stack.push(dir, up)
              return next()
            }
            return stack.length > 0 ? next() : settle(dir, renamed(error, "mkdir", "EEXIST"))
          }
          default:
            return settle(dir, error)
        }
      },
    })
  }
  return Effect.suspend(next)
}

/**
 * `ring`, or, where this kernel lacks the operation's opcode (the ring refuses it with ENOSYS:
 * MKDIRAT, SYMLINKAT and LINKAT before Linux 5.15), `viaNode`: node:fs's call, as NodeFileSystem.
 */
const orNode = <A>(ring: Effect.Effect<A, IoUringError>, viaNode: () => Effect.Effect<A, OpError>) =>
  Effect.catch(ring, (error): Effect.Effect<A, OpError> => (error.code === "ENOSYS" ? viaNode() : Effect.fail(error)))

/** The operations over `io`: on the ring (node:fs for an opcode the kernel lacks: `orNode`). */
export const make = (io: IoUring.IoUring["Service"]): FsOps => ({
  // An interrupted open is cancelled in the kernel; an fd the kernel made anyway is closed by the
  // Driver. Every fd is closed if the thread ends first (closeOnExit), as Node's worker closes the
  // fds its fs.open made; this layer closes each with closeFd, which unmarks it.
  open: (path, flags, mode) =>
    validMode(mode)
      ? io.open(path, { flags, mode: mode & S_IALLUGO, closeOnExit: true })
      : node<number>(
          (cb) => NFS.open(path, flags, mode, cb),
          (fd) => NFS.close(fd, ignore),
        ),
  // Uninterruptible: the Driver cancels what is pending on fd, then closes it.
  close: (fd) => io.closeFd(fd),
  // One statx; named as Node names the call it makes (fstat, stat or lstat).
  stat: (pathOrFd, { followSymlinks }) =>
    renaming(typeof pathOrFd === "number" ? "fstat" : followSymlinks ? "stat" : "lstat")(
      io.stat(pathOrFd, { followSymlinks }),
    ),
  // Node's ftruncate takes a safe integer (clamped at 0); anything else is refused by node:fs, as there.
  truncate: (fd, length) =>
    Number.isSafeInteger(length) && length >= 0
      ? io.truncate(fd, length)
      : node<void>((cb) => NFS.ftruncate(fd, length, (error) => cb(error, undefined))),
  // unlinkat, with AT_REMOVEDIR for a directory (its errors then say "rmdir", as Node's).
  unlink: (path, { directory }) => io.unlink(path, { directory }),
  rename: (from, to) => io.rename(from, to),
  mkdir: (path, { mode, recursive }) => {
    const m = mode ?? 0o777
    const onNode = () =>
      node<string | undefined>((cb) => NFS.mkdir(path, { recursive, mode: m }, (error, made) => cb(error, made)))
    if (!validMode(m)) return onNode()
    return orNode(
      recursive ? mkdirp(io, path, m & S_IALLUGO) : Effect.as(io.mkdir(path, { mode: m & S_IALLUGO }), undefined),
      onNode,
    )
  },
  symlink: (target, path) =>
    orNode(io.symlink(target, path), () =>
      node<void>((cb) => NFS.symlink(target, path, (error) => cb(error, undefined))),
    ),
  link: (existing, path) =>
    orNode(io.link(existing, path), () =>
      node<void>((cb) => NFS.link(existing, path, (error) => cb(error, undefined))),
    ),
  readAt: (fd, buffer, position) => io.readAt(fd, buffer, position),
  writeAt: (fd, data, position) => io.writeAt(fd, data, position),
  sync: (fd) => io.sync(fd),
})
