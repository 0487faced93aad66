/**
 * Loop: the event loop's policy over an abstract ring (the C `loop.c`), as the seed's `run()` and
 * `drain()` with this project's decisions (docs/DESIGN.md; where they differ from the seed,
 * README.md, "Semantics the C loop mirrors"). One call of `step` is one iteration:
 *
 * 1. handle CQEs (`handleCqe`): wake-poll CQEs acknowledge the eventfd (re-arm when the multishot
 *    poll ended); others go to Waiters.onCompletion: Requeue -> ready queue, Complete -> release
 *    the deadline and deliver the completion, Cancel -> nothing, More (a multishot op's CQE with
 *    F_MORE) -> publish the result (`onMore`), the waiter and its deadline untouched;
 * 2. apply the caller's cancels (`cancel`): admitted -> Waiters.cancel(CANCELLED) and, only if in
 *    flight, one entry on pending cancels; not yet admitted -> ends CANCELLED at once (its inbound
 *    entry is skipped when taken); already ended -> ignored;
 * 3. shutdown cutoff reached -> queued requests end ABANDONED, admitted ones are cancelled with
 *    outcome ABANDONED, and the abandonment grace runs (see below);
 * 4. advance timeouts: each live expired waiter -> Waiters.cancel(TIMEOUT), deadline released, and
 *    only if in flight, one entry on pending cancels (parked ones end locally when staged);
 * 5. fill the submission queue, in the seed's order: wake-poll re-arm, pending cancels (entries
 *    no longer in flight are dropped), the ready queue, then fresh requests from the inbound queue
 *    until waiter or SQ capacity. Admission: cancelled -> CANCELLED; zero-length -> OK 0; deadline
 *    already due -> TIMEOUT; all three without a slot or SQE. Returns a FillResult. At waiter
 *    capacity, requests left in the inbound queue whose deadline has passed end TIMEOUT at once
 *    and are skipped when taken (`expireQueued`); the earliest other one bounds the next wait;
 * 6. Disconnected -> drain phase. AtSubmissionQueueCapacity, or cancels / restages left queued
 *    because the SQ filled (unlike the seed, which then waits for a CQE that may never come) ->
 *    submit without waiting. Drained with no waiter -> armIdle and FUTEX_WAIT only if still idle
 *    (the ring is not entered). AtWaiterCapacity -> arm; block unless a wake is latched (the C
 *    loop also goes round when a request was pushed after its fold of the queued deadlines and
 *    before its arm; here an iteration is one step, which no push interleaves). Drained
 *    -> arm; block only if still idle. Blocking is submitAndWait(1, time to the next deadline
 *    tick, bounded by the shutdown cutoff); then disarm.
 *
 * Drain phase (after close, once the inbound queue is empty), each step: handle CQEs, caller
 * cancels; exit when no waiter is left; abandon at the cutoff; advance timeouts; re-arm the wake
 * poll if needed; stage cancels and the ready queue; exit if that ended the last waiter; arm, wait
 * unless latched, disarm. Unlike the seed, the drain phase keeps the wake path alive so a caller's
 * cancel during shutdown is seen promptly.
 *
 * The shutdown budget starts at `close` (not when the inbound queue empties): at close + timeout
 * every request still queued ends ABANDONED, and every admitted one is cancelled with outcome
 * ABANDONED (one ASYNC_CANCEL each for those in the kernel, as for deadlines). The loop then waits
 * at most ABANDON_GRACE_NANOS for their final CQEs (handled as usual: a transfer that completed
 * anyway ends OK); whatever is still in the kernel after it ends ABANDONED with `kernelHeld` (its
 * memory must be quarantined) and the loop exits.
 *
 * Every request taken from the inbound queue gets exactly one completion (`onComplete`). The
 * transitions allocate nothing per request beyond queue growth; user_data crosses the ring as a
 * bigint, as the C loop's uint64_t.
 */
import type { ResolvedConfig } from "./Config.ts"
import * as Fifo from "./Fifo.ts"
import { fail } from "./Invariant.ts"
import * as Request from "./Request.ts"
import * as TimeoutWheel from "./TimeoutWheel.ts"
import * as WaiterId from "./WaiterId.ts"
import * as Waiters from "./Waiters.ts"
import * as Waker from "./Waker.ts"

