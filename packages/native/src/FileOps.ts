/**
 * The file operations: open, closeFd, stat, truncate, allocate, unlink, rename, mkdir, symlink and
 * link, in their Promise and callback forms, with the *at(2) arguments each fills in (a path is
 * NUL-terminated UTF-8 the binding keeps alive until the completion; errors carry the path, and
 * `dest` for a second one). Each validates its arguments in the public method's parameter order
 * and fills a slot through Requests; Driver.ts documents them.
 */
import { ftruncate } from "node:fs"
import { constants } from "node:os"
import { dirname } from "node:path"
import * as Arena from "./Arena.ts"
import * as Errors from "./IoUringError.ts"
import { OPERATIONS } from "./Operations.ts"
import * as Pending from "./PendingTable.ts"
import type { Requests } from "./Requests.ts"
import * as Stats from "./Stats.ts"
import type * as T from "./types.ts"
import * as Validate from "./Validate.ts"

// The *at(2) arguments of the file operations (Linux values).
/** The process's working directory as the directory fd of a path operation. */
const AT_FDCWD = -100
const AT_SYMLINK_NOFOLLOW = 0x100
const AT_REMOVEDIR = 0x200
const AT_EMPTY_PATH = 0x1000
const RENAME_NOREPLACE = 1
const FALLOC_FL_KEEP_SIZE = 1
const FALLOC_FL_PUNCH_HOLE = 2

/** The empty path of a stat by fd (AT_EMPTY_PATH): one NUL byte, shared, never written. */
const EMPTY_PATH = new Uint8Array(1)

// ---- Promise forms ---------------------------------------------------------------------------------

export const open = (r: Requests, path: T.PathLike, options: T.OpenOptions | undefined): Promise<number> => {
  const p = Validate.path(path, "path")
  const o = Validate.options(options)
  const flags = Validate.openFlags(o.flags)
  const mode = Validate.mode(o.mode, 0o666)
  const deadline = Validate.deadlineOf(o.timeout)
  const signal = Validate.signal(o.signal)
  const closeOnExit = Validate.optionalBoolean(o.closeOnExit, "closeOnExit")
  return r.promise(fillOpen(r, p, flags, mode, deadline, closeOnExit), signal, Pending.KIND_PROMISE_NUMBER)
}

export const closeFd = (r: Requests, fd: number): Promise<void> => {
  Validate.fd(fd)
  return new Promise((resolve, reject) => {
    r.startCloseFd(fd, (error) => (error === null ? resolve() : reject(error)))
  })
}

export const stat = (
  r: Requests,
  pathOrFd: T.PathLike | number,
  options: T.StatOptions | undefined,
): Promise<T.FileStats> => {
  const o = Validate.options(options)
  const follow = o.followSymlinks === undefined ? true : Validate.boolean(o.followSymlinks, "followSymlinks")
  const deadline = Validate.deadlineOf(o.timeout)
  const signal = Validate.signal(o.signal)
  return r.promise(fillStat(r, pathOrFd, follow, deadline), signal, Pending.KIND_PROMISE_NUMBER)
}

export const truncate = (
  r: Requests,
  fd: number,
  length: number | bigint | undefined,
  options: T.WriteOptions | undefined,
): Promise<void> => {
  Validate.fd(fd)
  // No length: 0, as fs.promises' ftruncate.
  const size = length === undefined ? 0 : Validate.fileSize(length, "length")
  const o = Validate.options(options)
  const deadline = Validate.deadlineOf(o.timeout)
  const signal = Validate.signal(o.signal)
  if (r.truncateFallback) return truncateOffRing(r, fd, size, signal)
  const slot = r.fill(OPERATIONS.truncate.op, 0, fd, undefined, 0, 0, 0, deadline)
  r.table.setArgs(slot, 0, 0, size)
  return r.promise(slot, signal, Pending.KIND_PROMISE_VOID)
}

export const allocate = (
  r: Requests,
  fd: number,
  offset: number | bigint,
  length: number | bigint,
  options: T.AllocateOptions | undefined,
): Promise<void> => {
  Validate.fd(fd)
  const at = Validate.fileSize(offset, "offset")
  const size = Validate.allocateLength(length)
  Validate.endWithin(at, size)
  const o = Validate.options(options)
  const mode = allocateMode(o.keepSize, o.punchHole)
  const deadline = Validate.deadlineOf(o.timeout)
  const signal = Validate.signal(o.signal)
  return r.promise(fillAllocate(r, fd, at, size, mode, deadline), signal, Pending.KIND_PROMISE_VOID)
}

