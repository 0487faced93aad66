import { describe, expect, it } from "vitest"
import { EAGAIN, ECANCELED } from "../src/Errno.ts"
import { InvariantError } from "../src/Invariant.ts"
import * as Fifo from "../src/Fifo.ts"
import * as Loop from "../src/Loop.ts"
import * as Request from "../src/Request.ts"
import * as SimKernel from "../src/SimKernel.ts"
import * as TimeoutWheel from "../src/TimeoutWheel.ts"
import * as WaiterId from "../src/WaiterId.ts"
import * as Waiters from "../src/Waiters.ts"

const MS = 1_000_000
const QUIET = { retry: 0, error: 0, zero: 0, partial: 0, wakeEnd: 0, reorder: 0, minLatency: 1000, maxLatency: 1000 }

/** A recv on fd 9 never completes unless cancelled; everything else completes fully after 1 µs. */
const blockRecvOnFd9 = (sqe: SimKernel.Sqe) => (sqe.fd === 9 ? { delay: Infinity, result: 0 } : undefined)

const setup = (
  options: { size?: number; tick?: number; horizon?: number; kernel?: Partial<SimKernel.Options> } = {},
) => {
  const size = options.size ?? 8
  const kernel = SimKernel.make({ seed: 7, size, ...QUIET, behaviour: blockRecvOnFd9, ...options.kernel })
  const done: Array<[Request.Request, number]> = []
  const loop = Loop.make(
    { size, timeoutWheelTick: options.tick ?? 5, maxRequestTimeout: options.horizon ?? 60_000 },
    kernel,
    (r) => done.push([r, kernel.time]),
  )
  SimKernel.attach(kernel, loop.waker)
  return { kernel, loop, done }
}

const sync = () => Request.make({ op: Request.OP_SYNC })
const recv = (options: { fd?: number; length?: number; exact?: boolean; deadline?: number } = {}) =>
  Request.make({
    op: Request.OP_RECV,
    fd: options.fd ?? 9,
    length: options.length ?? 8,
    flags: options.exact ? Request.FLAG_EXACT : 0,
    deadline: options.deadline ?? 0,
  })
const outcome = (r: Request.Request) => Request.OUTCOME_NAMES[r.outcome] ?? "PENDING"

/** Inserts a waiter directly (no SQE), as the seed's tests do. */
const insertStaged = (loop: Loop.Loop, request: Request.Request, tick = Waiters.NO_TICK) => {
  const id = Waiters.insert(loop.waiters, request, tick)
  if (tick !== Waiters.NO_TICK) TimeoutWheel.schedule(loop.wheel, id, tick)
  expect(Waiters.stage(loop.waiters, id)).toBe(Waiters.Submit)
  return id
}

