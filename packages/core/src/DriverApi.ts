/**
 * The public types of @iou/native's Driver, kept here in @iou/core (no native code) so that
 * @iou/effect and anyone else can type against the Driver without loading or even installing the
 * addon. @iou/native re-exports them unchanged (src/types.ts); its Driver class is checked against
 * `DriverLike` where @iou/effect opens one.
 */
import type * as Config from "./Config.ts"
import type { SubmitMethod } from "./Operations.ts"

/** The Driver's config: @iou/core's Config (size, maxInFlight, singleIssuer, ioPoll, maxRequestTimeout, timeoutWheelTick, shutdownTimeout, idleSpin). */
export type DriverConfig = Config.Config

/** The effective config after validation and rounding, plus what the kernel accepted. */
export interface EffectiveConfig extends Config.ResolvedConfig {
  /** SINGLE_ISSUER | DEFER_TASKRUN were requested and the kernel accepted them. */
  readonly singleIssuerAccepted: boolean
  /** The inline engine's wake mode in use: `inlineWake`, or its fallback; undefined for "thread". */
  readonly inlineWakeUsed: Config.InlineWake | undefined
}

export interface DriverStats {
  /** The seed's gauge: requests occupying a waiter slot in the loop. */
  readonly pendingOperations: number
  /**
   * Requests anywhere between the call that made them and their completion: in the Driver's
   * backpressure queue, the loop's inbound queue or the loop (in the kernel or waiting there).
   */
  readonly outstanding: number
  /** @deprecated Use `outstanding` (the same count); `inFlight` is removed in the next release. */
  readonly inFlight: number
  readonly submitted: number
  /** Requests that ended, whatever their outcome (success, error, timeout, cancel, abandonment). */
  readonly completed: number
  readonly failed: number
  readonly timedOut: number
  readonly cancelled: number
  readonly requeued: number
  readonly sqesStaged: number
  readonly enters: number
  readonly wakes: number
  readonly cqOverflow: number
  /**
   * Times the loop found the kernel holding completions back because its completion queue was full
   * (the kernel keeps them, NODROP, and hands them over at the next enter: none is lost).
   */
  readonly cqKernelOverflow: number
  /** Times a recvMany found the provided buffers all taken (ENOBUFS): re-armed once they came back, or ended if it was cancelled, closing or past its deadline. */
  readonly recvBuffersEmpty: number
  readonly abandoned: number
  /** Bytes of buffers of abandoned requests, kept for the life of the process (the kernel may still write them). */
  readonly quarantinedBytes: number
}

export interface CloseOptions {
  /**
   * ms; absent: the Driver's config value; absent there too: wait for every outstanding request.
   * close() resolves after it and at most the loop's abandonment grace, plus (thread engine) at
   * most 100 ms for a loop thread still leaving the kernel.
   */
  readonly shutdownTimeout?: number | undefined
}

export interface CloseResult {
  readonly completed: number
  readonly abandoned: number
}

export interface ReadAtOptions {
  readonly length?: number | undefined
  readonly exact?: boolean | undefined
  /** ms from now: a per-request deadline enforced by the loop. */
  readonly timeout?: number | undefined
  readonly signal?: AbortSignal | undefined
}
export interface WriteOptions {
  readonly timeout?: number | undefined
  readonly signal?: AbortSignal | undefined
}
/** readFile's chunk for a file whose size stat does not tell (Node's kReadFileUnknownBufferLength). */
export const UNKNOWN_SIZE_CHUNK = 64 * 1024
/** The largest whole-file read (Node's kIoMaxLength): readFile refuses a larger file. */
export const MAX_READ_FILE = 2 ** 31 - 1

/** readFile's options: with `encoding`, the bytes decoded into a string, as fs.promises.readFile's. */
export interface ReadFileOptions {
  readonly timeout?: number | undefined
  readonly signal?: AbortSignal | undefined
  readonly encoding?: BufferEncoding | undefined
}
export interface RecvOptions {
  readonly offset?: number | undefined
  readonly length?: number | undefined
  readonly exact?: boolean | undefined
  readonly timeout?: number | undefined
  readonly signal?: AbortSignal | undefined
}
export interface SyncOptions {
  readonly dataOnly?: boolean | undefined
  readonly timeout?: number | undefined
  readonly signal?: AbortSignal | undefined
}

/** Data for writeAt/send: one buffer, or several (vectored: writev / sendmsg). */
export type Data = Uint8Array | ReadonlyArray<Uint8Array>

/** A path: a string (UTF-8), its raw bytes, or a `file:` URL, as node:fs takes it. No NUL byte. */
export type PathLike = string | Uint8Array | URL

/** open's flags: a node:fs flag string ("r", "r+", "rs+", "w", "wx", "w+", "wx+", "a", "ax", "a+", "ax+", "as", "as+") or O_* bits. */
export type OpenFlags = string | number

