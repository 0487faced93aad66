/** The pending table alone: slots, generations, the handle ⇄ tag codec, growth and release. */
import { describe, expect, it } from "vitest"
import { COUNTED_FDS, FREE, PendingTable, REFERENCE_NAMES, SLOT_LIMIT } from "../src/PendingTable.ts"

describe("PendingTable", () => {
  it("a handle names its slot and generation; a stale handle names nothing once the slot is reused", () => {
    const t = new PendingTable(4)
    const slot = t.take()
    const handle = t.handleOf(slot)
    expect(handle % SLOT_LIMIT).toBe(slot)
    expect(t.slotOf(handle)).toBe(slot)
    expect(t.holds(slot, t.generation[slot]!)).toBe(true)
    t.release(slot)
    const again = t.take()
    expect(again).toBe(slot)
    expect(t.slotOf(handle)).toBe(-1)
    expect(t.holds(slot, (handle - slot) / SLOT_LIMIT)).toBe(false)
    expect(t.slotOf(t.handleOf(again))).toBe(again)
  })

  it("malformed and unknown handles name no slot", () => {
    const t = new PendingTable(4)
    for (const handle of [0, -1, 1.5, Number.NaN, "1", 2 ** 60, SLOT_LIMIT * 7 + 3]) {
      expect(t.slotOf(handle)).toBe(-1)
    }
  })

  it("grows by doubling and keeps every column's values", () => {
    const t = new PendingTable(2)
    const slots = [t.take(), t.take()]
    t.fd[slots[0]!] = 7
    t.deadline[slots[1]!] = 12.5
    t.setPosition(slots[0]!, 2n ** 40n + 3n)
    const third = t.take()
    expect(t.capacity).toBe(4)
    expect(new Set([...slots, third]).size).toBe(3)
    expect(t.fd[slots[0]!]).toBe(7)
    expect(t.deadline[slots[1]!]).toBe(12.5)
    expect([t.positionLo[slots[0]!], t.positionHi[slots[0]!]]).toEqual([3, 2 ** 8])
    expect(t.outstanding).toBe(3)
  })

  it("every slot in use is below `reached`, which is the most slots ever taken at once, across growth", () => {
    const t = new PendingTable(64)
    let most = 0
    const live: Array<number> = []
    // A seeded walk of takes and releases (releases in an order other than the takes').
    let seed = 12345
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31
    for (let step = 0; step < 5000; step++) {
      if (live.length === 0 || (random() < 0.55 && live.length < 200)) live.push(t.take())
      else t.release(live.splice(Math.floor(random() * live.length), 1)[0]!)
      most = Math.max(most, live.length)
      const above = live.find((slot) => slot >= t.reached)
      if (above !== undefined || t.reached !== most) {
        expect({ step, above, reached: t.reached }).toEqual({ step, above: undefined, reached: most })
      }
    }
    expect(t.capacity).toBeGreaterThan(64) // it grew on the way
  })

  it("splits positions into their 32-bit halves, numbers and bigints alike", () => {
    const t = new PendingTable(1)
    const slot = t.take()
    t.setPosition(slot, 2 ** 53 - 1)
    expect([t.positionLo[slot], t.positionHi[slot]]).toEqual([0xffffffff, 2 ** 21 - 1])
    t.setPosition(slot, (1n << 63n) - 1n)
    expect([t.positionLo[slot], t.positionHi[slot]]).toEqual([0xffffffff, 0x7fffffff])
  })

  it("counts the requests on each fd from countOnFd until release, across growth of the table and of the counts", () => {
    const t = new PendingTable(2)
    const on = (fd: number, counted: boolean) => {
      const slot = t.take()
      t.fd[slot] = fd
      if (counted) t.countOnFd(slot)
      return slot
    }
    const a = on(3, true)
    const b = on(3, true)
    const c = on(3, false) // grows the table; an operation that does not act on its fd
    const d = on(5000, true) // grows the counts past their first 1,024 fds
    expect([t.onFdCount(3), t.onFdCount(5000), t.onFdCount(4), t.onFdCount(COUNTED_FDS - 1)]).toEqual([2, 1, 0, 0])
    t.release(c)
    expect(t.onFdCount(3)).toBe(2)
    t.release(a)
    expect(t.onFdCount(3)).toBe(1)
    // The slot is reused for a request on another fd: the count it left stays with fd 3's other request.
    const e = on(7, true)
    expect(e).toBe(a)
    expect([t.onFdCount(3), t.onFdCount(7)]).toEqual([1, 1])
    for (const slot of [b, d, e]) t.release(slot)
    expect([t.onFdCount(3), t.onFdCount(5000), t.onFdCount(7)]).toEqual([0, 0, 0])
    expect(t.outstanding).toBe(0)
  })

  it("fill sets every column a request has, resets the fd marks a reused slot held, and counts only onFd operations", () => {
    const t = new PendingTable(1)
    const data = new Uint8Array(8)
    const first = t.fill(7, 1, 3, data, 2n ** 40n, 2, 6, 1234.5, true)
    t.fdClosed[first] = 1
    t.markFd[first] = 1
    expect([t.op[first], t.flags[first], t.fd[first], t.offset[first], t.length[first], t.deadline[first]]).toEqual([
      7, 1, 3, 2, 6, 1234.5,
    ])
    expect([t.positionLo[first], t.positionHi[first], t.data[first], t.onFdCount(3)]).toEqual([0, 2 ** 8, data, 1])
    t.release(first)
    const second = t.fill(8, 0, 3, undefined, 0, 0, 0, 0, false)
    expect(second).toBe(first)
    expect([t.fdClosed[second], t.markFd[second], t.data[second], t.onFdCount(3)]).toEqual([0, 0, undefined, 0])
    const none = t.fill(8, 0, -1, undefined, 0, 0, 0, 0, true) // no fd: nothing to count
    expect([t.onFdCounted[none], t.outstanding]).toEqual([0, 2])
  })

  it("does not count an fd from COUNTED_FDS on (a caller's bad number grows nothing): its count is -1, unknown", () => {
    const t = new PendingTable(2)
    for (const fd of [COUNTED_FDS, 2 ** 31 - 1]) {
      const slot = t.take()
      t.fd[slot] = fd
      t.countOnFd(slot)
      expect([t.onFdCounted[slot], t.onFdCount(fd)]).toEqual([0, -1])
      t.release(slot)
    }
    expect([t.onFdCount(COUNTED_FDS - 1), t.outstanding]).toEqual([0, 0])
  })

  it("release drops every reference of the slot and frees it", () => {
    const t = new PendingTable(1)
    const slot = t.take()
    t.data[slot] = new Uint8Array(4)
    t.resolve[slot] = () => {}
    t.reject[slot] = () => {}
    t.signal[slot] = new AbortController().signal
    t.onAbort[slot] = () => {}
    t.site[slot] = { path: "/x" }
    t.map[slot] = () => 0
    t.onChunk[slot] = () => {}
    t.onFd[slot] = () => {}
    t.state[slot] = 2
    // Every column of the list, including one added later: release() spells them out by name.
    const columns = REFERENCE_NAMES.map((name) => t[name] as Array<unknown>)
    for (const column of columns) expect(column[slot]).not.toBeUndefined()
    t.release(slot)
    expect([t.data[slot], t.resolve[slot], t.reject[slot], t.signal[slot], t.onAbort[slot]]).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
    ])
    expect(columns.map((column) => column[slot])).toEqual(REFERENCE_NAMES.map(() => undefined))
    expect(t.state[slot]).toBe(FREE)
    expect(t.outstanding).toBe(0)
  })
})