describe("Loop: fill submission queue", () => {
  it("returns AtWaiterCapacity when cancel staging fills the SQ, leaving cancels queued", () => {
    const { loop } = setup()
    for (let i = 0; i < 8; i++) {
      const id = insertStaged(loop, sync())
      expect(Waiters.cancel(loop.waiters, id, Request.OUTCOME_TIMEOUT)).toBe(true)
      Fifo.push(loop.pendingCancels, id)
    }
    expect(Loop.fillSubmissionQueue(loop)).toBe(Loop.AtWaiterCapacity)
    expect(loop.pendingCancels.length).toBe(1)
  })

  it("returns AtWaiterCapacity when ready staging fills the SQ, leaving the ready queue non-empty", () => {
    const { loop } = setup()
    for (let i = 0; i < 8; i++) Fifo.push(loop.readyQueue, Waiters.insert(loop.waiters, sync(), Waiters.NO_TICK))
    expect(Loop.fillSubmissionQueue(loop)).toBe(Loop.AtWaiterCapacity)
    expect(loop.readyQueue.length).toBe(1)
  })

  it("returns Disconnected from both early returns when the slab is full and the closed inbound queue is empty", () => {
    for (const queue of ["cancels", "ready"] as const) {
      const { loop } = setup()
      for (let i = 0; i < 8; i++) {
        const id = insertStaged(loop, sync())
        if (queue === "cancels") {
          Waiters.cancel(loop.waiters, id, Request.OUTCOME_TIMEOUT)
          Fifo.push(loop.pendingCancels, id)
        }
      }
      if (queue === "ready") {
        // Make them parked instead of in flight.
        for (let i = 0; i < 8; i++) loop.waiters.inFlight[i] = 0
        for (let i = 0; i < 8; i++) Fifo.push(loop.readyQueue, WaiterId.make(i, 0))
      }
      Loop.close(loop)
      expect(Loop.fillSubmissionQueue(loop)).toBe(Loop.Disconnected)
      expect(queue === "cancels" ? loop.pendingCancels.length : loop.readyQueue.length).toBe(1)
    }
  })

  it("returns AtSubmissionQueueCapacity when fresh requests fill the SQ first (the wake re-arm took one entry)", () => {
    const { loop } = setup()
    for (let i = 0; i < 8; i++) Loop.submit(loop, sync())
    expect(Loop.fillSubmissionQueue(loop)).toBe(Loop.AtSubmissionQueueCapacity)
    expect(loop.waiters.len).toBe(7)
  })

  it("returns AtWaiterCapacity with nothing staged when the slab is full", () => {
    const { loop, kernel } = setup()
    for (let i = 0; i < 8; i++) insertStaged(loop, sync())
    loop.wakeRearmNeeded = false
    Loop.submit(loop, sync())
    expect(Loop.fillSubmissionQueue(loop)).toBe(Loop.AtWaiterCapacity)
    expect(kernel.staged.length).toBe(0)
    expect(loop.inbound.length).toBe(1)
  })

  it("returns AtWaiterCapacity when fresh requests fill the SQ and the slab together", () => {
    const { loop } = setup()
    loop.wakeRearmNeeded = false
    for (let i = 0; i < 9; i++) Loop.submit(loop, sync())
    expect(Loop.fillSubmissionQueue(loop)).toBe(Loop.AtWaiterCapacity)
    expect(loop.waiters.len).toBe(8)
  })

  it("drops a pending cancel of a waiter that is not in flight, and its stage then ends it locally", () => {
    const { loop, kernel, done } = setup()
    const r = recv({ exact: true })
    const id = Waiters.insert(loop.waiters, r, Waiters.NO_TICK)
    Waiters.cancel(loop.waiters, id, Request.OUTCOME_TIMEOUT)
    Fifo.push(loop.pendingCancels, id)
    Fifo.push(loop.readyQueue, id)
    loop.wakeRearmNeeded = false
    expect(Loop.fillSubmissionQueue(loop)).toBe(Loop.Drained)
    expect(kernel.staged.length).toBe(0)
    expect(done.map(([d]) => outcome(d))).toEqual(["TIMEOUT"])
  })

  it("completes a request whose deadline already passed at once, without a slot or an SQE", () => {
    const { loop, kernel, done } = setup()
    kernel.time = 100 * MS
    Loop.advanceTimeouts(loop)
    TimeoutWheel.advance(loop.wheel, kernel.time)
    loop.wakeRearmNeeded = false
    Loop.submit(loop, recv({ deadline: 50 * MS }))
    expect(Loop.fillSubmissionQueue(loop)).toBe(Loop.Drained)
    expect(done.map(([d]) => outcome(d))).toEqual(["TIMEOUT"])
    expect(loop.waiters.len).toBe(0)
    expect(kernel.staged.length).toBe(0)
  })

  it("ends a caller-cancelled parked request locally as CANCELLED, with an empty slab and no SQE", () => {
    const { loop, kernel, done } = setup()
    const r = recv({ exact: true })
    const id = Waiters.insert(loop.waiters, r, Waiters.NO_TICK)
    Fifo.push(loop.readyQueue, id)
    Loop.cancel(loop, r)
    loop.wakeRearmNeeded = false
    Loop.step(loop)
    expect(done.map(([d]) => outcome(d))).toEqual(["CANCELLED"])
    expect(loop.waiters.len).toBe(0)
    expect(kernel.ops.length).toBe(0)
  })

  it("retires requests whose caller went away before their first SQE and releases their deadlines", () => {
    const { loop, kernel, done } = setup()
    loop.wakeRearmNeeded = false
    for (const op of [Request.OP_SEND, Request.OP_READ_AT]) {
      const r = Request.make({ op, length: 4, deadline: 40 * MS })
      r.orphaned = true
      Loop.submit(loop, r)
    }
    Loop.fillSubmissionQueue(loop)
    expect(done.map(([d]) => outcome(d))).toEqual(["CANCELLED", "CANCELLED"])
    expect(kernel.staged.length).toBe(0)
    expect(loop.wheel.activeDeadlines).toBe(0)
  })

  it("retires a ready-queue entry whose caller went away, releasing its deadline, without an SQE", () => {
    const { loop, kernel, done } = setup()
    const r = recv({ exact: true, deadline: 40 * MS })
    const tick = TimeoutWheel.targetTick(loop.wheel, r.deadline)!
    const id = Waiters.insert(loop.waiters, r, tick)
    TimeoutWheel.schedule(loop.wheel, id, tick)
    Fifo.push(loop.readyQueue, id)
    r.orphaned = true
    loop.wakeRearmNeeded = false
    Loop.fillSubmissionQueue(loop)
    expect(done.map(([d]) => outcome(d))).toEqual(["CANCELLED"])
    expect(kernel.staged.length).toBe(0)
    expect(loop.wheel.activeDeadlines).toBe(0)
  })

  it("keeps the wake re-arm pending when the SQ is full, and stages it first on the next pass", () => {
    const { loop, kernel } = setup({ size: 2 })
    kernel.pushOp(1n, sync())
    kernel.pushOp(2n, sync())
    expect(Loop.fillSubmissionQueue(loop)).toBe(Loop.AtSubmissionQueueCapacity)
    expect(loop.wakeRearmNeeded).toBe(true)
    kernel.submit()
    Loop.fillSubmissionQueue(loop)
    expect(loop.wakeRearmNeeded).toBe(false)
    expect(kernel.staged[0]).toEqual({ _tag: "WakePoll" })
  })

  it("admits queued requests in FIFO order", () => {
    const { loop, kernel } = setup()
    const requests = Array.from({ length: 5 }, (_, tag) => Request.make({ op: Request.OP_NOP, tag }))
    for (const r of requests) Loop.submit(loop, r)
    Loop.fillSubmissionQueue(loop)
    kernel.submit()
    expect(kernel.ops.map((op) => op.request.tag)).toEqual([0, 1, 2, 3, 4])
  })
})

