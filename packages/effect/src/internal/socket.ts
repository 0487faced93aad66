/**
 * effect/socket's `Socket` over one connection of NetOps: the scoped reader (acquiring it opens the
 * connection; `pull` is one recv on the ring), the scoped writer (sends on the ring, which complete
 * only when the kernel took every byte: that is the backpressure), and the connection's lifetime.
 *
 * Lifetime: a connection's fd is closed (closeFd) once it was asked to close (the reader's scope
 * for a client, the handler's end for a server connection) and no recv, send or shutdown on it is
 * pending, so the fd is never closed under an operation in the kernel (and never reused while one
 * is). A recv blocked when the reader or the connection is closed from this side is woken by a
 * shutdown(2) of the read side (it returns 0, and the pull fails with the reason of the close), so no
 * pull needs a second fiber to watch for the close.
 *
 * Behaviour as NodeSocket (effect 4.1): pull fails with SocketCloseError 1000 after the peer's end
 * of stream, with SocketReadError on a read error (ECONNRESET), and with SocketCloseError 1006 once
 * the reader's scope closed (a pull blocked in another fiber included); writes wait until the
 * reader opened the connection; a CloseEvent closes the connection; releasing the writer half-closes; upgrade
 * fails with SocketUpgradeError, since there is no TLS on the ring.
 */
import { Effect, Latch, Scope } from "effect"
import * as Socket from "effect/socket/Socket"
import type { Data } from "../IoUring.ts"
import { type IoUringError, toSocketError } from "../IoUringError.ts"
import type { Connection, NetOps } from "./netOps.ts"

/** One connection and the operations pending on it. */
export class Live {
  /** recv/send/shutdown calls on the fd not yet ended. */
  private pending = 0
  /** recv calls not yet ended (counted in `pending` too). */
  private receiving = 0
  private closeAsked = false
  private closed = false
  private writeEnded = false
  private readShut = false

  readonly ops: NetOps
  readonly connection: Connection

  constructor(ops: NetOps, connection: Connection) {
    this.ops = ops
    this.connection = connection
  }

  /** Counts `effect` (an operation on the fd) as pending: the fd stays open until it ends. */
  private track<A, E>(effect: Effect.Effect<A, E>, receive: boolean): Effect.Effect<A, E> {
    this.pending++
    if (receive) this.receiving++
    return Effect.ensuring(
      effect,
      Effect.suspend(() => {
        this.pending--
        if (receive) this.receiving--
        return this.closeIfIdle()
      }),
    )
  }

  /** A send on the fd; "closed" once the connection was asked to close. */
  send(data: Data): Effect.Effect<void, IoUringError | "closed"> {
    return Effect.suspend(
      (): Effect.Effect<void, IoUringError | "closed"> =>
        this.closeAsked ? Effect.fail("closed" as const) : this.track(this.ops.send(this.connection, data), false),
    )
  }

  /** A recv on the fd; "closed" once the connection or the reader was closed from this side. */
  recv(buffer: Uint8Array): Effect.Effect<number, IoUringError | "closed"> {
    return Effect.suspend(
      (): Effect.Effect<number, IoUringError | "closed"> =>
        this.closeAsked || this.readEnd !== undefined
          ? Effect.fail("closed" as const)
          : this.track(this.ops.recv(this.connection, buffer), true),
    )
  }

  private closeIfIdle(): Effect.Effect<void> {
    if (!this.closeAsked || this.closed || this.pending > 0) return Effect.void
    this.closed = true
    return this.ops.close(this.connection)
  }

  /**
   * Ends a recv blocked on the fd: shutdown(2) of the read side, after which it returns 0 (the
   * reader reports `readEnd`). Nothing when no recv is pending, so closing an idle connection costs
   * only its close.
   */
  private wakeReceivers(): Effect.Effect<void> {
    if (this.receiving === 0 || this.readShut || this.closed) return Effect.void
    this.readShut = true
    return this.track(this.ops.shutdownRead(this.connection), false)
  }

  /** Closes the fd now or, once a blocked recv was woken and every pending operation ended, then. */
  requestClose(): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.closeAsked = true
      return Effect.andThen(this.wakeReceivers(), this.closeIfIdle())
    })
  }

  /** Why the reader ends, once the connection was closed from this side (CloseEvent, the reader's scope). */
  readEnd: Socket.SocketError | undefined

  /** The reader's scope closed: pending and later pulls fail with `readEnd` (1006 unless already set). */
  closeReader(): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.readEnd ??= closeError(1006)
      return this.wakeReceivers()
    })
  }

  /** Closes the connection from this side: pending and later pulls fail with `reason`. */
  closeWith(reason: Socket.SocketError): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.readEnd ??= reason
      return this.requestClose()
    })
  }

  /** shutdown(2) of the write side, once. */
  endWrite(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.writeEnded || this.closeAsked) return Effect.void
      this.writeEnded = true
      return this.track(this.ops.shutdownWrite(this.connection), false)
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
      let ended: Socket.SocketError | undefined
      const buffer = new Uint8Array(chunkSize)
      let busy = false
      const receive = (target: Uint8Array) =>
        live.recv(target).pipe(
          Effect.flatMap((n): Effect.Effect<readonly [Uint8Array], Socket.SocketError> => {
            // A recv woken by this side's shutdown(2) of reading ends with readEnd.
            if (live.readEnd !== undefined && n === 0) return Effect.fail(live.readEnd)
            if (n === 0) {
              ended = closeError(1000)
              return Effect.fail(ended)
            }
            return Effect.succeed([target.slice(0, n)] as const)
          }),
          Effect.catch((error: IoUringError | "closed" | Socket.SocketError) => {
            if (error === "closed") return Effect.fail(live.readEnd ?? closeError(1006))
            if (Socket.isSocketError(error)) return Effect.fail(error)
            if (live.readEnd !== undefined) return Effect.fail(live.readEnd)
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
          .send(data)
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
