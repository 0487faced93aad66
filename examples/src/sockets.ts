/**
 * TCP sockets made by the ring: `listen`, `accept` and `connect` of the IoUring service (socket,
 * bind, listen, accept and connect are io_uring requests; nothing of node:net is involved), in the
 * shape the examples use.
 *
 * Who owns each fd: the listener's and every connection's fd are ours (the ring hands them over
 * and never closes them); `close` closes a connection's, and the listener's is closed when the
 * scope that listened closes. Close only after every ring operation on the fd ended (interrupting
 * the fiber that runs them is enough: interruption waits for the kernel). fs.closeSync is the
 * close(2) used here.
 */
import { closeSync } from "node:fs"
import * as util from "node:util"
import { IoUring, type IoUringError, type SocketAddress } from "@iou/effect"
import { Data, Effect, type Scope } from "effect"

/** A connected socket whose fd the ring reads and writes. */
export interface Connection {
  readonly fd: number
  readonly remote: string
  /** Closes the socket's fd (once). */
  readonly close: Effect.Effect<void>
}

export interface Listener {
  /** The address listened on, as the kernel reports it (`127.0.0.1`, `::1`, …). */
  readonly host: string
  readonly port: number
  /** Waits for the next connection. */
  readonly accept: Effect.Effect<Connection, IoUringError>
}

/** `host:port`, with an IPv6 address in brackets. */
export const formatAddress = (host: string, port: number): string =>
  host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`

const describe = (address: SocketAddress): string =>
  "path" in address ? address.path || "(unnamed)" : formatAddress(address.address, address.port)

/** Closes `fd` the first time the effect runs. */
const closer = (fd: number): Effect.Effect<void> => {
  let open = true
  return Effect.sync(() => {
    if (open) closeSync(fd)
    open = false
  })
}

const connection = (c: { fd: number; remoteAddress: SocketAddress }): Connection => ({
  fd: c.fd,
  remote: describe(c.remoteAddress),
  close: closer(c.fd),
})

/** listen failed (EADDRINUSE, EADDRNOTAVAIL, EACCES, a host name that does not resolve, …). */
export class ListenError extends Data.TaggedError("ListenError")<{
  readonly host: string
  readonly port: number
  /** The errno name (`EADDRINUSE`, …) or the resolver's (`ENOTFOUND`). */
  readonly code: string | undefined
  readonly message: string
  readonly cause: unknown
}> {}

const listenError = (host: string, port: number, error: IoUringError): ListenError => {
  // An errno has a short description of its own; the resolver's errors keep their code.
  const what =
    typeof error.errno === "number" ? `${util.getSystemErrorMessage(error.errno)} (${error.code})` : error.code
  return new ListenError({
    host,
    port,
    code: error.code,
    message: `cannot listen on ${formatAddress(host, port)}: ${what}`,
    cause: error,
  })
}

/** Listens on `host:port` (0: any free port) until the scope closes. */
export const listen = (port: number, host = "127.0.0.1"): Effect.Effect<Listener, ListenError, IoUring | Scope.Scope> =>
  Effect.gen(function* () {
    const io = yield* IoUring
    const listener = yield* Effect.acquireRelease(
      io.listen({ host, port }).pipe(Effect.mapError((error) => listenError(host, port, error))),
      // Runs after the fibers that served connections were interrupted (their scope is inner).
      (l) => Effect.sync(() => closeSync(l.fd)),
    )
    const address = listener.localAddress as { address: string; port: number }
    return {
      host: address.address,
      port: address.port,
      accept: Effect.map(io.accept(listener), connection),
    }
  })

/** Connects to `host:port`; the socket is closed when the scope closes. */
export const connect = (
  port: number,
  host = "127.0.0.1",
): Effect.Effect<Connection, IoUringError, IoUring | Scope.Scope> =>
  Effect.gen(function* () {
    const io = yield* IoUring
    const c = yield* Effect.acquireRelease(
      io.connect({ host, port }, { noDelay: true }).pipe(Effect.map(connection)),
      (c) => c.close,
    )
    return c
  })
