/**
 * The file operations IoUringFileSystem is built from, one small function per operation: the one
 * place that decides whether an operation runs on the ring or through node:fs.
 *
 * Every FileSystem method in `IoUringFileSystem.ts` calls these functions and nothing below them, so
 * moving an operation onto the ring is a change to its one function here (and to its row in
 * `ON_RING`), not to the methods. Today the ring has read, write and fsync; the rest are marked
 * `// node:fs until the ring has <op>` and keep the shape the ring's operation will have
 * (`open(path, flags, mode)`, `stat(pathOrFd, { followSymlinks })` shaped like `fs.BigIntStats`, …).
 *
 * Contract of each function:
 * - it fails with the raw error (an `IoUringError` from the ring, a Node `ErrnoException` from
 *   node:fs) or an `InvalidArgument` for an argument the operation refused before doing anything;
 *   `internal/fsErrors.ts` turns those into `PlatformError`s with the caller's method and path;
 * - interrupting it cancels it: a ring operation in the kernel (the IoUring service waits until the
 *   kernel let go of the buffer); a node:fs call cannot be cancelled once on libuv's threadpool, so
 *   the fiber is released at once and the late result dropped, except an fd produced by a late
 *   `open`, which is closed so that nothing leaks.
 */
import * as NFS from "node:fs"
import { Effect } from "effect"
import type * as IoUring from "../IoUring.ts"

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

/** File metadata as `fs.BigIntStats` shapes it (the ring's statx result takes the same shape). */
export interface Stats {
  readonly dev: bigint
  readonly ino: bigint
  readonly mode: bigint
  readonly nlink: bigint
  readonly uid: bigint
  readonly gid: bigint
  readonly rdev: bigint
  readonly size: bigint
  readonly blksize: bigint
  readonly blocks: bigint
  readonly atime: Date
  readonly mtime: Date
  readonly birthtime: Date
  isFile(): boolean
  isDirectory(): boolean
  isSymbolicLink(): boolean
  isBlockDevice(): boolean
  isCharacterDevice(): boolean
  isFIFO(): boolean
  isSocket(): boolean
}

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
  /** mkdir(2); with `recursive`, the missing parents too and no error when it exists (mkdir -p). */
  readonly mkdir: (
    path: string,
    options: { readonly mode: number | undefined; readonly recursive: boolean },
  ) => Effect.Effect<void, OpError>
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
  open: false,
  close: false,
  stat: false,
  truncate: false,
  unlink: false,
  rename: false,
  mkdir: false,
  symlink: false,
  link: false,
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

/** The operations over `io`: the ring where it has the operation, node:fs for the rest. */
export const make = (io: IoUring.IoUring["Service"]): FsOps => ({
  // node:fs until the ring has open
  open: (path, flags, mode) =>
    node<number>(
      (cb) => NFS.open(path, flags, mode, cb),
      (fd) => NFS.close(fd, ignore),
    ),
  // node:fs until the ring has closeFd
  close: (fd) => node<void>((cb) => NFS.close(fd, (error) => cb(error, undefined))),
  // node:fs until the ring has stat
  stat: (pathOrFd, { followSymlinks }) =>
    typeof pathOrFd === "number"
      ? node<NFS.BigIntStats>((cb) => NFS.fstat(pathOrFd, { bigint: true }, cb))
      : followSymlinks
        ? node<NFS.BigIntStats>((cb) => NFS.stat(pathOrFd, { bigint: true }, cb))
        : node<NFS.BigIntStats>((cb) => NFS.lstat(pathOrFd, { bigint: true }, cb)),
  // node:fs until the ring has truncate
  truncate: (fd, length) => node<void>((cb) => NFS.ftruncate(fd, length, (error) => cb(error, undefined))),
  // node:fs until the ring has unlink
  unlink: (path, { directory }) =>
    directory
      ? node<void>((cb) => NFS.rmdir(path, (error) => cb(error, undefined)))
      : node<void>((cb) => NFS.unlink(path, (error) => cb(error, undefined))),
  // node:fs until the ring has rename
  rename: (from, to) => node<void>((cb) => NFS.rename(from, to, (error) => cb(error, undefined))),
  // node:fs until the ring has mkdir
  mkdir: (path, { mode, recursive }) =>
    node<void>((cb) =>
      NFS.mkdir(path, mode === undefined ? { recursive } : { recursive, mode }, (error) => cb(error, undefined)),
    ),
  // node:fs until the ring has symlink
  symlink: (target, path) => node<void>((cb) => NFS.symlink(target, path, (error) => cb(error, undefined))),
  // node:fs until the ring has link
  link: (existing, path) => node<void>((cb) => NFS.link(existing, path, (error) => cb(error, undefined))),
  readAt: (fd, buffer, position) => io.readAt(fd, buffer, position),
  writeAt: (fd, data, position) => io.writeAt(fd, data, position),
  sync: (fd) => io.sync(fd),
})