export const unlink = (r: Requests, path: T.PathLike, options: T.UnlinkOptions | undefined): Promise<void> => {
  const p = Validate.path(path, "path")
  const o = Validate.options(options)
  const directory = Validate.optionalBoolean(o.directory, "directory")
  const deadline = Validate.deadlineOf(o.timeout)
  const signal = Validate.signal(o.signal)
  return r.promise(fillUnlink(r, p, directory, deadline), signal, Pending.KIND_PROMISE_VOID)
}

export const rename = (
  r: Requests,
  from: T.PathLike,
  to: T.PathLike,
  options: T.RenameOptions | undefined,
): Promise<void> => {
  const a = Validate.path(from, "from")
  const b = Validate.path(to, "to")
  const o = Validate.options(options)
  const flags = Validate.optionalBoolean(o.noReplace, "noReplace") ? RENAME_NOREPLACE : 0
  const deadline = Validate.deadlineOf(o.timeout)
  const signal = Validate.signal(o.signal)
  const slot = fillTwoPaths(r, OPERATIONS.rename.op, a, b, flags, deadline)
  return r.promise(slot, signal, Pending.KIND_PROMISE_VOID)
}

export const mkdir = (
  r: Requests,
  path: T.PathLike,
  options: T.MkdirOptions | number | string | undefined,
): Promise<string | undefined> => {
  const p = Validate.path(path, "path")
  // A number or a string is the mode, as fs.promises.mkdir takes it.
  const o = typeof options === "number" || typeof options === "string" ? { mode: options } : Validate.options(options)
  const mode = Validate.mode(o.mode, 0o777)
  const recursive = Validate.optionalBoolean(o.recursive, "recursive")
  const deadline = Validate.deadlineOf(o.timeout)
  const signal = Validate.signal(o.signal)
  if (!recursive) return r.promise(fillMkdir(r, p, mode, deadline), signal, Pending.KIND_PROMISE_VOID)
  return mkdirRecursive(
    (dir) => r.promise(fillMkdir(r, dir, mode, deadline), signal, Pending.KIND_PROMISE_VOID),
    (dir) => r.promise(fillStat(r, dir.bytes.subarray(0, -1), true, deadline), signal, Pending.KIND_PROMISE_NUMBER),
    p,
  )
}

/** symlink (`first` = the target, `second` = the link's path) and link (`first` = the existing name). */
export const twoPaths = (
  r: Requests,
  op: typeof OPERATIONS.symlink.op | typeof OPERATIONS.link.op,
  first: T.PathLike,
  second: T.PathLike,
  options: T.PathOptions | undefined,
): Promise<void> => {
  const a = Validate.path(first, op === OPERATIONS.symlink.op ? "target" : "existing")
  const b = Validate.path(second, "path")
  const o = Validate.options(options)
  const deadline = Validate.deadlineOf(o.timeout)
  const signal = Validate.signal(o.signal)
  return r.promise(fillTwoPaths(r, op, a, b, 0, deadline), signal, Pending.KIND_PROMISE_VOID)
}

// ---- Callback forms --------------------------------------------------------------------------------

export const submitOpen = (
  r: Requests,
  path: T.PathLike,
  flags: T.OpenFlags,
  mode: number,
  deadline: number,
  callback: T.Callback,
  closeOnExit: boolean | undefined,
): T.RequestHandle => {
  const p = Validate.path(path, "path")
  const f = Validate.openFlags(flags)
  const m = Validate.mode(mode, 0o666)
  const d = Validate.deadline(deadline)
  Validate.callback(callback)
  const marked = Validate.optionalBoolean(closeOnExit, "closeOnExit")
  return r.callback(fillOpen(r, p, f, m, d, marked), callback)
}

export const submitCloseFd = (r: Requests, fd: number, callback: T.Callback): void => {
  Validate.fd(fd)
  Validate.callback(callback)
  r.startCloseFd(fd, callback)
}

