/**
 * IoUring: file and socket I/O through an io_uring event loop, as an Effect service.
 *
 * Every operation is one request on the ring, submitted through the Driver's low-level callback
 * API (no Promise and no AbortController per operation):
 *
 * ```
 * fiber ── readAt ──► Effect.callback ──► driver.submitReadAt(…, deadline, cb) ──► loop ──► kernel
 * fiber ◄─ Exit ◄──── resume(cb result) ◄─────────────────────────────────────────────── CQE
 * ```
 *
 * - `timeout` (a `Duration.Input`) becomes the request's absolute deadline in the loop's timeout
 *   wheel: no JS timer is armed, and expiry cancels the request in the kernel and fails with
 *   `reason: "Timeout"`. `Infinity` means no deadline; zero fails at once; a negative duration is a
 *   defect, like every invalid argument.
 * - Interrupting the fiber (Fiber.interrupt, Effect.timeout, Effect.race, a closing scope) cancels
 *   the request in the kernel and completes only once the request's callback has fired, that is
 *   once the kernel has let go of the buffer: after an interruption the buffer is yours again and
 *   `stats.pendingOperations` no longer counts the request. If the operation finished before the
 *   cancel landed, its result is dropped together with the interrupted fiber.
 * - Expected failures are `IoUringError`s; invalid arguments (a negative fd, a range outside the
 *   buffer, a negative position) are defects, because they are bugs in the caller.
 * - File descriptors: one you pass stays yours (close it with `closeFd`, which cancels what is
 *   pending on it first); one `open` succeeds with is yours; one the kernel made for an interrupted
 *   or timed-out `open` is closed by the Driver. A socket `listen`, `accept` or `connect` makes is
 *   also closed by the Driver's binding (a Unix listener's path unlinked) if the thread ends (a
 *   worker terminated) before its `closeFd`, as Node closes its own sockets: close it with
 *   `closeFd`, never another way, since by then its number may name another file. An `open` with
 *   `closeOnExit` is marked so too (IoUringFileSystem's files are).
 *
 * Provide the service with `NodeIoUring.layer` or `NodeIoUring.layerConfig`.
 *
 * @since 0.0.0
 */
import type {
  ConnectTarget,
  Connection,
  DriverStats,
  FileStats,
  ListenTarget,
  Listener,
  ShutdownHow,
  SocketAddress,
} from "@iou/core"
import { Context, type Duration, type Effect } from "effect"
import type { IoUringError } from "./IoUringError.ts"

/**
 * @since 0.0.0
 */
export interface ReadAtOptions {
  /** Bytes to read, from the start of `buffer`; default: the buffer's length. */
  readonly length?: number | undefined
  /** Fail with `UnexpectedEof` unless exactly `length` bytes were read. */
  readonly exact?: boolean | undefined
  /** The request's deadline in the loop, from now. */
  readonly timeout?: Duration.Input | undefined
}

/**
 * @since 0.0.0
 */
export interface WriteOptions {
  /** The request's deadline in the loop, from now; it covers every partial write. */
  readonly timeout?: Duration.Input | undefined
}

/**
 * @since 0.0.0
 */
export interface RecvOptions {
  /** Where in `buffer` to start; default 0. */
  readonly offset?: number | undefined
  /** How many bytes at most; default: the rest of the buffer. */
  readonly length?: number | undefined
  /** Keep receiving until the range is full; a closed peer fails with `UnexpectedEof`. */
  readonly exact?: boolean | undefined
  /** The request's deadline in the loop, from now. */
  readonly timeout?: Duration.Input | undefined
}

/**
 * @since 0.0.0
 */
export interface SyncOptions {
  /** fdatasync instead of fsync. */
  readonly dataOnly?: boolean | undefined
  /** The request's deadline in the loop, from now. */
  readonly timeout?: Duration.Input | undefined
}

/**
 * @since 0.0.0
 */
export interface ConnectOptions {
  /** TCP_NODELAY. */
  readonly noDelay?: boolean | undefined
  /** SO_KEEPALIVE. */
  readonly keepAlive?: boolean | undefined
  /** The request's deadline, from now: the host name lookup and every address tried. */
  readonly timeout?: Duration.Input | undefined
}

