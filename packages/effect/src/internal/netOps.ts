/**
 * The socket operations IoUringSocket and IoUringSocketServer are written against, in one place:
 * listen, accept, connect, recv, send, shutdown and close, shaped as the ring's own methods are
 * (`ring.listen`, `ring.accept`, `ring.connect`, `ring.shutdownSocket`, `ring.closeFd`: a listener
 * or connection is an fd plus its addresses; errors are IoUringErrors with Node's `code`,
 * `errno` and `syscall`).
 *
 * recv and send go through the ring (the IoUring service) on the connection's fd. The Driver
 * does not yet have the operations that create, half-close and close sockets, so those are done
 * with node:net here, each marked where it stands; the rest of the socket modules do not know which.
 * To keep libuv from reading the sockets the ring reads, every node:net socket here is paused
 * before it connects (accepted ones with `pauseOnConnect`) and never resumed: libuv only accepts,
 * connects, shuts down and closes them. The fd is taken from the socket's handle (`_handle.fd`, an
 * internal field of node:net).
 *
 * A connection's fd stays open until `close`; the caller must not close it while a recv or send on
 * it is pending (the socket modules count their operations and close when the last one ends).
 */
import * as net from "node:net"
import { Effect } from "effect"
import type { Data, IoUring } from "../IoUring.ts"
import { IoUringError, reasonOf } from "../IoUringError.ts"

/** Where to listen: TCP (host omitted: every interface, as node:net) or a Unix socket path. */
export type ListenOptions =
  | { readonly host?: string | undefined; readonly port?: number | undefined; readonly backlog?: number | undefined }
  | { readonly path: string; readonly backlog?: number | undefined }

/** Where to connect: TCP or a Unix socket path. */
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
}

/** A connected socket. */
export interface Connection {
  readonly fd: number
}

export interface NetOps {
  readonly listen: (options: ListenOptions) => Effect.Effect<Listener, IoUringError>
  /** The next connection; interruptible (nothing is lost: an accepted socket waits for the next accept). */
  readonly accept: (listener: Listener) => Effect.Effect<Connection, IoUringError>
  readonly connect: (options: ConnectOptions) => Effect.Effect<Connection, IoUringError>
  /** Receives into `buffer`; 0 when the peer closed its side. */
  readonly recv: (connection: Connection, buffer: Uint8Array) => Effect.Effect<number, IoUringError>
  /** Sends all of `data`. */
  readonly send: (connection: Connection, data: Data) => Effect.Effect<void, IoUringError>
  /** shutdown(2) of the write side: the peer reads end of stream. */
  readonly shutdownWrite: (connection: Connection) => Effect.Effect<void>
  /** Closes the fd (no operation on it may be pending); with `reset`, the peer sees ECONNRESET. */
  readonly close: (connection: Connection, options?: { readonly reset?: boolean }) => Effect.Effect<void>
  /** Stops listening; connections not yet accepted are closed. */
  readonly closeListener: (listener: Listener) => Effect.Effect<void>
}

/** A node:net error (listen, connect) as the IoUringError the ring's operation would report. */
const fromNodeError = (error: unknown, syscall: string): IoUringError => {
  const e = error as NodeJS.ErrnoException
  const code = typeof e?.code === "string" ? e.code : "EIO"
  return new IoUringError({
    reason: reasonOf("SystemError"),
    code,
    errno: typeof e?.errno === "number" ? e.errno : undefined,
    syscall: e?.syscall ?? syscall,
    message: `${syscall} failed with ${code}: ${e instanceof Error ? e.message : String(error)}`,
    cause: error,
  })
}

const fdOf = (socket: net.Socket | net.Server): number => {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd
  if (typeof fd !== "number" || fd < 0) throw new Error("node:net handle without a file descriptor")
  return fd
}

/** Sockets accepted by node:net and not yet handed out, and the accepts waiting for one. */
interface ListenerState {
  readonly server: net.Server
  readonly queue: Array<net.Socket>
  readonly waiters: Set<(socket: net.Socket | undefined) => void>
  closed: boolean
}

/** Keeps libuv from touching a socket's data: no reads, errors observed instead of thrown. */
const quiet = (socket: net.Socket): net.Socket => {
  socket.pause()
  socket.on("error", () => {})
  return socket
}

