import { fc, test } from "@fast-check/vitest"
import { describe, expect, it } from "vitest"
import { EALREADY, ECANCELED, EINTR, EINVAL, ENOENT, EPERM } from "../src/Errno.ts"
import { InvariantError } from "../src/Invariant.ts"
import * as Request from "../src/Request.ts"
import * as WaiterId from "../src/WaiterId.ts"
import * as Waiters from "../src/Waiters.ts"

const sync = () => Request.make({ op: Request.OP_SYNC })
const recv = (length = 5, flags = 0) => Request.make({ op: Request.OP_RECV, length, flags })
const { OUTCOME_TIMEOUT: TIMEOUT, OUTCOME_CANCELLED: CANCELLED } = Request
const op = (id: WaiterId.WaiterId) => WaiterId.userData(id)
const cancelOf = (id: WaiterId.WaiterId) => WaiterId.cancelUserData(id)

describe("Waiters", () => {
  it("hands out indices 0, 1 in order, returns the tick on completion and reuses a freed slot with the next generation", () => {
    const w = Waiters.make(4)
    const a = Waiters.insert(w, sync(), 7)
    const b = Waiters.insert(w, sync(), Waiters.NO_TICK)
    expect([WaiterId.index(a), WaiterId.index(b)]).toEqual([0, 1])
    expect(Waiters.stage(w, a)).toBe(Waiters.Submit)
    expect(() => Waiters.onCompletion(w, op(WaiterId.make(0, 5)), 0)).toThrow(InvariantError)
    expect(Waiters.onCompletion(w, op(a), 0)).toBe(Waiters.Complete)
    expect(w.retiredTick).toBe(7)
    expect(w.retired?.outcome).toBe(Request.OUTCOME_OK)
    const c = Waiters.insert(w, sync(), Waiters.NO_TICK)
    expect(WaiterId.index(c)).toBe(0)
    expect(WaiterId.generation(c)).toBe(1)
    expect(w.len).toBe(2)
  })

  it("a cancel CQE never completes a waiter; the op CQE completes it without a tick; a late cancel CQE is ignored", () => {
    const w = Waiters.make(2)
    const id = Waiters.insert(w, recv(), 3)
    expect(Waiters.cancel(w, WaiterId.make(0, 9), TIMEOUT)).toBe(false)
    Waiters.stage(w, id)
    expect(Waiters.cancel(w, id, TIMEOUT)).toBe(true)
    expect(Waiters.onCompletion(w, cancelOf(id), 0)).toBe(Waiters.Cancel)
    expect(Waiters.isLive(w, id)).toBe(true)
    expect(Waiters.onCompletion(w, op(id), -ECANCELED)).toBe(Waiters.Complete)
    expect(w.retiredTick).toBe(Waiters.NO_TICK)
    expect(w.retired?.outcome).toBe(TIMEOUT)
    expect(Waiters.onCompletion(w, cancelOf(id), -ENOENT)).toBe(Waiters.Cancel)
    expect(() => Waiters.onCompletion(w, op(id), 0)).toThrow(InvariantError)
    expect(w.len).toBe(0)
  })

  it("tracks in flight from stage to the op CQE", () => {
    const w = Waiters.make(2)
    const id = Waiters.insert(w, recv(5, Request.FLAG_EXACT), Waiters.NO_TICK)
    expect(Waiters.isInFlight(w, id)).toBe(false)
    Waiters.stage(w, id)
    expect(Waiters.isInFlight(w, id)).toBe(true)
    expect(Waiters.onCompletion(w, op(id), 2)).toBe(Waiters.Requeue)
    expect(w.requeued).toBe(id)
    expect(Waiters.isInFlight(w, id)).toBe(false)
  })

  it("a stale id never reports in flight", () => {
    const w = Waiters.make(1)
    const old = Waiters.insert(w, sync(), Waiters.NO_TICK)
    Waiters.stage(w, old)
    Waiters.onCompletion(w, op(old), 0)
    const fresh = Waiters.insert(w, sync(), Waiters.NO_TICK)
    Waiters.stage(w, fresh)
    expect(Waiters.isInFlight(w, fresh)).toBe(true)
    expect(Waiters.isInFlight(w, old)).toBe(false)
  })

  it("staging an out-of-range or empty slot is an invariant violation, and cancelling it returns false", () => {
    const w = Waiters.make(2)
    expect(() => Waiters.stage(w, WaiterId.make(5, 0))).toThrow(InvariantError)
    expect(() => Waiters.stage(w, WaiterId.make(1, 0))).toThrow(InvariantError)
    expect(() => Waiters.stage(w, WaiterId.NONE)).toThrow(InvariantError)
    expect(Waiters.cancel(w, WaiterId.make(5, 0), TIMEOUT)).toBe(false)
    expect(Waiters.cancel(w, WaiterId.make(1, 0), TIMEOUT)).toBe(false)
  })

  it("cancel and in-flight queries reject out-of-range and empty slots", () => {
    const w = Waiters.make(2)
    expect(Waiters.isInFlight(w, WaiterId.make(3, 0))).toBe(false)
    expect(Waiters.isInFlight(w, WaiterId.make(0, 0))).toBe(false)
    expect(Waiters.cancel(w, WaiterId.make(3, 0), CANCELLED)).toBe(false)
  })

  it("staging a waiter in flight is an invariant violation, cancel requested or not (the kernel holds its memory)", () => {
    const w = Waiters.make(2)
    const active = Waiters.insert(w, recv(), Waiters.NO_TICK)
    const cancelled = Waiters.insert(w, recv(), Waiters.NO_TICK)
    Waiters.stage(w, active)
    Waiters.stage(w, cancelled)
    expect(Waiters.cancel(w, cancelled, TIMEOUT)).toBe(true)
    expect(() => Waiters.stage(w, active)).toThrow(InvariantError)
    expect(() => Waiters.stage(w, cancelled)).toThrow(InvariantError)
    // Nothing ended: both are still the kernel's, and their op CQEs end them.
    expect([Waiters.isInFlight(w, active), Waiters.isInFlight(w, cancelled)]).toEqual([true, true])
  })

  it("a cancel-requested waiter reports in flight only if it was staged", () => {
    const w = Waiters.make(2)
    const staged = Waiters.insert(w, recv(), Waiters.NO_TICK)
    const parked = Waiters.insert(w, recv(), Waiters.NO_TICK)
    Waiters.stage(w, staged)
    Waiters.cancel(w, staged, TIMEOUT)
    Waiters.cancel(w, parked, TIMEOUT)
    expect(Waiters.isInFlight(w, staged)).toBe(true)
    expect(Waiters.isInFlight(w, parked)).toBe(false)
  })

  it("a request whose caller went away is orphaned at its first stage and releases its tick", () => {
    const w = Waiters.make(4)
    for (const kind of [Request.OP_SEND, Request.OP_READ_AT]) {
      const r = Request.make({ op: kind, length: 4 })
      r.orphaned = true
      const id = Waiters.insert(w, r, 9)
      expect(Waiters.stage(w, id)).toBe(Waiters.Orphaned)
      expect(w.retiredTick).toBe(9)
      expect(r.outcome).toBe(CANCELLED)
    }
    expect(w.len).toBe(0)
  })

  it("a request whose caller went away is retired after a retry or partial CQE", () => {
    const w = Waiters.make(4)
    for (const [kind, res] of [
      [Request.OP_SEND, 2],
      [Request.OP_RECV, -11],
      [Request.OP_READ_AT, 1],
    ] as const) {
      const r = Request.make({ op: kind, length: 4, flags: Request.FLAG_EXACT })
      const id = Waiters.insert(w, r, 4)
      Waiters.stage(w, id)
      r.orphaned = true
      expect(Waiters.onCompletion(w, op(id), res)).toBe(Waiters.Complete)
      expect(w.retiredTick).toBe(4)
    }
    expect(w.len).toBe(0)
  })

  it("a durable writeAt or sync is never orphaned: it keeps running after its caller went away", () => {
    const w = Waiters.make(2)
    const r = Request.make({ op: Request.OP_WRITE_AT, length: 4 })
    r.orphaned = true
    const id = Waiters.insert(w, r, Waiters.NO_TICK)
    expect(Waiters.stage(w, id)).toBe(Waiters.Submit)
    expect(Waiters.onCompletion(w, op(id), 2)).toBe(Waiters.Requeue)
    expect(Waiters.stage(w, id)).toBe(Waiters.Submit)
    expect(Waiters.onCompletion(w, op(id), 2)).toBe(Waiters.Complete)
    expect(r.outcome).toBe(Request.OUTCOME_OK)
    const sync = Request.make({ op: Request.OP_SYNC, length: 0 })
    sync.orphaned = true
    const syncId = Waiters.insert(w, sync, Waiters.NO_TICK)
    expect(Waiters.stage(w, syncId)).toBe(Waiters.Submit)
    expect(Waiters.onCompletion(w, op(syncId), -EINTR)).toBe(Waiters.Requeue)
    expect(Waiters.stage(w, syncId)).toBe(Waiters.Submit)
    expect(Waiters.onCompletion(w, op(syncId), 0)).toBe(Waiters.Complete)
    expect(sync.outcome).toBe(Request.OUTCOME_OK)
  })

  it("accepts 0, EALREADY and ENOENT cancel results and leaves the waiter cancel-requested", () => {
    const w = Waiters.make(1)
    const id = Waiters.insert(w, recv(), Waiters.NO_TICK)
    Waiters.stage(w, id)
    Waiters.cancel(w, id, TIMEOUT)
    for (const res of [0, -EALREADY, -ENOENT]) expect(Waiters.onCompletion(w, cancelOf(id), res)).toBe(Waiters.Cancel)
    expect(w.states[0]).toBe(Waiters.STATE_CANCEL_REQUESTED)
    expect(w.unexpectedCancelResults).toBe(0)
  })

  it("tolerates an unexpected negative cancel result and counts it", () => {
    const w = Waiters.make(1)
    const id = Waiters.insert(w, recv(), Waiters.NO_TICK)
    Waiters.stage(w, id)
    expect(Waiters.onCompletion(w, cancelOf(id), -EPERM)).toBe(Waiters.Cancel)
    expect(w.unexpectedCancelResults).toBe(1)
    expect(Waiters.isInFlight(w, id)).toBe(true)
  })

  it("an EINVAL cancel result is an invariant violation", () => {
    const w = Waiters.make(1)
    const id = Waiters.insert(w, recv(), Waiters.NO_TICK)
    Waiters.stage(w, id)
    expect(() => Waiters.onCompletion(w, cancelOf(id), -EINVAL)).toThrow(InvariantError)
  })

  it("a stale id cannot stage, cancel or complete the slot's new occupant", () => {
    const w = Waiters.make(1)
    const old = Waiters.insert(w, recv(), Waiters.NO_TICK)
    Waiters.stage(w, old)
    Waiters.onCompletion(w, op(old), 5)
    const fresh = Waiters.insert(w, recv(), 2)
    expect(() => Waiters.stage(w, old)).toThrow(InvariantError)
    expect(Waiters.cancel(w, old, TIMEOUT)).toBe(false)
    Waiters.stage(w, fresh)
    expect(() => Waiters.onCompletion(w, op(old), 5)).toThrow(InvariantError)
    expect(Waiters.onCompletion(w, cancelOf(old), -EINVAL)).toBe(Waiters.Cancel)
    expect(Waiters.isInFlight(w, fresh)).toBe(true)
    expect(w.states[0]).toBe(Waiters.STATE_ACTIVE)
  })

  it("inserting beyond capacity is an invariant violation; cancel works without a deadline; a second cancel returns false", () => {
    const w = Waiters.make(1)
    const id = Waiters.insert(w, recv(), Waiters.NO_TICK)
    expect(Waiters.isFull(w)).toBe(true)
    expect(() => Waiters.insert(w, recv(), Waiters.NO_TICK)).toThrow(InvariantError)
    expect(Waiters.cancel(w, id, CANCELLED)).toBe(true)
    expect(Waiters.cancel(w, id, TIMEOUT)).toBe(false)
    expect(Waiters.stage(w, id)).toBe(Waiters.Timeout)
    expect(w.retired?.outcome).toBe(CANCELLED)
  })

  it("a waiter cancelled while parked ends locally with its cancel outcome when staged", () => {
    const w = Waiters.make(2)
    const id = Waiters.insert(w, recv(5, Request.FLAG_EXACT), 3)
    Waiters.stage(w, id)
    Waiters.onCompletion(w, op(id), 2)
    expect(Waiters.cancel(w, id, TIMEOUT)).toBe(true)
    expect(Waiters.stage(w, id)).toBe(Waiters.Timeout)
    expect([w.retired?.outcome, w.retired?.result, w.retiredTick]).toEqual([TIMEOUT, 2, Waiters.NO_TICK])
    expect(w.len).toBe(0)
  })

  // Commands against a reference: every transition with a live or a stale id, checking that stale
  // ids never change anything and that each admitted request ends exactly once.
  const command = fc.oneof(
    fc.record({ kind: fc.constant("insert" as const) }),
    fc.record({
      kind: fc.constantFrom("stage", "cancel", "op", "cancelCqe" as const),
      pick: fc.nat(),
      res: fc.integer({ min: -12, max: 3 }),
    }),
  )
  test.prop([fc.integer({ min: 1, max: 4 }), fc.array(command, { maxLength: 80 })], { numRuns: 150 })(
    "a stale user_data never completes or cancels a newer waiter, and every request ends exactly once",
    (capacity, commands) => {
      const w = Waiters.make(capacity)
      const everIssued: Array<WaiterId.WaiterId> = []
      const live = new Map<WaiterId.WaiterId, Request.Request>()
      for (const c of commands) {
        if (c.kind === "insert") {
          if (Waiters.isFull(w)) continue
          const r = recv(3, Request.FLAG_EXACT)
          const id = Waiters.insert(w, r, Waiters.NO_TICK)
          everIssued.push(id)
          live.set(id, r)
          continue
        }
        if (everIssued.length === 0) continue
        const id = everIssued[c.pick % everIssued.length]!
        const isLive = live.has(id)
        const before = [w.len, Array.from(w.states), Array.from(w.inFlight), Array.from(w.generations)]
        const res = c.res === -1 ? -ECANCELED : c.res
        if (c.kind === "stage") {
          if (!isLive) {
            expect(() => Waiters.stage(w, id)).toThrow(InvariantError)
          } else if (Waiters.isInFlight(w, id)) {
            // In flight, cancel requested or not: the kernel holds it, so staging it is a violation.
            expect(() => Waiters.stage(w, id)).toThrow(InvariantError)
            continue
          } else if (Waiters.stage(w, id) !== Waiters.Submit) {
            live.delete(id)
          }
        } else if (c.kind === "cancel") {
          const wasActive = isLive && w.states[WaiterId.index(id)] === Waiters.STATE_ACTIVE
          expect(Waiters.cancel(w, id, TIMEOUT)).toBe(wasActive)
        } else if (c.kind === "cancelCqe") {
          expect(Waiters.onCompletion(w, cancelOf(id), res === -EINVAL ? 0 : res)).toBe(Waiters.Cancel)
          expect([w.len, Array.from(w.states), Array.from(w.inFlight), Array.from(w.generations)]).toEqual(before)
        } else {
          if (!isLive || !Waiters.isInFlight(w, id)) {
            expect(() => Waiters.onCompletion(w, op(id), res)).toThrow(InvariantError)
          } else if (
            Waiters.onCompletion(w, op(id), Math.min(res, Request.sqeLength(live.get(id)!))) === Waiters.Complete
          ) {
            live.delete(id)
          }
        }
        if (!isLive) {
          expect([w.len, Array.from(w.states), Array.from(w.inFlight), Array.from(w.generations)]).toEqual(before)
        }
      }
      expect(w.len).toBe(live.size)
      for (const [id, r] of live) {
        expect(Waiters.get(w, id)).toBe(r)
        expect(r.outcome).toBe(Request.OUTCOME_PENDING)
      }
    },
  )
})
