/**
 * TimeoutWheel: the loop's userspace hashed timing wheel (the C `wheel.c`), tuned for many
 * deadlines and few expirations. Time is counted in Ticks of `tickNanos` since `start`.
 *
 * - `targetTick(deadline)` = ceil((deadline - start) / tick), or undefined when that tick is not
 *   after the current tick (already expired). Unlike the seed it is NOT clamped to the horizon.
 * - `schedule(id, target)` puts the entry in slot `target mod slots` when `target - current < slots`,
 *   and otherwise PARKS it; `advance` moves parked entries into slots as they come into range, so a
 *   deadline beyond the horizon still fires on its own tick, never early.
 * - `advance(now)`: the current tick becomes floor((now - start) / tick); every entry in the slots
 *   passed over, and every parked entry now due, is written to `expired` (pairs id, tick) and the
 *   count returned. Bucket entries stay in their bucket until passed over, even after `remove`, so
 *   `advance` also returns stale entries: the caller filters them (Waiters.cancel returns false),
 *   and the tick in each entry tells a stale entry from a live one of the same id.
 * - `remove(id, target)` is called exactly once per scheduled waiter when it stops being deadline
 *   tracked, and for every live entry `advance` returned before the next `advance` or
 *   `nextDeadline`; it keeps the active counts and the earliest active tick (`minScheduledTick`) exact.
 * - `nextDeadline()` = (minScheduledTick - currentTick) * tick in ns, relative to the last advanced
 *   tick, or undefined when no deadline is active. No clock read.
 *
 * A deadline fires once floor(now) >= ceil(deadline), so never before it, and at most one tick
 * plus the loop's latency after it. slots = nextPowerOfTwo(ceil(horizon / tick) + 1), so every
 * bucketed target is strictly less than `slots` ticks ahead and two live targets never share a slot.
 * Entries are stored as flat (id, tick) pairs: no allocation per schedule once buckets have grown.
 * Bitsets use 32-bit words (the C loop may use 64-bit words; the semantics do not depend on it).
 */
import { fail } from "./Invariant.ts"
import type { WaiterId } from "./WaiterId.ts"

/** Ticks since the wheel's start. */
export type Tick = number

/** minScheduledTick when no deadline is active (the seed's u64::MAX). */
export const MAX_TICK: Tick = Number.MAX_SAFE_INTEGER

export interface TimeoutWheel {
  readonly tickNanos: number
  readonly maxTimeoutNanos: number
  /** ceil(maxTimeoutNanos / tickNanos): the horizon in ticks. */
  readonly horizonTicks: number
  readonly slots: number
  readonly slotMask: number
  /** The epoch (ns on the loop's clock). */
  readonly start: number
  currentTick: Tick
  /** Earliest active tick, exact unless `minDirty` (read it through `minScheduledTick`). */
  minTick: Tick
  /** The minimum was removed: recompute `minTick` before it is next used. */
  minDirty: boolean
  /** Live deadlines, bucketed and parked. */
  activeDeadlines: number
  /** Per slot: (id, tick) pairs, live and stale. */
  readonly buckets: Array<Array<number>>
  readonly occupied: Uint32Array
  occupiedSlots: number
  readonly activeCounts: Uint32Array
  readonly activeOccupied: Uint32Array
  /** Deadlines beyond the horizon: (id, tick) pairs, all live. */
  readonly parked: Array<number>
  /** Earliest parked tick, MAX_TICK when none. */
  parkedMin: Tick
  /** Output of `advance`: (id, tick) pairs. */
  readonly expired: Array<number>
}

const ceilDiv = (a: number, b: number): number => Math.floor((a + b - 1) / b)

const nextPowerOfTwo = (n: number): number => {
  let p = 1
  while (p < n) p *= 2
  return p
}

/** A wheel with `tickNanos` granularity and a `maxTimeoutNanos` horizon, starting at `start` ns. */
export const make = (tickNanos: number, maxTimeoutNanos: number, start = 0): TimeoutWheel => {
  if (!(Number.isInteger(tickNanos) && tickNanos > 0))
    throw new RangeError(`tick ${tickNanos} ns must be an integer > 0`)
  if (!(Number.isInteger(maxTimeoutNanos) && maxTimeoutNanos > 0)) {
    throw new RangeError(`max timeout ${maxTimeoutNanos} ns must be an integer > 0`)
  }
  const maxTimeout = Math.max(maxTimeoutNanos, tickNanos)
  const horizonTicks = ceilDiv(maxTimeout, tickNanos)
  const slots = nextPowerOfTwo(horizonTicks + 1)
  if (slots > 1 << 24) throw new RangeError(`horizon of ${horizonTicks} ticks needs too many slots`)
  const words = Math.ceil(slots / 32)
  return {
    tickNanos,
    maxTimeoutNanos: maxTimeout,
    horizonTicks,
    slots,
    slotMask: slots - 1,
    start,
    currentTick: 0,
    minTick: MAX_TICK,
    minDirty: false,
    activeDeadlines: 0,
    buckets: Array.from({ length: slots }, () => []),
    occupied: new Uint32Array(words),
    occupiedSlots: 0,
    activeCounts: new Uint32Array(slots),
    activeOccupied: new Uint32Array(words),
    parked: [],
    parkedMin: MAX_TICK,
    expired: [],
  }
}

