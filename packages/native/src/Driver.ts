/**
 * The Driver: one io_uring loop (a C thread that owns one ring) driven from one JS thread, with a
 * Promise API (`readAt`, `writeAt`, `send`, `recv`, `sync`, `nop`, and the file operations `open`,
 * `closeFd`, `stat`, `truncate`, `allocate`, `unlink`, `rename`, `mkdir`, `symlink`, `link`) and a low-level callback API
 * (`submit*`, no Promise per request) that `@iou/effect` and the benchmarks use.
 *
 * This file keeps the public surface and composes the parts that own the data:
 *
 * | part            | owns                                                                       |
 * | --------------- | -------------------------------------------------------------------------- |
 * | Validate.ts     | argument checks: TypeError/RangeError before anything changes              |
 * | Operations.ts   | one row per operation: op number, syscall name, methods                    |
 * | PendingTable.ts | every request from its call to its completion; the handle ⇄ tag codec      |
 * | Backpressure.ts | requests waiting for room in the loop's inbound queue, and their deadlines |
 * | Wire.ts         | the staging record and the completion records shared with the binding      |
 * | Delivery.ts     | the end of every request (from the loop or not), the quarantine, counters  |
 * | Submission.ts   | the path to the loop: staging, Loop.submit, publishing, refill             |
 * | Shutdown.ts     | close(): the shutdown drain, its timer, abandonment and the join           |
 * | Clock.ts        | the monotonic clock of every deadline                                      |
 *
 * A request travels as README.md, "How a request travels", draws it.
 *
 * A deadline holds wherever the request waits: in the kernel and the loop's wheel, in the loop's
 * inbound queue (the loop ends it), and in the backpressure queue (its timer ends it here with the
 * same ETIMEDOUT error). Cancelling (ring.cancel, an AbortSignal) a request still in the
 * backpressure queue completes it at once (AbortError) without touching the loop; a submitted one
 * gets an async cancel in the loop and ends with its own completion, only after the kernel has let
 * go of its buffer (success if the operation finished first).
 *
 * The file descriptor stays the caller's: keep it open until the request has completed.
 *
 * Refusals before the loop (`refusal`), in this order: a closing Driver (ERR_IOU_CLOSED), an
 * operation outside the config's `operations` (ERR_IOU_OPERATION_NOT_ALLOWED: the kernel ring is
 * restricted to the others' opcodes anyway), and a process whose uid, gid or groups changed since
 * the Driver opened (ERR_IOU_CREDENTIALS_CHANGED, for good): checked at the first request of each
 * JS turn (three syscalls), so requests made later in the turn that changed them are still taken.
 * File descriptors: an fd you pass stays yours (keep it open until its requests have completed,
 * or close it with closeFd, which cancels them first); an fd `open` resolves with is yours from
 * then on (Driver.close() does not close it); one the kernel made for a caller who aborted or timed
 * out meanwhile is closed here (Delivery) and never handed out.
 */
import { Config } from "@iou/core"
import { closeSync, ftruncate } from "node:fs"
import { constants } from "node:os"
import { dirname } from "node:path"
import { BackpressureQueue } from "./Backpressure.ts"
import {
  binding,
  IOU_FLAG_DATA_ONLY,
  IOU_FLAG_EXACT,
  IOU_OUTCOME_ERROR,
  IOU_OUTCOME_OK,
  IOU_OUTCOME_TIMEOUT,
  type NativeLoop,
} from "./binding.ts"
import * as Clock from "./Clock.ts"
import { Delivery, type FdClosing, type Multishot } from "./Delivery.ts"
import * as Errors from "./IoUringError.ts"
import { accepts, BY_OP, fdOf, OPERATIONS } from "./Operations.ts"
import * as Pending from "./PendingTable.ts"
import { fallbackOps, lacksOpcode, openLoop, preflight } from "./probe.ts"
import { RecvBuffers } from "./RecvBuffers.ts"
import { Many } from "./Many.ts"
import { Shutdown } from "./Shutdown.ts"
import * as Sockets from "./Sockets.ts"
import * as Stats from "./Stats.ts"
import { Submission } from "./Submission.ts"
import type * as T from "./types.ts"
import * as Validate from "./Validate.ts"
import { Wire } from "./Wire.ts"

export const SLOT_LIMIT = Pending.SLOT_LIMIT

// A Promise executor that allocates nothing: new Promise(capture) leaves its functions here.
let capturedResolve: ((value: never) => void) | undefined
let capturedReject: ((error: unknown) => void) | undefined
const capture = (resolve: (value: never) => void, reject: (error: unknown) => void): void => {
  capturedResolve = resolve
  capturedReject = reject
}

const rethrowLater = (error: unknown): never => {
  throw error
}

const syscallOf = (op: number): Errors.IoUringError["syscall"] & string => BY_OP[op]!.syscall

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

/** Builds a native loop; tests substitute a simulated one. */
export type NativeFactory = (
  deliver: (count: number, final: boolean) => void,
  staging: ArrayBuffer,
  completions: ArrayBuffer,
) => NativeLoop

const nativeFactory: NativeFactory = (deliver, staging, completions) => new binding.Loop(deliver, staging, completions)

export class Driver implements Multishot {
  /**
   * Opens a ring: validates `config` (TypeError/RangeError) and creates the ring (with the thread
   * engine: starts the loop thread and waits until its ring exists). Throws an IoUringError with
   * code "ERR_IOU_UNAVAILABLE" (message: probe()'s reason) where the addon is not built, the kernel
   * refuses io_uring or lacks a feature the loop needs: checked before the loop starts, so an old
   * kernel never gets as far as the loop.
   */
  static open(config?: T.DriverConfig): Driver {
    const resolved = Config.resolve(config)
    const refusal = preflight(resolved)
    if (refusal?.emfile) throw Errors.errnoError(-constants.errno.EMFILE, "open", undefined)
    if (refusal !== undefined) throw Errors.unavailableError(refusal.reason, undefined)
    return new Driver(resolved, nativeFactory)
  }

  /** CLOCK_MONOTONIC in milliseconds: the clock of the low-level API's absolute deadlines. */
  static now(): number {
    return Clock.now()
  }

  /** The effective config: size after rounding, and whether SINGLE_ISSUER was accepted. */
  readonly config: T.EffectiveConfig

  private readonly native: NativeLoop
  private readonly wire: Wire
  private readonly table: Pending.PendingTable
  private readonly queue: BackpressureQueue
  private readonly shutdown: Shutdown
  private readonly delivery: Delivery
  private readonly submission: Submission
  private readonly recvBuffers: RecvBuffers
  /** recvMany requests the loop ended for want of buffers (or with a last chunk): re-armed after the batch. */
  private rearming: Array<number> = []
  /** The kernel took the provided buffers (Linux 5.19+); without them recvMany ends ENOBUFS. */
  private readonly recvBuffersRegistered: boolean
  /** The process's credentials differed from those at open once: every later call is refused. */
  private credentialsChanged = false
  private readonly sockets: Sockets.Sockets
  /** OP_SOCKET, OP_BIND, OP_LISTEN where the kernel lacks them: the Driver makes those calls itself. */
  private readonly fallbacks: ReadonlySet<string>

  /** This kernel has no IORING_OP_FTRUNCATE (before Linux 6.9): truncate uses ftruncate(2) on libuv's threadpool. */
  private readonly truncateFallback = lacksOpcode("FTRUNCATE")
  /** Operations whose opcode this kernel lacks (mkdir, symlink, link before Linux 5.15): refused with ENOSYS. */
  private readonly unsupported: ReadonlySet<number> = new Set(
    (
      [
        ["MKDIRAT", OPERATIONS.mkdir.op],
        ["SYMLINKAT", OPERATIONS.symlink.op],
        ["LINKAT", OPERATIONS.link.op],
      ] as const
    ).flatMap(([name, op]) => (lacksOpcode(name) ? [op] : [])),
  )

  // The binding holds its delivery function weakly while nothing is outstanding: the Driver keeps it.
  private readonly deliverFn = (count: number, final: boolean): void => this.deliver(count, final)