describe("Loop: stale ids and cancel races", () => {
  it("with a one-entry SQ, a cancel left queued behind the wake re-arm is submitted without waiting for a CQE", () => {
    // Every wake CQE ends the multishot poll, so the cancel's wake also asks for a re-arm.
    const { loop, kernel, done } = setup({ size: 1, kernel: { wakeEnd: 1 } })
    const r = recv()
    Loop.submit(loop, r)
    SimKernel.at(kernel, 5 * MS, () => Loop.cancel(loop, r))
    SimKernel.at(kernel, 100 * MS, () => Loop.close(loop))
    SimKernel.run(kernel, loop)
    expect(kernel.cancels.map((c) => c.at)).toEqual([5 * MS])
    expect(done.map(([d, at]) => [outcome(d), at <= 5 * MS + 500_000])).toEqual([["CANCELLED", true]])
  })

  it("staging a stale ready-queue entry is an invariant violation and leaves the reused slot alone", () => {
    const { loop } = setup()
    const stale = insertStaged(loop, sync())
    Waiters.onCompletion(loop.waiters, WaiterId.userData(stale), 0)
    const fresh = Waiters.insert(loop.waiters, sync(), Waiters.NO_TICK)
    Fifo.push(loop.readyQueue, stale)
    loop.wakeRearmNeeded = false
    expect(() => Loop.fillSubmissionQueue(loop)).toThrow(InvariantError)
    expect(Waiters.isLive(loop.waiters, fresh)).toBe(true)
    expect(Waiters.isInFlight(loop.waiters, fresh)).toBe(false)
  })

  it("a stale wheel entry queues no cancel after slot reuse; the live entry does", () => {
    const { loop, kernel } = setup({ tick: 1 })
    const first = insertStaged(loop, recv(), 1)
    Loop.handleCqe(loop, WaiterId.userData(first), 8, false)
    expect(loop.wheel.activeDeadlines).toBe(0)
    const second = insertStaged(loop, recv(), 3)
    kernel.time = 1 * MS
    Loop.advanceTimeouts(loop)
    expect(loop.pendingCancels.length).toBe(0)
    kernel.time = 3 * MS
    Loop.advanceTimeouts(loop)
    expect(Fifo.at(loop.pendingCancels, 0)).toBe(second)
  })

  it("a stale wheel entry does not time out the slot's next occupant early", () => {
    const { loop, kernel, done } = setup({ size: 8, tick: 5, horizon: 200 })
    const first = recv({ fd: 1, deadline: 200 * MS })
    Loop.submit(loop, first)
    SimKernel.run(kernel, loop, 3)
    expect(outcome(first)).toBe("OK")
    const start = kernel.time
    const second = recv({ deadline: start + 80 * MS })
    SimKernel.at(kernel, start, () => Loop.submit(loop, second))
    SimKernel.at(kernel, start + 500 * MS, () => Loop.close(loop))
    SimKernel.run(kernel, loop)
    expect(outcome(second)).toBe("TIMEOUT")
    const [, at] = done.find(([r]) => r === second)!
    expect(at - start).toBeGreaterThanOrEqual(80 * MS)
  })

  it("an op CQE with the full result after a requested cancel still succeeds, and the late cancel CQE is ignored", () => {
    const { loop, done } = setup()
    const r = recv({ length: 5 })
    const id = insertStaged(loop, r, 2)
    TimeoutWheel.remove(loop.wheel, id, 2)
    Waiters.cancel(loop.waiters, id, Request.OUTCOME_TIMEOUT)
    Loop.handleCqe(loop, WaiterId.userData(id), 5, false)
    Loop.handleCqe(loop, WaiterId.cancelUserData(id), -ECANCELED, false)
    expect(done.map(([d]) => [outcome(d), d.result])).toEqual([["OK", 5]])
    expect(loop.waiters.len).toBe(0)
  })

  it("a partial exact recv after its cancel was staged ends TIMEOUT, and the late cancel CQE is ignored", () => {
    const { loop, kernel, done } = setup({ tick: 5, horizon: 100 })
    const r = recv({ exact: true, deadline: 25 * MS })
    Loop.submit(loop, r)
    Loop.step(loop)
    const id = r.waiter
    kernel.time = 25 * MS
    Loop.advanceTimeouts(loop)
    expect(Fifo.at(loop.pendingCancels, 0)).toBe(id)
    Loop.fillSubmissionQueue(loop)
    expect(kernel.staged.at(-1)).toEqual({ _tag: "Cancel", target: WaiterId.userData(id) })
    Loop.handleCqe(loop, WaiterId.userData(id), 3, false)
    expect(done.map(([d]) => [outcome(d), d.result])).toEqual([["TIMEOUT", 3]])
    expect(loop.wheel.activeDeadlines).toBe(0)
    Loop.handleCqe(loop, WaiterId.cancelUserData(id), 0, false)
    expect(done.length).toBe(1)
  })

  it("a request timed out while in the ready queue gets no cancel SQE and ends TIMEOUT when staged", () => {
    const { loop, kernel, done } = setup({ tick: 5, horizon: 100 })
    const r = recv({ fd: 1, exact: true, deadline: 20 * MS })
    Loop.submit(loop, r)
    Loop.fillSubmissionQueue(loop)
    Loop.handleCqe(loop, WaiterId.userData(r.waiter), 2, false)
    expect(loop.readyQueue.length).toBe(1)
    kernel.staged.length = 0
    kernel.time = 20 * MS
    Loop.advanceTimeouts(loop)
    expect(loop.pendingCancels.length).toBe(0)
    Loop.fillSubmissionQueue(loop)
    expect(kernel.staged.length).toBe(0)
    expect(done.map(([d]) => [outcome(d), d.result])).toEqual([["TIMEOUT", 2]])
  })

  it("a caller's cancel of an in-flight request sends one ASYNC_CANCEL and ends CANCELLED", () => {
    const { loop, kernel, done } = setup()
    const r = recv()
    Loop.submit(loop, r)
    SimKernel.at(kernel, 5 * MS, () => Loop.cancel(loop, r))
    SimKernel.at(kernel, 6 * MS, () => Loop.cancel(loop, r))
    SimKernel.at(kernel, 10 * MS, () => Loop.close(loop))
    expect(SimKernel.run(kernel, loop).exited).toBe(true)
    expect(done.map(([d]) => outcome(d))).toEqual(["CANCELLED"])
    expect(kernel.cancels.length).toBe(1)
    expect(done[0]![1]).toBeLessThanOrEqual(5 * MS + 500_000)
  })

  it("a caller's cancel of a request still queued behind full waiters ends it at once, without the kernel", () => {
    const { loop, kernel, done } = setup({ size: 1 })
    const blocker = recv()
    const queued = sync()
    Loop.submit(loop, blocker)
    Loop.submit(loop, queued)
    SimKernel.at(kernel, 2 * MS, () => Loop.cancel(loop, queued))
    SimKernel.at(kernel, 3 * MS, () => Loop.cancel(loop, blocker))
    SimKernel.at(kernel, 4 * MS, () => Loop.close(loop))
    expect(SimKernel.run(kernel, loop).exited).toBe(true)
    expect(done.map(([d, at]) => [d === queued ? "queued" : "blocker", outcome(d), at])).toEqual([
      ["queued", "CANCELLED", 2 * MS],
      ["blocker", "CANCELLED", expect.any(Number)],
    ])
    expect(kernel.ops.map((op) => op.request)).toEqual([blocker])
  })

  it("cancelling a request that already ended is ignored", () => {
    const { loop, kernel, done } = setup()
    const r = sync()
    Loop.submit(loop, r)
    SimKernel.at(kernel, 1 * MS, () => Loop.cancel(loop, r))
    SimKernel.at(kernel, 2 * MS, () => Loop.close(loop))
    SimKernel.run(kernel, loop)
    expect(done.map(([d]) => outcome(d))).toEqual(["OK"])
    expect(kernel.cancels.length).toBe(0)
  })
})

