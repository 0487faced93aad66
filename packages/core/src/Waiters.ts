/**
 * Waiters: the fixed-capacity slab of admitted requests (the C `waiter.c`). Each occupied slot is
 * one Waiter: its request, its state (active, or cancel requested with the outcome the cancel asked
 * for: TIMEOUT or CANCELLED), whether an op SQE is in flight, and its deadline tick. A WaiterId
 * (slot index + generation) names one occupancy; a freed slot's generation is bumped, so an id of
 * an earlier occupant (a stale id) is detected and never acted on:
 *
 * | slot situation                 | isInFlight | cancel       | stage              | op CQE            | cancel CQE |
 * | ------------------------------ | ---------- | ------------ | ------------------ | ----------------- | ---------- |
 * | stale / empty / out of range   | false      | false        | invariant error    | invariant error   | Cancel     |
 * | Active, not in flight          | false      | true         | Submit or Orphaned | invariant error   | Cancel     |
 * | Active, in flight              | true       | true         | invariant error    | Complete/Requeue  | Cancel     |
 * | CancelRequested, in flight     | true       | false        | invariant error    | Complete/Requeue  | Cancel     |
 * | CancelRequested, not in flight | false      | false        | Timeout            | invariant error   | Cancel     |
 *
 * A cancel CQE never changes a waiter. Its result is checked only for a live waiter: 0, -EALREADY
 * and -ENOENT are expected, -EINVAL is an invariant violation (the kernel rejected our SQE), any
 * other value is counted in `unexpectedCancelResults`.
 *
 * No allocation per transition: the slab is struct-of-arrays, outcomes are shared constants, and
 * the payload of the last outcome (the retired request, its tick, the requeued id) is read from
 * `retired`, `retiredTick` and `requeued`, valid until the next transition.
 *
 * Free slots form a LIFO stack initialised so the first inserts get indices 0, 1, 2, ...; the most
 * recently freed slot is reused first (as in the seed).
 */
import { EALREADY, EINVAL, ENOENT } from "./Errno.ts"
import { fail } from "./Invariant.ts"
import * as Request from "./Request.ts"
import type { Tick } from "./TimeoutWheel.ts"
import * as WaiterId from "./WaiterId.ts"

/** No deadline tick. */
export const NO_TICK: Tick = -1

export const STATE_FREE = 0
export const STATE_ACTIVE = 1
export const STATE_CANCEL_REQUESTED = 2

export type StageOutcome =
  /** The waiter is now in flight: push its op SQE. */
  | { readonly _tag: "Submit" }
  /** A cancel was requested while it was parked: it ended locally (retired, outcome set). */
  | { readonly _tag: "Timeout" }
  /** Its caller went away before another SQE: retired (outcome CANCELLED); remove retiredTick. */
  | { readonly _tag: "Orphaned" }

export type CompletionOutcome =
  /** The request ended (retired); remove retiredTick from the wheel if it is not NO_TICK. */
  | { readonly _tag: "Complete" }
  /** It needs another SQE: push `requeued` on the ready queue. */
  | { readonly _tag: "Requeue" }
  /** A cancel CQE (live or stale): nothing to do. */
  | { readonly _tag: "Cancel" }
  /** A multishot op's CQE with F_MORE: publish one result of `moreOf`; the waiter stays in flight. */
  | { readonly _tag: "More" }

export const Submit: StageOutcome = { _tag: "Submit" }
export const Timeout: StageOutcome = { _tag: "Timeout" }
export const Orphaned: StageOutcome = { _tag: "Orphaned" }
export const Complete: CompletionOutcome = { _tag: "Complete" }
export const Requeue: CompletionOutcome = { _tag: "Requeue" }
export const Cancel: CompletionOutcome = { _tag: "Cancel" }
export const More: CompletionOutcome = { _tag: "More" }

