/**
 * TCP sockets whose file descriptors belong to the ring.
 *
 * io_uring needs a socket's file descriptor, and Node offers no socket API that hands one out
 * (there is no `socket(2)`/`accept(2)` binding and @iou/native has no socket helpers). So these
 * helpers let node:net do the part that is not I/O (listen, accept, connect) and then keep libuv's
 * hands off the data:
 *
 * - accepted sockets come from a server created with `pauseOnConnect: true`, and outgoing ones are
 *   paused before they connect, so libuv never starts reading them and never writes to them: the
 *   ring is the only reader and writer;
 * - the descriptor is `socket._handle.fd`, an internal field of Node (stable for years, but not a
 *   public API: if it disappears, `fdOf` fails loudly instead of returning garbage);
 * - the `net.Socket` stays referenced for as long as the descriptor is in use, and `close`
 *   destroys it, which closes the descriptor. Close only after every ring operation on it ended
 *   (interrupting the fiber that runs them is enough: interruption waits for the kernel).
 */
import * as net from "node:net"
import * as util from "node:util"
import { once } from "node:events"
import { Data, Effect, Queue, type Scope } from "effect"

/** A connected socket whose fd the ring reads and writes. */
export interface Connection {
  readonly fd: number
  readonly remote: string
  /** Closes the socket (and its fd). */
  readonly close: Effect.Effect<void>
}

export interface Listener {
  /** The address listened on, as the kernel reports it (`127.0.0.1`, `::1`, …). */
  readonly host: string
  readonly port: number
  /** Waits for the next connection. */
  readonly accept: Effect.Effect<Connection>
}

/** The fd of a connected net.Socket (see the module comment). */
export const fdOf = (socket: net.Socket): number => {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd
  if (typeof fd !== "number" || fd < 0) throw new Error("this Node version does not expose the socket's fd")
  return fd
}

const connection = (socket: net.Socket): Connection => ({
  fd: fdOf(socket),
  remote: `${socket.remoteAddress}:${socket.remotePort}`,
  close: Effect.sync(() => socket.destroy()),
})

/** `host:port`, with an IPv6 address in brackets. */
export const formatAddress = (host: string, port: number): string =>
  net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`

/** listen(2) failed (EADDRINUSE, EADDRNOTAVAIL, EACCES, a host name that does not resolve, …). */
export class ListenError extends Data.TaggedError("ListenError")<{
  readonly host: string
  readonly port: number
  /** Node's code: the errno name (`EADDRINUSE`, …) or the resolver's (`ENOTFOUND`). */
  readonly code: string | undefined
  readonly message: string
  readonly cause: unknown
}> {}

const listenError = (host: string, port: number, cause: unknown): ListenError => {
  const error = cause as NodeJS.ErrnoException
  // An errno has a short description of its own; the resolver's errors keep Node's message.
  const what =
    error.syscall === "listen" && typeof error.errno === "number"
      ? `${util.getSystemErrorMessage(error.errno)} (${error.code})`
      : error.message
  return new ListenError({
    host,
    port,
    code: error.code,
    message: `cannot listen on ${formatAddress(host, port)}: ${what}`,
    cause,
  })
}

/** Listens on `host:port` (0: any free port) until the scope closes. */
export const listen = (port: number, host = "127.0.0.1"): Effect.Effect<Listener, ListenError, Scope.Scope> =>
  Effect.gen(function* () {
    const accepted = yield* Queue.unbounded<net.Socket>()
    const open = new Set<net.Socket>()
    const server = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          const server = net.createServer({ pauseOnConnect: true }, (socket) => {
            open.add(socket)
            socket.once("close", () => open.delete(socket))
            Queue.offerUnsafe(accepted, socket)
          })
          server.listen(port, host)
          await once(server, "listening") // rejects with the "error" event's error
          return server
        },
        catch: (cause) => listenError(host, port, cause),
      }),
      // Runs after the fibers that served connections were interrupted (their scope is inner).
      (server) =>
        Effect.sync(() => {
          server.close()
          for (const socket of open) socket.destroy()
        }),
    )
    const address = server.address() as net.AddressInfo
    return {
      host: address.address,
      port: address.port,
      accept: Effect.map(Queue.take(accepted), connection),
    }
  })

/** Connects to `host:port`; the socket is closed when the scope closes. */
export const connect = (port: number, host = "127.0.0.1"): Effect.Effect<Connection, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const socket = net.connect({ port, host })
      socket.pause() // before "connect": libuv never starts reading this socket
      await once(socket, "connect")
      return socket
    }),
    (socket) => Effect.sync(() => socket.destroy()),
  ).pipe(Effect.map(connection))
