/**
 * Requests: one Driver's requests from the call that makes one to its end, composed from the
 * parts that own the data (the table of them: packages/native/README.md, "The Driver's parts").
 *
 * It fills a slot of the pending table, refuses the request before the loop or admits it, settles
 * it by Promise or by callback, cancels it, closes an fd once nothing is outstanding on it
 * (closeFd), and takes the multishot requests' chunks, connections and re-arms from Delivery. The
 * operations' modules (DataOps.ts, FileOps.ts, SocketOps.ts) validate their arguments and fill the
 * slot through it; Driver.ts is the public surface over them.
 */
import { Config } from "@iou/core"
import { constants } from "node:os"
import { BackpressureQueue } from "./Backpressure.ts"
import {
  binding,
  IOU_INLINE_WAKE_RINGFD,
  IOU_OUTCOME_ERROR,
  IOU_OUTCOME_OK,
  IOU_OUTCOME_TIMEOUT,
  type NativeLoop,
} from "./binding.ts"
import * as Clock from "./Clock.ts"
import { CredentialsWatch } from "./Credentials.ts"
import { Delivery, type FdClosing, type Multishot } from "./Delivery.ts"
import * as Errors from "./IoUringError.ts"
import { accepts, BY_OP, fdOf, OPERATIONS } from "./Operations.ts"
import * as Pending from "./PendingTable.ts"
import { fallbackOps, lacksOpcode, openLoop, unsupportedOps } from "./probe.ts"
import { RecvBuffers } from "./RecvBuffers.ts"
import { Shutdown } from "./Shutdown.ts"
import * as Sockets from "./Sockets.ts"
import { Submission, THREAD_PUSHES_BEFORE_BATCHES } from "./Submission.ts"
import type * as T from "./types.ts"
import { abortReason, addAbortListener } from "./Validate.ts"
import { Wire } from "./Wire.ts"

// A Promise executor that allocates nothing: new Promise(capture) leaves its functions here.
let capturedResolve: ((value: never) => void) | undefined
let capturedReject: ((error: unknown) => void) | undefined
const capture = (resolve: (value: never) => void, reject: (error: unknown) => void): void => {
  capturedResolve = resolve
  capturedReject = reject
}

const rethrowLater = (error: unknown): never => {
  throw error
}

export const syscallOf = (op: number): Errors.IoUringError["syscall"] & string => BY_OP[op]!.syscall

/** Builds a native loop; tests substitute a simulated one. */
export type NativeFactory = (
  deliver: (count: number, final: boolean) => void,
  staging: ArrayBuffer,
  completions: ArrayBuffer,
) => NativeLoop

export class Requests implements Multishot {
  readonly config: T.EffectiveConfig
  readonly native: NativeLoop
  readonly wire: Wire
  readonly table: Pending.PendingTable
  readonly queue: BackpressureQueue
  readonly shutdown: Shutdown
  readonly delivery: Delivery
  readonly submission: Submission
  readonly recvBuffers: RecvBuffers
  readonly sockets: Sockets.Sockets
  /** readFile's callback form in progress, by handle (ReadFile.ts), for cancel. */
  readonly readFiles = new Map<number, { cancel(): boolean }>()
  /** OP_SOCKET, OP_BIND, OP_LISTEN where the kernel lacks them: the Driver makes those calls itself. */
  readonly fallbacks: ReadonlySet<string>
  /** This kernel has no IORING_OP_FTRUNCATE (before Linux 6.9): truncate uses ftruncate(2) on libuv's threadpool. */
  readonly truncateFallback = lacksOpcode("FTRUNCATE")
  /** recvMany requests the loop ended for want of buffers (or with a last chunk): re-armed after the batch. */
  private rearming: Array<number> = []
  /** The kernel took the provided buffers (Linux 5.19+); without them recvMany ends ENOBUFS. */
  private readonly recvBuffersRegistered: boolean
  /** The process's credentials differed from those at open once: every later call is refused. */
  private credentialsChanged = false
  /** When to compare the process's credentials again. */
  private readonly credentials = new CredentialsWatch()
  /**
   * A request made while others wait for room counted as its JS turn's first (see turnStart); a
   * microtask at the end of that turn clears it.
   */
  private waitingTurnSeen = false
  private readonly endWaitingTurn = (): void => {
    this.waitingTurnSeen = false
  }
  /** Operations this kernel lacks the opcode or feature of: refused with ENOSYS. */
  private readonly unsupported = unsupportedOps()