export interface Waiters {
  readonly capacity: number
  /** Occupied slots (the seed's `pending_operations` gauge). */
  len: number
  readonly generations: Int32Array
  readonly states: Uint8Array
  /** OUTCOME_TIMEOUT or OUTCOME_CANCELLED while cancel requested. */
  readonly cancelOutcomes: Int8Array
  readonly inFlight: Uint8Array
  readonly targetTicks: Float64Array
  readonly requests: Array<Request.Request | undefined>
  /** Stack of free slot indices; the top is `free[freeTop - 1]`. */
  readonly free: Int32Array
  freeTop: number
  /** The request the last Timeout / Orphaned / Complete retired. */
  retired: Request.Request | undefined
  /** The deadline tick the last Orphaned / Complete released, or NO_TICK. */
  retiredTick: Tick
  /** The id the last Requeue asks to restage. */
  requeued: WaiterId.WaiterId
  /** The request the last More published a result of. */
  moreOf: Request.Request | undefined
  /** Cancel CQEs of live waiters with a result other than 0, -EALREADY, -ENOENT, -EINVAL. */
  unexpectedCancelResults: number
}

export const make = (capacity: number): Waiters => {
  if (!(Number.isInteger(capacity) && capacity >= 1 && capacity <= 0x8000)) {
    throw new RangeError(`waiter capacity ${capacity} must be in [1, 32768]`)
  }
  const free = new Int32Array(capacity)
  for (let i = 0; i < capacity; i++) free[i] = capacity - 1 - i
  return {
    capacity,
    len: 0,
    generations: new Int32Array(capacity),
    states: new Uint8Array(capacity),
    cancelOutcomes: new Int8Array(capacity).fill(Request.NOT_CANCELLED),
    inFlight: new Uint8Array(capacity),
    targetTicks: new Float64Array(capacity).fill(NO_TICK),
    requests: new Array<Request.Request | undefined>(capacity).fill(undefined),
    free,
    freeTop: capacity,
    retired: undefined,
    moreOf: undefined,
    retiredTick: NO_TICK,
    requeued: WaiterId.NONE,
    unexpectedCancelResults: 0,
  }
}

export const isFull = (w: Waiters): boolean => w.len === w.capacity

export const isEmpty = (w: Waiters): boolean => w.len === 0

/** The slot of a live id, or -1 when it is out of range, empty or stale. */
const slotOf = (w: Waiters, id: WaiterId.WaiterId): number => {
  if (id < 0) return -1
  const index = WaiterId.index(id)
  if (index >= w.capacity || w.states[index] === STATE_FREE) return -1
  return w.generations[index] === WaiterId.generation(id) ? index : -1
}

/** True when `id` names the slot's current occupant. */
export const isLive = (w: Waiters, id: WaiterId.WaiterId): boolean => slotOf(w, id) >= 0

/** The live waiter's request, or undefined for a stale id. */
export const get = (w: Waiters, id: WaiterId.WaiterId): Request.Request | undefined => {
  const slot = slotOf(w, id)
  return slot < 0 ? undefined : w.requests[slot]
}

/** Admits a request; the caller checks `isFull` first (inserting into a full slab is an invariant violation). */
export const insert = (w: Waiters, request: Request.Request, targetTick: Tick): WaiterId.WaiterId => {
  if (w.freeTop === 0) fail(`insert into a full waiter slab (capacity ${w.capacity})`)
  const slot = w.free[--w.freeTop]!
  w.states[slot] = STATE_ACTIVE
  w.cancelOutcomes[slot] = Request.NOT_CANCELLED
  w.inFlight[slot] = 0
  w.targetTicks[slot] = targetTick
  w.requests[slot] = request
  w.len++
  const id = WaiterId.make(slot, w.generations[slot]!)
  request.waiter = id
  return id
}

/** Frees a slot and bumps its generation, so every id of this occupancy is stale from now on. */
const release = (w: Waiters, slot: number): Request.Request => {
  const request = w.requests[slot]!
  w.requests[slot] = undefined
  w.states[slot] = STATE_FREE
  w.inFlight[slot] = 0
  w.targetTicks[slot] = NO_TICK
  w.cancelOutcomes[slot] = Request.NOT_CANCELLED
  w.generations[slot] = WaiterId.nextGeneration(w.generations[slot]!)
  w.free[w.freeTop++] = slot
  w.len--
  request.waiter = WaiterId.NONE
  w.retired = request
  return request
}

/** True only for the live occupant with an op SQE staged and its CQE not yet handled. */
export const isInFlight = (w: Waiters, id: WaiterId.WaiterId): boolean => {
  const slot = slotOf(w, id)
  return slot >= 0 && w.inFlight[slot] === 1
}