describe("Loop: wake path, timeouts and progress", () => {
  it("a request published while the loop is blocked on another wakes it through the eventfd at once", () => {
    const { loop, kernel, done } = setup()
    Loop.submit(loop, recv())
    SimKernel.at(kernel, 7 * MS, () => Loop.submit(loop, sync()))
    SimKernel.at(kernel, 50 * MS, () => Loop.close(loop, 0))
    SimKernel.run(kernel, loop)
    expect(done.map(([d]) => outcome(d))).toEqual(["OK", "ABANDONED"])
    expect(done[0]![1]).toBe(7 * MS + 1000)
    expect(done[1]![1]).toBeGreaterThanOrEqual(50 * MS) // the cutoff, plus the latency of its cancel
    expect(done[1]![1]).toBeLessThanOrEqual(50 * MS + 500_000)
    expect(loop.waker.writes).toBeGreaterThanOrEqual(1)
  })

  it("a recv and the send that satisfies it both complete through the wake path", () => {
    const { loop, kernel, done } = setup({
      kernel: {
        behaviour: (sqe) => (sqe.op === Request.OP_RECV ? { delay: Infinity, result: 0 } : undefined),
        afterCqe: (sqe, result, k) => {
          if (sqe.op === Request.OP_SEND)
            SimKernel.release(
              k,
              (s) => s.op === Request.OP_RECV,
              () => result,
              1000,
            )
        },
      },
    })
    const r = recv({ length: 5, deadline: 5000 * MS })
    const s = Request.make({ op: Request.OP_SEND, length: 5, deadline: 5000 * MS })
    Loop.submit(loop, r)
    SimKernel.at(kernel, 3 * MS, () => Loop.submit(loop, s))
    SimKernel.at(kernel, 10 * MS, () => Loop.close(loop))
    expect(SimKernel.run(kernel, loop).exited).toBe(true)
    expect(done.map(([d]) => [d === r ? "recv" : "send", outcome(d), d.result])).toEqual([
      ["send", "OK", 5],
      ["recv", "OK", 5],
    ])
  })

  it("a non-exact recv with no data times out", () => {
    const { loop, kernel, done } = setup({ horizon: 1000 })
    const r = recv({ deadline: 1000 * MS })
    Loop.submit(loop, r)
    SimKernel.at(kernel, 2000 * MS, () => Loop.close(loop))
    SimKernel.run(kernel, loop)
    expect(outcome(r)).toBe("TIMEOUT")
    expect(done[0]![1]).toBeGreaterThanOrEqual(1000 * MS)
    expect(done[0]![1]).toBeLessThanOrEqual(1005 * MS + 500_000)
  })

  it("a deadline beyond the horizon is not clamped: it fires on time, not at the horizon", () => {
    const { loop, kernel, done } = setup({ horizon: 50 })
    const r = recv({ deadline: 300 * MS })
    Loop.submit(loop, r)
    SimKernel.at(kernel, 400 * MS, () => Loop.close(loop))
    SimKernel.run(kernel, loop)
    expect(outcome(r)).toBe("TIMEOUT")
    expect(done[0]![1]).toBeGreaterThanOrEqual(300 * MS)
    expect(done[0]![1]).toBeLessThanOrEqual(305 * MS + 500_000)
  })

  it("64 timed recvs on a ring of 8 all time out although their cancels exceed the SQ", () => {
    const { loop, kernel, done } = setup({ size: 8, horizon: 50 })
    for (let i = 0; i < 64; i++) Loop.submit(loop, recv({ deadline: 50 * MS }))
    SimKernel.at(kernel, 2000 * MS, () => Loop.close(loop))
    expect(SimKernel.run(kernel, loop).exited).toBe(true)
    expect(done.length).toBe(64)
    expect(done.every(([d]) => outcome(d) === "TIMEOUT")).toBe(true)
    expect(done.at(-1)![1]).toBeLessThan(500 * MS)
  })

  it("an exact recv is assembled from 40 + 60 byte partial results", () => {
    let calls = 0
    const { loop, kernel, done } = setup({
      kernel: {
        behaviour: (sqe) =>
          sqe.op === Request.OP_RECV ? { delay: 20 * MS, result: calls++ === 0 ? 40 : sqe.length } : undefined,
      },
    })
    const r = recv({ fd: 1, length: 100, exact: true, deadline: 5000 * MS })
    Loop.submit(loop, r)
    SimKernel.at(kernel, 100 * MS, () => Loop.close(loop))
    SimKernel.run(kernel, loop)
    expect(done.map(([d]) => [outcome(d), d.result])).toEqual([["OK", 100]])
    expect(kernel.ops.map((op) => op.length)).toEqual([100, 60])
    expect(loop.stats.requeued).toBe(1)
  })

  it("EAGAIN requeues the request and the retry completes it", () => {
    let calls = 0
    const { loop, kernel } = setup({
      kernel: { behaviour: () => ({ delay: 1000, result: calls++ === 0 ? -EAGAIN : 0 }) },
    })
    const r = sync()
    Loop.submit(loop, r)
    SimKernel.at(kernel, 1 * MS, () => Loop.close(loop))
    SimKernel.run(kernel, loop)
    expect(outcome(r)).toBe("OK")
    expect(kernel.ops.length).toBe(2)
  })
})

