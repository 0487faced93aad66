/**
 * The Driver: one io_uring loop (engine "inline": on this thread's own event loop; "thread": a C
 * thread that owns the ring), with a Promise API (data: `readAt`, `writeAt`, `send`, `recv`,
 * `sync`, `nop`, `recvMany`; files: `open`, `closeFd`, `stat`, `readFile`, `truncate`, `allocate`,
 * `unlink`, `rename`, `mkdir`, `symlink`, `link`; sockets: `listen`, `accept`, `acceptMany`,
 * `connect`, `shutdownSocket`), its lifetime (`open`, `close`, `stats`) and, from the class it
 * extends (CallbackApi.ts), the low-level callback API (`submit*`, no Promise per request) that
 * `@iou/effect` and the benchmarks use.
 *
 * This file is the public surface; each method is one call into the module of its kind (DataOps.ts,
 * FileOps.ts, SocketOps.ts), which validates the arguments and fills a request through Requests.ts,
 * which composes the parts that own the data (its header lists them).
 *
 * A request travels as README.md, "How a request travels", draws it. A deadline holds wherever the
 * request waits (the kernel, the loop's inbound queue, the backpressure queue: ETIMEDOUT in each).
 * Cancelling (cancel(handle), an AbortSignal) a request still in the backpressure queue ends it at
 * once (AbortError); a submitted one gets an async cancel and ends with its own completion, only
 * after the kernel has let go of its buffers (success if the operation finished first). Requests.ts
 * says which requests are refused before the loop, and why.
 *
 * File descriptors: an fd you pass stays yours (keep it open until its requests have completed, or
 * close it with closeFd, which cancels them first); an fd `open`, `accept` or `connect` resolves
 * with is yours from then on (Driver.close() does not close it); one the kernel made for a caller
 * who aborted or timed out meanwhile is closed here (Delivery) and never handed out.
 */
import { Config } from "@iou/core"
import { constants } from "node:os"
import { binding } from "./binding.ts"
import { CallbackApi } from "./CallbackApi.ts"
import * as Clock from "./Clock.ts"
import * as Data from "./DataOps.ts"
import * as Files from "./FileOps.ts"
import * as Errors from "./IoUringError.ts"
import type { Many } from "./Many.ts"
import { OPERATIONS } from "./Operations.ts"
import * as Pending from "./PendingTable.ts"
import { preflight } from "./probe.ts"
import * as WholeFile from "./ReadFile.ts"
import type { NativeFactory } from "./Requests.ts"
import * as SocketOps from "./SocketOps.ts"
import type * as T from "./types.ts"
import * as Validate from "./Validate.ts"

export type { NativeFactory } from "./Requests.ts"

export const SLOT_LIMIT = Pending.SLOT_LIMIT

const nativeFactory: NativeFactory = (deliver, staging, completions) => new binding.Loop(deliver, staging, completions)

export class Driver extends CallbackApi {
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

  /** @internal Use Driver.open. */
  constructor(resolved: Config.ResolvedConfig, factory: NativeFactory) {
    super(resolved, factory)
    this.config = this.r.config
  }

  // ---- The Promise API -----------------------------------------------------------------------

  /** A no-op through the ring. */
  nop(options?: T.WriteOptions): Promise<void> {
    return Data.nop(this.r, options)
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
    return Data.readAt(this.r, fd, buffer, position, options)
  }

  /** Writes all of `data` (one buffer, or several: writev) at `position`. */
  writeAt(fd: number, data: T.Data, position: number | bigint, options?: T.WriteOptions): Promise<void> {
    return Data.writeAt(this.r, fd, data, position, options)
  }

  /** Sends all of `data` (one buffer, or several: sendmsg), with MSG_NOSIGNAL. */
  send(fd: number, data: T.Data, options?: T.WriteOptions): Promise<void> {
    return Data.send(this.r, fd, data, options)
  }

  /**
   * Receives into buffer[offset, offset + length). Without `exact`: the first non-empty read, or 0
   * when the peer closed. With `exact`: until the range is full; a close first rejects with
   * ERR_IOU_UNEXPECTED_EOF.
   */
  recv(fd: number, buffer: Uint8Array, options?: T.RecvOptions): Promise<number> {
    return Data.recv(this.r, fd, buffer, options)
  }

  /** fsync, or fdatasync with `dataOnly`. */
  sync(fd: number, options?: T.SyncOptions): Promise<void> {
    return Data.sync(this.r, fd, options)
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
    return Data.recvMany(this.r, fd, options)
  }

  /**
   * The connections a listening socket accepts (`listener`: its fd, or the object listen resolved
   * with), one multishot accept (Linux 5.19): each is yielded with its fd (the caller's) and both
   * its addresses. Iterate with `for await`; breaking out (or `return()`) or aborting `signal` stops
   * it, and a connection that arrives after that, or was accepted but not taken yet, is closed: an
   * fd only reaches a caller who still wants it. `timeout` (ms) bounds the whole stream.
   * `closeOnExit`: each connection is marked as it arrives (see closeOnExit).
   */
  acceptMany(listener: number | { readonly fd: number }, options?: T.AcceptManyOptions): Many<T.Connection> {
    return SocketOps.acceptMany(this.r, listener, options)
  }