/** The live waiter's deadline tick (NO_TICK when none or already released), or NO_TICK when stale. */
export const targetTick = (w: Waiters, id: WaiterId.WaiterId): Tick => {
  const slot = slotOf(w, id)
  return slot < 0 ? NO_TICK : w.targetTicks[slot]!
}

/**
 * Requests cancellation (`outcome`: OUTCOME_TIMEOUT from the wheel, OUTCOME_CANCELLED from the
 * caller). Active -> CancelRequested and true; stale or already cancel-requested -> false. The
 * waiter's tick is released here: the caller removes the tick it had from the wheel (read it with
 * `targetTick` first).
 */
export const cancel = (w: Waiters, id: WaiterId.WaiterId, outcome: number): boolean => {
  const slot = slotOf(w, id)
  if (slot < 0 || w.states[slot] !== STATE_ACTIVE) return false
  w.states[slot] = STATE_CANCEL_REQUESTED
  w.cancelOutcomes[slot] = outcome
  w.targetTicks[slot] = NO_TICK
  return true
}

/** Decides what staging a waiter from the ready queue or admission does. Stale ids are invariant violations. */
export const stage = (w: Waiters, id: WaiterId.WaiterId): StageOutcome => {
  const slot = slotOf(w, id)
  if (slot < 0) return fail(`stage of a stale waiter id ${id}`)
  // First: ending a waiter the kernel still holds would release its memory under the kernel.
  if (w.inFlight[slot] === 1) return fail(`stage of waiter ${id} already in flight`)
  if (w.states[slot] === STATE_CANCEL_REQUESTED) {
    const outcome = w.cancelOutcomes[slot]!
    Request.end(release(w, slot), outcome)
    w.retiredTick = NO_TICK
    return Timeout
  }
  const request = w.requests[slot]!
  if (Request.isOrphaned(request)) {
    w.retiredTick = w.targetTicks[slot]!
    Request.end(release(w, slot), Request.OUTCOME_CANCELLED)
    return Orphaned
  }
  w.inFlight[slot] = 1
  return Submit
}

/** Handles one CQE whose user_data is not the wake poll's. */
export const onCompletion = (w: Waiters, userData: bigint, res: number, more = false): CompletionOutcome => {
  const id = WaiterId.fromUserData(userData)
  const slot = slotOf(w, id)
  if (WaiterId.isCancel(userData)) {
    if (slot >= 0) {
      if (res === -EINVAL) fail(`kernel rejected the ASYNC_CANCEL of waiter ${id} (EINVAL)`)
      if (res !== 0 && res !== -EALREADY && res !== -ENOENT) w.unexpectedCancelResults++
    }
    return Cancel
  }
  if (slot < 0) return fail(`op CQE for a stale or empty waiter (user_data ${userData})`)
  if (w.inFlight[slot] !== 1) return fail(`op CQE for waiter ${id} that is not in flight`)
  if (more) {
    // One result of a multishot op: the op stays in the kernel and the waiter as it is.
    if (!Request.isMultishot(w.requests[slot]!)) return fail(`IORING_CQE_F_MORE on single-shot waiter ${id}`)
    w.moreOf = w.requests[slot]!
    return More
  }
  w.inFlight[slot] = 0
  const request = w.requests[slot]!
  const active = w.states[slot] === STATE_ACTIVE
  const terminal = Request.onCqe(request, active ? Request.NOT_CANCELLED : w.cancelOutcomes[slot]!, res)
  if (terminal || Request.isOrphaned(request)) {
    w.retiredTick = active ? w.targetTicks[slot]! : NO_TICK
    release(w, slot)
    if (!terminal) Request.end(request, Request.OUTCOME_CANCELLED)
    return Complete
  }
  w.requeued = id
  return Requeue
}

/**
 * Ends every occupied waiter with `outcome` (shutdown abandonment), calling `each` for it with
 * whether an op of it was still in the kernel.
 */
export const retireAll = (
  w: Waiters,
  outcome: number,
  each: (request: Request.Request, inFlight: boolean) => void,
): void => {
  for (let slot = 0; slot < w.capacity; slot++) {
    if (w.states[slot] === STATE_FREE) continue
    const inFlight = w.inFlight[slot] === 1
    const request = release(w, slot)
    Request.end(request, outcome)
    each(request, inFlight)
  }
}
