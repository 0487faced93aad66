/**
 * One connection of NetOps as effect/socket's `Socket` needs it (`Live`; liveSocket.ts makes the
 * Socket over it): what its reader's `pull` takes (what the connection's multishot receive has
 * buffered), its writes (sends on the ring, which complete only when the kernel took every byte:
 * that is the backpressure), and the connection's lifetime.
 *
 * Receiving: one multishot receive on the Driver's provided buffers, armed as soon as the connection
 * is open (startReceiving: as node:net reads before anyone asks): over the ring's own service,
 * straight on its Driver (its handle is what stops it); over another service, NetOps.recvMany in a
 * fiber of its own (stopped by interrupting the fiber). Each chunk it delivers (a copy) is queued
 * here; a pull takes every queued chunk at once (at most `chunkSize`), or waits. The multishot has
 * no flow control of its own, so the queue is bounded here: at `highWaterMark` bytes not pulled,
 * the receive is cancelled in the kernel (the socket's buffer fills, TCP holds the peer back), and
 * the next pull re-arms it once it took the queue. A blocked pull that is interrupted cancels the
 * receive in the kernel too (and waits for it to end); chunks delivered meanwhile stay queued for
 * the next pull, so nothing is lost. Over the Driver, a receive that ended on its own while its
 * stop was on the way (a reset, end of stream: reported once by the kernel) keeps that ending.
 *
 * Sending: one send is in the kernel at a time, in the order the writes came (two sends in
 * flight on one socket could interleave their bytes); later writes queue here. The shutdown of the
 * write side that releasing the writer makes goes once the sends ended, so the peer gets every
 * byte written before its end of stream (the release itself does not wait). An interrupted write
 * stops waiting at once; its bytes are still sent in their place, as node:net keeps what was
 * written (dropping them would cut bytes out of the middle of the stream). A send's kernel error
 * fails the pulls too, as node:net destroys the socket on it.
 *
 * Lifetime: a connection's fd is closed (closeFd) once it was asked to close and no receive, send
 * or shutdown on it is pending, so the fd is never closed under an operation in the kernel (and
 * never reused while one is). Asked by the reader's scope (a client) or the handler's end (a
 * server connection), as node:net's destroySoon: the sends go on and the receive drains the socket
 * until they ended (requestClose); by a CloseEvent, as node:net's destroy: the receive and the
 * send in flight are cancelled, whose write fails with SocketWriteError, as do the queued ones.
 * Either way the pulls waiting fail at once.
 *
 * Behaviour as NodeSocket (effect 4.1): pull fails with SocketCloseError 1000 after the peer's end
 * of stream, with SocketReadError on a read error (ECONNRESET), both after the chunks received
 * before it, and with SocketCloseError 1006 once the reader's scope closed (a pull blocked in
 * another fiber included); after the peer's end of stream the connection stays half-open until this
 * side ends its writes (see the README's differences); writes wait until the reader opened
 * the connection; a CloseEvent closes the connection (with code 1000 the pulls still take what was
 * received, then fail with SocketCloseError 1000, as after node:net's destroy() without an error);
 * releasing the writer half-closes; upgrade fails with SocketUpgradeError, since there is no TLS
 * on the ring (the writer's side and upgrade are liveSocket.ts's).
 */
import type { RequestHandle } from "@iou/core"
import { Cause, Effect, Exit, Fiber } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import * as Socket from "effect/socket/Socket"
import type { Data } from "../IoUring.ts"
import { IoUringError, toSocketError } from "../IoUringError.ts"
import * as Errors from "./errors.ts"
import { closeError, writeClosed } from "./socketErrors.ts"
import { type Connection, MULTISHOT_REFUSED, type NetOps } from "./netOps.ts"
import type { Lingering, Raw } from "./ring.ts"
import { limitsOf, type Options } from "./socketOptions.ts"

type Batch = NonEmptyReadonlyArray<Uint8Array>
type Resume = (effect: Effect.Effect<Batch, Socket.SocketError>) => void

