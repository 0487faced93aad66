/**
 * IoUringSocketServer: effect/socket's `SocketServer` for TCP or Unix sockets whose connections
 * move their bytes on the ring, as @effect/platform-node's `NodeSocketServer.make`/`layer`
 * (effect 4.1) behave.
 *
 * ```ts
 * const server = yield* IoUringSocketServer.make({ port: 0 })
 * yield* server.run((socket) => Effect.scoped(echo(socket))).pipe(Effect.forkScoped)
 * ```
 *
 * - `make` listens in the current scope (host omitted: every interface; backlog 511, as node:net)
 *   and fails with SocketServerOpenError (cause: the IoUringError, `EADDRINUSE`, …). Closing the
 *   scope stops listening and closes the connections not yet handed to a handler.
 * - `noDelay` and `keepAlive` (TCP) are set on the listener, and every accepted connection inherits
 *   TCP_NODELAY and SO_KEEPALIVE from it, as with node:net's `createServer({ noDelay, keepAlive })`;
 *   `ipv6Only` refuses IPv4 clients, as node:net's.
 * - `run(handler)` accepts connections and runs `handler` on a Socket for each in its own fiber,
 *   with `run`'s services; a handler's failure is logged, not propagated. Interrupting `run`
 *   interrupts every handler fiber it started. Each connection is closed when the handler releases
 *   its reader, as NodeSocketServer's, or else when the handler ends (once no receive or send on it
 *   is pending); connections that arrive before `run` wait for it.
 *   An accept error about one connection (ECONNABORTED, …) or about fds or memory running out for
 *   now (EMFILE, ENFILE, ENOBUFS, ENOMEM: after a 20 ms pause) does not stop `run`, as libuv's
 *   server goes on; `run` fails with SocketServerUnknownError for other errors, and at once (cause:
 *   EBADF, "the listener is closed") when the server's scope has closed.
 * - Two `run`s at once each accept, so connections alternate between them (NodeSocketServer hands
 *   every connection to the latest `run`).
 * - Each Socket behaves as IoUringSocket's (pull, write, half-close, no TLS upgrade).
 *
 * @since 0.0.0
 */
import { Context, Effect, Exit, Fiber, Layer, pipe, Result, Scope } from "effect"
import * as NetAddress from "effect/net/NetAddress"
import type * as Socket from "effect/socket/Socket"
import * as SocketServer from "effect/socket/SocketServer"
import { IoUring } from "./IoUring.ts"
import * as NetOps from "./internal/netOps.ts"
import * as Ring from "./internal/ring.ts"
import { fromLive } from "./internal/liveSocket.ts"
import * as Live from "./internal/socket.ts"

/**
 * Where to listen: `{ host?, port?, backlog?, noDelay?, keepAlive?, ipv6Only? }` (TCP; port 0 or
 * omitted: any free port; `noDelay`/`keepAlive`: TCP_NODELAY/SO_KEEPALIVE on every accepted
 * connection, as node:net's server options; `ipv6Only`: IPv4 clients refused, as node:net's) or
 * `{ path, backlog? }` (a Unix socket), and the connections' `chunkSize` and `highWaterMark`
 * (IoUringSocket's).
 *
 * @since 0.0.0
 */
export type ServerOptions = NetOps.ListenOptions & {
  /** Chunks one pull returns at most (as NodeSocket's `chunkSize`); default 4096. */
  readonly chunkSize?: number | undefined
  /**
   * Bytes received and not yet pulled at which the connection stops receiving (its multishot
   * receive is cancelled in the kernel, and TCP holds the peer back) until the next pull; default
   * 64 KiB, node:net's readable high-water mark.
   */
  readonly highWaterMark?: number | undefined
}

/**
 * accept(2) errors after which `run` accepts again: those Linux reports for one connection that
 * failed before it was accepted (accept(2): treat them as EAGAIN) at once, since each used up its
 * connection; after a pause of BACK_OFF, the process or system running out of fds or memory (the
 * connections ending free them again), and EPERM (a firewall rule) and EOPNOTSUPP, which could
 * come back on every call and must not spin.
 */
