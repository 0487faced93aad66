import { fc, test } from "@fast-check/vitest"
import { describe, expect, it } from "vitest"
import { InvariantError } from "../src/Invariant.ts"
import * as TimeoutWheel from "../src/TimeoutWheel.ts"

const MS = 1_000_000
const expired = (w: TimeoutWheel.TimeoutWheel, now: number): Array<[number, number]> => {
  const n = TimeoutWheel.advance(w, now)
  return Array.from({ length: n }, (_, i) => [TimeoutWheel.expiredId(w, i), TimeoutWheel.expiredTick(w, i)])
}

describe("TimeoutWheel", () => {
  it("sizes its slots from the horizon, does tick math with ceil for deadlines and floor for now", () => {
    expect(TimeoutWheel.make(5 * MS, 60_000 * MS).slots).toBe(16384)
    expect(TimeoutWheel.make(5 * MS, 1).slots).toBe(2)
    const w = TimeoutWheel.make(5 * MS, 100 * MS)
    expect(TimeoutWheel.tickAt(w, 14 * MS)).toBe(2)
    expect(TimeoutWheel.targetTick(w, 0)).toBeUndefined()
    expect(TimeoutWheel.targetTick(w, 1)).toBe(1)
    expect(TimeoutWheel.advance(w, 35 * MS)).toBe(0)
    expect(w.currentTick).toBe(7)
    expect(TimeoutWheel.targetTick(w, 35 * MS)).toBeUndefined()
    expect(TimeoutWheel.targetTick(w, 35 * MS + 12 * MS)).toBe(10)
  })

  it("does not clamp a deadline beyond the horizon: it parks it and fires it on its own tick", () => {
    const w = TimeoutWheel.make(5 * MS, 100 * MS)
    expect(w.horizonTicks).toBe(20)
    const far = TimeoutWheel.targetTick(w, 1000 * MS)!
    expect(far).toBe(200)
    TimeoutWheel.schedule(w, 1, far)
    expect(w.parked).toEqual([1, 200])
    expect(TimeoutWheel.nextDeadline(w)).toBe(1000 * MS)
    expect(expired(w, 500 * MS)).toEqual([])
    expect(expired(w, 995 * MS)).toEqual([])
    expect(w.parked).toEqual([])
    expect(expired(w, 1000 * MS)).toEqual([[1, 200]])
  })

  it("fires a parked deadline that a large clock jump passed over", () => {
    const w = TimeoutWheel.make(5 * MS, 50 * MS)
    TimeoutWheel.schedule(w, 4, 100)
    TimeoutWheel.schedule(w, 5, 3)
    expect(expired(w, 10_000 * MS)).toEqual([
      [5, 3],
      [4, 100],
    ])
  })

  it("removes a parked deadline and recomputes the earliest one", () => {
    const w = TimeoutWheel.make(1 * MS, 10 * MS)
    TimeoutWheel.schedule(w, 1, 50)
    TimeoutWheel.schedule(w, 2, 40)
    expect(TimeoutWheel.minScheduledTick(w)).toBe(40)
    TimeoutWheel.remove(w, 2, 40)
    expect(TimeoutWheel.minScheduledTick(w)).toBe(50)
    expect(() => TimeoutWheel.remove(w, 3, 50)).toThrow(InvariantError)
    TimeoutWheel.remove(w, 1, 50)
    expect(TimeoutWheel.nextDeadline(w)).toBeUndefined()
    expect(expired(w, 60 * MS)).toEqual([])
  })

  it("an empty wheel advances its clock, time that does not move is a no-op, and future deadlines stay", () => {
    const w = TimeoutWheel.make(5 * MS, 100 * MS)
    expect(TimeoutWheel.advance(w, 20 * MS)).toBe(0)
    expect(w.currentTick).toBe(4)
    expect(TimeoutWheel.advance(w, 19 * MS)).toBe(0)
    expect(w.currentTick).toBe(4)
    TimeoutWheel.schedule(w, 1, 10)
    expect(expired(w, 45 * MS)).toEqual([])
  })

  it("a target computed after an advance expires exactly at its tick", () => {
    const w = TimeoutWheel.make(5 * MS, 100 * MS)
    TimeoutWheel.advance(w, 12 * MS)
    const t = TimeoutWheel.targetTick(w, 12 * MS + 10 * MS)!
    expect(t).toBe(5)
    TimeoutWheel.schedule(w, 9, t)
    expect(expired(w, 24 * MS)).toEqual([])
    expect(expired(w, 25 * MS)).toEqual([[9, 5]])
  })

  it("next deadline moves from 10 ms to 15 ms to none as entries expire and are removed", () => {
    const w = TimeoutWheel.make(5 * MS, 100 * MS)
    TimeoutWheel.schedule(w, 1, 2)
    TimeoutWheel.schedule(w, 2, 3)
    expect(TimeoutWheel.nextDeadline(w)).toBe(10 * MS)
    expect(expired(w, 0)).toEqual([])
    TimeoutWheel.remove(w, 1, 2)
    expect(TimeoutWheel.nextDeadline(w)).toBe(15 * MS)
    expect(expired(w, 15 * MS)).toEqual([
      [1, 2],
      [2, 3],
    ])
    TimeoutWheel.remove(w, 2, 3)
    expect(TimeoutWheel.nextDeadline(w)).toBeUndefined()
  })

  it("schedules between advances in interleaved cycles", () => {
    const w = TimeoutWheel.make(1 * MS, 8 * MS)
    for (let round = 0; round < 20; round++) {
      const t = TimeoutWheel.targetTick(w, (round + 3) * MS)!
      TimeoutWheel.schedule(w, round, t)
      const out = expired(w, (round + 3) * MS)
      expect(out).toEqual([[round, round + 3]])
      TimeoutWheel.remove(w, round, round + 3)
      expect(w.activeDeadlines).toBe(0)
    }
  })

  it("with no active deadlines it purges stale buckets and still moves the clock", () => {
    const w = TimeoutWheel.make(1 * MS, 8 * MS)
    TimeoutWheel.schedule(w, 1, 3)
    TimeoutWheel.remove(w, 1, 3)
    expect(w.occupiedSlots).toBe(1)
    expect(TimeoutWheel.advance(w, 2 * MS)).toBe(0)
    expect(w.occupiedSlots).toBe(0)
    expect(w.currentTick).toBe(2)
  })

  it("returns every waiter of one bucket in insertion order", () => {
    const w = TimeoutWheel.make(1 * MS, 8 * MS)
    for (const id of [5, 3, 9]) TimeoutWheel.schedule(w, id, 4)
    expect(expired(w, 4 * MS)).toEqual([
      [5, 4],
      [3, 4],
      [9, 4],
    ])
  })

  it("drains across the wrap in walk order: the tail of the ring first, then the head", () => {
    const w = TimeoutWheel.make(1 * MS, 31 * MS)
    expect(w.slots).toBe(32)
    TimeoutWheel.advance(w, 29 * MS)
    TimeoutWheel.schedule(w, 1, 31)
    TimeoutWheel.schedule(w, 2, 33)
    TimeoutWheel.schedule(w, 3, 33)
    expect(expired(w, 34 * MS)).toEqual([
      [1, 31],
      [2, 33],
      [3, 33],
    ])
  })

  it("advances across bitset word boundaries (ticks 31/32/33 and 63/64/65)", () => {
    const w = TimeoutWheel.make(1 * MS, 100 * MS)
    for (const t of [31, 32, 33, 63, 64, 65]) TimeoutWheel.schedule(w, t, t)
    expect(expired(w, 32 * MS).map(([id]) => id)).toEqual([31, 32])
    for (const t of [31, 32]) TimeoutWheel.remove(w, t, t)
    expect(TimeoutWheel.minScheduledTick(w)).toBe(33)
    expect(expired(w, 70 * MS).map(([id]) => id)).toEqual([33, 63, 64, 65])
  })

  it("a jump of a full revolution drains every bucket and leaves the wheel reusable", () => {
    const w = TimeoutWheel.make(1 * MS, 7 * MS)
    for (const t of [1, 5, 7]) TimeoutWheel.schedule(w, t, t)
    expect(expired(w, 100 * MS).map(([id]) => id)).toEqual([1, 5, 7])
    for (const t of [1, 5, 7]) TimeoutWheel.remove(w, t, t)
    TimeoutWheel.schedule(w, 8, 103)
    expect(expired(w, 103 * MS)).toEqual([[8, 103]])
  })

  it("keeps the minimum on an early advance, recomputes it when the minimum is removed, keeps it when another is", () => {
    const w = TimeoutWheel.make(1 * MS, 100 * MS)
    TimeoutWheel.schedule(w, 1, 10)
    TimeoutWheel.schedule(w, 2, 20)
    TimeoutWheel.schedule(w, 3, 30)
    TimeoutWheel.advance(w, 5 * MS)
    expect(TimeoutWheel.minScheduledTick(w)).toBe(10)
    TimeoutWheel.remove(w, 2, 20)
    expect(TimeoutWheel.minScheduledTick(w)).toBe(10)
    TimeoutWheel.remove(w, 1, 10)
    expect(TimeoutWheel.minScheduledTick(w)).toBe(30)
  })

  it("after the earliest deadline is removed, an advance past the next one still fires it", () => {
    const w = TimeoutWheel.make(1 * MS, 16 * MS)
    TimeoutWheel.schedule(w, 1, 3)
    TimeoutWheel.schedule(w, 2, 5)
    TimeoutWheel.remove(w, 1, 3)
    expect(expired(w, 6 * MS)).toEqual([
      [1, 3],
      [2, 5],
    ])
  })

  it("the earliest deadline is exact once the due entries are removed: a due entry is never taken for a future tick", () => {
    const w = TimeoutWheel.make(1 * MS, 7 * MS)
    TimeoutWheel.schedule(w, 1, 5)
    TimeoutWheel.schedule(w, 2, 6)
    TimeoutWheel.schedule(w, 3, 20)
    expect(expired(w, 6 * MS)).toEqual([
      [1, 5],
      [2, 6],
    ])
    TimeoutWheel.remove(w, 1, 5)
    TimeoutWheel.remove(w, 2, 6)
    expect(TimeoutWheel.minScheduledTick(w)).toBe(20)
    expect(TimeoutWheel.nextExpiry(w)).toBe(20 * MS)
  })

  it("a parked entry promoted into the slot of a due entry does not keep the minimum in the past", () => {
    const w = TimeoutWheel.make(1 * MS, 1 * MS)
    expect(w.slots).toBe(2)
    TimeoutWheel.schedule(w, 1, 1)
    TimeoutWheel.schedule(w, 2, 37)
    expect(expired(w, 36 * MS)).toEqual([[1, 1]])
    TimeoutWheel.remove(w, 1, 1)
    expect(TimeoutWheel.minScheduledTick(w)).toBe(37)
  })

  it("returns a stale and a live entry of the same id, told apart by their ticks", () => {
    const w = TimeoutWheel.make(1 * MS, 16 * MS)
    TimeoutWheel.schedule(w, 7, 2)
    TimeoutWheel.remove(w, 7, 2)
    TimeoutWheel.schedule(w, 7, 3)
    expect(expired(w, 3 * MS)).toEqual([
      [7, 2],
      [7, 3],
    ])
  })

  it("fails loudly when an occupied bit points at an empty bucket (corrupted occupancy)", () => {
    const w = TimeoutWheel.make(1 * MS, 8 * MS)
    TimeoutWheel.schedule(w, 1, 5)
    w.buckets[5]!.length = 0
    expect(() => TimeoutWheel.advance(w, 6 * MS)).toThrow(InvariantError)
  })

  it("finds no minimum after removing the only deadline at the last slot of the wrapped scan", () => {
    const w = TimeoutWheel.make(1 * MS, 7 * MS)
    TimeoutWheel.advance(w, 6 * MS)
    TimeoutWheel.schedule(w, 1, 7)
    TimeoutWheel.schedule(w, 2, 13)
    TimeoutWheel.remove(w, 2, 13)
    TimeoutWheel.remove(w, 1, 7)
    expect(TimeoutWheel.minScheduledTick(w)).toBe(TimeoutWheel.MAX_TICK)
    expect(TimeoutWheel.nextExpiry(w)).toBeUndefined()
  })

  it("sweeps the stale entries of the buckets the clock passed while a live deadline stays pending and none comes due", () => {
    const w = TimeoutWheel.make(1, 100) // 128 slots
    let live = { id: 0, tick: 0 }
    for (let i = 0; i < 10_000; i++) {
      expect(TimeoutWheel.advance(w, i)).toBeGreaterThanOrEqual(0)
      for (let k = 0; k < w.expired.length / 2; k++) expect(TimeoutWheel.expiredId(w, k)).not.toBe(live.id)
      const next = { id: 1000 + i, tick: i + 50 } // a 50-tick deadline
      TimeoutWheel.schedule(w, next.id, next.tick)
      if (i > 0) TimeoutWheel.remove(w, live.id, live.tick) // the one before ended early
      live = next
    }
    // Only entries whose tick the clock has not reached are left: at most the deadlines' span.
    const left = w.buckets.reduce((n, bucket) => n + bucket.length / 2, 0)
    expect(left).toBeLessThanOrEqual(51)
  })

  it("rejects a zero, negative or fractional tick or horizon", () => {
    expect(() => TimeoutWheel.make(0, MS)).toThrow(RangeError)
    expect(() => TimeoutWheel.make(MS, 0)).toThrow(RangeError)
    expect(() => TimeoutWheel.make(1.5, MS)).toThrow(RangeError)
  })

  it("recomputes the minimum across the wrap and across words (tick 63 at slot 1 becomes 129)", () => {
    const w = TimeoutWheel.make(1 * MS, 100 * MS)
    expect(w.slots).toBe(128)
    TimeoutWheel.advance(w, 63 * MS)
    TimeoutWheel.schedule(w, 1, 64)
    TimeoutWheel.schedule(w, 2, 129)
    TimeoutWheel.remove(w, 1, 64)
    expect(TimeoutWheel.minScheduledTick(w)).toBe(129)
    TimeoutWheel.remove(w, 2, 129)
    expect(TimeoutWheel.minScheduledTick(w)).toBe(TimeoutWheel.MAX_TICK)
  })

  it("refuses schedules that are not in the future, removes without a deadline, and removes of an empty slot", () => {
    const w = TimeoutWheel.make(1 * MS, 8 * MS)
    TimeoutWheel.advance(w, 5 * MS)
    expect(() => TimeoutWheel.schedule(w, 1, 5)).toThrow(InvariantError)
    expect(() => TimeoutWheel.schedule(w, 1, 4)).toThrow(InvariantError)
    expect(() => TimeoutWheel.remove(w, 1, 6)).toThrow(InvariantError)
    TimeoutWheel.schedule(w, 1, 6)
    expect(() => TimeoutWheel.remove(w, 1, 7)).toThrow(InvariantError)
  })

  // A reference list of deadlines against the wheel: whatever the schedule/remove/advance mix,
  // a live deadline is returned exactly once, never before its tick, and on the first advance
  // that reaches it; next deadline is exact.
  const step = fc.oneof(
    fc.record({ kind: fc.constant("schedule" as const), ahead: fc.integer({ min: 1, max: 80 }) }),
    fc.record({ kind: fc.constant("remove" as const), pick: fc.nat() }),
    fc.record({ kind: fc.constant("advance" as const), by: fc.integer({ min: 0, max: 40 }) }),
  )
  test.prop([fc.integer({ min: 1, max: 20 }), fc.array(step, { maxLength: 120 })], { numRuns: 200 })(
    "a deadline fires exactly once, never before its tick and on the first advance that reaches it, parked or not",
    (horizon, steps) => {
      const w = TimeoutWheel.make(1, horizon)
      const live = new Map<number, number>()
      let now = 0
      let nextId = 0
      for (const s of steps) {
        if (s.kind === "schedule") {
          const t = w.currentTick + s.ahead
          live.set(nextId, t)
          TimeoutWheel.schedule(w, nextId++, t)
        } else if (s.kind === "remove") {
          const ids = [...live.keys()]
          if (ids.length === 0) continue
          const id = ids[s.pick % ids.length]!
          TimeoutWheel.remove(w, id, live.get(id)!)
          live.delete(id)
        } else {
          now += s.by
          const n = TimeoutWheel.advance(w, now)
          const fired = new Set<string>()
          for (let i = 0; i < n; i++) {
            const id = TimeoutWheel.expiredId(w, i)
            const t = TimeoutWheel.expiredTick(w, i)
            const entry = `${id}@${t}`
            expect(fired.has(entry)).toBe(false) // each scheduled entry is handed out at most once
            fired.add(entry)
            if (live.get(id) !== t) continue
            expect(t).toBeLessThanOrEqual(w.currentTick)
            TimeoutWheel.remove(w, id, t)
            live.delete(id)
          }
          for (const t of live.values()) expect(t).toBeGreaterThan(w.currentTick)
        }
        const min = Math.min(...live.values())
        expect(w.activeDeadlines).toBe(live.size)
        expect(TimeoutWheel.nextDeadline(w)).toBe(live.size === 0 ? undefined : Math.max(0, min - w.currentTick))
      }
    },
  )
})
