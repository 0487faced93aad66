/**
 * The socket operations IoUringSocket and IoUringSocketServer are written against, in one place:
 * listen, accept, connect, receive, send, shutdown and close, each one of the ring's own methods (the
 * IoUring service: `listen`, `accept`, `connect`, `recvMany`, `send`, `shutdownSocket`, `closeFd`). A
 * listener or connection is an fd plus what the socket modules need of its addresses; errors are
 * the ring's IoUringErrors (Node's `code`, `errno` and `syscall`). No node:net handle exists on
 * this path: node:net is only in the NodeSocket fallback (IoUringServices).
 *
 * fd ownership: the fds listen, accept and connect succeed with are the caller's, closed with
 * `close`/`closeListener` (closeFd, which cancels what is still pending on the fd first). The socket
 * modules still close a connection only once none of their operations on it is pending, so an fd
 * is never closed, and then reused, under an operation about to be submitted.
 */
import { Sockaddr } from "@iou/core"
import { Effect } from "effect"
import type { Data, IoUring, SocketAddress } from "../IoUring.ts"
import { IoUringError, SystemError } from "../IoUringError.ts"

/**
 * Where to listen: TCP (host omitted: every interface, as node:net; `noDelay` and `keepAlive` are
 * set on the listener and every accepted connection inherits them) or a Unix socket path.
 */
export type ListenOptions =
  | {
      readonly host?: string | undefined
      readonly port?: number | undefined
      readonly backlog?: number | undefined
      readonly noDelay?: boolean | undefined
      readonly keepAlive?: boolean | undefined
      /** IPv6 only: IPv4 clients are refused (node:net's `ipv6Only`). */
      readonly ipv6Only?: boolean | undefined
    }
  | { readonly path: string; readonly backlog?: number | undefined }

/** Where to connect: TCP (host omitted: `localhost`, as node:net) or a Unix socket path. */
export type ConnectOptions =
  | {
      readonly host?: string | undefined
      readonly port: number
      readonly noDelay?: boolean | undefined
      readonly keepAlive?: boolean | undefined
    }
  | { readonly path: string }

/** The address a listener is bound to: TCP host and port, or a Unix path. */
export type BoundAddress =
  | { readonly _tag: "Inet"; readonly host: string; readonly port: number }
  | { readonly _tag: "Unix"; readonly path: string }

/** A listening socket. */
export interface Listener {
  readonly fd: number
  readonly address: BoundAddress
  /**
   * Set (synchronously) when closeListener starts: no accept is submitted after it, so that an
   * accept never reaches another socket that got the fd number once it was closed.
   */
  closed: boolean
}

/** A connected socket. */
export interface Connection {
  readonly fd: number
}

export interface NetOps {
  readonly listen: (options: ListenOptions) => Effect.Effect<Listener, IoUringError>
  /**
   * The next connection; interruption cancels the accept in the kernel (no connection is lost).
   * Fails with EBADF (syscall accept) once the listener was closed.
   */
  readonly accept: (listener: Listener) => Effect.Effect<Connection, IoUringError>
  readonly connect: (options: ConnectOptions) => Effect.Effect<Connection, IoUringError>
  /**
   * Receives until the peer's end of stream (success) or an error, each chunk to `onChunk` (a copy,
   * the caller's): one multishot receive on the Driver's provided buffers (on a kernel without
   * it, one-shot receives in a loop). Interruption cancels it in the kernel and waits for its end.
   */
  readonly recvMany: (connection: Connection, onChunk: (chunk: Uint8Array) => void) => Effect.Effect<void, IoUringError>
  /** Sends all of `data`. */
  readonly send: (connection: Connection, data: Data) => Effect.Effect<void, IoUringError>
  /** shutdown(2) of the write side: the peer reads end of stream. Errors (the peer is gone) are ignored. */
  readonly shutdownWrite: (connection: Connection) => Effect.Effect<void>
  /** Closes the fd (closeFd: what is pending on it is cancelled first). */
  readonly close: (connection: Connection) => Effect.Effect<void>
  /**
   * Stops listening: closes the fd (connections not yet accepted go with it; the Driver's closeFd
   * unlinks a Unix listener's socket file, as node:net's server.close()). Never fails.
   */
  readonly closeListener: (listener: Listener) => Effect.Effect<void>
}

const boundAddress = (address: SocketAddress, options: ListenOptions): BoundAddress =>
  "path" in address
    ? { _tag: "Unix", path: "path" in options ? options.path : address.path }
    : { _tag: "Inet", host: address.address, port: address.port }

/**
 * Errors with which a kernel without multishot receive (Linux 6.0) or provided-buffer rings (5.19)
 * refuses recvMany, and the Driver's own refusal where it knows the kernel lacks it (ENOSYS).
 */