  // The binding holds its delivery function weakly while nothing is outstanding: this keeps it.
  private readonly deliverFn = (count: number, final: boolean): void => this.deliver(count, final)

  /** `ring`: the Driver's socket steps, which the multi-step socket requests (Sockets.ts) use. */
  constructor(resolved: Config.ResolvedConfig, factory: NativeFactory, ring: Sockets.Ring) {
    const table = new Pending.PendingTable(resolved.size * 2 + 16)
    this.table = table
    this.wire = new Wire(Math.max(64, resolved.size * 2))
    this.queue = new BackpressureQueue(table, (slot) => {
      this.delivery.timedOut++
      this.delivery.local(slot, Errors.fromCompletion(table.op[slot]!, table.fd[slot]!, 0, IOU_OUTCOME_TIMEOUT)!)
    })
    this.native = factory(this.deliverFn, this.wire.staging, this.wire.completions)
    this.recvBuffers = new RecvBuffers(resolved.recvBuffers.count, resolved.recvBuffers.size)
    openLoop(this.native, resolved, this.recvBuffers.pool)
    this.recvBuffersRegistered = (this.native.stats()?.recvBuffers ?? 0) > 0
    if (this.recvBuffersRegistered) this.recvBuffers.all(this.native)
    const opened = this.native.stats()!
    this.shutdown = new Shutdown(this.native, opened, {
      flush: () => this.submission.flushNow(),
      abandonQueued: () =>
        this.queue.endAll((slot) => {
          // Counted abandoned, as the loop counts those it abandons; a closeFd among them still
          // closes its fd, here with close(2) (closeUnmarked), not in the loop.
          this.delivery.abandoned++
          if (table.op[slot] === OPERATIONS.closeFd.op)
            return this.delivery.local(slot, this.closeUnmarked(table.fd[slot]!))
          this.delivery.local(slot, Errors.abandonedError(syscallOf(table.op[slot]!), this.fdOf(slot)))
        }),
      exited: () => this.queue.dispose(),
    })
    this.sockets = new Sockets.Sockets(
      ring,
      () => binding.sockets,
      (fd, enabled, path, identity) => this.closeOnExit(fd, enabled, path, identity),
      (handle) => table.markFdOf(handle),
      (fd) => void this.closeUnmarked(fd),
    )
    this.fallbacks = fallbackOps()
    this.delivery = new Delivery(
      table,
      this.shutdown,
      () => {
        if (this.shutdown.closing && !this.shutdown.destroyed) this.submission.refill()
      },
      (fd) => this.closeUnmarked(fd),
      (fd) => this.closeOnExit(fd, true),
      (i) => void this.native.closeUntaken(i),
    )
    this.delivery.multishot = this
    this.submission = new Submission(
      this.native,
      table,
      this.wire,
      this.queue,
      this.delivery,
      this.shutdown,
      resolved.engine === "inline" ? 1 : THREAD_PUSHES_BEFORE_BATCHES,
    )
    this.config = {
      ...resolved,
      singleIssuerAccepted: opened.singleIssuer,
      inlineWakeUsed:
        resolved.engine === "inline"
          ? opened.inlineWake === IOU_INLINE_WAKE_RINGFD
            ? "ringfd"
            : "eventfd"
          : undefined,
    }
  }

  // ---- Making a request ------------------------------------------------------------------------

  /** Takes a slot of the pending table for a request and fills it; promise() or callback() sends it on. */
  fill(
    op: number,
    flags: number,
    fd: number,
    data: T.Data | undefined,
    position: number | bigint,
    offset: number,
    length: number,
    deadline: number,
  ): number {
    return this.table.fill(op, flags, fd, data, position, offset, length, deadline, BY_OP[op]!.onFd)
  }