export const submitStat = (
  r: Requests,
  pathOrFd: T.PathLike | number,
  followSymlinks: boolean,
  deadline: number,
  callback: T.StatCallback,
): T.RequestHandle => {
  const follow = Validate.boolean(followSymlinks, "followSymlinks")
  const d = Validate.deadline(deadline)
  Validate.callback(callback)
  return r.callback(fillStat(r, pathOrFd, follow, d), callback as unknown as T.Callback)
}

export const submitTruncate = (
  r: Requests,
  fd: number,
  length: number | bigint,
  deadline: number,
  callback: T.Callback,
): T.RequestHandle => {
  Validate.fd(fd)
  const size = Validate.fileSize(length, "length")
  const d = Validate.deadline(deadline)
  Validate.callback(callback)
  if (r.truncateFallback) {
    truncateOffRing(r, fd, size, undefined).then(
      () => callback(null, 0),
      (error: Error) => callback(error, 0),
    )
    return 0
  }
  const slot = r.fill(OPERATIONS.truncate.op, 0, fd, undefined, 0, 0, 0, d)
  r.table.setArgs(slot, 0, 0, size)
  return r.callback(slot, callback)
}

export const submitAllocate = (
  r: Requests,
  fd: number,
  offset: number | bigint,
  length: number | bigint,
  keepSize: boolean,
  punchHole: boolean,
  deadline: number,
  callback: T.Callback,
): T.RequestHandle => {
  Validate.fd(fd)
  const at = Validate.fileSize(offset, "offset")
  const size = Validate.allocateLength(length)
  Validate.endWithin(at, size)
  const mode = allocateMode(Validate.boolean(keepSize, "keepSize"), Validate.boolean(punchHole, "punchHole"))
  const d = Validate.deadline(deadline)
  Validate.callback(callback)
  return r.callback(fillAllocate(r, fd, at, size, mode, d), callback)
}

export const submitUnlink = (
  r: Requests,
  path: T.PathLike,
  directory: boolean,
  deadline: number,
  callback: T.Callback,
): T.RequestHandle => {
  const p = Validate.path(path, "path")
  const dir = Validate.boolean(directory, "directory")
  const d = Validate.deadline(deadline)
  Validate.callback(callback)
  return r.callback(fillUnlink(r, p, dir, d), callback)
}

export const submitRename = (
  r: Requests,
  from: T.PathLike,
  to: T.PathLike,
  noReplace: boolean,
  deadline: number,
  callback: T.Callback,
): T.RequestHandle => {
  const a = Validate.path(from, "from")
  const b = Validate.path(to, "to")
  const flags = Validate.boolean(noReplace, "noReplace") ? RENAME_NOREPLACE : 0
  const d = Validate.deadline(deadline)
  Validate.callback(callback)
  return r.callback(fillTwoPaths(r, OPERATIONS.rename.op, a, b, flags, d), callback)
}

export const submitMkdir = (
  r: Requests,
  path: T.PathLike,
  mode: number,
  deadline: number,
  callback: T.Callback,
): T.RequestHandle => {
  const p = Validate.path(path, "path")
  const m = Validate.mode(mode, 0o777)
  const d = Validate.deadline(deadline)
  Validate.callback(callback)
  return r.callback(fillMkdir(r, p, m, d), callback)
}

/** submitSymlink and submitLink (the paths as twoPaths takes them). */
export const submitTwoPaths = (
  r: Requests,
  op: typeof OPERATIONS.symlink.op | typeof OPERATIONS.link.op,
  first: T.PathLike,
  second: T.PathLike,
  deadline: number,
  callback: T.Callback,
): T.RequestHandle => {
  const a = Validate.path(first, op === OPERATIONS.symlink.op ? "target" : "existing")
  const b = Validate.path(second, "path")
  const d = Validate.deadline(deadline)
  Validate.callback(callback)
  return r.callback(fillTwoPaths(r, op, a, b, 0, d), callback)
}

// ---- The slots (arguments validated by the caller) --------------------------------------------------

/**
 * A path operation's slot: directory fd AT_FDCWD, buf = the path (buf2 = a second one: rename,
 * symlink, link), arg and arg2, and what its errors say (`site`: path, dest, a syscall name).
 */
const fillPaths = (
  r: Requests,
  op: number,
  paths: Uint8Array | [Uint8Array, Uint8Array],
  arg: number,
  arg2: number,
  site: Errors.Site,
  deadline: number,
): number => {
  const slot = r.fill(op, 0, AT_FDCWD, paths, 0, 0, 0, deadline)
  r.table.setArgs(slot, arg, arg2, 0)
  r.table.site[slot] = site
  return slot
}