  /** @internal Use Driver.open. */
  constructor(resolved: Config.ResolvedConfig, factory: NativeFactory) {
    const table = new Pending.PendingTable(resolved.size * 2 + 16)
    this.table = table
    this.wire = new Wire(Math.max(64, resolved.size * 2))
    this.queue = new BackpressureQueue(table, (slot) => {
      this.delivery.timedOut++
      this.delivery.local(slot, Errors.fromCompletion(table.op[slot]!, table.fd[slot]!, 0, IOU_OUTCOME_TIMEOUT)!)
    })
    this.native = factory(this.deliverFn, this.wire.staging, this.wire.completions)
    this.recvBuffers = new RecvBuffers(resolved.recvBuffers.count, resolved.recvBuffers.size)
    openLoop(this.native, resolved, this.recvBuffers.pool)
    this.recvBuffersRegistered = (this.native.stats()?.recvBuffers ?? 0) > 0
    if (this.recvBuffersRegistered) this.recvBuffers.all(this.native)
    const opened = this.native.stats()!
    this.shutdown = new Shutdown(this.native, opened, {
      flush: () => this.submission.flushNow(),
      abandonQueued: () =>
        this.queue.endAll((slot) => {
          this.delivery.abandoned++
          this.delivery.local(slot, Errors.abandonedError(syscallOf(table.op[slot]!), this.fdOf(slot)))
        }),
      exited: () => this.queue.dispose(),
    })
    this.sockets = new Sockets.Sockets(this, () => binding.sockets)
    this.fallbacks = fallbackOps()
    this.delivery = new Delivery(
      table,
      this.shutdown,
      () => {
        if (this.shutdown.closing && !this.shutdown.destroyed) this.submission.refill()
      },
      (fd) => this.sockets.closeFd(fd),
    )
    this.delivery.multishot = this
    this.submission = new Submission(this.native, table, this.wire, this.queue, this.delivery, this.shutdown)
    this.config = { ...resolved, singleIssuerAccepted: opened.singleIssuer }
  }

  // ---- The Promise API -----------------------------------------------------------------------

  /** A no-op through the ring. */
  nop(options?: T.WriteOptions): Promise<void> {
    const o = Validate.options(options)
    const deadline = Validate.deadlineOf(o.timeout)
    const signal = Validate.signal(o.signal)
    const slot = this.fill(OPERATIONS.nop.op, 0, 0, undefined, 0, 0, 0, deadline)
    return this.promise(slot, signal, Pending.KIND_PROMISE_VOID)
  }

  /**
   * Reads into buffer[0, length) from `position` until the range is full or end of file; resolves
   * with the count. With `exact`, end of file first rejects with ERR_IOU_UNEXPECTED_EOF.
   */
  readAt(
    fd: number,
    buffer: Uint8Array | ReadonlyArray<Uint8Array>,
    position: number | bigint,
    options?: T.ReadAtOptions,
  ): Promise<number> {
    Validate.fd(fd)
    const buffers = Validate.readBuffers(buffer)
    const o = Validate.options(options)
    const size = Validate.bytesOf(buffers)
    const length = Validate.requestLength(o.length === undefined ? size : Validate.integer(o.length, "length", 0, size))
    const flags = Validate.optionalBoolean(o.exact, "exact") ? IOU_FLAG_EXACT : 0
    const deadline = Validate.deadlineOf(o.timeout)
    const signal = Validate.signal(o.signal)
    const at = Validate.position(position)
    const slot = this.fill(OPERATIONS.readAt.op, flags, fd, readData(buffers, length), at, 0, length, deadline)
    return this.promise(slot, signal, Pending.KIND_PROMISE_NUMBER)
  }

  /** Writes all of `data` (one buffer, or several: writev) at `position`. */
  writeAt(fd: number, data: T.Data, position: number | bigint, options?: T.WriteOptions): Promise<void> {
    Validate.fd(fd)
    const o = Validate.options(options)
    const deadline = Validate.deadlineOf(o.timeout)
    const signal = Validate.signal(o.signal)
    const valid = Validate.data(data)
    const at = Validate.position(position)
    const slot = this.fill(OPERATIONS.writeAt.op, 0, fd, valid, at, 0, Validate.bytesOf(valid), deadline)
    return this.promise(slot, signal, Pending.KIND_PROMISE_VOID)
  }

  /** Sends all of `data` (one buffer, or several: sendmsg), with MSG_NOSIGNAL. */
  send(fd: number, data: T.Data, options?: T.WriteOptions): Promise<void> {
    Validate.fd(fd)
    const o = Validate.options(options)
    const deadline = Validate.deadlineOf(o.timeout)
    const signal = Validate.signal(o.signal)
    const valid = Validate.data(data)
    const slot = this.fill(OPERATIONS.send.op, 0, fd, valid, 0, 0, Validate.bytesOf(valid), deadline)
    return this.promise(slot, signal, Pending.KIND_PROMISE_VOID)
  }

  /**
   * Receives into buffer[offset, offset + length). Without `exact`: the first non-empty read, or 0
   * when the peer closed. With `exact`: until the range is full; a close first rejects with
   * ERR_IOU_UNEXPECTED_EOF.
   */
  recv(fd: number, buffer: Uint8Array, options?: T.RecvOptions): Promise<number> {
    Validate.fd(fd)
    Validate.buffer(buffer, "buffer")
    const o = Validate.options(options)
    const size = Validate.lengthOf(buffer)
    const offset = o.offset === undefined ? 0 : Validate.integer(o.offset, "offset", 0, size)
    const rest = size - offset
    const length = Validate.requestLength(o.length === undefined ? rest : Validate.integer(o.length, "length", 0, rest))
    const flags = Validate.optionalBoolean(o.exact, "exact") ? IOU_FLAG_EXACT : 0
    const deadline = Validate.deadlineOf(o.timeout)
    const signal = Validate.signal(o.signal)
    const slot = this.fill(OPERATIONS.recv.op, flags, fd, buffer, 0, offset, length, deadline)
    return this.promise(slot, signal, Pending.KIND_PROMISE_NUMBER)
  }

  /** fsync, or fdatasync with `dataOnly`. */
  sync(fd: number, options?: T.SyncOptions): Promise<void> {
    Validate.fd(fd)
    const o = Validate.options(options)
    const flags = Validate.optionalBoolean(o.dataOnly, "dataOnly") ? IOU_FLAG_DATA_ONLY : 0
    const deadline = Validate.deadlineOf(o.timeout)
    const signal = Validate.signal(o.signal)
    const slot = this.fill(OPERATIONS.sync.op, flags, fd, undefined, 0, 0, 0, deadline)
    return this.promise(slot, signal, Pending.KIND_PROMISE_VOID)
  }

  /**
   * Receives from a socket until end of stream, one chunk at a time, with one multishot recv on the
   * Driver's provided buffers (config.recvBuffers): a connection that waits holds a waiter slot, no
   * buffer. Iterate with `for await`; breaking out (or `return()`) cancels it. The iterator throws
   * the request's error: AbortError when `signal` aborts, ETIMEDOUT at `timeout` (ms, for the whole
   * stream), ERR_IOU_CLOSED when the Driver closes. Chunks the consumer has not taken yet wait in
   * memory (the socket's own buffer no longer pushes back on the peer).
   */
  recvMany(fd: number, options?: T.RecvManyOptions): Many<Uint8Array> {
    Validate.fd(fd)
    const o = Validate.options(options)
    const deadline = Validate.deadlineOf(o.timeout)
    const signal = Validate.signal(o.signal)
    return new Many<Uint8Array>(
      {
        start: (chunk, end) => this.submitRecvMany(fd, deadline, chunk, end),
        cancel: (handle) => this.cancel(handle),
        aborted: (reason) => Errors.abortError("recv", fd, reason),
      },
      signal,
    )
  }

  /**
   * The connections a listening socket accepts (`listener`: its fd, or the object listen resolved
   * with), one multishot accept (Linux 5.19): each is yielded with its fd (the caller's) and both
   * its addresses. Iterate with `for await`; breaking out (or `return()`) or aborting `signal` stops
   * it, and a connection that arrives after that, or was accepted but not taken yet, is closed: an
   * fd only reaches a caller who still wants it. `timeout` (ms) bounds the whole stream.
   */
  acceptMany(listener: number | { readonly fd: number }, options?: T.RecvManyOptions): Many<T.Connection> {
    const fd = Validate.fd(typeof listener === "object" && listener !== null ? listener.fd : listener)
    const o = Validate.options(options)
    const deadline = Validate.deadlineOf(o.timeout)
    const signal = Validate.signal(o.signal)
    return new Many<T.Connection>(
      {
        start: (connection, end) => this.submitAcceptMany(fd, deadline, connection, end),
        cancel: (handle) => this.cancel(handle),
        aborted: (reason) => Errors.abortError("accept", fd, reason),
        discard: (connection) => this.refuseConnection(connection.fd),
      },
      signal,
    )
  }