/** One connection and the operations pending on it. */
export class Live {
  /** Operations on the fd not yet ended: sends, shutdowns and the armed receive. */
  private pending = 0
  private closeAsked = false
  /** A CloseEvent closed the connection: sends in flight were cancelled, queued writes fail. */
  private cutOff = false
  /**
   * Asked to close while sends were still to go: the receive goes on until they ended, its chunks
   * dropped, so that close(2) finds no unread bytes (see requestClose).
   */
  private discarding = false
  private closed = false
  private writeEnded = false

  /** Chunks received and not yet pulled, from `head` on, and their bytes. */
  private queue: Array<Uint8Array> = []
  private head = 0
  private queued = 0
  /** The armed multishot receive: its fiber (over a service), or its Driver handle (raw); neither when none is armed. */
  private receiver: Fiber.Fiber<void, IoUringError> | undefined
  private rawReceive: RequestHandle | undefined
  /** stopReceiving's waits for the raw receive's end (each resumed with what the end runs). */
  private rawStops: Array<(effect: Effect.Effect<void>) => void> = []
  /** The kernel refused the multishot receive on this connection: the service's fallback (one-shot receives) from now on. */
  private multishotRefused = false
  /** The sends submitted and not ended: their Driver handles (raw sends) or fibers, for a CloseEvent to cancel. */
  private readonly sendHandles = new Set<RequestHandle>()
  private readonly sendFibers = new Set<Fiber.Fiber<void, IoUringError>>()
  /** Writes waiting for the send in flight to end, in order: each starts its own send. */
  private readonly sendQueue: Array<() => void> = []
  /** sendEnded is starting queued writes (see there). */
  private draining = false
  /** Waits for the last send in flight to end (endWrite). */
  private sendsIdle: Array<() => void> = []
  /**
   * How the receive ended for good (end of stream, an error, or a CloseEvent without one): pulls
   * fail so once the queue is empty.
   */
  private received: Socket.SocketError | undefined
  /** Pulls waiting for a chunk, first come first served. */
  private waiters: Array<Resume> = []

  readonly ops: NetOps
  readonly connection: Connection
  /** The Driver under the ring's own service (sends as one Effect); undefined over another service. */
  private readonly raw: Raw | undefined
  private readonly highWaterMark: number
  private readonly maxChunks: number
  private readonly onChunk = (chunk: Uint8Array): void => this.chunk(chunk)
  /** The ring's connections finishing their sends after their close (see requestClose). */
  private readonly lingering: Lingering | undefined
  /** This connection's entry there: cuts it off as a CloseEvent would. */
  private readonly cutOffFn = (): void => {
    Effect.runFork(this.closeWith(closeError(1000)))
  }

  constructor(ops: NetOps, connection: Connection, options?: Options, raw?: Raw, lingering?: Lingering) {
    this.ops = ops
    this.connection = connection
    this.raw = raw
    this.lingering = lingering
    const limits = limitsOf(options)
    this.highWaterMark = limits.highWaterMark
    this.maxChunks = limits.maxChunks
  }

  /** Counts `effect` (an operation on the fd) as pending: the fd stays open until it ends. */
  private track<A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> {
    this.pending++
    return Effect.ensuring(
      effect,
      Effect.suspend(() => {
        this.pending--
        return this.closeIfIdle()
      }),
    )
  }

  /**
   * A send of all of `data` on the fd, as the writer reports it: SocketWriteError once the
   * connection was asked to close, the send's failure as `toSocketError` maps it. Sends go to the
   * kernel one at a time, in the order written (see Sending, above).
   */
  send(data: Data): Effect.Effect<void, Socket.SocketError> {
    return Effect.callback<void, Socket.SocketError>((resume) => {
      if (this.closeAsked) return resume(Exit.fail(writeClosed()))
      // queued: waiting for the sends before it; sending: in the kernel; ended: its outcome is
      // known. detached: the caller was interrupted and went on; the write is still sent, in its
      // place (as node:net keeps what was written), and its outcome goes nowhere.
      let state: "queued" | "sending" | "ended" = "queued"
      let detached = false
      const ended = (outcome: Exit.Exit<void, Socket.SocketError>, close: Effect.Effect<void>): void => {
        state = "ended"
        if (!detached) return resume(close === Effect.void ? outcome : Effect.andThen(close, outcome))
        if (close !== Effect.void) Effect.runFork(close)
      }
      const start = (): void => {
        if (this.cutOff) {
          // the drain that started it goes on to the next
          return ended(Exit.fail(writeClosed()), Effect.void)
        }
        state = "sending"
        if (this.raw !== undefined) this.sendRaw(this.raw, data, ended)
        else this.sendFiber(data, ended)
      }
      if (this.sending() || this.sendQueue.length > 0) this.sendQueue.push(start)
      else start()
      return Effect.sync(() => {
        if (state !== "ended") detached = true
      })
    })
  }