  /**
   * The request in `slot` settles a new Promise (`kind`: with its count, or with nothing). Refused
   * (ERR_IOU_CLOSED; AbortError for an aborted signal), or resolved at once when it would move no
   * bytes, without reaching the loop.
   */
  promise(slot: number, signal: AbortSignal | undefined, kind: number): Promise<never> {
    const t = this.table
    const op = t.op[slot]!
    const refusal = this.refusal(slot)
    const reason = abortReason(signal)
    const aborted = reason !== undefined
    if (refusal !== undefined || aborted || (t.length[slot] === 0 && BY_OP[op]!.movesData)) {
      const site = t.site[slot]
      const fd = this.fdOf(slot)
      t.release(slot)
      if (refusal !== undefined) return Promise.reject(refusal)
      if (aborted) {
        return Promise.reject(
          Errors.abortError(site?.syscall ?? syscallOf(op), fd, reason, site, Errors.movedBytes(op, 0)),
        )
      }
      return Promise.resolve((kind === Pending.KIND_PROMISE_NUMBER ? 0 : undefined) as never)
    }
    const promise = new Promise<never>(capture)
    t.kind[slot] = kind
    t.resolve[slot] = capturedResolve
    t.reject[slot] = capturedReject
    if (signal !== undefined) {
      const handle = t.handleOf(slot)
      const onAbort = (): void => {
        this.cancel(handle)
      }
      try {
        addAbortListener(signal, onAbort)
      } catch (error) {
        t.release(slot) // a signal that refuses the listener refuses the call: nothing was made
        throw error
      }
      t.signal[slot] = signal
      t.onAbort[slot] = onAbort
    }
    this.submission.admit(slot)
    return promise
  }

  /**
   * The request in `slot` calls `callback` when it ends; returns its handle. A refused request
   * (`refusal`) gets its error, and a request that would move no bytes succeeds with 0, both on the
   * next tick without reaching the loop (handle 0).
   */
  callback(slot: number, callback: T.Callback): T.RequestHandle {
    const t = this.table
    const refusal = this.refusal(slot)
    if (refusal !== undefined || (t.length[slot] === 0 && BY_OP[t.op[slot]!]!.movesData)) {
      return this.endAtOnce(slot, callback, refusal)
    }
    t.kind[slot] = Pending.KIND_CALLBACK
    t.resolve[slot] = callback
    this.submission.admit(slot)
    return t.handleOf(slot)
  }

  /**
   * callback()'s request that never reaches the loop (refused, or nothing to move). Apart from
   * callback() so that the per-request path stays small enough for V8 to inline.
   */
  private endAtOnce(slot: number, callback: T.Callback, refusal: Errors.IoUringError | undefined): T.RequestHandle {
    const t = this.table
    const error = refusal ?? null
    t.release(slot)
    process.nextTick(callback, error, 0)
    return 0
  }

  /**
   * A call made synchronously instead of on the ring (a fallback where the kernel lacks the
   * opcode: it does not block): `call` returns the result or -errno, delivered on the next tick as
   * a completion would be. Handle 0: there is nothing to cancel.
   */
  synchronously(op: number, fd: number | undefined, callback: T.Callback, call: () => number): T.RequestHandle {
    if (this.shutdown.closing) {
      process.nextTick(callback, Errors.closedError(syscallOf(op), fdOf(op, fd)), 0)
      return 0
    }
    const rc = call()
    if (rc >= 0 && BY_OP[op]!.producesFd) this.delivery.fdMade(rc)
    process.nextTick(callback, rc < 0 ? Errors.errnoError(rc, syscallOf(op), fdOf(op, fd)) : null, rc < 0 ? 0 : rc)
    return 0
  }

  /** See Driver.cancel. */
  cancel(handle: T.RequestHandle): boolean {
    if (typeof handle === "number" && handle < 0) {
      return this.readFiles.get(handle)?.cancel() ?? this.sockets.cancel(handle)
    }
    const t = this.table
    const slot = t.slotOf(handle)
    if (slot < 0) return false
    this.submission.handOver() // the loop must know a request before its cancel
    const state = t.state[slot]
    if (state === Pending.QUEUED) {
      this.delivery.cancelled++
      const cause = this.delivery.abortCause(slot)
      const op = t.op[slot]!
      this.delivery.local(
        slot,
        Errors.abortError(syscallOf(op), this.fdOf(slot), cause, undefined, Errors.movedBytes(op, 0)),
      )
      return true
    }
    if (state !== Pending.SUBMITTED) return false
    t.state[slot] = Pending.CANCELLING
    return this.native.cancel(slot, t.generation[slot]!) === 0
  }

  fdOf(slot: number): number | undefined {
    return fdOf(this.table.op[slot]!, this.table.fd[slot])
  }