const slotOf = (w: TimeoutWheel, tick: Tick): number => tick % w.slots

const setBit = (bits: Uint32Array, i: number): void => {
  bits[i >>> 5]! |= 1 << (i & 31)
}
const clearBit = (bits: Uint32Array, i: number): void => {
  bits[i >>> 5]! &= ~(1 << (i & 31))
}
const hasBit = (bits: Uint32Array, i: number): boolean => (bits[i >>> 5]! & (1 << (i & 31))) !== 0

/** The tick a deadline (ns on the loop's clock) fires at, or undefined when it is already due. */
export const targetTick = (w: TimeoutWheel, deadline: number): Tick | undefined => {
  const tick = deadline <= w.start ? 0 : ceilDiv(deadline - w.start, w.tickNanos)
  return tick <= w.currentTick ? undefined : tick
}

/** The tick `now` falls in. */
export const tickAt = (w: TimeoutWheel, now: number): Tick =>
  now <= w.start ? 0 : Math.floor((now - w.start) / w.tickNanos)

const bucketPush = (w: TimeoutWheel, id: WaiterId, target: Tick, active: boolean): void => {
  const slot = slotOf(w, target)
  const bucket = w.buckets[slot]!
  if (bucket.length === 0) {
    if (hasBit(w.occupied, slot)) fail(`slot ${slot} marked occupied with an empty bucket`)
    setBit(w.occupied, slot)
    w.occupiedSlots++
  }
  bucket.push(id, target)
  if (active && w.activeCounts[slot]!++ === 0) setBit(w.activeOccupied, slot)
}

/** Tracks a deadline; `target` must be after the current tick (as `targetTick` returns). */
export const schedule = (w: TimeoutWheel, id: WaiterId, target: Tick): void => {
  const ahead = target - w.currentTick
  if (!(ahead > 0 && Number.isInteger(target)))
    fail(`schedule of tick ${target} not after current tick ${w.currentTick}`)
  w.activeDeadlines++
  if (!w.minDirty && target < w.minTick) w.minTick = target
  if (ahead >= w.slots) {
    w.parked.push(id, target)
    if (target < w.parkedMin) w.parkedMin = target
    return
  }
  bucketPush(w, id, target, true)
}

const recomputeParkedMin = (w: TimeoutWheel): void => {
  let min = MAX_TICK
  for (let i = 1; i < w.parked.length; i += 2) if (w.parked[i]! < min) min = w.parked[i]!
  w.parkedMin = min
}

/** Earliest active bucketed tick after the current one, else the earliest parked tick. */
const computeMinScheduledTick = (w: TimeoutWheel): Tick => {
  const first = (w.currentTick + 1) % w.slots
  for (let distance = 0; distance < w.slots; ) {
    const slot = (first + distance) & w.slotMask
    const word = w.activeOccupied[slot >>> 5]! >>> (slot & 31)
    if (word === 0) {
      // Skip to the next word (or to the wrap point, whichever is nearer).
      const skip = Math.min(32 - (slot & 31), w.slots - slot)
      distance += skip
      continue
    }
    const found = distance + (31 - Math.clz32(word & -word))
    if (found < w.slots) return w.currentTick + found + 1
    break
  }
  return w.parkedMin
}

/** Stops tracking one scheduled deadline (`id` and `target` as scheduled). */
export const remove = (w: TimeoutWheel, id: WaiterId, target: Tick): void => {
  if (w.activeDeadlines === 0) fail(`remove of tick ${target} with no active deadline`)
  if (target - w.currentTick >= w.slots) {
    let at = -1
    for (let i = 0; i < w.parked.length; i += 2) {
      if (w.parked[i] === id && w.parked[i + 1] === target) {
        at = i
        break
      }
    }
    if (at < 0) fail(`remove of parked tick ${target} for waiter ${id} that is not parked`)
    const last = w.parked.length - 2
    w.parked[at] = w.parked[last]!
    w.parked[at + 1] = w.parked[last + 1]!
    w.parked.length = last
    if (target === w.parkedMin) recomputeParkedMin(w)
  } else {
    const slot = slotOf(w, target)
    if (w.activeCounts[slot] === 0) fail(`remove of tick ${target}: slot ${slot} has no active deadline`)
    if (--w.activeCounts[slot]! === 0) clearBit(w.activeOccupied, slot)
  }
  w.activeDeadlines--
  if (w.activeDeadlines === 0) {
    w.minTick = MAX_TICK
    w.minDirty = false
    return
  }
  // Recomputing now could count an entry `advance` just returned that the caller has not removed
  // yet (and a promoted entry may share its slot), so the minimum is recomputed lazily, by the next
  // `advance` or `nextDeadline`, once the caller has removed every live expired entry.
  if (target === w.minTick) w.minDirty = true
}