  /**
   * A listening socket: `{ port, host?, backlog?, reusePort? }` (TCP; no host: `::` dual-stack, or
   * 0.0.0.0 where IPv6 is unavailable; SO_REUSEADDR on; backlog 511, as node:net) or `{ path }` (a
   * Unix socket). Resolves with its fd (the caller's: close it when done) and the bound address.
   */
  listen(target: T.ListenTarget, options?: T.WriteOptions): Promise<T.Listener> {
    const plan = Sockets.listenPlan(target)
    const o = Validate.options(options)
    const deadline = Validate.deadlineOf(o.timeout)
    const signal = Validate.signal(o.signal)
    return this.composite("listen", signal, (cb) => this.sockets.listen(plan, deadline, cb))
  }

  /**
   * The next connection on a listening socket (`listener`: its fd, or the object listen resolved
   * with). Resolves with the connection's fd (the caller's) and both its addresses.
   */
  accept(listener: number | { readonly fd: number }, options?: T.WriteOptions): Promise<T.Connection> {
    const fd = Validate.fd(typeof listener === "object" && listener !== null ? listener.fd : listener)
    const o = Validate.options(options)
    const deadline = Validate.deadlineOf(o.timeout)
    const signal = Validate.signal(o.signal)
    return this.composite("accept", signal, (cb) => this.sockets.accept(fd, deadline, cb))
  }

  /**
   * A connected socket: `{ host, port }` (a host name is resolved with dns.lookup within the
   * request's timeout and signal, and each address is tried in order; an IP literal is used as it
   * is) or `{ path }` (a Unix socket). The timeout covers the whole request. Resolves with the fd
   * (the caller's) and both its addresses; a socket made for a connect that failed, timed out or
   * was aborted is closed.
   */
  connect(target: T.ConnectTarget, options?: T.ConnectOptions): Promise<T.Connection> {
    const plan = Sockets.connectPlan(target)
    const o = Validate.options(options)
    const noDelay = Validate.optionalBoolean(o.noDelay, "noDelay")
    const keepAlive = Validate.optionalBoolean(o.keepAlive, "keepAlive")
    const deadline = Validate.deadlineOf(o.timeout)
    const signal = Validate.signal(o.signal)
    return this.composite("connect", signal, (cb) => this.sockets.connect(plan, { noDelay, keepAlive }, deadline, cb))
  }

  /** shutdown(2) of one direction of a socket ("read", "write" or "both"); not the Driver's close. */
  shutdownSocket(fd: number, how: T.ShutdownHow, options?: T.WriteOptions): Promise<void> {
    Validate.fd(fd)
    const arg = this.shutdownHow(how)
    const o = Validate.options(options)
    const deadline = Validate.deadlineOf(o.timeout)
    const signal = Validate.signal(o.signal)
    const slot = this.fill(OPERATIONS.shutdownSocket.op, 0, fd, undefined, 0, 0, 0, deadline)
    this.table.setArgs(slot, arg, 0, 0)
    return this.promise(slot, signal, Pending.KIND_PROMISE_VOID)
  }

  // ---- Files ------------------------------------------------------------------------------------

  /**
   * Opens (openat) `path` with `flags` (a node:fs string, default "r", or O_* bits; O_CLOEXEC always)
   * and `mode` (default 0o666) and resolves with the new fd, which is then yours: close it with
   * closeFd (the Driver's close() does not). Aborted or timed out after the kernel made the fd, the
   * Driver closes it and rejects.
   */
  open(path: T.PathLike, options?: T.OpenOptions): Promise<number> {
    const p = Validate.path(path, "path")
    const o = Validate.options(options)
    const flags = Validate.openFlags(o.flags)
    const mode = Validate.mode(o.mode, 0o666)
    const deadline = Validate.deadlineOf(o.timeout)
    const signal = Validate.signal(o.signal)
    return this.promise(this.fillOpen(p, flags, mode, deadline), signal, Pending.KIND_PROMISE_NUMBER)
  }

  /**
   * Closes `fd`: first cancels every request outstanding on it (in the kernel, the loop or the
   * backpressure queue) and waits until each has ended, then close(2) through the ring, so the fd
   * number is never reused under a pending request. Meanwhile new requests on `fd` are refused with
   * EBADF. Not cancellable and without a deadline: a close that could be undone would leave the fd
   * in an unknown state. (`close()` is the Driver's own shutdown.)
   */
  closeFd(fd: number): Promise<void> {
    Validate.fd(fd)
    return new Promise((resolve, reject) => {
      this.startCloseFd(fd, (error) => (error === null ? resolve() : reject(error)))
    })
  }

  /**
   * statx of a path (`followSymlinks` false: the link itself) or of an open fd, shaped like
   * `fs.statSync(path, { bigint: true })`.
   */
  stat(pathOrFd: T.PathLike | number, options?: T.StatOptions): Promise<T.FileStats> {
    const o = Validate.options(options)
    const follow = o.followSymlinks === undefined ? true : Validate.boolean(o.followSymlinks, "followSymlinks")
    const deadline = Validate.deadlineOf(o.timeout)
    const signal = Validate.signal(o.signal)
    return this.promise(this.fillStat(pathOrFd, follow, deadline), signal, Pending.KIND_PROMISE_NUMBER)
  }

  /** ftruncate: the file's size becomes `length` (Linux 6.9+ on the ring; before, ftruncate(2) on libuv's threadpool). */
  truncate(fd: number, length: number | bigint, options?: T.WriteOptions): Promise<void> {
    Validate.fd(fd)
    const size = Validate.fileSize(length, "length")
    const o = Validate.options(options)
    const deadline = Validate.deadlineOf(o.timeout)
    const signal = Validate.signal(o.signal)
    if (this.truncateFallback) return this.truncateOffRing(fd, size, signal)
    const slot = this.fill(OPERATIONS.truncate.op, 0, fd, undefined, 0, 0, 0, deadline)
    this.table.setArgs(slot, 0, 0, size)
    return this.promise(slot, signal, Pending.KIND_PROMISE_VOID)
  }

  /** fallocate of [offset, offset + length); `keepSize`: the size stays; `punchHole`: deallocate (keeps the size). */
  allocate(fd: number, offset: number | bigint, length: number | bigint, options?: T.AllocateOptions): Promise<void> {
    Validate.fd(fd)
    const at = Validate.fileSize(offset, "offset")
    const size = Validate.fileSize(length, "length")
    const o = Validate.options(options)
    const mode = allocateMode(o.keepSize, o.punchHole)
    const deadline = Validate.deadlineOf(o.timeout)
    const signal = Validate.signal(o.signal)
    return this.promise(this.fillAllocate(fd, at, size, mode, deadline), signal, Pending.KIND_PROMISE_VOID)
  }

  /** unlinkat: removes a file, or with `directory` an empty directory (errors then say "rmdir"). */
  unlink(path: T.PathLike, options?: T.UnlinkOptions): Promise<void> {
    const p = Validate.path(path, "path")
    const o = Validate.options(options)
    const directory = Validate.optionalBoolean(o.directory, "directory")
    const deadline = Validate.deadlineOf(o.timeout)
    const signal = Validate.signal(o.signal)
    return this.promise(this.fillUnlink(p, directory, deadline), signal, Pending.KIND_PROMISE_VOID)
  }

  /** renameat2: `from` becomes `to`, replacing it unless `noReplace` (then EEXIST). */
  rename(from: T.PathLike, to: T.PathLike, options?: T.RenameOptions): Promise<void> {
    const a = Validate.path(from, "from")
    const b = Validate.path(to, "to")
    const o = Validate.options(options)
    const flags = Validate.optionalBoolean(o.noReplace, "noReplace") ? RENAME_NOREPLACE : 0
    const deadline = Validate.deadlineOf(o.timeout)
    const signal = Validate.signal(o.signal)
    return this.promise(
      this.fillTwoPaths(OPERATIONS.rename.op, a, b, flags, deadline),
      signal,
      Pending.KIND_PROMISE_VOID,
    )
  }