  /**
   * A send over the service, in a fiber of its own (which a CloseEvent interrupts, cancelling it in
   * the kernel); `ended` gets its outcome and the close due once it ended (if any).
   */
  private sendFiber(
    data: Data,
    ended: (outcome: Exit.Exit<void, Socket.SocketError>, close: Effect.Effect<void>) => void,
  ): void {
    const fiber = Effect.runFork(this.ops.send(this.connection, data))
    this.pending++
    this.sendFibers.add(fiber)
    fiber.addObserver((exit) => {
      this.sendFibers.delete(fiber)
      this.pending--
      this.sendEnded()
      ended(
        Exit.isSuccess(exit)
          ? Exit.void
          : Cause.hasInterruptsOnly(exit.cause) && this.closeAsked
            ? Exit.fail(writeClosed())
            : Exit.mapError(exit, (error) => this.writeFailure(error)),
        this.closeIfIdle(),
      )
    })
  }

  /**
   * A send's kernel error as the writer reports it. As node:net destroys the socket on a write
   * error, it ends the reads at once too (SocketReadError), dropping what was not pulled, unless the
   * receive failed first or ended with all pulled (node:net's end came first), or a CloseEvent
   * closed the connection first (its pulls end as it says): the kernel reports a reset once, to
   * whichever call meets it first. Not a refusal (a closed ring, EINVAL).
   */
  private writeFailure(error: IoUringError): Socket.SocketError {
    const r = this.received
    const over = r !== undefined && (r.reason._tag !== "SocketCloseError" || this.head === this.queue.length)
    if (error.reason._tag === "SystemError" && error.code !== "EINVAL" && !over && !this.cutOff)
      this.endReads(toSocketError(error, "Read"))
    return toSocketError(error, "Write")
  }

  /**
   * A send straight on the Driver (the ring's own service): what the service's send does, in plain
   * JS. It counts as pending from its submission to its callback; `ended` gets its outcome and the
   * close due once it ended (if any).
   */
  private sendRaw(
    { driver }: Raw,
    data: Data,
    ended: (outcome: Exit.Exit<void, Socket.SocketError>, close: Effect.Effect<void>) => void,
  ): void {
    const fd = this.connection.fd
    let handle: RequestHandle = 0
    let settled = false
    const end = (outcome: Exit.Exit<void, Socket.SocketError>): void => {
      settled = true
      this.sendHandles.delete(handle)
      this.pending--
      this.sendEnded()
      ended(outcome, this.closeIfIdle())
    }
    this.pending++
    try {
      handle = driver.submitSend(fd, data, 0, (error) =>
        // A send a CloseEvent cancelled fails as a write on a closed socket (as NodeSocket's).
        end(
          error === null
            ? Exit.void
            : this.closeAsked && (error as { reason?: unknown }).reason === "Cancelled"
              ? Exit.fail(writeClosed())
              : this.sendFailure(error),
        ),
      )
    } catch (error) {
      // Refused before the loop (a closed Driver, an argument the Driver refuses).
      return end(this.sendFailure(error))
    }
    if (!settled) this.sendHandles.add(handle)
  }

  /** A send's failure reported by the Driver (the service's send, classified), as writeFailure reports it. */
  private sendFailure(error: unknown): Exit.Exit<never, Socket.SocketError> {
    const classified = Errors.classify(error, "send", this.connection.fd, "send")
    return classified instanceof IoUringError ? Exit.fail(this.writeFailure(classified)) : Exit.failCause(classified)
  }

