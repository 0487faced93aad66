/** The backpressure queue alone, over a pending table: order, dead entries, growth, deadlines. */
import { describe, expect, it } from "vitest"
import { BackpressureQueue } from "../src/Backpressure.ts"
import * as Clock from "../src/Clock.ts"
import { LOCAL, PendingTable, QUEUED } from "../src/PendingTable.ts"

const queued = (t: PendingTable, deadline = 0): number => {
  const slot = t.take()
  t.state[slot] = QUEUED
  t.deadline[slot] = deadline
  return slot
}

describe("BackpressureQueue", () => {
  it("hands entries to submit oldest first and stops at the first it does not take", () => {
    const t = new PendingTable(8)
    const q = new BackpressureQueue(t, () => {})
    const slots = [queued(t), queued(t), queued(t)]
    for (const slot of slots) q.push(slot)
    const taken: Array<number> = []
    q.refill((slot) => taken.length < 2 && taken.push(slot) > 0)
    expect(taken).toEqual(slots.slice(0, 2))
    expect(q.length).toBe(1)
    q.refill((slot) => taken.push(slot) > 0)
    expect(taken).toEqual(slots)
    expect(q.length).toBe(0)
  })

  it("drops entries whose request ended while queued, or whose slot was reused", () => {
    const t = new PendingTable(8)
    const q = new BackpressureQueue(t, () => {})
    const [a, b, c] = [queued(t), queued(t), queued(t)]
    for (const slot of [a, b, c]) q.push(slot)
    t.state[a] = LOCAL // cancelled while queued
    t.release(b)
    const reused = queued(t) // b's slot, next generation
    expect(reused).toBe(b)
    const taken: Array<number> = []
    q.refill((slot) => taken.push(slot) > 0)
    expect(taken).toEqual([c])
  })

  it("keeps order across growth of its ring", () => {
    const t = new PendingTable(256)
    const q = new BackpressureQueue(t, () => {})
    const slots = Array.from({ length: 200 }, () => queued(t))
    q.refill(() => false) // moves the head off 0 before growing
    for (const slot of slots) q.push(slot)
    const taken: Array<number> = []
    q.refill((slot) => taken.push(slot) > 0)
    expect(taken).toEqual(slots)
  })

  it("ends queued requests whose deadline passed, leaves the others, and endAll ends the rest", async () => {
    const t = new PendingTable(8)
    const expired: Array<number> = []
    const q = new BackpressureQueue(t, (slot) => {
      expired.push(slot)
      t.state[slot] = LOCAL
    })
    const past = queued(t, 1) // 1 ms on the monotonic clock: long gone
    const later = queued(t, Clock.now() + 60_000)
    const none = queued(t)
    for (const slot of [past, later, none]) q.push(slot)
    await new Promise((done) => setTimeout(done, 20))
    expect(expired).toEqual([past])
    const ended: Array<number> = []
    q.endAll((slot) => ended.push(slot))
    expect(ended).toEqual([later, none])
    expect(q.length).toBe(0)
    q.dispose()
  })
})