  /**
   * mkdirat with `mode` (default 0o777). With `recursive`, as fs.mkdir's: the missing parents too,
   * an existing directory is no error, and it resolves with the first directory it created (its
   * path as given, as fs.mkdir's) or undefined; without, with undefined.
   */
  mkdir(path: T.PathLike, options?: T.MkdirOptions): Promise<string | undefined> {
    const p = Validate.path(path, "path")
    const o = Validate.options(options)
    const mode = Validate.mode(o.mode, 0o777)
    const recursive = Validate.optionalBoolean(o.recursive, "recursive")
    const deadline = Validate.deadlineOf(o.timeout)
    const signal = Validate.signal(o.signal)
    if (!recursive) return this.promise(this.fillMkdir(p, mode, deadline), signal, Pending.KIND_PROMISE_VOID)
    return mkdirRecursive(
      (dir) => this.promise(this.fillMkdir(dir, mode, deadline), signal, Pending.KIND_PROMISE_VOID),
      (dir) => this.promise(this.fillStat(dir.text, true, deadline), signal, Pending.KIND_PROMISE_NUMBER),
      p,
    )
  }

  /** symlinkat: a symbolic link at `path` whose content is `target` (stored as given). */
  symlink(target: T.PathLike, path: T.PathLike, options?: T.PathOptions): Promise<void> {
    const a = Validate.path(target, "target")
    const b = Validate.path(path, "path")
    const o = Validate.options(options)
    const deadline = Validate.deadlineOf(o.timeout)
    const signal = Validate.signal(o.signal)
    return this.promise(this.fillTwoPaths(OPERATIONS.symlink.op, a, b, 0, deadline), signal, Pending.KIND_PROMISE_VOID)
  }

  /** linkat: a new name `path` for the file `existing` (a hard link). */
  link(existing: T.PathLike, path: T.PathLike, options?: T.PathOptions): Promise<void> {
    const a = Validate.path(existing, "existing")
    const b = Validate.path(path, "path")
    const o = Validate.options(options)
    const deadline = Validate.deadlineOf(o.timeout)
    const signal = Validate.signal(o.signal)
    return this.promise(this.fillTwoPaths(OPERATIONS.link.op, a, b, 0, deadline), signal, Pending.KIND_PROMISE_VOID)
  }

  // ---- The low-level API: one callback per request, no Promise ----------------------------------

  /**
   * A multishot recv: `onChunk` gets each chunk (a copy) as it arrives, then `callback` once: (null,
   * 0) at end of stream, or the error that ended it (AbortError after cancel(handle), ETIMEDOUT at
   * `deadline`). The provided buffers running out (ENOBUFS) ends nothing: it is re-armed once they
   * are back, and counted in stats().recvBuffersEmpty.
   */
  submitRecvMany(fd: number, deadline: number, onChunk: T.ChunkCallback, callback: T.Callback): T.RequestHandle {
    Validate.fd(fd)
    const d = Validate.deadline(deadline)
    Validate.listener(onChunk, "onChunk")
    Validate.callback(callback)
    const slot = this.fill(OPERATIONS.recvMany.op, 0, fd, undefined, 0, 0, 0, d)
    this.table.onChunk[slot] = onChunk
    return this.callback(slot, callback)
  }

  /** A no-op. `deadline`: absolute ms on Driver.now(), 0 = none. */
  submitNop(deadline: number, callback: T.Callback): T.RequestHandle {
    const d = Validate.deadline(deadline)
    Validate.callback(callback)
    return this.callback(this.fill(OPERATIONS.nop.op, 0, 0, undefined, 0, 0, 0, d), callback)
  }

  /** readAt into buffer[0, length) (or the first `length` bytes of several buffers: readv); the callback gets the count read. */
  submitReadAt(
    fd: number,
    buffer: Uint8Array | ReadonlyArray<Uint8Array>,
    position: number | bigint,
    length: number,
    exact: boolean,
    deadline: number,
    callback: T.Callback,
  ): T.RequestHandle {
    if (buffer instanceof Uint8Array || !Array.isArray(buffer)) {
      return this.submitInto(
        OPERATIONS.readAt.op,
        fd,
        buffer as Uint8Array,
        0,
        length,
        exact,
        position,
        deadline,
        callback,
      )
    }
    Validate.fd(fd)
    const buffers = Validate.readBuffers(buffer)
    const at = Validate.position(position)
    Validate.integer(length, "length", 0, Validate.bytesOf(buffers))
    const flags = Validate.boolean(exact, "exact") ? IOU_FLAG_EXACT : 0
    const d = Validate.deadline(deadline)
    Validate.callback(callback)
    const data = readData(buffers, length)
    return this.callback(this.fill(OPERATIONS.readAt.op, flags, fd, data, at, 0, length, d), callback)
  }

  /** writeAt of all of `data`; the callback gets the bytes written. */
  submitWriteAt(
    fd: number,
    data: T.Data,
    position: number | bigint,
    deadline: number,
    callback: T.Callback,
  ): T.RequestHandle {
    Validate.fd(fd)
    const valid = Validate.data(data)
    const at = Validate.position(position)
    const d = Validate.deadline(deadline)
    Validate.callback(callback)
    const bytes = Validate.bytesOf(valid)
    return this.callback(this.fill(OPERATIONS.writeAt.op, 0, fd, valid, at, 0, bytes, d), callback)
  }

  /** send of all of `data`; the callback gets the bytes sent. */
  submitSend(fd: number, data: T.Data, deadline: number, callback: T.Callback): T.RequestHandle {
    Validate.fd(fd)
    const valid = Validate.data(data)
    const d = Validate.deadline(deadline)
    Validate.callback(callback)
    const bytes = Validate.bytesOf(valid)
    return this.callback(this.fill(OPERATIONS.send.op, 0, fd, valid, 0, 0, bytes, d), callback)
  }

  /** recv into buffer[offset, offset + length); the callback gets the count received. */
  submitRecv(
    fd: number,
    buffer: Uint8Array,
    offset: number,
    length: number,
    exact: boolean,
    deadline: number,
    callback: T.Callback,
  ): T.RequestHandle {
    return this.submitInto(OPERATIONS.recv.op, fd, buffer, offset, length, exact, undefined, deadline, callback)
  }

  /** fsync, or fdatasync with `dataOnly`. */
  submitSync(fd: number, dataOnly: boolean, deadline: number, callback: T.Callback): T.RequestHandle {
    Validate.fd(fd)
    const flags = Validate.boolean(dataOnly, "dataOnly") ? IOU_FLAG_DATA_ONLY : 0
    const d = Validate.deadline(deadline)
    Validate.callback(callback)
    return this.callback(this.fill(OPERATIONS.sync.op, flags, fd, undefined, 0, 0, 0, d), callback)
  }

  /** socket(domain, type | SOCK_CLOEXEC, protocol); the callback gets the new fd (the caller's). */
  submitSocket(
    domain: number,
    type: number,
    protocol: number,
    deadline: number,
    callback: T.Callback,
  ): T.RequestHandle {
    Validate.integer(domain, "domain", 0, 0x7fffffff)
    Validate.integer(type, "type", 0, 0x7fffffff)
    Validate.integer(protocol, "protocol", 0, 0x7fffffff)
    const d = Validate.deadline(deadline)
    Validate.callback(callback)
    const cloexec = type | binding.sockets.constants["SOCK_CLOEXEC"]!
    if (this.fallbacks.has("OP_SOCKET")) {
      return this.synchronously(OPERATIONS.socket.op, undefined, callback, () =>
        binding.sockets.socket(domain, cloexec, protocol),
      )
    }
    const slot = this.fill(OPERATIONS.socket.op, 0, -1, undefined, 0, 0, 0, d)
    this.table.setArgs(slot, domain, cloexec, protocol)
    return this.callback(slot, callback)
  }

  /** connect(fd, sockaddr): `address` is the sockaddr's bytes, kept alive until the completion. */
  submitConnect(fd: number, address: Uint8Array, deadline: number, callback: T.Callback): T.RequestHandle {
    return this.submitAddress(OPERATIONS.connect.op, fd, address, deadline, callback)
  }

  /** accept4(fd, SOCK_CLOEXEC); the callback gets the connection's fd (the caller's). */
  submitAccept(fd: number, deadline: number, callback: T.Callback): T.RequestHandle {
    Validate.fd(fd)
    const d = Validate.deadline(deadline)
    Validate.callback(callback)
    const slot = this.fill(OPERATIONS.accept.op, 0, fd, undefined, 0, 0, 0, d)
    this.table.setArgs(slot, binding.sockets.constants["SOCK_CLOEXEC"]!, 0, 0)
    return this.callback(slot, callback)
  }