/** The ring as the loop sees it. Implemented by SimKernel here and by the io_uring ring in C. */
export interface Ring {
  /** Free SQ entries. */
  sqSpace(): number
  /** Stages the next op SQE of `request` (its current progress) with `userData`. */
  pushOp(userData: bigint, request: Request.Request): void
  /** Stages an ASYNC_CANCEL of the op with `target` user_data (its own user_data: target | CANCEL_BIT). */
  pushCancel(target: bigint): void
  /** Stages the multishot POLL_ADD on the waker's eventfd (user_data WAKE_USER_DATA). */
  pushWakePoll(): void
  /** io_uring_enter: submits staged SQEs and waits for `want` CQEs, at most `timeoutNanos` when defined. */
  submitAndWait(want: number, timeoutNanos: number | undefined): void
  /** io_uring_enter without waiting. */
  submit(): void
  /** Loads the next CQE into cqeUserData / cqeResult / cqeMore; false when the CQ is empty. */
  popCqe(): boolean
  readonly cqeUserData: bigint
  readonly cqeResult: number
  /** IORING_CQE_F_MORE. */
  readonly cqeMore: boolean
  /** CLOCK_MONOTONIC in ns. */
  now(): number
  /** FUTEX_WAIT on the waker's word: returns at once unless it equals `snapshot`, else after a FUTEX_WAKE. */
  futexWait(waker: Waker.Waker, snapshot: number): void
}

export type FillResult =
  | { readonly _tag: "Drained" }
  | { readonly _tag: "AtSubmissionQueueCapacity" }
  | { readonly _tag: "AtWaiterCapacity" }
  | { readonly _tag: "Disconnected" }

export const Drained: FillResult = { _tag: "Drained" }
export const AtSubmissionQueueCapacity: FillResult = { _tag: "AtSubmissionQueueCapacity" }
export const AtWaiterCapacity: FillResult = { _tag: "AtWaiterCapacity" }
export const Disconnected: FillResult = { _tag: "Disconnected" }

export const PHASE_RUNNING = 0
export const PHASE_DRAINING = 1
export const PHASE_EXITED = 2
/** The shutdown cutoff passed: the cancels it sent are awaited for at most ABANDON_GRACE_NANOS. */
export const PHASE_ABANDONING = 3

/**
 * How long the shutdown cutoff waits for the final CQEs of the requests it cancelled (the C
 * ABANDON_GRACE_NS): those that come back end normally (ABANDONED, unless the transfer completed);
 * only those still out after it end ABANDONED with `kernelHeld`.
 */
export const ABANDON_GRACE_NANOS = 100_000_000

/** The counters of `struct iou_stats`. */
export interface Stats {
  submitted: number
  completed: number
  failed: number
  timedOut: number
  cancelled: number
  requeued: number
  sqesStaged: number
  enters: number
  /** Futex parks of the fully idle loop. */
  parks: number
  abandoned: number
  pendingOperations: number
}

export interface Loop {
  readonly size: number
  readonly ring: Ring
  readonly waker: Waker.Waker
  readonly waiters: Waiters.Waiters
  readonly wheel: TimeoutWheel.TimeoutWheel
  readonly readyQueue: Fifo.Fifo<WaiterId.WaiterId>
  readonly pendingCancels: Fifo.Fifo<WaiterId.WaiterId>
  /** Requests submitted and not yet taken (the inbound queue plus the Driver's overflow FIFO). */
  readonly inbound: Fifo.Fifo<Request.Request>
  /** The caller's cancel messages, applied at the next step. */
  readonly callerCancels: Array<Request.Request>
  processedSeq: number
  wakeRearmNeeded: boolean
  phase: number
  closing: boolean
  /** Absolute ns; Infinity without a shutdown timeout. */
  shutdownDeadline: number
  /** Absolute ns: the end of the abandonment grace (PHASE_ABANDONING only). */
  graceEnd: number
  /**
   * Absolute ns: the earliest deadline among requests queued behind full waiters (expireQueued);
   * Infinity when there is none or the loop is not at waiter capacity.
   */
  queuedDeadline: number
  readonly onComplete: (request: Request.Request) => void
  /** One result of a multishot request (a CQE with F_MORE): `res`, before its one completion. */
  readonly onMore: (request: Request.Request, res: number) => void
  readonly stats: Stats
}

/** `maxInFlight` (the waiter capacity) is `size` when absent, as the seed sizes it. */
export type LoopConfig = Pick<ResolvedConfig, "size" | "timeoutWheelTick" | "maxRequestTimeout"> &
  Partial<Pick<ResolvedConfig, "maxInFlight">>

const MS = 1_000_000