export interface OpenOptions {
  /** Default "r". O_CLOEXEC is always added. */
  readonly flags?: OpenFlags | undefined
  /** The mode of a created file, before the umask; default 0o666. A string is octal digits ("644"), as node:fs's. */
  readonly mode?: number | string | undefined
  readonly timeout?: number | undefined
  readonly signal?: AbortSignal | undefined
  /**
   * The fd is closed if this thread's environment ends (a worker terminated, the process exiting)
   * before closeFd closes it, from the moment the kernel made it (as SocketOptions' closeOnExit).
   */
  readonly closeOnExit?: boolean | undefined
}
export interface StatOptions {
  /** Default true (stat); false: the link itself (lstat). Ignored for an fd. */
  readonly followSymlinks?: boolean | undefined
  readonly timeout?: number | undefined
  readonly signal?: AbortSignal | undefined
}
export interface AllocateOptions {
  /** FALLOC_FL_KEEP_SIZE: allocate without changing the file's size. */
  readonly keepSize?: boolean | undefined
  /** FALLOC_FL_PUNCH_HOLE (implies keepSize): deallocate the range; it reads as zeros. */
  readonly punchHole?: boolean | undefined
  readonly timeout?: number | undefined
  readonly signal?: AbortSignal | undefined
}
export interface UnlinkOptions {
  /** Remove an empty directory (rmdir) instead of a file. */
  readonly directory?: boolean | undefined
  readonly timeout?: number | undefined
  readonly signal?: AbortSignal | undefined
}
export interface RenameOptions {
  /** RENAME_NOREPLACE: fail with EEXIST instead of replacing the target. */
  readonly noReplace?: boolean | undefined
  readonly timeout?: number | undefined
  readonly signal?: AbortSignal | undefined
}
export interface MkdirOptions {
  /** Default 0o777, before the umask. A string is octal digits ("755"), as node:fs's. */
  readonly mode?: number | string | undefined
  /** Create the missing parents too, as fs.mkdir's `recursive`; an existing directory is no error. */
  readonly recursive?: boolean | undefined
  readonly timeout?: number | undefined
  readonly signal?: AbortSignal | undefined
}
export interface PathOptions {
  readonly timeout?: number | undefined
  readonly signal?: AbortSignal | undefined
}

/**
 * What `stat` resolves with: the fields and methods of node:fs's `BigIntStats` (what
 * `fs.statSync(path, { bigint: true })` returns), from statx(2).
 */
export interface FileStats {
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
  readonly atimeMs: bigint
  readonly mtimeMs: bigint
  readonly ctimeMs: bigint
  readonly birthtimeMs: bigint
  readonly atimeNs: bigint
  readonly mtimeNs: bigint
  readonly ctimeNs: bigint
  readonly birthtimeNs: bigint
  readonly atime: Date
  readonly mtime: Date
  readonly ctime: Date
  readonly birthtime: Date
  isFile(): boolean
  isDirectory(): boolean
  isSymbolicLink(): boolean
  isBlockDevice(): boolean
  isCharacterDevice(): boolean
  isFIFO(): boolean
  isSocket(): boolean
}

/** submitStat's callback: (null, stats) on success, (error, undefined) on failure; exactly once. */
export type StatCallback = (error: Error | null, stats: FileStats | undefined) => void

/**
 * The low-level API's completion callback: called exactly once per request, on the Driver's thread,
 * with (null, result) on success or (error, 0) on failure. `error` is an IoUringError; a cancelled
 * request gets one whose name is "AbortError" and code "ABORT_ERR".
 */
export type Callback = (error: Error | null, result: number) => void

/**
 * A request handle of the low-level API: an opaque number accepted by `driver.cancel(handle)`.
 * Deadlines in the low-level API are absolute times in ms on the monotonic clock
 * (`Driver.now()`), 0 meaning none.
 */
export type RequestHandle = number

/**
 * The Driver's low-level (callback) method of each operation, by the name the operation table
 * gives it (Operations.ts `submit`). A row added there without its signature here fails to compile
 * where DriverLike picks it.
 */