describe("Loop: shutdown", () => {
  it("close without a timeout waits for the in-flight request to finish", () => {
    const { loop, kernel, done } = setup({ kernel: { behaviour: () => ({ delay: 30 * MS, result: 0 }) } })
    Loop.submit(loop, sync())
    SimKernel.at(kernel, 1 * MS, () => Loop.close(loop))
    expect(SimKernel.run(kernel, loop).exited).toBe(true)
    expect(done.map(([d, at]) => [outcome(d), at])).toEqual([["OK", 30 * MS]])
  })

  it("close without a timeout keeps processing deadlines: a timed recv still ends TIMEOUT", () => {
    const { loop, kernel } = setup()
    const r = recv({ deadline: 40 * MS })
    Loop.submit(loop, r)
    SimKernel.at(kernel, 1 * MS, () => Loop.close(loop))
    expect(SimKernel.run(kernel, loop).exited).toBe(true)
    expect(outcome(r)).toBe("TIMEOUT")
  })

  it("close with a timeout cancels a recv that never completes: it ends ABANDONED once the cancel lands, not kernel-held", () => {
    const { loop, kernel, done } = setup()
    const r = recv()
    Loop.submit(loop, r)
    SimKernel.at(kernel, 1 * MS, () => Loop.close(loop, 50 * MS))
    expect(SimKernel.run(kernel, loop).exited).toBe(true)
    expect(done.map(([d]) => outcome(d))).toEqual(["ABANDONED"])
    expect(done[0]![1]).toBeGreaterThanOrEqual(51 * MS)
    expect(done[0]![1]).toBeLessThanOrEqual(51 * MS + 500_000) // SimKernel's cancel latency
    expect(kernel.cancels.map((c) => [c.at, c.targetInKernel])).toEqual([[51 * MS, true]])
    expect(r.kernelHeld).toBe(false)
    expect(kernel.running.size).toBe(0)
    expect(loop.stats.abandoned).toBe(1)
  })

  it("a recv whose cancel does not come back within the abandonment grace ends ABANDONED kernel-held", () => {
    // The SimKernel answers a cancel after a random latency up to cancelLatency: 100 s here (seeded).
    const { loop, kernel, done } = setup({ kernel: { cancelLatency: 100_000 * MS } })
    const r = recv()
    Loop.submit(loop, r)
    SimKernel.at(kernel, 1 * MS, () => Loop.close(loop, 50 * MS))
    expect(SimKernel.run(kernel, loop).exited).toBe(true)
    expect(done.map(([d, at]) => [outcome(d), at])).toEqual([["ABANDONED", 51 * MS + Loop.ABANDON_GRACE_NANOS]])
    expect(r.kernelHeld).toBe(true)
    expect(kernel.running.size).toBe(1)
  })

  it("shuts down when the only slot is occupied and the inbound queue is empty", () => {
    const { loop, kernel } = setup({ size: 1 })
    Loop.submit(loop, recv())
    SimKernel.at(kernel, 5 * MS, () => Loop.close(loop, 50 * MS))
    const result = SimKernel.run(kernel, loop)
    expect(result.exited).toBe(true)
    expect(kernel.time).toBeGreaterThanOrEqual(55 * MS)
    expect(kernel.time).toBeLessThanOrEqual(55 * MS + 500_000) // the cutoff's cancel lands
  })

  it("still admits and completes a request queued behind full waiter capacity at close", () => {
    const { loop, kernel, done } = setup({ size: 1, kernel: { behaviour: () => ({ delay: 10 * MS, result: 0 }) } })
    const first = sync()
    const queued = sync()
    Loop.submit(loop, first)
    Loop.submit(loop, queued)
    SimKernel.at(kernel, 1 * MS, () => Loop.close(loop))
    expect(SimKernel.run(kernel, loop).exited).toBe(true)
    expect(done.map(([d, at]) => [d === queued, outcome(d), at])).toEqual([
      [false, "OK", 10 * MS],
      [true, "OK", 20 * MS],
    ])
  })

  it("a deadline earlier than the shutdown cutoff still ends TIMEOUT", () => {
    const { loop, kernel } = setup()
    const r = recv({ deadline: 50 * MS })
    Loop.submit(loop, r)
    SimKernel.at(kernel, 1 * MS, () => Loop.close(loop, 500 * MS))
    SimKernel.run(kernel, loop)
    expect(outcome(r)).toBe("TIMEOUT")
  })

  it("a shutdown cutoff earlier than the deadline abandons the request instead of timing it out", () => {
    const { loop, kernel } = setup()
    const r = recv({ deadline: 500 * MS })
    Loop.submit(loop, r)
    SimKernel.at(kernel, 1 * MS, () => Loop.close(loop, 50 * MS))
    SimKernel.run(kernel, loop)
    expect(outcome(r)).toBe("ABANDONED")
  })

  it("draining keeps restaging a partially complete exact recv until it finishes", () => {
    let calls = 0
    const { loop, kernel } = setup({
      kernel: { behaviour: () => ({ delay: 5 * MS, result: calls++ < 3 ? 2 : 4 }) },
    })
    const r = recv({ fd: 1, length: 10, exact: true })
    Loop.submit(loop, r)
    SimKernel.at(kernel, 1 * MS, () => Loop.close(loop))
    expect(SimKernel.run(kernel, loop).exited).toBe(true)
    expect([outcome(r), r.result, kernel.ops.length]).toEqual(["OK", 10, 4])
  })

  it("a partial exact recv parked in the ready queue times out (it does not leak)", () => {
    const { loop, kernel } = setup({
      kernel: {
        behaviour: (sqe) => (sqe.submittedAt === 0 ? { delay: 1 * MS, result: 3 } : { delay: Infinity, result: 0 }),
      },
    })
    const r = recv({ fd: 1, length: 10, exact: true, deadline: 30 * MS })
    Loop.submit(loop, r)
    SimKernel.at(kernel, 2 * MS, () => Loop.close(loop))
    expect(SimKernel.run(kernel, loop).exited).toBe(true)
    expect([outcome(r), r.result]).toEqual(["TIMEOUT", 3])
  })

  it("the drain phase exits once a local ready-queue timeout ends the last waiter, without an SQE", () => {
    const { loop, kernel } = setup({ tick: 5, horizon: 100 })
    const r = recv({ fd: 1, exact: true, deadline: 20 * MS })
    Loop.submit(loop, r)
    Loop.close(loop)
    Loop.step(loop)
    expect(loop.phase).toBe(Loop.PHASE_DRAINING)
    kernel.submit()
    kernel.running.clear()
    Loop.handleCqe(loop, WaiterId.userData(r.waiter), 2, false)
    kernel.time = 20 * MS
    const sqes = kernel.ops.length
    expect(Loop.step(loop)).toBe(false)
    expect(outcome(r)).toBe("TIMEOUT")
    expect(kernel.ops.length).toBe(sqes)
    expect(kernel.staged.filter((s) => s._tag !== "WakePoll").length).toBe(0)
  })

  it("an idle loop is woken by close and exits", () => {
    const { loop, kernel } = setup()
    SimKernel.at(kernel, 9 * MS, () => Loop.close(loop))
    const result = SimKernel.run(kernel, loop)
    expect([result.exited, kernel.time]).toEqual([true, 9 * MS])
  })

  it("requests submitted after close are refused and untouched", () => {
    const { loop } = setup()
    Loop.close(loop)
    const r = sync()
    expect(Loop.submit(loop, r)).toBe(false)
    expect(r.outcome).toBe(Request.OUTCOME_PENDING)
  })

  it("a zero-length request ends OK with 0 at admission, without the kernel", () => {
    const { loop, kernel, done } = setup()
    Loop.submit(loop, Request.make({ op: Request.OP_SEND, length: 0 }))
    Loop.step(loop)
    expect(done.map(([d]) => [outcome(d), d.result])).toEqual([["OK", 0]])
    expect(kernel.ops.length).toBe(0)
  })
})