  /**
   * Why the request in `slot` is refused before the loop, if it is, in this order: the
   * Driver is closing (ERR_IOU_CLOSED), the operation is outside the config's `operations`
   * (ERR_IOU_OPERATION_NOT_ALLOWED), the process's credentials changed (ERR_IOU_CREDENTIALS_CHANGED),
   * it acts on an fd that closeFd is closing (EBADF; the close itself excepted), or this kernel
   * lacks its opcode (ENOSYS). The credentials are compared (three syscalls) when Credentials.ts
   * says so: after any of Node's credential setters ran, and at the first request of a JS turn once
   * CHECK_INTERVAL_MS has passed (a change made by native code); once changed, every later request
   * is refused. A request that waits for room in the loop (the backpressure queue) starts no publish,
   * which is what marks a turn as started (Submission.inTurn); while requests wait, a microtask
   * marks the turn instead, so that the clock is read once per turn there too, not once per request.
   */
  private refusal(slot: number): Errors.IoUringError | undefined {
    if (!this.credentialsChanged && this.credentials.due(this.turnStart()) && this.native.credentialsChanged()) {
      this.credentialsChanged = true
    }
    const t = this.table
    const op = t.op[slot]!
    const closing = this.delivery.closingFds
    if (
      !this.shutdown.closing &&
      (this.config.operations === "all" || accepts(this.config.operations, op)) &&
      !this.credentialsChanged &&
      (closing.size === 0 || !this.onClosingFd(slot)) &&
      (this.unsupported.size === 0 || !this.unsupported.has(op))
    ) {
      return undefined
    }
    return this.refusalError(slot)
  }

  /**
   * Whether the request being made is its JS turn's first (see refusal): no publish is pending yet
   * and, while requests wait for room, none made in this turn has waited. (A turn whose first
   * request found no one waiting but the inbound queue full may count twice; never more.)
   */
  private turnStart(): boolean {
    if (this.submission.inTurn) return false
    if (this.queue.length === 0) return true
    if (this.waitingTurnSeen) return false
    this.waitingTurnSeen = true
    queueMicrotask(this.endWaitingTurn)
    return true
  }

  /**
   * Whether the request in `slot` acts on an fd that closeFd is closing and has not sent its close
   * yet (the close itself excepted; Delivery.refusesFd).
   */
  private onClosingFd(slot: number): boolean {
    const t = this.table
    const op = t.op[slot]!
    return op !== OPERATIONS.closeFd.op && BY_OP[op]!.onFd && this.delivery.refusesFd(t.fd[slot]!)
  }

  /** refusal()'s error for a request it refuses, the first reason in refusal()'s order. */
  private refusalError(slot: number): Errors.IoUringError {
    const t = this.table
    const op = t.op[slot]!
    const site = t.site[slot]
    const syscall = site?.syscall ?? syscallOf(op)
    if (this.shutdown.closing) return Errors.closedError(syscall, this.fdOf(slot), site)
    if (!accepts(this.config.operations, op)) {
      return Errors.notAllowedError(syscall, this.fdOf(slot), this.config.operations)
    }
    if (this.credentialsChanged) return Errors.credentialsChangedError(syscall, this.fdOf(slot))
    if (this.onClosingFd(slot)) return Errors.closingFdError(syscall, t.fd[slot]!, Errors.movedBytes(op, 0))
    return Errors.errnoError(-constants.errno.ENOSYS, syscall, this.fdOf(slot), site)
  }

  // ---- closeFd -----------------------------------------------------------------------------------

  /**
   * The fds marked to be closed on exit and not closed through closeFd since: the binding's set as
   * far as JavaScript changes it (the binding also drops an fd when a close of it reaches the loop).
   */
  private readonly exitFds = new Set<number>()

  /**
   * Driver.closeOnExit and the requests' marks (a Unix listener's `path` is unlinked too, while it
   * names the file `identity`, once that is known), into the binding only when the set changes. A
   * closing fd (closeFd) is not marked: its number may be handed out again.
   */
  closeOnExit(fd: number, enabled: boolean, path?: string, identity?: Sockets.FileIdentity): boolean {
    if (enabled) {
      if (this.delivery.closingFds.has(fd) || (this.exitFds.has(fd) && path === undefined)) return true
      // 0, or undefined where the binding cannot run (its thread's environment is ending): then
      // the fd is not marked (see Delivery.fromLoop).
      if (this.native.closeOnExit(fd, true, path, identity?.dev, identity?.ino) !== 0) return false
      this.exitFds.add(fd)
    } else if (this.exitFds.delete(fd)) {
      this.native.closeOnExit(fd, false)
    }
    return true
  }

  /** close(2) of fd here, unmarked in the same native call (no thread's end between the two). */
  closeUnmarked(fd: number): Errors.IoUringError | null {
    this.exitFds.delete(fd)
    const rc = this.native.closeMarked(fd)
    return rc < 0 ? Errors.errnoError(rc, "close", fd) : null
  }