export interface SubmitMethods {
  submitNop(deadline: number, callback: Callback): RequestHandle
  submitReadAt(
    fd: number,
    buffer: Uint8Array | ReadonlyArray<Uint8Array>,
    position: number | bigint,
    length: number,
    exact: boolean,
    deadline: number,
    callback: Callback,
  ): RequestHandle
  submitWriteAt(fd: number, data: Data, position: number | bigint, deadline: number, callback: Callback): RequestHandle
  submitSend(fd: number, data: Data, deadline: number, callback: Callback): RequestHandle
  submitRecv(
    fd: number,
    buffer: Uint8Array,
    offset: number,
    length: number,
    exact: boolean,
    deadline: number,
    callback: Callback,
  ): RequestHandle
  submitSync(fd: number, dataOnly: boolean, deadline: number, callback: Callback): RequestHandle
  /** socket(domain, type | SOCK_CLOEXEC, protocol); the callback gets the new fd (the caller's). */
  submitSocket(domain: number, type: number, protocol: number, deadline: number, callback: Callback): RequestHandle
  /** connect(fd, sockaddr); `address` is the sockaddr's bytes (Sockets.encodeAddress). */
  submitConnect(fd: number, address: Uint8Array, deadline: number, callback: Callback): RequestHandle
  /** accept4(fd, SOCK_CLOEXEC); the callback gets the connection's fd (the caller's). */
  submitAccept(fd: number, deadline: number, callback: Callback): RequestHandle
  /** shutdown(fd, SHUT_RD / SHUT_WR / SHUT_RDWR). */
  submitShutdown(fd: number, how: ShutdownHow, deadline: number, callback: Callback): RequestHandle
  /** bind(fd, sockaddr). */
  submitBind(fd: number, address: Uint8Array, deadline: number, callback: Callback): RequestHandle
  /** listen(fd, backlog). */
  submitListen(fd: number, backlog: number, deadline: number, callback: Callback): RequestHandle
  /** The callback gets the new fd, which is then the caller's to close. closeOnExit: as OpenOptions'. */
  submitOpen(
    path: PathLike,
    flags: OpenFlags,
    mode: number,
    deadline: number,
    callback: Callback,
    closeOnExit?: boolean,
  ): RequestHandle
  /**
   * Cancels what is outstanding on fd, waits for it, then closes fd; not cancellable (no handle).
   * A Unix listener that `listen` handed over takes its socket file with it (as node:net's
   * server.close()): @iou/effect's servers leave that to this call.
   */
  submitCloseFd(fd: number, callback: Callback): void
  submitStat(
    pathOrFd: PathLike | number,
    followSymlinks: boolean,
    deadline: number,
    callback: StatCallback,
  ): RequestHandle
  submitTruncate(fd: number, length: number | bigint, deadline: number, callback: Callback): RequestHandle
  submitAllocate(
    fd: number,
    offset: number | bigint,
    length: number | bigint,
    keepSize: boolean,
    punchHole: boolean,
    deadline: number,
    callback: Callback,
  ): RequestHandle
  submitUnlink(path: PathLike, directory: boolean, deadline: number, callback: Callback): RequestHandle
  submitRename(from: PathLike, to: PathLike, noReplace: boolean, deadline: number, callback: Callback): RequestHandle
  /** One directory (no parents; `mkdir(path, { recursive })` walks up with it). */
  submitMkdir(path: PathLike, mode: number, deadline: number, callback: Callback): RequestHandle
  submitSymlink(target: PathLike, path: PathLike, deadline: number, callback: Callback): RequestHandle
  submitLink(existing: PathLike, path: PathLike, deadline: number, callback: Callback): RequestHandle
  submitRecvMany(fd: number, deadline: number, onChunk: ChunkCallback, callback: Callback): RequestHandle
  /**
   * Multishot accept: `onConnection` gets each accepted connection (the caller's to close) until
   * `callback`'s one call; a connection that arrives after a cancel was asked for is closed.
   */
  submitAcceptMany(
    fd: number,
    deadline: number,
    onConnection: (connection: Connection) => void,
    callback: Callback,
  ): RequestHandle
}

/**
 * recvMany's chunk callback: one call per chunk received, in order, before the request's one
 * `Callback`. The chunk is the caller's (a copy; the provided buffer is already given back).
 */
export type ChunkCallback = (chunk: Uint8Array) => void

export interface RecvManyOptions {
  /** ms from now: a deadline for the whole stream (it ends with ETIMEDOUT). */
  readonly timeout?: number | undefined
  /** Aborting ends the stream: the iterator throws the AbortError (after the chunks before it). */
  readonly signal?: AbortSignal | undefined
}

/** acceptMany's options: recvMany's, and closeOnExit for each connection (as SocketOptions'). */
export interface AcceptManyOptions extends RecvManyOptions {
  readonly closeOnExit?: boolean | undefined
}

/** Which direction shutdownSocket ends: SHUT_RD, SHUT_WR or SHUT_RDWR. */
export type ShutdownHow = "read" | "write" | "both"

/** A socket's address, shaped like Node's: an IP address and port, or a Unix socket path. */
export type SocketAddress =
  | { readonly address: string; readonly family: "IPv4" | "IPv6"; readonly port: number }
  | { readonly path: string }