const ACCEPT_BACK_OFF: ReadonlySet<string> = new Set(["EMFILE", "ENFILE", "ENOBUFS", "ENOMEM", "EPERM", "EOPNOTSUPP"])
const ACCEPT_RETRY: ReadonlySet<string> = new Set([
  ...ACCEPT_BACK_OFF,
  "ECONNABORTED",
  "EPROTO",
  "ENETDOWN",
  "ENOPROTOOPT",
  "EHOSTDOWN",
  "ENONET",
  "EHOSTUNREACH",
  "ENETUNREACH",
])
const BACK_OFF = "20 millis"

const openError = (cause: unknown) =>
  new SocketServer.SocketServerError({ reason: new SocketServer.SocketServerOpenError({ cause }) })

const addressOf = (
  bound: NetOps.BoundAddress,
): Effect.Effect<NetAddress.SocketAddress, SocketServer.SocketServerError> => {
  if (bound._tag === "Unix") return Effect.succeed(NetAddress.unixPathAddress(bound.path))
  const inet = NetAddress.inetAddressFromIpString(bound.host, bound.port)
  return Result.isSuccess(inet) ? Effect.succeed(inet.success) : Effect.fail(openError(inet.failure))
}

/**
 * A SocketServer listening in the current scope.
 *
 * @since 0.0.0
 */
export const make = (
  options: ServerOptions,
): Effect.Effect<SocketServer.SocketServer["Service"], SocketServer.SocketServerError, IoUring | Scope.Scope> =>
  Effect.gen(function* () {
    const io = yield* Effect.service(IoUring)
    const ops = NetOps.make(io)
    const raw = Ring.rawOf(io)
    const listener = yield* Effect.acquireRelease(Effect.mapError(ops.listen(options), openError), (listener) =>
      ops.closeListener(listener),
    )
    const address = yield* addressOf(listener.address)

    const run = <R, E, _>(
      handler: (socket: Socket.Socket) => Effect.Effect<_, E, R>,
    ): Effect.Effect<never, SocketServer.SocketServerError, R> =>
      Effect.gen(function* () {
        const scope = yield* Scope.make()
        const services = Context.omit(Scope.Scope)(yield* Effect.context<R>()) as Context.Context<R>
        const track = Fiber.runIn(scope)
        const serve = (connection: NetOps.Connection) => {
          const live = new Live.Live(ops, connection, options, raw, Ring.lingeringOf(io))
          live.startReceiving()
          pipe(
            // As NodeSocketServer's: the reader's release closes the connection (node:net's
            // destroySoon), and so does the handler's end, for a handler that never took the reader.
            fromLive(
              Effect.as(
                Effect.addFinalizer(() => live.requestClose()),
                live,
              ),
            ),
            Effect.flatMap(handler),
            Effect.ignoreCause({ log: "Unhandled", message: "Unhandled error in SocketServer" }),
            Effect.ensuring(live.requestClose()),
            Effect.runForkWith(services),
            track,
          )
        }
        return yield* ops.accept(listener).pipe(
          Effect.flatMap((connection) => Effect.sync(() => serve(connection))),
          // As libuv's server: an error about one connection, or about the process's resources
          // for now, is no reason to stop serving.
          Effect.catchIf(
            (error) => ACCEPT_RETRY.has(error.code),
            (error) => (ACCEPT_BACK_OFF.has(error.code) ? Effect.sleep(BACK_OFF) : Effect.void),
          ),
          Effect.forever,
          Effect.mapError(
            (cause) =>
              new SocketServer.SocketServerError({ reason: new SocketServer.SocketServerUnknownError({ cause }) }),
          ),
          Effect.ensuring(Scope.close(scope, Exit.void)),
        )
      })

    return SocketServer.SocketServer.of({ address, run })
  })

/**
 * `make` as a Layer of `SocketServer`, listening for the layer's lifetime.
 *
 * @since 0.0.0
 */
export const layer = (
  options: ServerOptions,
): Layer.Layer<SocketServer.SocketServer, SocketServer.SocketServerError, IoUring> =>
  Layer.effect(SocketServer.SocketServer, make(options))