/**
 * An open request (readFile's first step too). closeOnExit: its fd is marked to be closed if the
 * thread ends, as the Driver takes it from the completion (Delivery.fromLoop), before it reaches
 * anyone.
 */
export const fillOpen = (
  r: Requests,
  p: Validate.Path,
  flags: number,
  mode: number,
  deadline: number,
  closeOnExit: boolean,
): number => {
  const slot = fillPaths(r, OPERATIONS.open.op, p.bytes, flags, mode, { path: p.text }, deadline)
  if (closeOnExit) r.table.markFd[slot] = 1
  return slot
}

/** The site of a stat of an fd (shared: a site is never changed). */
const FSTAT: Errors.Site = { syscall: "fstat" }

/** A stat request; validates pathOrFd. Its value is the stats read from its own statx buffer. */
const fillStat = (r: Requests, pathOrFd: unknown, follow: boolean, deadline: number): number => {
  const statx = Arena.zeroed(Stats.STATX_SIZE)
  const t = r.table
  let slot: number
  // Its errors name the call node:fs makes: fstat, stat or lstat.
  if (typeof pathOrFd === "number") {
    Validate.fd(pathOrFd)
    slot = r.fill(OPERATIONS.stat.op, 0, pathOrFd, [EMPTY_PATH, statx], 0, 0, 0, deadline)
    t.setArgs(slot, AT_EMPTY_PATH, Stats.STATX_MASK, 0)
    t.site[slot] = FSTAT
  } else {
    const p = Validate.path(pathOrFd, "path")
    slot = r.fill(OPERATIONS.stat.op, 0, AT_FDCWD, [p.bytes, statx], 0, 0, 0, deadline)
    t.setArgs(slot, follow ? 0 : AT_SYMLINK_NOFOLLOW, Stats.STATX_MASK, 0)
    t.site[slot] = follow ? { path: p.text } : { path: p.text, syscall: "lstat" }
  }
  t.map[slot] = () => Stats.fromStatx(statx)
  return slot
}

/**
 * A stat of `fd` for its type and size only (readFile's, on a mount that is not local), read into
 * `statx` (Stats.regularFileSize).
 */
export const fillTypeAndSize = (r: Requests, fd: number, statx: Uint8Array, deadline: number): number => {
  const slot = r.fill(OPERATIONS.stat.op, 0, fd, [EMPTY_PATH, statx], 0, 0, 0, deadline)
  r.table.setArgs(slot, AT_EMPTY_PATH, Stats.STATX_TYPE_AND_SIZE, 0)
  return slot
}

const fillAllocate = (
  r: Requests,
  fd: number,
  at: number | bigint,
  length: number | bigint,
  mode: number,
  deadline: number,
): number => {
  const slot = r.fill(OPERATIONS.allocate.op, 0, fd, undefined, at, 0, 0, deadline)
  r.table.setArgs(slot, mode, 0, length)
  return slot
}

const fillUnlink = (r: Requests, p: Validate.Path, directory: boolean, deadline: number): number =>
  directory
    ? fillPaths(r, OPERATIONS.unlink.op, p.bytes, AT_REMOVEDIR, 0, { path: p.text, syscall: "rmdir" }, deadline)
    : fillPaths(r, OPERATIONS.unlink.op, p.bytes, 0, 0, { path: p.text }, deadline)

const fillMkdir = (r: Requests, p: Validate.Path, mode: number, deadline: number): number =>
  fillPaths(r, OPERATIONS.mkdir.op, p.bytes, 0, mode, { path: p.text }, deadline)

/** rename, symlink, link: buf = the first path, buf2 = the second (errors: path and dest). */
const fillTwoPaths = (
  r: Requests,
  op: number,
  a: Validate.Path,
  b: Validate.Path,
  arg: number,
  deadline: number,
): number => fillPaths(r, op, [a.bytes, b.bytes], arg, 0, { path: a.text, dest: b.text }, deadline)

/**
 * truncate before Linux 6.9: ftruncate(2) on libuv's threadpool, with the ring's errors. Once
 * started it cannot be cancelled: its deadline and signal are looked at only before. It counts as
 * a request on its fd (Delivery.offRing), so a closeFd of the fd waits for it to end: the fd number
 * is not reused while the call may still run.
 */