  /** The reader's pull: the queued chunks, or the next ones to arrive. */
  readonly pull: Effect.Effect<Batch, Socket.SocketError> = Effect.callback<Batch, Socket.SocketError>((resume) => {
    const now = this.ready()
    if (now !== undefined) {
      this.arm() // the queue was taken: receive again while the caller works on it
      return resume(now)
    }
    this.waiters.push(resume)
    this.arm()
    // Interrupted while waiting: no pull is left to take what arrives, so the receive is cancelled
    // in the kernel (what it delivers meanwhile stays queued for the next pull).
    return Effect.suspend(() => {
      const at = this.waiters.indexOf(resume)
      if (at < 0) return Effect.void
      this.waiters.splice(at, 1)
      return this.waiters.length === 0 ? this.stopReceiving() : Effect.void
    })
  })

  /** What a pull returns now: an error from this side, the queue, how the receive ended; else undefined (wait). */
  private ready(): Effect.Effect<Batch, Socket.SocketError> | undefined {
    if (this.readEnd !== undefined) return Effect.fail(this.readEnd)
    if (this.head < this.queue.length) return Effect.succeed(this.take())
    if (this.received !== undefined) return Effect.fail(this.received)
    if (this.closeAsked) return Effect.fail(closeError(1006))
    return undefined
  }

  /** Takes up to maxChunks queued chunks (at least one is queued). */
  private take(): Batch {
    const end = Math.min(this.queue.length, this.head + this.maxChunks)
    let batch: Array<Uint8Array>
    if (this.head === 0 && end === this.queue.length) {
      batch = this.queue
      this.queue = []
    } else {
      batch = this.queue.slice(this.head, end)
      this.head = end
      if (this.head === this.queue.length) {
        this.queue = []
        this.head = 0
      }
    }
    for (const chunk of batch) this.queued -= chunk.byteLength
    return batch as unknown as Batch
  }

  /** A chunk from the multishot receive. */
  private chunk(chunk: Uint8Array): void {
    if (this.discarding || this.cutOff) return // closing: nobody will pull it
    this.queue.push(chunk)
    this.queued += chunk.byteLength
    const resume = this.waiters.shift()
    if (resume !== undefined) return resume(Effect.succeed(this.take()))
    // Nobody pulls: past the high-water mark, stop taking bytes from the kernel.
    if (this.queued >= this.highWaterMark) {
      if (this.rawReceive !== undefined) this.cancelRaw(this.rawReceive)
      else this.receiver?.interruptUnsafe()
    }
  }

  /** Whether a send is in flight. */
  private sending(): boolean {
    return this.sendHandles.size > 0 || this.sendFibers.size > 0
  }

  /**
   * A send ended (its handle or fiber already dropped): the next queued one starts; once none is in
   * flight or queued, endWrite's waits go on.
   */
  private sendEnded(): void {
    // A loop, not a recursion: queued writes that end at once (the connection is closing, the
    // Driver refuses them) would otherwise nest one stack frame each. A call from inside the loop
    // (a send ending synchronously) leaves the work to it.
    if (this.draining) return
    this.draining = true
    try {
      while (!this.sending()) {
        const next = this.sendQueue.shift()
        if (next === undefined) break
        next()
      }
    } finally {
      this.draining = false
    }
    if (this.sending()) return
    if (this.discarding && this.sendQueue.length === 0) {
      // Closing, and the last send ended: the draining receive stops; its end closes the fd.
      this.discarding = false
      this.lingering?.delete(this.cutOffFn)
      if (this.rawReceive !== undefined) this.cancelRaw(this.rawReceive)
      else this.receiver?.interruptUnsafe()
    }
    if (this.sendsIdle.length === 0) return
    const idle = this.sendsIdle
    this.sendsIdle = []
    for (const go of idle) go()
  }

  /** Cancels a request of this connection on the Driver (its callback still runs once). */
  private cancelRaw(handle: RequestHandle): void {
    try {
      this.raw!.driver.cancel(handle)
    } catch {
      // The request is ending on its own: its callback still runs once.
    }
  }

  /**
   * The connection is ready for I/O: the receive starts now, as node:net reads before anyone asks,
   * so that what the peer sends is taken from the kernel (up to the high-water mark) whether or not
   * a reader pulls it.
   */
  startReceiving(): void {
    this.arm()
  }