/**
 * Data for writeAt/send: one buffer, or several written in order (writev / sendmsg).
 *
 * @since 0.0.0
 */
export type Data = Uint8Array | ReadonlyArray<Uint8Array>

/**
 * @since 0.0.0
 */
export type { ConnectTarget, Connection, DriverStats, FileStats, ListenTarget, Listener, ShutdownHow, SocketAddress }

/**
 * A path: a string, its bytes, or a `file:` URL (no NUL byte).
 *
 * @since 0.0.0
 */
export type PathLike = string | Uint8Array | URL

/**
 * @since 0.0.0
 */
export interface OpenOptions {
  /** A node:fs flag string ("r", "w+", "a", "wx"…; default "r") or O_* bits; O_CLOEXEC always. */
  readonly flags?: string | number | undefined
  /** The mode of a created file, before the umask; default 0o666. */
  readonly mode?: number | undefined
  readonly timeout?: Duration.Input | undefined
  /**
   * The Driver's closeOnExit: the fd is closed if the thread ends (a worker terminated) before its
   * `closeFd`, from the moment the kernel made it. Close such an fd only with `closeFd`: closed
   * another way, its number may name another thread's file when the thread ends. Default false;
   * IoUringFileSystem opens every file with it.
   */
  readonly closeOnExit?: boolean | undefined
}

/**
 * @since 0.0.0
 */
export interface StatOptions {
  /** Default true; false: the link itself (lstat). */
  readonly followSymlinks?: boolean | undefined
  readonly timeout?: Duration.Input | undefined
}

/**
 * @since 0.0.0
 */
export interface AllocateOptions {
  /** Allocate without changing the size (FALLOC_FL_KEEP_SIZE). */
  readonly keepSize?: boolean | undefined
  /** Deallocate the range (FALLOC_FL_PUNCH_HOLE; keeps the size). */
  readonly punchHole?: boolean | undefined
  readonly timeout?: Duration.Input | undefined
}

/**
 * @since 0.0.0
 */
export interface UnlinkOptions {
  /** Remove an empty directory (rmdir). */
  readonly directory?: boolean | undefined
  readonly timeout?: Duration.Input | undefined
}

/**
 * @since 0.0.0
 */
export interface RenameOptions {
  /** Fail with EEXIST instead of replacing the target (RENAME_NOREPLACE). */
  readonly noReplace?: boolean | undefined
  readonly timeout?: Duration.Input | undefined
}

/**
 * @since 0.0.0
 */
export interface MkdirOptions {
  /** Default 0o777, before the umask. */
  readonly mode?: number | undefined
  /** The missing parents too, as fs.mkdir's; an existing directory is no error. */
  readonly recursive?: boolean | undefined
  readonly timeout?: Duration.Input | undefined
}

/**
 * @since 0.0.0
 */