  /** shutdown(fd, SHUT_RD / SHUT_WR / SHUT_RDWR). */
  submitShutdown(fd: number, how: T.ShutdownHow, deadline: number, callback: T.Callback): T.RequestHandle {
    Validate.fd(fd)
    const arg = this.shutdownHow(how)
    const d = Validate.deadline(deadline)
    Validate.callback(callback)
    const slot = this.fill(OPERATIONS.shutdownSocket.op, 0, fd, undefined, 0, 0, 0, d)
    this.table.setArgs(slot, arg, 0, 0)
    return this.callback(slot, callback)
  }

  /** bind(fd, sockaddr); bind(2) itself where the kernel lacks IORING_OP_BIND (Linux 6.11). */
  submitBind(fd: number, address: Uint8Array, deadline: number, callback: T.Callback): T.RequestHandle {
    if (this.fallbacks.has("OP_BIND")) {
      Validate.fd(fd)
      Validate.buffer(address, "address")
      Validate.deadline(deadline)
      Validate.callback(callback)
      return this.synchronously(OPERATIONS.bind.op, fd, callback, () => binding.sockets.bind(fd, address))
    }
    return this.submitAddress(OPERATIONS.bind.op, fd, address, deadline, callback)
  }

  /** listen(fd, backlog); listen(2) itself where the kernel lacks IORING_OP_LISTEN (Linux 6.11). */
  submitListen(fd: number, backlog: number, deadline: number, callback: T.Callback): T.RequestHandle {
    Validate.fd(fd)
    Validate.integer(backlog, "backlog", 0, 0x7fffffff)
    const d = Validate.deadline(deadline)
    Validate.callback(callback)
    if (this.fallbacks.has("OP_LISTEN")) {
      return this.synchronously(OPERATIONS.listen.op, fd, callback, () => binding.sockets.listen(fd, backlog))
    }
    const slot = this.fill(OPERATIONS.listen.op, 0, fd, undefined, 0, 0, 0, d)
    this.table.setArgs(slot, backlog, 0, 0)
    return this.callback(slot, callback)
  }

  /** listen's low-level form: one callback with the listener, a handle `cancel` accepts. */
  openListener(target: T.ListenTarget, deadline: number, callback: T.ResultCallback<T.Listener>): T.RequestHandle {
    const plan = Sockets.listenPlan(target)
    const d = Validate.deadline(deadline)
    Validate.callback(callback)
    return this.sockets.listen(plan, d, callback)
  }

  /** connect's low-level form: one callback with the connection, a handle `cancel` accepts. */
  openConnection(
    target: T.ConnectTarget,
    options: Pick<T.ConnectOptions, "noDelay" | "keepAlive">,
    deadline: number,
    callback: T.ResultCallback<T.Connection>,
  ): T.RequestHandle {
    const plan = Sockets.connectPlan(target)
    const o = Validate.options(options)
    const noDelay = Validate.optionalBoolean(o.noDelay, "noDelay")
    const keepAlive = Validate.optionalBoolean(o.keepAlive, "keepAlive")
    const d = Validate.deadline(deadline)
    Validate.callback(callback)
    return this.sockets.connect(plan, { noDelay, keepAlive }, d, callback)
  }

  /** accept's low-level form: one callback with the connection, a handle `cancel` accepts. */
  acceptConnection(listenerFd: number, deadline: number, callback: T.ResultCallback<T.Connection>): T.RequestHandle {
    Validate.fd(listenerFd)
    const d = Validate.deadline(deadline)
    Validate.callback(callback)
    return this.sockets.accept(listenerFd, d, callback)
  }

  /** open; the callback gets the new fd (then yours to close). */
  submitOpen(
    path: T.PathLike,
    flags: T.OpenFlags,
    mode: number,
    deadline: number,
    callback: T.Callback,
  ): T.RequestHandle {
    const p = Validate.path(path, "path")
    const f = Validate.openFlags(flags)
    const m = Validate.mode(mode, 0o666)
    const d = Validate.deadline(deadline)
    Validate.callback(callback)
    return this.callback(this.fillOpen(p, f, m, d), callback)
  }

  /** closeFd: cancels what is outstanding on fd, waits for it, then closes fd; the callback gets 0. */
  submitCloseFd(fd: number, callback: T.Callback): void {
    Validate.fd(fd)
    Validate.callback(callback)
    this.startCloseFd(fd, callback)
  }

  /** stat of a path or an fd; the callback gets the stats. */
  submitStat(
    pathOrFd: T.PathLike | number,
    followSymlinks: boolean,
    deadline: number,
    callback: T.StatCallback,
  ): T.RequestHandle {
    const follow = Validate.boolean(followSymlinks, "followSymlinks")
    const d = Validate.deadline(deadline)
    Validate.callback(callback)
    return this.callback(this.fillStat(pathOrFd, follow, d), callback as unknown as T.Callback)
  }

  /** truncate (ftruncate) to `length`. */
  submitTruncate(fd: number, length: number | bigint, deadline: number, callback: T.Callback): T.RequestHandle {
    Validate.fd(fd)
    const size = Validate.fileSize(length, "length")
    const d = Validate.deadline(deadline)
    Validate.callback(callback)
    if (this.truncateFallback) {
      this.truncateOffRing(fd, size, undefined).then(
        () => callback(null, 0),
        (error: Error) => callback(error, 0),
      )
      return 0
    }
    const slot = this.fill(OPERATIONS.truncate.op, 0, fd, undefined, 0, 0, 0, d)
    this.table.setArgs(slot, 0, 0, size)
    return this.callback(slot, callback)
  }

  /** allocate (fallocate) of [offset, offset + length). */
  submitAllocate(
    fd: number,
    offset: number | bigint,
    length: number | bigint,
    keepSize: boolean,
    punchHole: boolean,
    deadline: number,
    callback: T.Callback,
  ): T.RequestHandle {
    Validate.fd(fd)
    const at = Validate.fileSize(offset, "offset")
    const size = Validate.fileSize(length, "length")
    const mode = allocateMode(Validate.boolean(keepSize, "keepSize"), Validate.boolean(punchHole, "punchHole"))
    const d = Validate.deadline(deadline)
    Validate.callback(callback)
    return this.callback(this.fillAllocate(fd, at, size, mode, d), callback)
  }

  /** unlink of a file, or of an empty directory with `directory`. */
  submitUnlink(path: T.PathLike, directory: boolean, deadline: number, callback: T.Callback): T.RequestHandle {
    const p = Validate.path(path, "path")
    const dir = Validate.boolean(directory, "directory")
    const d = Validate.deadline(deadline)
    Validate.callback(callback)
    return this.callback(this.fillUnlink(p, dir, d), callback)
  }

  /** rename, with RENAME_NOREPLACE when `noReplace`. */
  submitRename(
    from: T.PathLike,
    to: T.PathLike,
    noReplace: boolean,
    deadline: number,
    callback: T.Callback,
  ): T.RequestHandle {
    const a = Validate.path(from, "from")
    const b = Validate.path(to, "to")
    const flags = Validate.boolean(noReplace, "noReplace") ? RENAME_NOREPLACE : 0
    const d = Validate.deadline(deadline)
    Validate.callback(callback)
    return this.callback(this.fillTwoPaths(OPERATIONS.rename.op, a, b, flags, d), callback)
  }

  /** mkdir of one directory (no parents). */
  submitMkdir(path: T.PathLike, mode: number, deadline: number, callback: T.Callback): T.RequestHandle {
    const p = Validate.path(path, "path")
    const m = Validate.mode(mode, 0o777)
    const d = Validate.deadline(deadline)
    Validate.callback(callback)
    return this.callback(this.fillMkdir(p, m, d), callback)
  }

  /** symlink: `path` becomes a symbolic link to `target`. */
  submitSymlink(target: T.PathLike, path: T.PathLike, deadline: number, callback: T.Callback): T.RequestHandle {
    const a = Validate.path(target, "target")
    const b = Validate.path(path, "path")
    const d = Validate.deadline(deadline)
    Validate.callback(callback)
    return this.callback(this.fillTwoPaths(OPERATIONS.symlink.op, a, b, 0, d), callback)
  }