/** The NetOps over `io` (recv, send) and node:net (the rest, until the ring has them). */
export const make = (io: IoUring["Service"]): NetOps => {
  const listeners = new WeakMap<Listener, ListenerState>()
  const sockets = new WeakMap<Connection, net.Socket>()

  const connectionOf = (socket: net.Socket): Connection => {
    const connection = { fd: fdOf(socket) }
    sockets.set(connection, socket)
    return connection
  }

  // node:net until the ring has listen
  const listen = (options: ListenOptions): Effect.Effect<Listener, IoUringError> =>
    Effect.callback<Listener, IoUringError>((resume) => {
      const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true })
      const state: ListenerState = { server, queue: [], waiters: new Set(), closed: false }
      server.on("connection", (socket) => {
        quiet(socket)
        const [waiter] = state.waiters
        if (waiter !== undefined) {
          state.waiters.delete(waiter)
          waiter(socket)
        } else state.queue.push(socket)
      })
      const onError = (error: unknown) => {
        server.close()
        resume(Effect.fail(fromNodeError(error, "listen")))
      }
      server.once("error", onError)
      server.listen({ ...options, backlog: options.backlog ?? 511 }, () => {
        server.off("error", onError)
        server.on("error", () => {})
        const bound = server.address()
        const address: BoundAddress =
          typeof bound === "string" || bound === null
            ? { _tag: "Unix", path: "path" in options ? options.path : String(bound) }
            : { _tag: "Inet", host: bound.address, port: bound.port }
        const listener: Listener = { fd: fdOf(server), address }
        listeners.set(listener, state)
        resume(Effect.succeed(listener))
      })
      return Effect.sync(() => server.close())
    })

  // node:net until the ring has accept
  const accept = (listener: Listener): Effect.Effect<Connection, IoUringError> =>
    Effect.callback<Connection, IoUringError>((resume) => {
      const state = listeners.get(listener)!
      const closedError = () =>
        Effect.fail(
          new IoUringError({
            reason: reasonOf("SystemError"),
            code: "EBADF",
            syscall: "accept",
            fd: listener.fd,
            message: "accept on a listener that was closed (EBADF)",
          }),
        )
      if (state.closed) return resume(closedError())
      const ready = state.queue.shift()
      if (ready !== undefined) return resume(Effect.sync(() => connectionOf(ready)))
      const waiter = (socket: net.Socket | undefined) =>
        resume(socket === undefined ? closedError() : Effect.sync(() => connectionOf(socket)))
      state.waiters.add(waiter)
      return Effect.sync(() => {
        state.waiters.delete(waiter)
      })
    })

  // node:net until the ring has connect
  const connect = (options: ConnectOptions): Effect.Effect<Connection, IoUringError> =>
    Effect.callback<Connection, IoUringError>((resume) => {
      const socket = new net.Socket({ allowHalfOpen: true })
      socket.pause()
      const onError = (error: unknown) => {
        socket.destroy()
        resume(Effect.fail(fromNodeError(error, "connect")))
      }
      socket.once("error", onError)
      socket.once("connect", () => {
        socket.off("error", onError)
        quiet(socket)
        if ("port" in options) {
          if (options.noDelay !== undefined) socket.setNoDelay(options.noDelay)
          if (options.keepAlive !== undefined) socket.setKeepAlive(options.keepAlive)
        }
        resume(Effect.sync(() => connectionOf(socket)))
      })
      if ("path" in options) socket.connect({ path: options.path })
      else socket.connect({ port: options.port, host: options.host ?? "localhost" })
      return Effect.sync(() => {
        socket.destroy()
      })
    })

  // node:net until the ring has shutdownSocket
  const shutdownWrite = (connection: Connection): Effect.Effect<void> =>
    Effect.sync(() => {
      const socket = sockets.get(connection)
      if (socket !== undefined && !socket.destroyed && !socket.writableEnded) socket.end()
    })

  // node:net until the ring has closeFd
  const close = (connection: Connection, options?: { readonly reset?: boolean }): Effect.Effect<void> =>
    Effect.sync(() => {
      const socket = sockets.get(connection)
      if (socket === undefined || socket.destroyed) return
      if (options?.reset === true) socket.resetAndDestroy()
      else socket.destroy()
    })

  // node:net until the ring has listen (its listener is closed with closeFd)
  const closeListener = (listener: Listener): Effect.Effect<void> =>
    Effect.sync(() => {
      const state = listeners.get(listener)
      if (state === undefined || state.closed) return
      state.closed = true
      state.server.close()
      for (const socket of state.queue.splice(0)) socket.destroy()
      for (const waiter of [...state.waiters]) waiter(undefined)
      state.waiters.clear()
    })

  return {
    listen,
    accept,
    connect,
    recv: (connection, buffer) => io.recv(connection.fd, buffer),
    send: (connection, data) => io.send(connection.fd, data),
    shutdownWrite,
    close,
    closeListener,
  }
}