export const make = (
  config: LoopConfig,
  ring: Ring,
  onComplete: (request: Request.Request) => void,
  onMore: (request: Request.Request, res: number) => void = () => {},
): Loop => ({
  size: config.size,
  ring,
  waker: Waker.make(),
  waiters: Waiters.make(config.maxInFlight ?? config.size),
  wheel: TimeoutWheel.make(
    Math.max(1, Math.round(config.timeoutWheelTick * MS)),
    Math.max(1, Math.round(config.maxRequestTimeout * MS)),
    ring.now(),
  ),
  readyQueue: Fifo.make(config.size),
  pendingCancels: Fifo.make(config.size),
  inbound: Fifo.make(config.size),
  callerCancels: [],
  processedSeq: 0,
  wakeRearmNeeded: true,
  phase: PHASE_RUNNING,
  closing: false,
  shutdownDeadline: Infinity,
  graceEnd: Infinity,
  queuedDeadline: Infinity,
  onComplete,
  onMore,
  stats: {
    submitted: 0,
    completed: 0,
    failed: 0,
    timedOut: 0,
    cancelled: 0,
    requeued: 0,
    sqesStaged: 0,
    enters: 0,
    parks: 0,
    abandoned: 0,
    pendingOperations: 0,
  },
})

// ---- The owner's side (the Driver's thread) ----------------------------------------------------

/** Queues a request and publishes it. False (request untouched) once `close` was called. */
export const submit = (loop: Loop, request: Request.Request): boolean => {
  if (loop.closing) return false
  Fifo.push(loop.inbound, request)
  Waker.publish(loop.waker)
  return true
}

/** Asks the loop to cancel one request; it still gets exactly one completion. Wakes the loop. */
export const cancel = (loop: Loop, request: Request.Request): void => {
  if (loop.phase === PHASE_EXITED || Request.isDone(request)) return
  loop.callerCancels.push(request)
  Waker.wake(loop.waker)
}

/** Stops admission; the loop drains and exits, abandoning what is left after `shutdownTimeoutNanos`. */
export const close = (loop: Loop, shutdownTimeoutNanos?: number): void => {
  if (loop.closing) return
  loop.closing = true
  if (shutdownTimeoutNanos !== undefined) loop.shutdownDeadline = loop.ring.now() + shutdownTimeoutNanos
  Waker.wake(loop.waker)
}

// ---- The loop thread ----------------------------------------------------------------------------

const deliver = (loop: Loop, request: Request.Request): void => {
  const stats = loop.stats
  stats.completed++
  switch (request.outcome) {
    case Request.OUTCOME_ERROR:
    case Request.OUTCOME_UNEXPECTED_EOF:
    case Request.OUTCOME_WRITE_ZERO:
      stats.failed++
      break
    case Request.OUTCOME_TIMEOUT:
      stats.timedOut++
      break
    case Request.OUTCOME_CANCELLED:
      stats.cancelled++
      break
    case Request.OUTCOME_ABANDONED:
      stats.abandoned++
      break
  }
  loop.onComplete(request)
}

/** Handles one CQE (the seed's `handle_cqe`). */
export const handleCqe = (loop: Loop, userData: bigint, res: number, more: boolean): void => {
  if (userData === WaiterId.WAKE_USER_DATA) {
    if (res < 0) fail(`wake poll CQE failed with ${res}: multishot poll needs Linux 5.13+`)
    Waker.acknowledge(loop.waker)
    if (!more) loop.wakeRearmNeeded = true
    return
  }
  const w = loop.waiters
  const outcome = Waiters.onCompletion(w, userData, res, more)
  if (outcome === Waiters.More) {
    loop.onMore(w.moreOf!, res)
  } else if (outcome === Waiters.Requeue) {
    Fifo.push(loop.readyQueue, w.requeued)
    loop.stats.requeued++
  } else if (outcome === Waiters.Complete) {
    if (w.retiredTick !== Waiters.NO_TICK) {
      TimeoutWheel.remove(loop.wheel, WaiterId.fromUserData(userData), w.retiredTick)
    }
    deliver(loop, w.retired!)
  }
}

const drainCompletions = (loop: Loop): void => {
  const ring = loop.ring
  while (ring.popCqe()) handleCqe(loop, ring.cqeUserData, ring.cqeResult, ring.cqeMore)
}