export class IoUring extends Context.Service<
  IoUring,
  {
    /** A no-op through the ring: measures the round trip. */
    readonly nop: Effect.Effect<void, IoUringError>
    /** Reads into `buffer` (or several buffers in order: readv) from `position`; succeeds with the bytes read (0 at end of file). */
    readonly readAt: (
      fd: number,
      buffer: Uint8Array | ReadonlyArray<Uint8Array>,
      position: number | bigint,
      options?: ReadAtOptions,
    ) => Effect.Effect<number, IoUringError>
    /** Writes all of `data` at `position`. */
    readonly writeAt: (
      fd: number,
      data: Data,
      position: number | bigint,
      options?: WriteOptions,
    ) => Effect.Effect<void, IoUringError>
    /** Sends all of `data` (MSG_NOSIGNAL: a closed peer is EPIPE, never a signal). */
    readonly send: (fd: number, data: Data, options?: WriteOptions) => Effect.Effect<void, IoUringError>
    /** Receives into `buffer[offset, offset + length)`; succeeds with the bytes received, 0 when the peer closed. */
    readonly recv: (fd: number, buffer: Uint8Array, options?: RecvOptions) => Effect.Effect<number, IoUringError>
    /**
     * Receives from a socket until the peer's end of stream with one multishot receive on the
     * Driver's provided buffers: `onChunk` gets each chunk as it arrives (a copy, the caller's; the
     * provided buffer is already on its way back to the kernel). Succeeds at end of stream, fails
     * with the error that ended it (`timeout` bounds the whole stream). Interruption cancels it in
     * the kernel and waits for its end; every chunk received before that went to `onChunk`. While
     * it is armed nothing pushes back on the peer: interrupt it when the consumer falls behind.
     */
    readonly recvMany: (
      fd: number,
      onChunk: (chunk: Uint8Array) => void,
      options?: WriteOptions,
    ) => Effect.Effect<void, IoUringError>
    /** fsync, or fdatasync with `dataOnly`. */
    readonly sync: (fd: number, options?: SyncOptions) => Effect.Effect<void, IoUringError>
    /**
     * A listening socket (`{ port, host?, backlog?, reusePort?, noDelay?, keepAlive?, ipv6Only? }`: no host is `::` dual-stack, else
     * `0.0.0.0`, or `::` alone with `ipv6Only`; SO_REUSEADDR; backlog 511. Or `{ path }`: a Unix socket). Its fd is the caller's.
     */
    readonly listen: (target: ListenTarget, options?: WriteOptions) => Effect.Effect<Listener, IoUringError>
    /** The next connection on a listener; its fd is the caller's. Interruption cancels it in the kernel. */
    readonly accept: (
      listener: number | { readonly fd: number },
      options?: WriteOptions,
    ) => Effect.Effect<Connection, IoUringError>
    /**
     * A connected socket (`{ host, port }`, a host name looked up with dns.lookup and each address
     * tried in order, or `{ path }`); its fd is the caller's. A socket made for a connect that
     * failed, timed out or was interrupted is closed.
     */
    readonly connect: (target: ConnectTarget, options?: ConnectOptions) => Effect.Effect<Connection, IoUringError>
    /** shutdown(2) of one direction of a socket. */
    readonly shutdownSocket: (fd: number, how: ShutdownHow, options?: WriteOptions) => Effect.Effect<void, IoUringError>
    /**
     * Opens a file and succeeds with its fd, which is then yours (close it with `closeFd`).
     * Interrupted after the kernel made the fd, the Driver closes it: nothing leaks.
     */
    readonly open: (path: PathLike, options?: OpenOptions) => Effect.Effect<number, IoUringError>
    /**
     * Cancels what is pending on `fd`, waits for it, then closes it (a Unix listener's socket file
     * goes with it, as node:net's server.close()). Uninterruptible.
     */
    readonly closeFd: (fd: number) => Effect.Effect<void, IoUringError>
    /** statx of a path or an fd, shaped like fs.BigIntStats. */
    readonly stat: (pathOrFd: PathLike | number, options?: StatOptions) => Effect.Effect<FileStats, IoUringError>
    /** ftruncate to `length`. */
    readonly truncate: (
      fd: number,
      length: number | bigint,
      options?: WriteOptions,
    ) => Effect.Effect<void, IoUringError>
    /** fallocate of [offset, offset + length). */
    readonly allocate: (
      fd: number,
      offset: number | bigint,
      length: number | bigint,
      options?: AllocateOptions,
    ) => Effect.Effect<void, IoUringError>
    /** Removes a file, or an empty directory with `directory`. */
    readonly unlink: (path: PathLike, options?: UnlinkOptions) => Effect.Effect<void, IoUringError>
    /** Renames `from` to `to`. */
    readonly rename: (from: PathLike, to: PathLike, options?: RenameOptions) => Effect.Effect<void, IoUringError>
    /** Makes a directory; with `recursive`, succeeds with the first directory created or undefined. */
    readonly mkdir: (path: PathLike, options?: MkdirOptions) => Effect.Effect<string | undefined, IoUringError>
    /** Makes `path` a symbolic link to `target`. */
    readonly symlink: (target: PathLike, path: PathLike, options?: WriteOptions) => Effect.Effect<void, IoUringError>
    /** Makes `path` a new name (hard link) of `existing`. */
    readonly link: (existing: PathLike, path: PathLike, options?: WriteOptions) => Effect.Effect<void, IoUringError>
    /** A snapshot of the Driver's counters and gauges. */
    readonly stats: Effect.Effect<DriverStats>
  }
>()("@iou/effect/IoUring") {}