  /** link: `path` becomes a new name of `existing`. */
  submitLink(existing: T.PathLike, path: T.PathLike, deadline: number, callback: T.Callback): T.RequestHandle {
    const a = Validate.path(existing, "existing")
    const b = Validate.path(path, "path")
    const d = Validate.deadline(deadline)
    Validate.callback(callback)
    return this.callback(this.fillTwoPaths(OPERATIONS.link.op, a, b, 0, d), callback)
  }

  /**
   * Cancels a request. Returns true when the request was live and this call started its
   * cancellation; its callback still runs exactly once, after the kernel has let go of its buffers:
   * with an AbortError, or with success if the operation finished first. False for a request that
   * already ended, is already being cancelled, or an unknown handle.
   */
  cancel(handle: T.RequestHandle): boolean {
    if (typeof handle === "number" && handle < 0) return this.sockets.cancel(handle)
    const t = this.table
    const slot = t.slotOf(handle)
    if (slot < 0) return false
    const state = t.state[slot]
    if (state === Pending.QUEUED) {
      this.delivery.cancelled++
      const cause = this.delivery.abortCause(slot)
      this.delivery.local(slot, Errors.abortError(syscallOf(t.op[slot]!), this.fdOf(slot), cause))
      return true
    }
    if (state !== Pending.SUBMITTED) return false
    t.state[slot] = Pending.CANCELLING
    return this.native.cancel(slot, t.generation[slot]!) === 0
  }

  /**
   * The loop's counters plus the Driver's own: `outstanding` (requests anywhere between the call and
   * their completion: the backpressure queue, the inbound queue or the loop), quarantinedBytes, and
   * the requests ended in the backpressure queue. `inFlight`: `outstanding` under its old name.
   */
  stats(): T.DriverStats {
    return this.delivery.stats(this.shutdown.stats())
  }

  /**
   * Stops admission (later calls reject with ERR_IOU_CLOSED), still admits what was already made
   * (including requests waiting in the backpressure queue), lets outstanding work finish while
   * deadlines keep running, and when `shutdownTimeout` (ms; default: the config's; absent: no limit)
   * expires abandons what is left (ERR_IOU_ABANDONED; buffers quarantined only if the kernel kept
   * them). Resolves once the loop has exited (its thread joined, with the thread engine), with how
   * many requests live at close() completed and how many were abandoned. Calling it again returns the same promise (see Shutdown).
   */
  close(options?: T.CloseOptions): Promise<T.CloseResult> {
    const o = Validate.options(options)
    const timeout =
      o.shutdownTimeout === undefined
        ? this.config.shutdownTimeout
        : Config.shutdownTimeout(o.shutdownTimeout, this.config.shutdownTimeout)
    return this.shutdown.close(timeout === undefined ? -1 : Clock.now() + timeout, () => this.submission.refill())
  }

  // ---- Submission ------------------------------------------------------------------------------

  /**
   * submitReadAt and submitRecv: fills buffer[offset, offset + length), from `position` for readAt
   * (offset 0) or the socket for recv (no position). Validates in the public methods' parameter
   * order: fd, buffer, position or offset, length, exact, deadline, callback.
   */
  private submitInto(
    op: number,
    fd: number,
    buffer: Uint8Array,
    offset: number,
    length: number,
    exact: boolean,
    position: unknown,
    deadline: number,
    callback: T.Callback,
  ): T.RequestHandle {
    Validate.fd(fd)
    Validate.buffer(buffer, "buffer")
    const at = op === OPERATIONS.readAt.op ? Validate.position(position) : 0
    const size = Validate.lengthOf(buffer)
    if (op === OPERATIONS.recv.op) Validate.integer(offset, "offset", 0, size)
    Validate.integer(length, "length", 0, Math.min(size - offset, Validate.MAX_REQUEST_BYTES))
    const flags = Validate.boolean(exact, "exact") ? IOU_FLAG_EXACT : 0
    const d = Validate.deadline(deadline)
    Validate.callback(callback)
    return this.callback(this.fill(op, flags, fd, buffer, at, offset, length, d), callback)
  }

  /** submitConnect and submitBind: fd and the sockaddr's bytes (IOU_MEMORY_ARGS). */
  private submitAddress(
    op: number,
    fd: number,
    address: Uint8Array,
    deadline: number,
    callback: T.Callback,
  ): T.RequestHandle {
    Validate.fd(fd)
    Validate.buffer(address, "address")
    if (Validate.lengthOf(address) < 2)
      throw new RangeError("address must hold a sockaddr (at least its 2-byte family)")
    const d = Validate.deadline(deadline)
    Validate.callback(callback)
    return this.callback(this.fill(op, 0, fd, address, 0, 0, 0, d), callback)
  }

  private shutdownHow(how: unknown): number {
    const k = binding.sockets.constants
    if (how === "read") return k["SHUT_RD"]!
    if (how === "write") return k["SHUT_WR"]!
    if (how === "both") return k["SHUT_RDWR"]!
    const error = new TypeError(`how must be "read", "write" or "both", got ${String(how)}`)
    ;(error as TypeError & { code: string }).code = "ERR_INVALID_ARG_VALUE"
    throw error
  }

  /**
   * A call made synchronously instead of on the ring (a fallback where the kernel lacks the
   * opcode: it does not block): `call` returns the result or -errno, delivered on the next tick as
   * a completion would be. Handle 0: there is nothing to cancel.
   */
  private synchronously(op: number, fd: number | undefined, callback: T.Callback, call: () => number): T.RequestHandle {
    if (this.shutdown.closing) {
      process.nextTick(callback, Errors.closedError(syscallOf(op), fdOf(op, fd)), 0)
      return 0
    }
    const rc = call()
    process.nextTick(callback, rc < 0 ? Errors.errnoError(rc, syscallOf(op), fdOf(op, fd)) : null, rc < 0 ? 0 : rc)
    return 0
  }

  /**
   * A Promise for a request made of several steps (Sockets.ts): refused at once on a closing Driver
   * or an aborted signal; the signal cancels it (the AbortError carries the signal's reason).
   */
  private composite<A>(
    syscall: "listen" | "connect" | "accept",
    signal: AbortSignal | undefined,
    start: (callback: T.ResultCallback<A>) => T.RequestHandle,
  ): Promise<A> {
    if (this.shutdown.closing) return Promise.reject(Errors.closedError(syscall, undefined))
    if (signal?.aborted === true) return Promise.reject(Errors.abortError(syscall, undefined, signal.reason))
    return new Promise<A>((resolve, reject) => {
      let onAbort: (() => void) | undefined
      const handle = start((error, result) => {
        if (onAbort !== undefined) signal!.removeEventListener("abort", onAbort)
        if (error === null) return resolve(result!)
        if (error instanceof Errors.IoUringError && error.reason === "Cancelled" && signal?.aborted === true) {
          return reject(Errors.abortError(error.syscall ?? syscall, error.fd, signal.reason))
        }
        reject(error)
      })
      if (signal !== undefined) {
        onAbort = () => {
          this.cancel(handle)
        }
        signal.addEventListener("abort", onAbort, { once: true })
      }
    })
  }

  // ---- The file operations' slots (arguments validated by the caller) ----------------------------

  private fillOpen(p: Validate.Path, flags: number, mode: number, deadline: number): number {
    const slot = this.fill(OPERATIONS.open.op, 0, AT_FDCWD, p.bytes, 0, 0, 0, deadline)
    this.table.setArgs(slot, flags, mode, 0)
    this.table.site[slot] = { path: p.text }
    return slot
  }

  /** A stat request; validates pathOrFd. Its value is the stats read from its own statx buffer. */
  private fillStat(pathOrFd: unknown, follow: boolean, deadline: number): number {
    const statx = new Uint8Array(Stats.STATX_SIZE)
    const t = this.table
    let slot: number
    if (typeof pathOrFd === "number") {
      Validate.fd(pathOrFd)
      slot = this.fill(OPERATIONS.stat.op, 0, pathOrFd, [EMPTY_PATH, statx], 0, 0, 0, deadline)
      t.setArgs(slot, AT_EMPTY_PATH, Stats.STATX_MASK, 0)
    } else {
      const p = Validate.path(pathOrFd, "path")
      slot = this.fill(OPERATIONS.stat.op, 0, AT_FDCWD, [p.bytes, statx], 0, 0, 0, deadline)
      t.setArgs(slot, follow ? 0 : AT_SYMLINK_NOFOLLOW, Stats.STATX_MASK, 0)
      t.site[slot] = { path: p.text }
    }
    t.map[slot] = () => Stats.fromStatx(statx)
    return slot
  }