/** Cancels one admitted waiter (deadline or caller): releases its deadline, queues an ASYNC_CANCEL if in flight. */
const cancelWaiter = (loop: Loop, id: WaiterId.WaiterId, outcome: number): void => {
  const w = loop.waiters
  const tick = Waiters.targetTick(w, id)
  if (!Waiters.cancel(w, id, outcome)) return
  if (tick !== Waiters.NO_TICK) TimeoutWheel.remove(loop.wheel, id, tick)
  if (Waiters.isInFlight(w, id)) Fifo.push(loop.pendingCancels, id)
}

const applyCallerCancels = (loop: Loop): void => {
  const cancels = loop.callerCancels
  for (let i = 0; i < cancels.length; i++) {
    const request = cancels[i]!
    if (Request.isDone(request)) continue
    if (request.waiter === WaiterId.NONE) {
      // Still in the inbound queue: it ends now; its entry is skipped when taken.
      request.cancelRequested = true
      Request.end(request, Request.OUTCOME_CANCELLED)
      deliver(loop, request)
    } else {
      cancelWaiter(loop, request.waiter, Request.OUTCOME_CANCELLED)
    }
  }
  cancels.length = 0
}

/** The seed's `advance_timeouts`. */
export const advanceTimeouts = (loop: Loop): void => {
  const wheel = loop.wheel
  if (TimeoutWheel.nextDeadline(wheel) === undefined) return
  const n = TimeoutWheel.advance(wheel, loop.ring.now())
  for (let i = 0; i < n; i++) {
    const id = TimeoutWheel.expiredId(wheel, i)
    // A stale entry (slot reused, or deadline already released) is not this waiter's deadline.
    if (Waiters.targetTick(loop.waiters, id) !== TimeoutWheel.expiredTick(wheel, i)) continue
    cancelWaiter(loop, id, Request.OUTCOME_TIMEOUT)
  }
}

/** Stages one admitted waiter (the seed's `stage_request`); the caller guarantees SQ room. */
const stageRequest = (loop: Loop, id: WaiterId.WaiterId): void => {
  const w = loop.waiters
  const request = Waiters.get(w, id)
  const outcome = Waiters.stage(w, id)
  if (outcome === Waiters.Submit) {
    loop.ring.pushOp(WaiterId.userData(id), request!)
    loop.stats.sqesStaged++
    return
  }
  if (outcome === Waiters.Orphaned && w.retiredTick !== Waiters.NO_TICK) {
    TimeoutWheel.remove(loop.wheel, id, w.retiredTick)
  }
  deliver(loop, w.retired!)
}

/** Pops pending cancels while the SQ has room; true when none is left. */
const stageCancellations = (loop: Loop): boolean => {
  const ring = loop.ring
  while (ring.sqSpace() > 0) {
    const id = Fifo.shift(loop.pendingCancels)
    if (id === undefined) return true
    // Its op CQE may have arrived since (or the slot was reused): nothing left to cancel.
    if (!Waiters.isInFlight(loop.waiters, id)) continue
    ring.pushCancel(WaiterId.userData(id))
    loop.stats.sqesStaged++
  }
  return Fifo.isEmpty(loop.pendingCancels)
}

/** Restages the ready queue while the SQ has room; true when it is empty. */
const stageReadyRequests = (loop: Loop): boolean => {
  while (loop.ring.sqSpace() > 0) {
    const id = Fifo.shift(loop.readyQueue)
    if (id === undefined) return true
    stageRequest(loop, id)
  }
  return Fifo.isEmpty(loop.readyQueue)
}

/** Admits one request taken from the inbound queue (the seed's `admit_request` + `stage_request`). */
const admit = (loop: Loop, request: Request.Request): void => {
  if (Request.isDone(request)) return // cancelled while queued: already delivered
  if (Request.isEmpty(request)) {
    Request.finish(request, Request.OUTCOME_OK, 0)
    deliver(loop, request)
    return
  }
  let tick: TimeoutWheel.Tick = Waiters.NO_TICK
  if (Request.hasDeadline(request)) {
    const target = TimeoutWheel.targetTick(loop.wheel, request.deadline)
    if (target === undefined) {
      Request.end(request, Request.OUTCOME_TIMEOUT)
      deliver(loop, request)
      return
    }
    tick = target
  }
  const id = Waiters.insert(loop.waiters, request, tick)
  if (tick !== Waiters.NO_TICK) TimeoutWheel.schedule(loop.wheel, id, tick)
  stageRequest(loop, id)
}

const fromFillState = (loop: Loop): FillResult => {
  if (Waiters.isFull(loop.waiters)) {
    return loop.closing && Fifo.isEmpty(loop.inbound) ? Disconnected : AtWaiterCapacity
  }
  return loop.ring.sqSpace() === 0 ? AtSubmissionQueueCapacity : Drained
}

