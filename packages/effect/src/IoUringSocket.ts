/**
 * IoUringSocket: effect/socket's `Socket` for a TCP or Unix-socket client whose bytes move on the
 * ring, as @effect/platform-node's `NodeSocket.makeNet`/`layerNet` (effect 4.1) behave.
 *
 * ```ts
 * const socket = yield* IoUringSocket.makeNet({ host: "127.0.0.1", port: 8080 })
 * const { pull } = yield* socket.reader   // connects; scoped
 * const { write } = yield* socket.writer  // writes wait for the connection; releasing it half-closes
 * ```
 *
 * - Acquiring the reader connects (failing with SocketOpenError, kind `Timeout` after
 *   `openTimeout`); its scope closes the connection once no receive or send on it is pending.
 * - `pull` returns the chunks received since the last pull (at most `chunkSize`, default 4096, as
 *   NodeSocket), or waits for the next: the connection receives with one multishot receive on the
 *   Driver's provided buffers, armed by the first pull, stopped (cancelled in the kernel) when
 *   `highWaterMark` bytes (default 64 KiB) wait unpulled and re-armed by the next pull, so a slow
 *   consumer holds the peer back instead of growing memory. After the peer's end of stream it fails
 *   with SocketCloseError 1000, after a reset with SocketReadError (cause: the IoUringError, code
 *   `ECONNRESET`), each after the chunks received before it.
 * - `write`/`writeAll` send on the ring and complete when the kernel has taken every byte
 *   (`writeAll` is one vectored send). Releasing the writer half-closes once the sends in flight
 *   ended (the peer reads every byte, then end of stream); a `CloseEvent` closes the connection,
 *   cancelling the sends in flight (their writes fail with SocketWriteError), as NodeSocket's
 *   (with code 1000 the pulls still take what was received, then fail with SocketCloseError 1000).
 * - `upgrade` fails with SocketUpgradeError: there is no TLS on the ring.
 *
 * Every step (connect, receive, send, shutdown, close) is a request on the ring: `internal/netOps.ts`,
 * listed in the package README (a send, over the ring's own service, is submitted straight to its
 * Driver by `internal/socket.ts`, in one Effect).
 *
 * @since 0.0.0
 */
import { type Duration, Effect, Layer } from "effect"
import * as Socket from "effect/socket/Socket"
import { IoUring } from "./IoUring.ts"
import { toSocketError } from "./IoUringError.ts"
import * as NetOps from "./internal/netOps.ts"
import * as Ring from "./internal/ring.ts"
import { fromLive } from "./internal/liveSocket.ts"
import * as Live from "./internal/socket.ts"

/**
 * Where to connect, and how.
 *
 * @since 0.0.0
 */
export type NetOptions = NetOps.ConnectOptions & {
  /** How long connecting may take; SocketOpenError kind `Timeout` after. */
  readonly openTimeout?: Duration.Input | undefined
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
 * A Socket that connects when its reader is acquired (as `NodeSocket.makeNet`).
 *
 * @since 0.0.0
 */
export const makeNet = (options: NetOptions): Effect.Effect<Socket.Socket, never, IoUring> =>
  Effect.flatMap(Effect.service(IoUring), (io) => {
    const ops = NetOps.make(io)
    const raw = Ring.rawOf(io)
    const connect = ops.connect(options).pipe(Effect.mapError((error) => toSocketError(error, "Open")))
    const connecting =
      options.openTimeout === undefined
        ? connect
        : connect.pipe(
            Effect.timeoutOrElse({
              duration: options.openTimeout,
              orElse: () =>
                Effect.fail(
                  new Socket.SocketError({
                    reason: new Socket.SocketOpenError({ kind: "Timeout", cause: new Error("Connection timed out") }),
                  }),
                ),
            }),
          )
    // The connect itself can be interrupted (a timeout, the reader's scope): it is cancelled in the
    // kernel, and an fd it made meanwhile is closed by the ring. Once it connected, the close is
    // registered before anything can interrupt.
    const open = Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(restore(connecting), (connection) => {
        const live = new Live.Live(ops, connection, options, raw, Ring.lingeringOf(io))
        live.startReceiving()
        return Effect.as(
          Effect.addFinalizer(() => live.requestClose()),
          live,
        )
      }),
    )
    return fromLive(open)
  })

/**
 * `makeNet` as a Layer of `Socket`.
 *
 * @since 0.0.0
 */
export const layerNet = (options: NetOptions): Layer.Layer<Socket.Socket, never, IoUring> =>
  Layer.effect(Socket.Socket, makeNet(options))