  private fillAllocate(
    fd: number,
    at: number | bigint,
    length: number | bigint,
    mode: number,
    deadline: number,
  ): number {
    const slot = this.fill(OPERATIONS.allocate.op, 0, fd, undefined, at, 0, 0, deadline)
    this.table.setArgs(slot, mode, 0, length)
    return slot
  }

  private fillUnlink(p: Validate.Path, directory: boolean, deadline: number): number {
    const slot = this.fill(OPERATIONS.unlink.op, 0, AT_FDCWD, p.bytes, 0, 0, 0, deadline)
    this.table.setArgs(slot, directory ? AT_REMOVEDIR : 0, 0, 0)
    this.table.site[slot] = directory ? { path: p.text, syscall: "rmdir" } : { path: p.text }
    return slot
  }

  private fillMkdir(p: Validate.Path, mode: number, deadline: number): number {
    const slot = this.fill(OPERATIONS.mkdir.op, 0, AT_FDCWD, p.bytes, 0, 0, 0, deadline)
    this.table.setArgs(slot, 0, mode, 0)
    this.table.site[slot] = { path: p.text }
    return slot
  }

  /** rename, symlink, link: buf = the first path, buf2 = the second (errors: path and dest). */
  private fillTwoPaths(op: number, a: Validate.Path, b: Validate.Path, arg: number, deadline: number): number {
    const slot = this.fill(op, 0, AT_FDCWD, [a.bytes, b.bytes], 0, 0, 0, deadline)
    this.table.setArgs(slot, arg, 0, 0)
    this.table.site[slot] = { path: a.text, dest: b.text }
    return slot
  }

  /**
   * closeFd: marks fd as closing (new requests on it are refused), cancels every request still
   * outstanding on it and counts them; when the last has ended (Delivery counts down) the close goes
   * to the ring. A linear pass over the pending table's slots, once per closeFd.
   */
  private startCloseFd(fd: number, callback: T.Callback): void {
    if (this.shutdown.closing) {
      process.nextTick(callback, Errors.closedError("close", fd), 0)
      return
    }
    const closing = this.delivery.closingFds
    if (closing.has(fd)) {
      process.nextTick(callback, Errors.closingFdError("close", fd), 0)
      return
    }
    const entry: FdClosing = { waiting: 0, onIdle: () => this.closeNow(fd, callback) }
    closing.set(fd, entry)
    const t = this.table
    const live: Array<number> = []
    for (let slot = 0; slot < t.reached; slot++) {
      const state = t.state[slot]
      if (state === Pending.FREE || t.fd[slot] !== fd || !BY_OP[t.op[slot]!]!.onFd) continue
      entry.waiting++
      if (state === Pending.QUEUED || state === Pending.SUBMITTED) live.push(slot)
    }
    // Each ends with EBADF (the fd was closed under it), not an AbortError: nobody aborted it.
    for (const slot of live) {
      t.fdClosed[slot] = 1
      if (t.state[slot] === Pending.QUEUED) {
        this.delivery.cancelled++
        this.delivery.local(slot, Errors.closingFdError(t.site[slot]?.syscall ?? syscallOf(t.op[slot]!), fd))
      } else {
        this.cancel(t.handleOf(slot))
      }
    }
    if (entry.waiting === 0) this.closeNow(fd, callback)
  }

  /** Nothing is outstanding on fd any more: the close itself, through the ring (close(2) here once the Driver closes). */
  private closeNow(fd: number, callback: T.Callback): void {
    const done = (error: Error | null): void => {
      this.delivery.closingFds.delete(fd)
      callback(error, 0)
    }
    if (this.shutdown.closing) {
      let error: Error | null = null
      try {
        closeSync(fd)
      } catch (thrown) {
        error = Errors.errnoError((thrown as { errno?: number }).errno ?? -constants.errno.EIO, "close", fd)
      }
      process.nextTick(done, error)
      return
    }
    this.callback(this.fill(OPERATIONS.closeFd.op, 0, fd, undefined, 0, 0, 0, 0), done)
  }

  /** truncate before Linux 6.9: ftruncate(2) on libuv's threadpool, with the ring's errors. */
  private truncateOffRing(fd: number, length: number | bigint, signal: AbortSignal | undefined): Promise<void> {
    if (this.shutdown.closing) return Promise.reject(Errors.closedError("ftruncate", fd))
    if (signal?.aborted === true) return Promise.reject(Errors.abortError("ftruncate", fd, signal.reason))
    if (this.delivery.closingFds.has(fd)) return Promise.reject(Errors.closingFdError("ftruncate", fd))
    return new Promise((resolve, reject) => {
      ftruncate(fd, Number(length), (error) => {
        if (error === null) resolve()
        else reject(Errors.errnoError(error.errno ?? -constants.errno.EIO, "ftruncate", fd))
      })
    })
  }

  /** Takes a slot of the pending table for a request and fills it; admit() sends it on. */
  private fill(
    op: number,
    flags: number,
    fd: number,
    data: T.Data | undefined,
    position: number | bigint,
    offset: number,
    length: number,
    deadline: number,
  ): number {
    const t = this.table
    const slot = t.take()
    t.op[slot] = op
    t.flags[slot] = flags
    t.fd[slot] = fd
    t.setPosition(slot, position)
    t.offset[slot] = offset
    t.length[slot] = length
    t.deadline[slot] = deadline
    t.fdClosed[slot] = 0
    t.data[slot] = data
    return slot
  }

  /**
   * The request in `slot` settles a new Promise (`kind`: with its count, or with nothing). Refused
   * (ERR_IOU_CLOSED; AbortError for an aborted signal), or resolved at once when it would move no
   * bytes, without reaching the loop.
   */
  private promise(slot: number, signal: AbortSignal | undefined, kind: number): Promise<never> {
    const t = this.table
    const op = t.op[slot]!
    const refusal = this.refusal(slot)
    const aborted = signal?.aborted === true
    if (refusal !== undefined || aborted || (t.length[slot] === 0 && BY_OP[op]!.movesData)) {
      const site = t.site[slot]
      const fd = this.fdOf(slot)
      t.release(slot)
      if (refusal !== undefined) return Promise.reject(refusal)
      if (aborted) return Promise.reject(Errors.abortError(site?.syscall ?? syscallOf(op), fd, signal.reason, site))
      return Promise.resolve((kind === Pending.KIND_PROMISE_NUMBER ? 0 : undefined) as never)
    }
    const promise = new Promise<never>(capture)
    t.kind[slot] = kind
    t.resolve[slot] = capturedResolve
    t.reject[slot] = capturedReject
    if (signal !== undefined) {
      const handle = t.handleOf(slot)
      const onAbort = (): void => {
        this.cancel(handle)
      }
      signal.addEventListener("abort", onAbort, { once: true })
      t.signal[slot] = signal
      t.onAbort[slot] = onAbort
    }
    this.submission.admit(slot)
    return promise
  }

  /**
   * The request in `slot` calls `callback` when it ends; returns its handle. A refused request
   * (`refusal`) gets its error, and a request that would move no bytes succeeds with 0, both on the
   * next tick without reaching the loop (handle 0).
   */
  private callback(slot: number, callback: T.Callback): T.RequestHandle {
    const t = this.table
    const refusal = this.refusal(slot)
    if (refusal !== undefined || (t.length[slot] === 0 && BY_OP[t.op[slot]!]!.movesData)) {
      return this.endAtOnce(slot, callback, refusal)
    }
    t.kind[slot] = Pending.KIND_CALLBACK
    t.resolve[slot] = callback
    this.submission.admit(slot)
    return t.handleOf(slot)
  }

  /**
   * A multishot accept: `onConnection` gets each connection (its fd the caller's) until `callback`
   * runs once: with the error that ended it (AbortError after cancel(handle), ETIMEDOUT at
   * `deadline`). A connection the kernel hands over after the cancel was asked for is closed here.
   */
  submitAcceptMany(
    fd: number,
    deadline: number,
    onConnection: (connection: T.Connection) => void,
    callback: T.Callback,
  ): T.RequestHandle {
    Validate.fd(fd)
    const d = Validate.deadline(deadline)
    Validate.listener(onConnection, "onConnection")
    Validate.callback(callback)
    const slot = this.fill(OPERATIONS.acceptMany.op, 0, fd, undefined, 0, 0, 0, d)
    this.table.setArgs(slot, binding.sockets.constants["SOCK_CLOEXEC"]!, 0, 0)
    this.table.onFd[slot] = (accepted) => {
      const connection = this.sockets.describe(accepted)
      // The peer went away between the kernel's accept and getpeername: nobody can use it.
      if (connection instanceof Error) return this.refuseConnection(accepted)
      onConnection(connection)
    }
    return this.callback(slot, callback)
  }