  /**
   * closeFd: marks fd as closing (new requests on it are refused), cancels every request still
   * outstanding on it and counts them; when the last has ended (Delivery counts down) the close goes
   * to the ring. The table counts the requests on each fd: with none, the close goes at once; else
   * a pass over the slots ever taken (`reached`) finds them, stopping at the last (an fd too high
   * to be counted: the whole pass). Also on a closing or closed Driver, where the shutdown drain
   * ends the fd's requests and closeNow closes it with close(2): a refusal would leave the fd open
   * with nobody knowing (a caller closing it on the way out, an Effect finalizer that ignores the
   * failure).
   */
  startCloseFd(fd: number, callback: T.Callback): void {
    const closing = this.delivery.closingFds
    // A second close of a number whose close has not completed is refused, sent or not: the
    // number may already name a file this Driver's open is making, which it must not close.
    if (closing.has(fd)) {
      process.nextTick(callback, Errors.closingFdError("close", fd), 0)
      return
    }
    callback = this.sockets.onClose(fd, callback) // a Unix listener's file goes with it
    // Calls off the ring on the fd cannot be cancelled: the close waits for them to end.
    const entry: FdClosing = {
      waiting: this.delivery.offRing.get(fd) ?? 0,
      onIdle: () => this.closeNow(fd, entry, callback),
      inKernel: false,
    }
    closing.set(fd, entry)
    // Staged requests first go to the loop or, where it has no room, to the backpressure queue:
    // each slot's state below is then the one it ends from (a staged one reads as SUBMITTED).
    this.submission.handOver()
    const t = this.table
    const live: Array<number> = []
    const counted = t.onFdCount(fd) // -1: not counted, every slot is looked at
    let found = 0
    for (let slot = 0; (counted < 0 || found < counted) && slot < t.reached; slot++) {
      const state = t.state[slot]
      if (state === Pending.FREE || t.fd[slot] !== fd || !BY_OP[t.op[slot]!]!.onFd) continue
      found++
      entry.waiting++
      if (state === Pending.QUEUED || state === Pending.SUBMITTED) live.push(slot)
    }
    // Each ends with EBADF (the fd was closed under it), not an AbortError: nobody aborted it.
    for (const slot of live) {
      t.fdClosed[slot] = 1
      if (t.state[slot] === Pending.QUEUED) {
        this.delivery.cancelled++
        const op = t.op[slot]!
        this.delivery.local(
          slot,
          Errors.closingFdError(t.site[slot]?.syscall ?? syscallOf(op), fd, Errors.movedBytes(op, 0)),
        )
      } else {
        this.cancel(t.handleOf(slot))
      }
    }
    if (entry.waiting === 0) this.closeNow(fd, entry, callback)
  }

  /**
   * Nothing is outstanding on fd any more: the close itself, through the ring; with close(2) here
   * where the ring would refuse it (the Driver closing, the process's credentials changed).
   */
  private closeNow(fd: number, entry: FdClosing, callback: T.Callback): void {
    const done = (error: Error | null): void => {
      // Unless the number was handed out again meanwhile (Delivery.fdMade) and is closing anew.
      if (this.delivery.closingFds.get(fd) === entry) this.delivery.closingFds.delete(fd)
      callback(error, 0)
    }
    entry.inKernel = true
    // The binding keeps the mark until the close reaches the loop (a close waiting for room stays
    // covered), or until the close(2) here.
    this.exitFds.delete(fd)
    if (this.shutdown.closing) {
      process.nextTick(done, this.closeUnmarked(fd))
      return
    }
    this.callback(this.fill(OPERATIONS.closeFd.op, 0, fd, undefined, 0, 0, 0, 0), (error) =>
      // Refused because the process's credentials changed (see refusal): nothing is outstanding.
      done(
        error !== null && (error as Errors.IoUringError).code === "ERR_IOU_CREDENTIALS_CHANGED"
          ? this.closeUnmarked(fd)
          : error,
      ),
    )
  }

  // ---- Completion --------------------------------------------------------------------------------

  /** Closes an accepted fd that no caller will get (close(2): it is fresh, nothing to flush). */
  refuseConnection(fd: number): void {
    this.sockets.closeFd(fd)
    this.delivery.unwantedFds++
  }