export const MULTISHOT_REFUSED: ReadonlySet<string> = new Set(["EINVAL", "ENOBUFS", "EOPNOTSUPP", "ENOSYS"])

/** Bytes one receive of the fallback takes at most. */
const FALLBACK_CHUNK = 65536

/**
 * recvMany over `io`: the multishot receive, or, once the kernel refused it on a connection before
 * any chunk (a kernel older than Linux 6.0), one-shot receives in a loop on that connection, which
 * end, deliver and cancel alike. The refusal is remembered per connection, so one connection's
 * error never turns the multishot off for the others.
 */
const receiver = (io: IoUring["Service"]): NetOps["recvMany"] => {
  const refused = new WeakSet<Connection>()
  const oneShots = (
    connection: Connection,
    onChunk: (chunk: Uint8Array) => void,
  ): Effect.Effect<void, IoUringError> => {
    const buffer = new Uint8Array(FALLBACK_CHUNK)
    const loop: Effect.Effect<void, IoUringError> = Effect.flatMap(io.recv(connection.fd, buffer), (n) => {
      if (n === 0) return Effect.void
      onChunk(buffer.slice(0, n))
      return loop
    })
    return loop
  }
  return (connection, onChunk) =>
    Effect.suspend(() => {
      if (refused.has(connection)) return oneShots(connection, onChunk)
      let delivered = false
      return io
        .recvMany(connection.fd, (chunk) => {
          delivered = true
          onChunk(chunk)
        })
        .pipe(
          Effect.catch((error) => {
            if (delivered || !MULTISHOT_REFUSED.has(error.code)) return Effect.fail(error)
            refused.add(connection)
            return oneShots(connection, onChunk)
          }),
        )
    })
}

/**
 * A Unix socket path longer than sun_path holds fails as node:net's does (EINVAL, a typed error),
 * not as a bad argument: a path is configuration, which a caller handles.
 */
const pathTooLong = (path: string, syscall: "bind" | "connect"): Effect.Effect<never, IoUringError> | undefined => {
  const bytes = Buffer.byteLength(path)
  if ((path.startsWith("\0") ? bytes : bytes + 1) <= Sockaddr.UNIX_PATH_MAX) return undefined
  return Effect.fail(
    new IoUringError({
      reason: new SystemError({}),
      code: "EINVAL",
      errno: -22,
      syscall,
      address: path,
      message: `${syscall} ${path} failed with EINVAL: a Unix socket path is at most ${Sockaddr.UNIX_PATH_MAX - 1} bytes`,
    }),
  )
}

/** The error of an accept on a listener already closed (what the kernel says of a closed fd). */
const listenerClosed = (listener: Listener): IoUringError =>
  new IoUringError({
    reason: new SystemError({}),
    code: "EBADF",
    errno: -9,
    syscall: "accept",
    fd: listener.fd,
    message: `accept on fd ${listener.fd} failed with EBADF: the listener is closed`,
  })

/** The NetOps over the ring `io`. */
export const make = (io: IoUring["Service"]): NetOps => ({
  listen: (options) =>
    ("path" in options ? pathTooLong(options.path, "bind") : undefined) ??
    Effect.map(
      io.listen(
        "path" in options
          ? { path: options.path, backlog: options.backlog }
          : {
              host: options.host,
              port: options.port ?? 0,
              backlog: options.backlog,
              noDelay: options.noDelay,
              keepAlive: options.keepAlive,
              ipv6Only: options.ipv6Only,
            },
      ),
      (listener): Listener => ({
        fd: listener.fd,
        address: boundAddress(listener.localAddress, options),
        closed: false,
      }),
    ),
  accept: (listener) =>
    Effect.suspend(() =>
      listener.closed
        ? Effect.fail(listenerClosed(listener))
        : Effect.map(io.accept(listener.fd), ({ fd }): Connection => ({ fd })),
    ),
  connect: (options) =>
    ("path" in options ? pathTooLong(options.path, "connect") : undefined) ??
    Effect.map(
      "path" in options
        ? io.connect({ path: options.path })
        : io.connect(
            { host: options.host ?? "localhost", port: options.port },
            { noDelay: options.noDelay, keepAlive: options.keepAlive },
          ),
      ({ fd }): Connection => ({ fd }),
    ),
  recvMany: receiver(io),
  send: (connection, data) => io.send(connection.fd, data),
  shutdownWrite: (connection) => Effect.ignore(io.shutdownSocket(connection.fd, "write")),
  close: (connection) => Effect.ignore(io.closeFd(connection.fd)),
  closeListener: (listener) =>
    Effect.suspend(() => {
      listener.closed = true
      return Effect.ignoreCause(io.closeFd(listener.fd))
    }),
})