/** The seed's `fill_submission_queue`. */
export const fillSubmissionQueue = (loop: Loop): FillResult => {
  const ring = loop.ring
  let wheelAligned = TimeoutWheel.nextDeadline(loop.wheel) !== undefined
  if (loop.wakeRearmNeeded) {
    if (ring.sqSpace() === 0) return AtSubmissionQueueCapacity
    ring.pushWakePoll()
    loop.stats.sqesStaged++
    loop.wakeRearmNeeded = false
  }
  if (!stageCancellations(loop)) return fromFillState(loop)
  if (!stageReadyRequests(loop)) return fromFillState(loop)
  while (!Waiters.isFull(loop.waiters) && ring.sqSpace() > 0) {
    const request = Fifo.shift(loop.inbound)
    if (request === undefined) {
      if (loop.closing) return Disconnected
      break
    }
    loop.processedSeq = Waker.nextProcessed(loop.processedSeq)
    loop.stats.submitted++
    if (!wheelAligned && Request.hasDeadline(request)) {
      // No deadline is active: refresh the wheel's clock once before converting deadlines.
      if (TimeoutWheel.advance(loop.wheel, ring.now()) !== 0) fail("wheel alignment expired an entry")
      wheelAligned = true
    }
    admit(loop, request)
  }
  return fromFillState(loop)
}

/**
 * At waiter capacity, requests wait in the inbound queue for a slot, and their deadlines still
 * hold: each one whose deadline has passed ends TIMEOUT at once (no slot, no SQE) and its entry
 * is skipped when taken, as a cancelled one's. Not at capacity the queue drains by admission,
 * which checks deadlines itself. Sets `queuedDeadline` for the next wait.
 */
const expireQueued = (loop: Loop, fill: FillResult): void => {
  loop.queuedDeadline = Infinity
  if (fill !== AtWaiterCapacity) return
  const now = loop.ring.now()
  for (let i = 0; i < loop.inbound.length; i++) {
    const request = Fifo.at(loop.inbound, i)!
    if (Request.isDone(request) || !Request.hasDeadline(request)) continue
    if (request.deadline <= now) {
      Request.end(request, Request.OUTCOME_TIMEOUT)
      deliver(loop, request)
    } else if (request.deadline < loop.queuedDeadline) {
      loop.queuedDeadline = request.deadline
    }
  }
}

/**
 * How long a blocking wait may last: to the next deadline tick (or deadline of a request queued
 * behind full waiters) and the shutdown cutoff.
 */
const waitTimeout = (loop: Loop): number | undefined => {
  const now = loop.ring.now()
  const wheelExpiry = TimeoutWheel.nextExpiry(loop.wheel)
  const expiry = loop.queuedDeadline === Infinity ? wheelExpiry : Math.min(wheelExpiry ?? Infinity, loop.queuedDeadline)
  let timeout = expiry === undefined ? undefined : Math.max(0, expiry - now)
  if (loop.shutdownDeadline !== Infinity) {
    const remaining = Math.max(0, loop.shutdownDeadline - now)
    timeout = timeout === undefined ? remaining : Math.min(timeout, remaining)
  }
  return timeout
}

const wait = (loop: Loop): void => {
  loop.stats.enters++
  loop.ring.submitAndWait(1, waitTimeout(loop))
}

const exit = (loop: Loop): false => {
  loop.phase = PHASE_EXITED
  loop.stats.pendingOperations = loop.waiters.len
  return false
}

/**
 * The shutdown cutoff passed: requests still queued end ABANDONED at once; every live waiter is
 * cancelled with outcome ABANDONED (one ASYNC_CANCEL each for those in the kernel; those parked in
 * the ready queue end when staged; those already cancel-requested keep their cancel and outcome),
 * and the abandonment grace starts.
 */
const abandon = (loop: Loop): boolean => {
  for (let request = Fifo.shift(loop.inbound); request !== undefined; request = Fifo.shift(loop.inbound)) {
    if (Request.isDone(request)) continue
    loop.stats.submitted++
    Request.end(request, Request.OUTCOME_ABANDONED)
    deliver(loop, request)
  }
  const w = loop.waiters
  for (let slot = 0; slot < w.capacity; slot++) {
    const request = w.requests[slot]
    if (w.states[slot] === Waiters.STATE_ACTIVE && request !== undefined) {
      cancelWaiter(loop, request.waiter, Request.OUTCOME_ABANDONED)
    }
  }
  loop.phase = PHASE_ABANDONING
  loop.graceEnd = loop.ring.now() + ABANDON_GRACE_NANOS
  return abandonIteration(loop)
}