  /** @internal Multishot: a result that names no buffer: acceptMany's connection fd. */
  more(slot: number, outcome: number, result: number): void {
    if (outcome !== IOU_OUTCOME_OK || this.table.op[slot] !== OPERATIONS.acceptMany.op) return
    // Asked to stop (its signal, cancel or deadline): the caller does not want it any more, and
    // Delivery.fromLoop closed it.
    if (this.table.state[slot] === Pending.CANCELLING) return
    if (this.delivery.closingFds.size > 0) this.delivery.fdMade(result)
    const onFd = this.table.onFd[slot]
    if (onFd === undefined) return this.refuseConnection(result)
    try {
      onFd(result)
    } catch (thrown) {
      process.nextTick(rethrowLater, thrown) // as a callback's: it must not stop the batch
    }
  }

  /** @internal Multishot: a chunk of the recvMany in `slot` is in provided buffer `buffer`. */
  chunk(slot: number, buffer: number, length: number): void {
    const data = this.recvBuffers.take(buffer, length)
    const onChunk = this.table.onChunk[slot]
    if (onChunk === undefined || length === 0) return
    try {
      onChunk(data)
    } catch (thrown) {
      process.nextTick(rethrowLater, thrown) // as a callback's: it must not stop the batch
    }
  }

  /**
   * @internal Multishot: the loop ended the recvMany in `slot`. Out of buffers (ENOBUFS), or the
   * kernel stopped the multishot after a chunk: re-armed after the batch, unless it was cancelled,
   * the Driver is closing or its deadline passed (then it ends so). Anything else ends it.
   */
  ended(slot: number, outcome: number, result: number): boolean {
    if (this.table.op[slot] === OPERATIONS.acceptMany.op) {
      // The kernel stopped the multishot with a last connection: hand it over, then re-arm.
      if (outcome !== IOU_OUTCOME_OK) return false
      this.more(slot, outcome, result)
      return this.rearmOrEnd(slot)
    }
    const enobufs = outcome === IOU_OUTCOME_ERROR && result === -constants.errno.ENOBUFS
    if (!enobufs && !(outcome === IOU_OUTCOME_OK && result > 0)) return false
    if (enobufs && !this.recvBuffersRegistered) return false // no buffer will ever come
    if (enobufs) this.delivery.recvBuffersEmpty++
    return this.rearmOrEnd(slot)
  }

  /** A multishot request the loop ended early goes again after the batch, unless it should end now. */
  private rearmOrEnd(slot: number): boolean {
    const t = this.table
    const op = t.op[slot]!
    if (t.state[slot] === Pending.CANCELLING) {
      this.delivery.cancelled++
      this.delivery.endedBetweenArms++
      this.delivery.finish(slot, this.cancelledError(slot), 0)
    } else if (this.shutdown.closing) {
      this.delivery.finish(slot, Errors.closedError(syscallOf(op), this.fdOf(slot)), 0)
    } else if (t.deadline[slot]! > 0 && Clock.now() >= t.deadline[slot]!) {
      this.delivery.timedOut++
      this.delivery.endedBetweenArms++
      this.delivery.finish(slot, Errors.fromCompletion(op, t.fd[slot]!, 0, IOU_OUTCOME_TIMEOUT)!, 0)
    } else {
      this.rearming.push(slot)
    }
    return true
  }

  /** A multishot request cancelled between the loop's end and its re-arm: EBADF if closeFd did it. */
  private cancelledError(slot: number): Errors.IoUringError {
    const t = this.table
    const syscall = syscallOf(t.op[slot]!)
    if (t.fdClosed[slot] === 1) return Errors.closingFdError(syscall, t.fd[slot]!)
    return Errors.abortError(syscall, this.fdOf(slot), this.delivery.abortCause(slot))
  }

  /** @internal Multishot: the batch's buffers go back to the kernel, then what ran out is re-armed. */
  afterBatch(): void {
    this.recvBuffers.flush(this.native)
    if (this.rearming.length === 0) return
    const slots = this.rearming
    this.rearming = []
    const t = this.table
    for (const slot of slots) {
      if (t.state[slot] === Pending.CANCELLING) {
        // cancel(handle) came between the loop's end and now: the loop never heard of it.
        this.delivery.cancelled++
        this.delivery.endedBetweenArms++
        this.delivery.finish(slot, this.cancelledError(slot), 0)
      } else {
        this.submission.admit(slot)
      }
    }
  }

  /** Called by the binding once per chunk of completions; `final` after the loop exited. */
  private deliver(count: number, final: boolean): void {
    this.delivery.fromLoop(this.wire, count)
    if (this.queue.length > 0) this.submission.refill()
    if (final) this.shutdown.exited()
  }
}