  /**
   * A listening socket: `{ port, host?, backlog?, reusePort?, noDelay?, keepAlive?, ipv6Only? }` (TCP;
   * no host: `::` dual-stack, or 0.0.0.0 where IPv6 is unavailable; `ipv6Only`: IPV6_V6ONLY, no host
   * then `::` alone; SO_REUSEADDR on; backlog 511, as node:net; `noDelay`/`keepAlive` set on the
   * listener, so every accepted connection has them) or `{ path }` (a Unix socket). Resolves with its
   * fd (the caller's: close it when done) and the bound address.
   * `closeOnExit`: see closeOnExit (a Unix socket's path is unlinked too).
   */
  listen(target: T.ListenTarget, options?: T.SocketOptions): Promise<T.Listener> {
    return SocketOps.listen(this.r, target, options)
  }

  /**
   * The next connection on a listening socket (`listener`: its fd, or the object listen resolved
   * with). Resolves with the connection's fd (the caller's) and both its addresses. `closeOnExit`:
   * see closeOnExit.
   */
  accept(listener: number | { readonly fd: number }, options?: T.SocketOptions): Promise<T.Connection> {
    return SocketOps.accept(this.r, listener, options)
  }

  /**
   * A connected socket: `{ host, port }` (a host name is resolved with dns.lookup within the
   * request's timeout and signal, and each address is tried in order; an IP literal is used as it
   * is) or `{ path }` (a Unix socket). The timeout covers the whole request. Resolves with the fd
   * (the caller's) and both its addresses; a socket made for a connect that failed, timed out or
   * was aborted is closed. `closeOnExit`: see closeOnExit.
   */
  connect(target: T.ConnectTarget, options?: T.ConnectOptions): Promise<T.Connection> {
    return SocketOps.connect(this.r, target, options)
  }

  /** shutdown(2) of one direction of a socket ("read", "write" or "both"); not the Driver's close. */
  shutdownSocket(fd: number, how: T.ShutdownHow, options?: T.WriteOptions): Promise<void> {
    return SocketOps.shutdownSocket(this.r, fd, how, options)
  }

  // ---- Files ---------------------------------------------------------------------------------

  /**
   * Opens (openat) `path` with `flags` (a node:fs string, default "r", or O_* bits; O_CLOEXEC always)
   * and `mode` (default 0o666) and resolves with the new fd, which is then yours: close it with
   * closeFd (the Driver's close() does not). Aborted or timed out after the kernel made the fd, the
   * Driver closes it and rejects.
   */
  open(path: T.PathLike, options?: T.OpenOptions): Promise<number> {
    return Files.open(this.r, path, options)
  }

  /**
   * Closes `fd`: first cancels every request outstanding on it (in the kernel, the loop or the
   * backpressure queue) and waits until each has ended, then close(2) through the ring, so the fd
   * number is never reused under a pending request. Meanwhile new requests on `fd` are refused with
   * EBADF. Not cancellable and without a deadline: a close that could be undone would leave the fd
   * in an unknown state. A close that the Driver's shutdown cutoff abandons before the kernel ran
   * it is done here with close(2) and resolves (Delivery.closeAbandoned); so is a closeFd on a
   * closing or closed Driver, once the requests on the fd ended. A Unix listener that `listen`
   * handed over takes its socket file with it, as node:net's server.close() (Sockets.onClose).
   * (`close()` is the Driver's own shutdown.)
   */
  closeFd(fd: number): Promise<void> {
    return Files.closeFd(this.r, fd)
  }

  /**
   * Has the binding close `fd` with close(2) if this Driver is garbage-collected unclosed or its
   * thread's environment ends (a worker terminated, the process exiting) before `closeFd(fd)`, as
   * Node closes its own sockets then (`enabled` false: no longer). For an fd closed only with this
   * Driver's closeFd (and never after asking for its close): one closed another way may be a
   * different file by then. listen, accept and connect take `closeOnExit: true` to mark their
   * socket from the moment the kernel made it. `close()` drops every mark as it ends (the fds stay
   * the program's; closeFd still closes one, with close(2)), so a mark made on a closing or closed
   * Driver would protect nothing: marking then throws ERR_IOU_CLOSED; removing a mark is allowed.
   */
  closeOnExit(fd: number, enabled = true): void {
    Validate.fd(fd)
    const on = Validate.boolean(enabled, "enabled")
    if (on && this.r.shutdown.closing) throw Errors.closedError("close", fd)
    this.r.closeOnExit(fd, on)
  }