const truncateOffRing = (
  r: Requests,
  fd: number,
  length: number | bigint,
  signal: AbortSignal | undefined,
): Promise<void> => {
  if (r.shutdown.closing) return Promise.reject(Errors.closedError("ftruncate", fd))
  if (Validate.aborted(signal)) return Promise.reject(Errors.abortError("ftruncate", fd, Validate.abortReason(signal)))
  if (r.delivery.refusesFd(fd)) return Promise.reject(Errors.closingFdError("ftruncate", fd))
  // fs.ftruncate takes a safe integer; no file system holds a file this large (the kernel's EFBIG).
  if (length > Number.MAX_SAFE_INTEGER)
    return Promise.reject(Errors.errnoError(-constants.errno.EFBIG, "ftruncate", fd))
  r.delivery.startedOffRing(fd)
  return new Promise((resolve, reject) => {
    ftruncate(fd, Number(length), (error) => {
      r.delivery.endedOffRing(fd)
      if (error === null) resolve()
      else reject(Errors.errnoError(error.errno ?? -constants.errno.EIO, "ftruncate", fd))
    })
  })
}

/** fallocate's mode bits; a punched hole keeps the size (the kernel requires KEEP_SIZE with it). */
const allocateMode = (keepSize: unknown, punchHole: unknown): number => {
  const punch = Validate.optionalBoolean(punchHole, "punchHole")
  const keep = Validate.optionalBoolean(keepSize, "keepSize")
  return punch ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE : keep ? FALLOC_FL_KEEP_SIZE : 0
}

/**
 * mkdir with `recursive`, as fs.mkdir's: mkdir(path); where a parent is missing (ENOENT), the
 * parents first (walking up), then path. An existing directory is no error; an existing
 * non-directory is EEXIST (ENOTDIR for a parent). A name that exists but cannot be stat'ed (a
 * dangling symlink, a symlink loop) fails as node:fs's does: the stat's error as mkdir's, at that
 * name, and ENOTDIR where a missing target makes a parent unusable. Resolves with the first
 * directory created (as the path was given: "a" for "a/b/c" where "a" did not exist) or undefined.
 */
const mkdirRecursive = async (
  mkdirOne: (dir: Validate.Path) => Promise<unknown>,
  statOne: (dir: Validate.Path) => Promise<T.FileStats>,
  target: Validate.Path,
): Promise<string | undefined> => {
  // Parents are found on the path's bytes (a Buffer path need not be UTF-8): as latin1, one
  // character per byte, so dirname's result encodes back to exactly the parent's bytes.
  /**
   * `dir`'s mkdir failed with `exists` (EEXIST): returns if it is a directory, else throws as
   * fs.promises.mkdir does. For the target, a stat that fails is mkdir's failure at it and a file is
   * `exists`; for a parent, either is ENOTDIR at it.
   */
  const existing = async (dir: Validate.Path, exists: unknown): Promise<void> => {
    const parent = dir !== target
    let directory: boolean
    try {
      directory = (await statOne(dir)).isDirectory()
    } catch (error) {
      const e = error as Errors.IoUringError
      if (!(e instanceof Errors.IoUringError) || e.reason !== "SystemError" || e.errno === undefined) throw error
      throw Errors.errnoError(parent ? -constants.errno.ENOTDIR : e.errno, "mkdir", undefined, { path: dir.text })
    }
    if (directory) return
    if (parent) throw Errors.errnoError(-constants.errno.ENOTDIR, "mkdir", undefined, { path: dir.text })
    throw exists
  }
  const make = async (dir: Validate.Path): Promise<string | undefined> => {
    try {
      await mkdirOne(dir)
      return dir.text
    } catch (error) {
      const code = (error as { code?: string }).code
      if (code === "EEXIST") {
        await existing(dir, error)
        return undefined
      }
      const own = Buffer.from(dir.bytes.buffer, dir.bytes.byteOffset, dir.bytes.length - 1).toString("latin1")
      const parent = dirname(own)
      if (code !== "ENOENT" || parent === own) throw error
      const first = await make(Validate.path(Buffer.from(parent, "latin1"), "path"))
      try {
        await mkdirOne(dir)
      } catch (again) {
        if ((again as { code?: string }).code !== "EEXIST") throw again
        await existing(dir, again)
      }
      return first ?? dir.text
    }
  }
  return make(target)
}
