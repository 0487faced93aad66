/**
 * effect/socket's `Socket` over one connection (`Live`, socket.ts): the scoped reader (acquiring it
 * opens the connection; `pull` is the connection's), the scoped writer (writes wait until the
 * reader opened the connection; a CloseEvent closes it; releasing the writer half-closes), and
 * `upgrade`, which fails with SocketUpgradeError since there is no TLS on the ring.
 */
import { Effect, Latch, Scope } from "effect"
import * as Socket from "effect/socket/Socket"
import type { Live } from "./socket.ts"
import { closeError, writeClosed } from "./socketErrors.ts"

const noUpgrade: Socket.Reader["upgrade"] = () =>
  Effect.fail(
    new Socket.SocketError({
      reason: new Socket.SocketUpgradeError({
        cause: new Error("TLS upgrade is not available on io_uring sockets; use @effect/platform-node's NodeSocket"),
      }),
    }),
  )

const encoder = new TextEncoder()
const bytesOf = (chunk: Uint8Array | string): Uint8Array => (typeof chunk === "string" ? encoder.encode(chunk) : chunk)

/**
 * A Socket whose reader runs `open` in its scope. `open` yields the connection, already ready for
 * I/O; its release (if any) should `requestClose`.
 */
export const fromLive = (open: Effect.Effect<Live, Socket.SocketError, Scope.Scope>): Effect.Effect<Socket.Socket> =>
  Effect.sync(() => {
    let current: Live | undefined
    const opened = Latch.makeUnsafe(false)

    const reader = Effect.gen(function* () {
      const scope = yield* Effect.scope
      const live = yield* Scope.provide(open, scope)
      yield* Scope.addFinalizer(
        scope,
        Effect.andThen(
          Effect.sync(() => {
            opened.closeUnsafe()
            current = undefined
          }),
          live.closeReader(),
        ),
      )
      current = live
      opened.openUnsafe()
      return { pull: live.pull, upgrade: noUpgrade } satisfies Socket.Reader<Uint8Array>
    })

    const send = (data: Uint8Array | ReadonlyArray<Uint8Array>): Effect.Effect<void, Socket.SocketError> =>
      Effect.suspend(() => {
        const live = current
        if (live === undefined) return opened.whenOpen(send(data))
        if (!live.writable) return Effect.fail(writeClosed())
        return live.send(data)
      })

    const write = (chunk: Uint8Array | string | Socket.CloseEvent): Effect.Effect<void, Socket.SocketError> =>
      Socket.isCloseEvent(chunk)
        ? Effect.suspend(() => {
            const live = current
            if (live === undefined) return opened.whenOpen(write(chunk))
            // As NodeSocket: the connection is closed (the peer reads end of stream); a code above
            // 1000 is an abnormal close, which our own reader reports as a read error.
            return live.closeWith(
              chunk.code > 1000
                ? new Socket.SocketError({
                    reason: new Socket.SocketReadError({ cause: new Error(`closed with code ${chunk.code}`) }),
                  })
                : closeError(1000),
            )
          })
        : send(bytesOf(chunk))

    const writeAll = (chunks: ReadonlyArray<Uint8Array | string>): Effect.Effect<void, Socket.SocketError> =>
      send(chunks.length === 1 ? bytesOf(chunks[0]!) : chunks.map(bytesOf))

    const writer = Effect.acquireRelease(Effect.succeed({ write, writeAll } satisfies Socket.Writer), () =>
      Effect.suspend(() => (current === undefined ? Effect.void : current.endWrite())),
    )

    return Socket.make({ reader, writer })
  })