  /** Closes an accepted fd that no caller will get (close(2): it is fresh, nothing to flush). */
  private refuseConnection(fd: number): void {
    this.sockets.closeFd(fd)
    this.delivery.unwantedFds++
  }

  /**
   * callback()'s request that never reaches the loop (refused, or nothing to move). Apart from
   * callback() so that the per-request path stays small enough for V8 to inline.
   */
  private endAtOnce(slot: number, callback: T.Callback, refusal: Errors.IoUringError | undefined): T.RequestHandle {
    const t = this.table
    const error = refusal ?? null
    t.release(slot)
    process.nextTick(callback, error, 0)
    return 0
  }

  // ---- Completion ------------------------------------------------------------------------------

  /** @internal Multishot: a result that names no buffer: acceptMany's connection fd. */
  more(slot: number, outcome: number, result: number): void {
    if (outcome !== IOU_OUTCOME_OK || this.table.op[slot] !== OPERATIONS.acceptMany.op) return
    // Asked to stop (its signal, cancel or deadline): the caller does not want it any more.
    if (this.table.state[slot] === Pending.CANCELLING) return this.refuseConnection(result)
    const onFd = this.table.onFd[slot]
    if (onFd === undefined) return this.refuseConnection(result)
    try {
      onFd(result)
    } catch (thrown) {
      process.nextTick(rethrowLater, thrown) // as a callback's: it must not stop the batch
    }
  }

  /** @internal Multishot: a chunk of the recvMany in `slot` is in provided buffer `buffer`. */
  chunk(slot: number, buffer: number, length: number): void {
    const data = this.recvBuffers.take(buffer, length)
    const onChunk = this.table.onChunk[slot]
    if (onChunk === undefined || length === 0) return
    try {
      onChunk(data)
    } catch (thrown) {
      process.nextTick(rethrowLater, thrown) // as a callback's: it must not stop the batch
    }
  }

  /**
   * @internal Multishot: the loop ended the recvMany in `slot`. Out of buffers (ENOBUFS), or the
   * kernel stopped the multishot after a chunk: re-armed after the batch, unless it was cancelled,
   * the Driver is closing or its deadline passed (then it ends so). Anything else ends it.
   */
  ended(slot: number, outcome: number, result: number): boolean {
    if (this.table.op[slot] === OPERATIONS.acceptMany.op) {
      // The kernel stopped the multishot with a last connection: hand it over, then re-arm.
      if (outcome !== IOU_OUTCOME_OK) return false
      this.more(slot, outcome, result)
      return this.rearmOrEnd(slot)
    }
    const enobufs = outcome === IOU_OUTCOME_ERROR && result === -constants.errno.ENOBUFS
    if (!enobufs && !(outcome === IOU_OUTCOME_OK && result > 0)) return false
    if (enobufs && !this.recvBuffersRegistered) return false // no buffer will ever come
    if (enobufs) this.delivery.recvBuffersEmpty++
    return this.rearmOrEnd(slot)
  }

  /** A multishot request the loop ended early goes again after the batch, unless it should end now. */
  private rearmOrEnd(slot: number): boolean {
    const t = this.table
    const op = t.op[slot]!
    if (t.state[slot] === Pending.CANCELLING) {
      this.delivery.cancelled++
      this.delivery.finish(slot, Errors.abortError(syscallOf(op), this.fdOf(slot), this.delivery.abortCause(slot)), 0)
    } else if (this.shutdown.closing) {
      this.delivery.finish(slot, Errors.closedError(syscallOf(op), this.fdOf(slot)), 0)
    } else if (t.deadline[slot]! > 0 && Clock.now() >= t.deadline[slot]!) {
      this.delivery.timedOut++
      this.delivery.finish(slot, Errors.fromCompletion(op, t.fd[slot]!, 0, IOU_OUTCOME_TIMEOUT)!, 0)
    } else {
      this.rearming.push(slot)
    }
    return true
  }

  /** @internal Multishot: the batch's buffers go back to the kernel, then what ran out is re-armed. */
  afterBatch(): void {
    this.recvBuffers.flush(this.native)
    if (this.rearming.length === 0) return
    const slots = this.rearming
    this.rearming = []
    const t = this.table
    for (const slot of slots) {
      if (t.state[slot] === Pending.CANCELLING) {
        // cancel(handle) came between the loop's end and now: the loop never heard of it.
        this.delivery.cancelled++
        const op = t.op[slot]!
        this.delivery.finish(slot, Errors.abortError(syscallOf(op), this.fdOf(slot), this.delivery.abortCause(slot)), 0)
      } else {
        this.submission.admit(slot)
      }
    }
  }

  /** Called by the binding once per chunk of completions; `final` after the loop exited. */
  private deliver(count: number, final: boolean): void {
    this.delivery.fromLoop(this.wire, count)
    if (this.queue.length > 0) this.submission.refill()
    if (final) this.shutdown.exited()
  }

  private fdOf(slot: number): number | undefined {
    return fdOf(this.table.op[slot]!, this.table.fd[slot])
  }

  /**
   * Why the request in `slot` is refused before the loop, if it is (see the header): the Driver is
   * closing (ERR_IOU_CLOSED), the operation is outside the config's `operations`
   * (ERR_IOU_OPERATION_NOT_ALLOWED), the process's credentials changed (ERR_IOU_CREDENTIALS_CHANGED),
   * it acts on an fd that closeFd is closing (EBADF; the close itself excepted), or this kernel
   * lacks its opcode (ENOSYS).
   */
  private refusal(slot: number): Errors.IoUringError | undefined {
    const t = this.table
    const op = t.op[slot]!
    const site = t.site[slot]
    const syscall = site?.syscall ?? syscallOf(op)
    if (this.shutdown.closing) return Errors.closedError(syscall, this.fdOf(slot), site)
    if (!accepts(this.config.operations, op)) {
      return Errors.notAllowedError(syscall, this.fdOf(slot), this.config.operations)
    }
    if (!this.credentialsChanged && !this.submission.inTurn && this.native.credentialsChanged()) {
      this.credentialsChanged = true
    }
    if (this.credentialsChanged) return Errors.credentialsChangedError(syscall, this.fdOf(slot))
    const closing = this.delivery.closingFds
    if (closing.size > 0 && op !== OPERATIONS.closeFd.op && BY_OP[op]!.onFd && closing.has(t.fd[slot]!)) {
      return Errors.closingFdError(syscall, t.fd[slot]!)
    }
    if (this.unsupported.size > 0 && this.unsupported.has(op)) {
      return Errors.errnoError(-constants.errno.ENOSYS, syscall, this.fdOf(slot), site)
    }
    return undefined
  }
}

/** readAt's data: the first `length` bytes of its buffers (one buffer alone is passed as it is). */
const readData = (buffers: Uint8Array | ReadonlyArray<Uint8Array>, length: number): T.Data => {
  if (buffers instanceof Uint8Array) return buffers
  const list = Validate.firstBytes(buffers, length)
  return list.length === 1 ? list[0]! : list
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
 * non-directory is EEXIST (ENOTDIR for a parent). Resolves with the first directory created (as
 * the path was given: "a" for "a/b/c" where "a" did not exist) or undefined.
 */
const mkdirRecursive = async (
  mkdirOne: (dir: Validate.Path) => Promise<unknown>,
  statOne: (dir: Validate.Path) => Promise<T.FileStats>,
  target: Validate.Path,
): Promise<string | undefined> => {
  const make = async (text: string): Promise<string | undefined> => {
    const dir = Validate.path(text, "path")
    try {
      await mkdirOne(dir)
      return text
    } catch (error) {
      const code = (error as { code?: string }).code
      if (code === "EEXIST") {
        if ((await statOne(dir)).isDirectory()) return undefined
        throw error
      }
      const parent = dirname(text)
      if (code !== "ENOENT" || parent === text) throw error
      const first = await make(parent)
      try {
        await mkdirOne(dir)
      } catch (again) {
        if ((again as { code?: string }).code !== "EEXIST" || !(await statOne(dir)).isDirectory()) throw again
      }
      return first ?? text
    }
  }
  return make(target.text)
}
