/**
 * The Driver's low-level API: one callback per request, no Promise (`submit*`, the `open*`/`accept*`
 * forms of the socket requests that take several steps, `cancel`). `@iou/effect` and the benchmarks
 * use it. Each method is one call into the module of its kind (DataOps.ts, FileOps.ts, SocketOps.ts),
 * as the Promise API's in Driver.ts, which extends this class. A deadline is absolute, in ms on
 * Driver.now() (0: none); the handle a method returns is what `cancel` takes.
 */
import type { Config } from "@iou/core"
import * as Data from "./DataOps.ts"
import * as Files from "./FileOps.ts"
import * as WholeFile from "./ReadFile.ts"
import { OPERATIONS } from "./Operations.ts"
import { type NativeFactory, Requests } from "./Requests.ts"
import * as SocketOps from "./SocketOps.ts"
import type * as T from "./types.ts"

export class CallbackApi {
  /** The Driver's requests (Requests.ts composes the parts). */
  protected readonly r: Requests

  /** Makes the Driver's requests; the socket requests of several steps (Sockets.ts) use this API's own methods. */
  protected constructor(resolved: Config.ResolvedConfig, factory: NativeFactory) {
    this.r = new Requests(resolved, factory, this)
  }

  /**
   * A multishot recv: `onChunk` gets each chunk (a copy) as it arrives, then `callback` once: (null,
   * 0) at end of stream, or the error that ended it (AbortError after cancel(handle), ETIMEDOUT at
   * `deadline`). The provided buffers running out (ENOBUFS) ends nothing: it is re-armed once they
   * are back, and counted in stats().recvBuffersEmpty.
   */
  submitRecvMany(fd: number, deadline: number, onChunk: T.ChunkCallback, callback: T.Callback): T.RequestHandle {
    return Data.submitRecvMany(this.r, fd, deadline, onChunk, callback)
  }

  /** A no-op. `deadline`: absolute ms on Driver.now(), 0 = none. */
  submitNop(deadline: number, callback: T.Callback): T.RequestHandle {
    return Data.submitNop(this.r, deadline, callback)
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
    return Data.submitReadAt(this.r, fd, buffer, position, length, exact, deadline, callback)
  }

  /** writeAt of all of `data`; the callback gets the bytes written. */
  submitWriteAt(
    fd: number,
    data: T.Data,
    position: number | bigint,
    deadline: number,
    callback: T.Callback,
  ): T.RequestHandle {
    return Data.submitWriteAt(this.r, fd, data, position, deadline, callback)
  }

  /** send of all of `data`; the callback gets the bytes sent. */
  submitSend(fd: number, data: T.Data, deadline: number, callback: T.Callback): T.RequestHandle {
    return Data.submitSend(this.r, fd, data, deadline, callback)
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
    return Data.submitRecv(this.r, fd, buffer, offset, length, exact, deadline, callback)
  }

  /** fsync, or fdatasync with `dataOnly`. */
  submitSync(fd: number, dataOnly: boolean, deadline: number, callback: T.Callback): T.RequestHandle {
    return Data.submitSync(this.r, fd, dataOnly, deadline, callback)
  }

  /** socket(domain, type | SOCK_CLOEXEC, protocol); the callback gets the new fd (the caller's). */
  submitSocket(
    domain: number,
    type: number,
    protocol: number,
    deadline: number,
    callback: T.Callback,
  ): T.RequestHandle {
    return SocketOps.submitSocket(this.r, domain, type, protocol, deadline, callback)
  }

  /** connect(fd, sockaddr): `address` is the sockaddr's bytes, kept alive until the completion. */
  submitConnect(fd: number, address: Uint8Array, deadline: number, callback: T.Callback): T.RequestHandle {
    return SocketOps.submitAddress(this.r, OPERATIONS.connect.op, fd, address, deadline, callback)
  }

  /** accept4(fd, SOCK_CLOEXEC); the callback gets the connection's fd (the caller's). */
  submitAccept(fd: number, deadline: number, callback: T.Callback): T.RequestHandle {
    return SocketOps.submitAccept(this.r, fd, deadline, callback)
  }

  /** shutdown(fd, SHUT_RD / SHUT_WR / SHUT_RDWR). */
  submitShutdown(fd: number, how: T.ShutdownHow, deadline: number, callback: T.Callback): T.RequestHandle {
    return SocketOps.submitShutdown(this.r, fd, how, deadline, callback)
  }

  /** bind(fd, sockaddr); bind(2) itself where the kernel lacks IORING_OP_BIND (Linux 6.11). */
  submitBind(fd: number, address: Uint8Array, deadline: number, callback: T.Callback): T.RequestHandle {
    return SocketOps.submitBind(this.r, fd, address, deadline, callback)
  }

  /** listen(fd, backlog); listen(2) itself where the kernel lacks IORING_OP_LISTEN (Linux 6.11). */
  submitListen(fd: number, backlog: number, deadline: number, callback: T.Callback): T.RequestHandle {
    return SocketOps.submitListen(this.r, fd, backlog, deadline, callback)
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
    return SocketOps.submitAcceptMany(this.r, fd, deadline, onConnection, callback)
  }