/** One pass of the abandonment grace: stage the cancels, exit when no waiter is left or time is up. */
const abandonIteration = (loop: Loop): boolean => {
  stageCancellations(loop)
  stageReadyRequests(loop)
  loop.stats.pendingOperations = loop.waiters.len
  if (Waiters.isEmpty(loop.waiters)) return exit(loop)
  const now = loop.ring.now()
  if (now >= loop.graceEnd) {
    Waiters.retireAll(loop.waiters, Request.OUTCOME_ABANDONED, (request, inFlight) => {
      request.kernelHeld = inFlight
      deliver(loop, request)
    })
    while (Fifo.shift(loop.readyQueue) !== undefined) {}
    while (Fifo.shift(loop.pendingCancels) !== undefined) {}
    return exit(loop)
  }
  loop.stats.enters++
  if (stagingDone(loop)) loop.ring.submitAndWait(1, loop.graceEnd - now)
  else loop.ring.submit()
  return true
}

/** Nothing is left to stage from pending cancels or the ready queue. */
const stagingDone = (loop: Loop): boolean => Fifo.isEmpty(loop.pendingCancels) && Fifo.isEmpty(loop.readyQueue)

const cutoffReached = (loop: Loop): boolean => loop.ring.now() >= loop.shutdownDeadline

/** One iteration; false once the loop has exited. */
export const step = (loop: Loop): boolean => {
  if (loop.phase === PHASE_EXITED) return false
  drainCompletions(loop)
  applyCallerCancels(loop)
  if (loop.phase === PHASE_RUNNING) return runIteration(loop)
  return loop.phase === PHASE_DRAINING ? drainIteration(loop) : abandonIteration(loop)
}

const runIteration = (loop: Loop): boolean => {
  if (cutoffReached(loop)) return abandon(loop)
  advanceTimeouts(loop)
  const fill = fillSubmissionQueue(loop)
  expireQueued(loop, fill)
  loop.stats.pendingOperations = loop.waiters.len
  if (fill === Disconnected) {
    loop.phase = PHASE_DRAINING
    return true
  }
  if (fill === AtSubmissionQueueCapacity || !stagingDone(loop)) {
    // Also at waiter capacity when the SQ filled with cancels or restages still queued: waiting
    // for a CQE now could wait on the very ops those cancels target (or on nothing at all).
    loop.stats.enters++
    loop.ring.submit()
    return true
  }
  if (fill === Drained && Waiters.isEmpty(loop.waiters)) {
    // Fully idle: park on the futex word without entering the ring (no deadline can be active).
    // A staged wake re-arm waits in the SQ for the next enter; arming a poll checks readiness.
    const idle = Waker.armIdle(loop.waker)
    if (Waker.isStillIdle(idle, loop.processedSeq)) {
      loop.stats.parks++
      loop.ring.futexWait(loop.waker, idle)
    }
    Waker.disarm(loop.waker)
    return true
  }
  const snapshot = Waker.arm(loop.waker)
  const block = fill === AtWaiterCapacity ? !Waker.isLatched(snapshot) : Waker.isStillIdle(snapshot, loop.processedSeq)
  if (block) wait(loop)
  Waker.disarm(loop.waker)
  return true
}

/** The seed's `drain()`, one pass. */
const drainIteration = (loop: Loop): boolean => {
  if (Waiters.isEmpty(loop.waiters)) return exit(loop)
  if (cutoffReached(loop)) return abandon(loop)
  advanceTimeouts(loop)
  if (loop.wakeRearmNeeded) {
    if (loop.ring.sqSpace() === 0) loop.ring.submit()
    loop.ring.pushWakePoll()
    loop.stats.sqesStaged++
    loop.wakeRearmNeeded = false
  }
  stageCancellations(loop)
  stageReadyRequests(loop)
  if (Waiters.isEmpty(loop.waiters)) return exit(loop)
  loop.stats.pendingOperations = loop.waiters.len
  if (!stagingDone(loop)) {
    loop.stats.enters++
    loop.ring.submit()
    return true
  }
  const snapshot = Waker.arm(loop.waker)
  if (!Waker.isLatched(snapshot)) wait(loop)
  Waker.disarm(loop.waker)
  return true
}
