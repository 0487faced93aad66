/**
 * effect/socket's `Socket` over one connection of NetOps: the scoped reader (acquiring it opens the
 * connection; `pull` is one recv on the ring), the scoped writer (sends on the ring, which complete
 * only when the kernel took every byte: that is the backpressure), and the connection's lifetime.
 *
 * Lifetime: a connection's fd is closed once it was asked to close (the reader's scope for a
 * client, the handler's end for a server connection) and no recv or send on it is pending, so
 * the fd is never closed under an operation in the kernel (and never reused while one is).
 *
 * Behaviour as NodeSocket (effect 4.1): pull fails with SocketCloseError 1000 after the peer's end
 * of stream, with SocketReadError on a read error (ECONNRESET), and with SocketCloseError 1006 once
 * the reader's scope closed (a pull blocked in another fiber included); writes wait until the
 * reader opened the connection; a CloseEvent closes the connection; releasing the writer half-closes; upgrade
 * fails with SocketUpgradeError, since there is no TLS on the ring.
 */
import { Deferred, Effect, Exit, Latch, Scope } from "effect"
import * as Socket from "effect/socket/Socket"
import { type IoUringError, toSocketError } from "../IoUringError.ts"
import type { Connection, NetOps } from "./netOps.ts"

/** One connection and the operations pending on it. */
export class Live {
  /** recv/send calls not yet ended. */
  private pending = 0
  private closeAsked = false
  private closed = false
  private writeEnded = false
  /** Completed when the connection is closed from this side: blocked pulls end with `readEnd`. */
  readonly readerClosed = Deferred.makeUnsafe<never, Socket.SocketError>()

  readonly ops: NetOps
  readonly connection: Connection

  constructor(ops: NetOps, connection: Connection) {
    this.ops = ops
    this.connection = connection
  }

  /** Runs a recv or send on the fd; the fd stays open until it ends. */
  use<A>(effect: Effect.Effect<A, IoUringError>): Effect.Effect<A, IoUringError | "closed"> {
    return Effect.suspend((): Effect.Effect<A, IoUringError | "closed"> => {
      if (this.closeAsked) return Effect.fail("closed" as const)
      this.pending++
      return Effect.ensuring(
        effect,
        Effect.suspend(() => {
          this.pending--
          return this.closeIfIdle()
        }),
      )
    })
  }

  private closeIfIdle(): Effect.Effect<void> {
    if (!this.closeAsked || this.closed || this.pending > 0) return Effect.void
    this.closed = true
    return this.ops.close(this.connection)
  }

  /** Closes the fd now or, if operations are pending, when the last one ends. */
  requestClose(): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.closeAsked = true
      return this.closeIfIdle()
    })
  }

  /** Why the reader ends, once the connection was closed from this side (CloseEvent, the reader's scope). */
  readEnd: Socket.SocketError | undefined

  /** Closes the connection from this side: pending and later pulls fail with `reason`. */
  closeWith(reason: Socket.SocketError): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.readEnd ??= reason
      Deferred.doneUnsafe(this.readerClosed, Exit.fail(this.readEnd))
      return this.requestClose()
    })
  }

  /** shutdown(2) of the write side, once. */
  endWrite(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.writeEnded || this.closeAsked) return Effect.void
      this.writeEnded = true
      return this.ops.shutdownWrite(this.connection)
    })
  }

  get writable(): boolean {
    return !this.writeEnded && !this.closeAsked
  }
}

const closeError = (code: number) => new Socket.SocketError({ reason: new Socket.SocketCloseError({ code }) })

const writeClosed = () =>
  new Socket.SocketError({ reason: new Socket.SocketWriteError({ cause: new Error("socket closed") }) })

const noUpgrade: Socket.Reader["upgrade"] = () =>
  Effect.fail(
    new Socket.SocketError({
      reason: new Socket.SocketUpgradeError({
        cause: new Error("TLS upgrade is not available on io_uring sockets; use @effect/platform-node's NodeSocket"),
      }),
    }),
  )

const DEFAULT_CHUNK_SIZE = 65536

export interface Options {
  /** Bytes one pull receives at most; default 64 KiB. */
  readonly chunkSize?: number | undefined
}

const encoder = new TextEncoder()
const bytesOf = (chunk: Uint8Array | string): Uint8Array => (typeof chunk === "string" ? encoder.encode(chunk) : chunk)

/**
 * A Socket whose reader runs `open` in its scope. `open` yields the connection, already ready for
 * I/O; its release (if any) should `requestClose`.
 */
export const fromLive = (
  open: Effect.Effect<Live, Socket.SocketError, Scope.Scope>,
  options?: Options,
): Effect.Effect<Socket.Socket> =>
  Effect.sync(() => {
    const chunkSize =
      options?.chunkSize !== undefined && Number.isSafeInteger(options.chunkSize) && options.chunkSize > 0
        ? options.chunkSize
        : DEFAULT_CHUNK_SIZE
    let current: Live | undefined
    const opened = Latch.makeUnsafe(false)

    const reader = Effect.gen(function* () {
      const scope = yield* Effect.scope
      const live = yield* Scope.provide(open, scope)
      yield* Scope.addFinalizer(
        scope,
        Effect.sync(() => {
          live.readEnd ??= closeError(1006)
          Deferred.doneUnsafe(live.readerClosed, Exit.fail(live.readEnd))
          opened.closeUnsafe()
          current = undefined
        }),
      )
      current = live
      opened.openUnsafe()
      let ended: Socket.SocketError | undefined
      const buffer = new Uint8Array(chunkSize)
      let busy = false
      const receive = (target: Uint8Array) =>
        live.use(live.ops.recv(live.connection, target)).pipe(
          Effect.raceFirst(Deferred.await(live.readerClosed)),
          Effect.flatMap((n): Effect.Effect<readonly [Uint8Array], Socket.SocketError> => {
            if (n === 0) {
              ended = closeError(1000)
              return Effect.fail(ended)
            }
            return Effect.succeed([target.slice(0, n)] as const)
          }),
          Effect.catch((error: IoUringError | "closed" | Socket.SocketError) => {
            if (error === "closed") return Effect.fail(live.readEnd ?? closeError(1006))
            if (Socket.isSocketError(error)) return Effect.fail(error)
            ended = toSocketError(error, "Read")
            return Effect.fail(ended)
          }),
        )
      const pull = Effect.suspend(() => {
        if (ended !== undefined) return Effect.fail(ended)
        if (live.readEnd !== undefined) return Effect.fail(live.readEnd)
        // Two pulls at once (not a contract use) each get a buffer of their own.
        if (busy) return receive(new Uint8Array(chunkSize))
        busy = true
        return Effect.ensuring(
          receive(buffer),
          Effect.sync(() => {
            busy = false
          }),
        )
      })
      return { pull, upgrade: noUpgrade } satisfies Socket.Reader<Uint8Array>
    })

    const send = (data: Uint8Array | ReadonlyArray<Uint8Array>): Effect.Effect<void, Socket.SocketError> =>
      Effect.suspend(() => {
        const live = current
        if (live === undefined) return opened.whenOpen(send(data))
        if (!live.writable) return Effect.fail(writeClosed())
        return live
          .use(live.ops.send(live.connection, data))
          .pipe(Effect.mapError((error) => (error === "closed" ? writeClosed() : toSocketError(error, "Write"))))
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