  /** listen's low-level form: one callback with the listener, a handle `cancel` accepts. */
  openListener(
    target: T.ListenTarget,
    deadline: number,
    callback: T.ResultCallback<T.Listener>,
    closeOnExit?: boolean,
  ): T.RequestHandle {
    return SocketOps.openListener(this.r, target, deadline, callback, closeOnExit)
  }

  /** connect's low-level form: one callback with the connection, a handle `cancel` accepts. */
  openConnection(
    target: T.ConnectTarget,
    options: Pick<T.ConnectOptions, "noDelay" | "keepAlive" | "closeOnExit">,
    deadline: number,
    callback: T.ResultCallback<T.Connection>,
  ): T.RequestHandle {
    return SocketOps.openConnection(this.r, target, options, deadline, callback)
  }

  /** accept's low-level form: one callback with the connection, a handle `cancel` accepts. */
  acceptConnection(
    listenerFd: number,
    deadline: number,
    callback: T.ResultCallback<T.Connection>,
    closeOnExit?: boolean,
  ): T.RequestHandle {
    return SocketOps.acceptConnection(this.r, listenerFd, deadline, callback, closeOnExit)
  }

  /**
   * open; the callback gets the new fd (then yours to close). closeOnExit: the fd is closed if this
   * thread ends before closeFd closes it, from the moment the kernel made it.
   */
  submitOpen(
    path: T.PathLike,
    flags: T.OpenFlags,
    mode: number,
    deadline: number,
    callback: T.Callback,
    closeOnExit?: boolean,
  ): T.RequestHandle {
    return Files.submitOpen(this.r, path, flags, mode, deadline, callback, closeOnExit)
  }

  /**
   * readFile's callback form (ReadFile.ts): open, stat, reads into a Buffer of the file's size and
   * the close as one request; the callback gets the Buffer (yours) or the error, once, after the fd
   * is closed. The handle is what `cancel` takes.
   */
  submitReadFile(path: T.PathLike, deadline: number, callback: T.ResultCallback<Buffer>): T.RequestHandle {
    return WholeFile.submitReadFile(this.r, path, deadline, callback)
  }

  /** closeFd: cancels what is outstanding on fd, waits for it, then closes fd; the callback gets 0. */
  submitCloseFd(fd: number, callback: T.Callback): void {
    return Files.submitCloseFd(this.r, fd, callback)
  }

  /** stat of a path or an fd; the callback gets the stats. */
  submitStat(
    pathOrFd: T.PathLike | number,
    followSymlinks: boolean,
    deadline: number,
    callback: T.StatCallback,
  ): T.RequestHandle {
    return Files.submitStat(this.r, pathOrFd, followSymlinks, deadline, callback)
  }

  /** truncate (ftruncate) to `length`. */
  submitTruncate(fd: number, length: number | bigint, deadline: number, callback: T.Callback): T.RequestHandle {
    return Files.submitTruncate(this.r, fd, length, deadline, callback)
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
    return Files.submitAllocate(this.r, fd, offset, length, keepSize, punchHole, deadline, callback)
  }

  /** unlink of a file, or of an empty directory with `directory`. */
  submitUnlink(path: T.PathLike, directory: boolean, deadline: number, callback: T.Callback): T.RequestHandle {
    return Files.submitUnlink(this.r, path, directory, deadline, callback)
  }

  /** rename, with RENAME_NOREPLACE when `noReplace`. */
  submitRename(
    from: T.PathLike,
    to: T.PathLike,
    noReplace: boolean,
    deadline: number,
    callback: T.Callback,
  ): T.RequestHandle {
    return Files.submitRename(this.r, from, to, noReplace, deadline, callback)
  }

  /** mkdir of one directory (no parents). */
  submitMkdir(path: T.PathLike, mode: number, deadline: number, callback: T.Callback): T.RequestHandle {
    return Files.submitMkdir(this.r, path, mode, deadline, callback)
  }

  /** symlink: `path` becomes a symbolic link to `target`. */
  submitSymlink(target: T.PathLike, path: T.PathLike, deadline: number, callback: T.Callback): T.RequestHandle {
    return Files.submitTwoPaths(this.r, OPERATIONS.symlink.op, target, path, deadline, callback)
  }

  /** link: `path` becomes a new name of `existing`. */
  submitLink(existing: T.PathLike, path: T.PathLike, deadline: number, callback: T.Callback): T.RequestHandle {
    return Files.submitTwoPaths(this.r, OPERATIONS.link.op, existing, path, deadline, callback)
  }

  /**
   * Cancels a request. Returns true when its callback had not run yet and this call started its
   * cancellation; its callback still runs exactly once, after the kernel has let go of its buffers:
   * with an AbortError, or with the request's own outcome if it ended first (success, or its error:
   * its completion was already on its way). False for a request that already ended, is already
   * being cancelled, or an unknown handle.
   */
  cancel(handle: T.RequestHandle): boolean {
    return this.r.cancel(handle)
  }
}