/** What to listen on: a TCP port (host omitted: `::` dual-stack, else `0.0.0.0`; `::` alone with `ipv6Only`) or a Unix socket path. */
export type ListenTarget =
  | {
      readonly host?: string | undefined
      readonly port: number
      /** Pending connections the kernel queues; default 511, as node:net. */
      readonly backlog?: number | undefined
      /** SO_REUSEPORT: several listeners on one port, the kernel spreads connections. */
      readonly reusePort?: boolean | undefined
      /** TCP_NODELAY on every accepted connection (set on the listener, which they inherit), as node:net's server `noDelay`. */
      readonly noDelay?: boolean | undefined
      /** SO_KEEPALIVE on every accepted connection (inherited from the listener), as node:net's server `keepAlive`. */
      readonly keepAlive?: boolean | undefined
      /** IPV6_V6ONLY on an IPv6 listener: IPv4 clients are refused, as node:net's `ipv6Only` (no host: `::` only). */
      readonly ipv6Only?: boolean | undefined
    }
  | { readonly path: string; readonly backlog?: number | undefined }

/** Where to connect: a host (a name, resolved with dns.lookup, or an IP literal) and port, or a Unix socket path. */
export type ConnectTarget = { readonly host: string; readonly port: number } | { readonly path: string }

/**
 * listen's and accept's options: a deadline, a signal, and closeOnExit: the socket is closed (a Unix
 * listener's path unlinked) if the Driver's thread ends before its closeFd (a worker terminated,
 * the process exiting), from the moment the kernel made it, as Driver.closeOnExit marks an fd.
 */
export interface SocketOptions extends WriteOptions {
  readonly closeOnExit?: boolean | undefined
}

export interface ConnectOptions {
  /** TCP_NODELAY. */
  readonly noDelay?: boolean | undefined
  /** SO_KEEPALIVE. */
  readonly keepAlive?: boolean | undefined
  /** As SocketOptions' closeOnExit. */
  readonly closeOnExit?: boolean | undefined
  /** ms from now, for the whole request (the lookup and every address tried). */
  readonly timeout?: number | undefined
  readonly signal?: AbortSignal | undefined
}

/** A listening socket: its fd (the caller's) and the address it is bound to. */
export interface Listener {
  readonly fd: number
  readonly localAddress: SocketAddress
}

/** A connected socket: its fd (the caller's) and both ends' addresses. */
export interface Connection {
  readonly fd: number
  readonly localAddress: SocketAddress
  readonly remoteAddress: SocketAddress
}

/** The completion callback of the socket requests made of several steps (listen, connect, accept). */
export type ResultCallback<A> = (error: Error | null, result: A | undefined) => void

/**
 * The socket requests made of several steps, in the low-level API: one callback, one handle that
 * `cancel` accepts (it cancels the step in flight; an fd made on the way is closed). Deadlines are
 * absolute ms on `Driver.now()`, 0 meaning none.
 */
export interface SocketMethods {
  /**
   * socket, SO_REUSEADDR (and SO_REUSEPORT, IPV6_V6ONLY = 0), bind, listen; then getsockname.
   * closeOnExit: as SocketOptions'.
   */
  openListener(
    target: ListenTarget,
    deadline: number,
    callback: ResultCallback<Listener>,
    closeOnExit?: boolean,
  ): RequestHandle
  /** dns.lookup for a host name, then for each address: socket, connect (the first that connects wins). */
  openConnection(
    target: ConnectTarget,
    options: Pick<ConnectOptions, "noDelay" | "keepAlive" | "closeOnExit">,
    deadline: number,
    callback: ResultCallback<Connection>,
  ): RequestHandle
  /** accept, then getsockname and getpeername. closeOnExit: as SocketOptions'. */
  acceptConnection(
    listenerFd: number,
    deadline: number,
    callback: ResultCallback<Connection>,
    closeOnExit?: boolean,
  ): RequestHandle
}

/**
 * readFile's low-level form, a request of several steps as SocketMethods' are: open, a stat of the
 * fd, reads into a buffer of its size and the close; the callback gets the bytes or the error once,
 * after the fd is closed, and the handle is one `cancel` takes (as an abort: AbortError).
 */
export interface FileMethods {
  submitReadFile(path: PathLike, deadline: number, callback: ResultCallback<Uint8Array>): RequestHandle
}

/**
 * The slice of the Driver that a service built over it needs: the low-level method of every
 * operation of the table (one callback per request, no Promise and no AbortSignal per operation),
 * `cancel`, `stats` and `close`. The Driver class has this shape; `NodeIoUring.layerWith` accepts
 * any value that does. Every callback is called exactly once, on the JS thread; deadlines are
 * absolute milliseconds on the clock of `Driver.now()`, 0 meaning none.
 */
export interface DriverLike extends Pick<SubmitMethods, SubmitMethod>, SocketMethods, FileMethods {
  readonly config: EffectiveConfig
  cancel(handle: RequestHandle): boolean
  stats(): DriverStats
  close(options?: CloseOptions): Promise<CloseResult>
}