/**
 * The earliest active tick (MAX_TICK when none). Contract: call it (like `advance` and
 * `nextDeadline`) only after removing every live entry the last `advance` returned.
 */
export const minScheduledTick = (w: TimeoutWheel): Tick => {
  if (w.minDirty) {
    w.minTick = computeMinScheduledTick(w)
    w.minDirty = false
  }
  return w.minTick
}

const drainSlot = (w: TimeoutWheel, slot: number): void => {
  const bucket = w.buckets[slot]!
  if (bucket.length === 0) fail(`occupied slot ${slot} has an empty bucket`)
  for (let i = 0; i < bucket.length; i++) w.expired.push(bucket[i]!)
  bucket.length = 0
  clearBit(w.occupied, slot)
  w.occupiedSlots--
}

/** Drains occupied slots in [from, to] (slot indices, from <= to). */
const drainRange = (w: TimeoutWheel, from: number, to: number): void => {
  for (let slot = from; slot <= to; slot++) {
    if ((slot & 31) === 0 && w.occupied[slot >>> 5] === 0) {
      slot += 31
      continue
    }
    if (hasBit(w.occupied, slot)) drainSlot(w, slot)
  }
}

const purge = (w: TimeoutWheel): void => {
  for (let slot = 0; slot < w.slots && w.occupiedSlots > 0; slot++) {
    if (hasBit(w.occupied, slot)) {
      w.buckets[slot]!.length = 0
      clearBit(w.occupied, slot)
      w.occupiedSlots--
    }
  }
}

/** Moves parked entries that came into range into their slots, and those already due to `expired`. */
const promote = (w: TimeoutWheel): void => {
  if (w.parkedMin - w.currentTick >= w.slots) return
  let i = 0
  while (i < w.parked.length) {
    const target = w.parked[i + 1]!
    if (target - w.currentTick >= w.slots) {
      i += 2
      continue
    }
    const id = w.parked[i]!
    const last = w.parked.length - 2
    w.parked[i] = w.parked[last]!
    w.parked[i + 1] = w.parked[last + 1]!
    w.parked.length = last
    if (target <= w.currentTick) {
      // Due now: returned at once, and counted active in its slot (without a bucket entry) until
      // the caller removes it, like a bucketed entry that `advance` drained.
      w.expired.push(id, target)
      const slot = slotOf(w, target)
      if (w.activeCounts[slot]!++ === 0) setBit(w.activeOccupied, slot)
      continue
    }
    bucketPush(w, id, target, true)
  }
  recomputeParkedMin(w)
}

/**
 * Moves the wheel's clock to `now` and collects expired entries into `expired`; returns their
 * count (live and stale). Active counts are untouched: the caller removes the ones it acts on.
 */
export const advance = (w: TimeoutWheel, now: number): number => {
  w.expired.length = 0
  const nowTick = tickAt(w, now)
  if (nowTick <= w.currentTick) return 0
  // Before the clock moves: the recomputation scans forward from the current tick.
  minScheduledTick(w)
  const previous = w.currentTick
  w.currentTick = nowTick
  if (w.activeDeadlines === 0) {
    if (w.occupiedSlots > 0) purge(w)
    return 0
  }
  // The buckets the clock passed are drained whether or not a live deadline is due: the stale
  // entries of requests that ended early go too (else they would pile up while one deadline stays
  // pending and none comes due); the caller skips the stale ones.
  if (w.occupiedSlots > 0) {
    if (nowTick - previous >= w.slots) {
      drainRange(w, 0, w.slots - 1)
    } else {
      const from = (previous + 1) % w.slots
      const to = nowTick % w.slots
      if (from <= to) {
        drainRange(w, from, to)
      } else {
        drainRange(w, from, w.slots - 1)
        drainRange(w, 0, to)
      }
    }
  }
  promote(w)
  return w.expired.length / 2
}

/** The i-th expired entry's waiter id. */
export const expiredId = (w: TimeoutWheel, i: number): WaiterId => w.expired[2 * i]!

/** The i-th expired entry's tick. */
export const expiredTick = (w: TimeoutWheel, i: number): Tick => w.expired[2 * i + 1]!

/** Nanoseconds from the last advanced tick to the earliest active deadline, or undefined. */
export const nextDeadline = (w: TimeoutWheel): number | undefined => {
  const min = minScheduledTick(w)
  return min === MAX_TICK ? undefined : Math.max(0, min - w.currentTick) * w.tickNanos
}

/** The absolute time (ns on the loop's clock) of the earliest active deadline's tick, or undefined. */
export const nextExpiry = (w: TimeoutWheel): number | undefined => {
  const min = minScheduledTick(w)
  return min === MAX_TICK ? undefined : w.start + min * w.tickNanos
}