  /**
   * Arms the multishot receive unless one is armed or it ended for good; unless draining for a
   * close, also not once this side closed or past the high-water mark.
   */
  private arm(): void {
    if (this.receiver !== undefined || this.rawReceive !== undefined || this.received !== undefined) return
    if (!this.discarding && (this.closeAsked || this.readEnd !== undefined || this.queued >= this.highWaterMark)) return
    this.pending++
    if (this.raw !== undefined && !this.multishotRefused) return this.armRaw(this.raw)
    const fiber = Effect.runFork(
      this.ops
        .recvMany(this.connection, this.onChunk)
        .pipe(Effect.onExit((exit) => Effect.suspend(() => this.receiveEnded(exit)))),
    )
    // It may have ended already (refused before the kernel): then receiveEnded ran.
    if (fiber.pollUnsafe() === undefined) this.receiver = fiber
  }

  /**
   * The multishot receive straight on the Driver: stopped by cancelling its handle, so that an
   * ending of its own that crossed the stop (a reset, end of stream) still reaches the pulls. The
   * kernel's refusal of the multishot before any chunk (before Linux 6.0) turns this connection
   * over to the service's fallback (NetOps.recvMany in a fiber).
   */
  private armRaw({ driver }: Raw): void {
    const fd = this.connection.fd
    let delivered = false
    const onChunk = (chunk: Uint8Array): void => {
      delivered = true
      this.chunk(chunk)
    }
    let handle: RequestHandle | undefined
    let ended = false
    const end = (error: unknown): void => {
      ended = true
      this.rawReceive = undefined
      const code = (error as { code?: unknown } | null)?.code
      if (
        !delivered &&
        typeof code === "string" &&
        MULTISHOT_REFUSED.has(code) &&
        (!this.closeAsked || this.discarding)
      ) {
        this.multishotRefused = true
        this.pending--
        // Nothing was received: the fallback takes over, armed at once as the multishot was (the
        // peer's bytes are taken whether or not anyone pulls), unless a stop was asked meanwhile
        // (an interrupted pull: then where a pull or a close's drain waits for it).
        const stopped = this.rawStops.length > 0
        for (const go of this.rawStops.splice(0)) go(Effect.void)
        if (!stopped || this.waiters.length > 0 || this.discarding) this.arm()
        return
      }
      const classified = error === null ? null : Errors.classify(error, "recv", fd, "recvMany")
      const exit: Exit.Exit<void, IoUringError> =
        classified === null
          ? Exit.void
          : classified instanceof IoUringError
            ? Exit.fail(classified)
            : Exit.failCause(classified)
      const close = this.receiveEnded(exit)
      // The close (if this was the last operation of a connection asked to close) runs whether or
      // not anyone waits; a stop that waits for the end waits for it too.
      const closing = close === Effect.void ? undefined : Effect.runFork(close)
      const waited = closing === undefined ? Effect.void : Effect.asVoid(Fiber.await(closing))
      for (const go of this.rawStops.splice(0)) go(waited)
    }
    try {
      handle = driver.submitRecvMany(fd, 0, onChunk, end)
    } catch (error) {
      // Refused before the loop (a closed Driver): ended.
      return end(error)
    }
    if (!ended) this.rawReceive = handle
  }

  /** The multishot receive ended: for good (end of stream, an error) or stopped (interrupted, cancelled). */
  private receiveEnded(exit: Exit.Exit<void, IoUringError>): Effect.Effect<void> {
    this.receiver = undefined
    this.pending--
    if (Exit.isSuccess(exit)) this.received ??= closeError(1000)
    else if (!Cause.hasInterruptsOnly(exit.cause)) {
      const error = Cause.findErrorOption(exit.cause)
      this.received ??=
        error._tag === "Some"
          ? toSocketError(error.value, "Read")
          : new Socket.SocketError({ reason: new Socket.SocketReadError({ cause: Cause.squash(exit.cause) }) })
    }
    // Pulls still waiting (the receive stopped at the high-water mark while they came, or ended).
    while (this.waiters.length > 0) {
      const now = this.ready()
      if (now === undefined) break
      this.waiters.shift()!(now)
    }
    if (this.waiters.length > 0) this.arm()
    return this.closeIfIdle()
  }