  /**
   * statx of a path (`followSymlinks` false: the link itself) or of an open fd, shaped like
   * `fs.statSync(path, { bigint: true })`.
   */
  stat(pathOrFd: T.PathLike | number, options?: T.StatOptions): Promise<T.FileStats> {
    return Files.stat(this.r, pathOrFd, options)
  }

  /**
   * ftruncate: the file's size becomes `length` (default 0, as node:fs's) (Linux 6.9+ on the ring;
   * before, ftruncate(2) on libuv's threadpool).
   */
  truncate(fd: number, length?: number | bigint, options?: T.WriteOptions): Promise<void> {
    return Files.truncate(this.r, fd, length, options)
  }

  /** fallocate of [offset, offset + length); `keepSize`: the size stays; `punchHole`: deallocate (keeps the size). */
  allocate(fd: number, offset: number | bigint, length: number | bigint, options?: T.AllocateOptions): Promise<void> {
    return Files.allocate(this.r, fd, offset, length, options)
  }

  /** unlinkat: removes a file, or with `directory` an empty directory (errors then say "rmdir"). */
  unlink(path: T.PathLike, options?: T.UnlinkOptions): Promise<void> {
    return Files.unlink(this.r, path, options)
  }

  /** renameat2: `from` becomes `to`, replacing it unless `noReplace` (then EEXIST). */
  rename(from: T.PathLike, to: T.PathLike, options?: T.RenameOptions): Promise<void> {
    return Files.rename(this.r, from, to, options)
  }

  /**
   * mkdirat with `mode` (default 0o777). With `recursive`, as fs.mkdir's: the missing parents too,
   * an existing directory is no error, and it resolves with the first directory it created (its
   * path as given, as fs.mkdir's) or undefined; without, with undefined. `options` may be the
   * mode alone, as fs.promises.mkdir's.
   */
  mkdir(path: T.PathLike, options?: T.MkdirOptions | number | string): Promise<string | undefined> {
    return Files.mkdir(this.r, path, options)
  }

  /**
   * The whole file at `path` in a new Buffer (with `encoding`, decoded into a string), as
   * fs.promises.readFile reads it: open, stat of the fd, reads, close (the stat synchronous on a
   * local file system, and there with the inline engine the close too), in one Promise
   * (ReadFile.ts). `timeout` covers all of it; an abort cancels the step in flight and rejects once
   * the fd is closed. `options` may be the encoding alone, as fs.promises.readFile's.
   */
  readFile(
    path: T.PathLike,
    options: BufferEncoding | (T.ReadFileOptions & { readonly encoding: BufferEncoding }),
  ): Promise<string>
  readFile(path: T.PathLike, options?: T.ReadFileOptions): Promise<Buffer>
  readFile(path: T.PathLike, options?: T.ReadFileOptions | BufferEncoding): Promise<Buffer | string> {
    return WholeFile.readFile(this.r, path, options)
  }

  /** symlinkat: a symbolic link at `path` whose content is `target` (stored as given). */
  symlink(target: T.PathLike, path: T.PathLike, options?: T.PathOptions): Promise<void> {
    return Files.twoPaths(this.r, OPERATIONS.symlink.op, target, path, options)
  }

  /** linkat: a new name `path` for the file `existing` (a hard link). */
  link(existing: T.PathLike, path: T.PathLike, options?: T.PathOptions): Promise<void> {
    return Files.twoPaths(this.r, OPERATIONS.link.op, existing, path, options)
  }

  /**
   * The loop's counters plus the Driver's own: `outstanding` (requests anywhere between the call and
   * their completion: the backpressure queue, the inbound queue or the loop), quarantinedBytes, and
   * the requests ended in the backpressure queue. `inFlight`: `outstanding` under its old name.
   */
  stats(): T.DriverStats {
    return this.r.delivery.stats(this.r.shutdown.stats())
  }

  /**
   * Stops admission (later calls reject with ERR_IOU_CLOSED), still admits what was already made
   * (including requests waiting in the backpressure queue), lets outstanding work finish while
   * deadlines keep running, and when `shutdownTimeout` (ms; default: the config's; absent: no limit)
   * expires abandons what is left (ERR_IOU_ABANDONED; buffers quarantined only if the kernel kept
   * them). Resolves once the loop has exited and is freed (the thread engine's thread joined; one
   * still leaving the kernel is waited for at most RELEASE_WAIT_MS, 100 ms, and not at all after an
   * abandonment), with how many requests live at close() completed and how many were abandoned.
   * Calling it again returns the same promise (see Shutdown).
   */
  close(options?: T.CloseOptions): Promise<T.CloseResult> {
    const o = Validate.options(options)
    const timeout =
      o.shutdownTimeout === undefined
        ? this.config.shutdownTimeout
        : Config.shutdownTimeout(o.shutdownTimeout, this.config.shutdownTimeout)
    return this.r.shutdown.close(timeout === undefined ? -1 : Clock.now() + timeout, () => this.r.submission.refill())
  }
}