  /** Cancels the armed receive in the kernel and waits until it ended. */
  private stopReceiving(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.receiver !== undefined) return Fiber.interrupt(this.receiver)
      const handle = this.rawReceive
      if (handle === undefined) return Effect.void
      return Effect.callback<void>((resume) => {
        this.rawStops.push(resume)
        this.cancelRaw(handle)
      })
    })
  }

  /** Fails every waiting pull with what `ready` says now (an error from this side). */
  private failWaiters(): void {
    const waiters = this.waiters
    this.waiters = []
    for (const resume of waiters) resume(this.ready() ?? Effect.fail(closeError(1006)))
  }

  private closeIfIdle(): Effect.Effect<void> {
    if (!this.closeAsked || this.closed || this.pending > 0) return Effect.void
    this.closed = true
    return this.ops.close(this.connection)
  }

  /**
   * Closes the connection (the reader's scope for a client, the handler's end for a server
   * connection), as node:net's destroySoon: pulls waiting fail at once; the sends in flight and
   * the writes queued behind them go on, in order (later writes fail with SocketWriteError); the
   * receive goes on meanwhile with its chunks dropped (`discarding`); once the last send ended
   * the receive is stopped and the fd closed. Without sends to go, at once. Returns without waiting
   * for the sends (a peer that never reads would hold the close for ever). While it lingers so, the
   * connection is in the ring's `lingering` registry, whose layer cuts it off (closeWith) before
   * it closes the ring, so the ring's close does not wait on it for a peer that does not read.
   */
  requestClose(): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.closeAsked = true
      this.failWaiters()
      if (this.cutOff || (!this.sending() && this.sendQueue.length === 0)) {
        this.discarding = false
        return Effect.andThen(this.stopReceiving(), this.closeIfIdle())
      }
      if (!this.discarding) {
        // close(2) with bytes received and never read would make the kernel reset the connection
        // and drop what it still had to send.
        this.discarding = true
        this.dropQueue()
        this.lingering?.add(this.cutOffFn)
        this.arm()
      }
      return Effect.void
    })
  }

  /** Why the reader ends: the connection closed from this side (CloseEvent, reader's scope) or a send failed. */
  readEnd: Socket.SocketError | undefined

  /** The reader's scope closed: pending and later pulls fail with `readEnd` (1006 unless already set). */
  closeReader(): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.endReads(closeError(1006))
      return this.stopReceiving()
    })
  }

  /** Pending and later pulls fail with `readEnd` (`reason` unless already set); what was not pulled is dropped. */
  private endReads(reason: Socket.SocketError): void {
    this.readEnd ??= reason
    this.dropQueue()
    this.failWaiters()
  }

  /** Drops the chunks received and not pulled. */
  private dropQueue(): void {
    this.queue = []
    this.head = 0
    this.queued = 0
  }

  /**
   * Closes the connection from this side (a CloseEvent), as node:net's destroy(): with a
   * SocketCloseError (code 1000, no error) the pulls still take what was received, then fail with
   * it; with another `reason` (a code above 1000) pending and later pulls fail with it at once.
   * Nothing is received after it. Sends in flight are cancelled in the kernel (their writes fail
   * with SocketWriteError).
   */
  closeWith(reason: Socket.SocketError): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (reason.reason._tag === "SocketCloseError") this.received ??= reason
      else this.readEnd ??= reason
      this.cutOff = true
      this.closeAsked = true
      this.discarding = false
      this.lingering?.delete(this.cutOffFn)
      this.failWaiters()
      for (const handle of this.sendHandles) this.cancelRaw(handle)
      for (const fiber of this.sendFibers) fiber.interruptUnsafe()
      return Effect.andThen(this.stopReceiving(), this.closeIfIdle())
    })
  }

  /**
   * shutdown(2) of the write side, once. With sends in flight it goes once they ended (the peer
   * gets their bytes first), and this returns at once: as NodeSocket's end(), releasing the writer
   * never waits for a peer that does not read.
   */
  endWrite(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.writeEnded || this.closeAsked) return Effect.void
      this.writeEnded = true
      if (!this.sending()) return this.track(this.ops.shutdownWrite(this.connection))
      this.sendsIdle.push(() => {
        if (!this.closeAsked) Effect.runFork(this.track(this.ops.shutdownWrite(this.connection)))
      })
      return Effect.void
    })
  }

  get writable(): boolean {
    return !this.writeEnded && !this.closeAsked
  }
}
