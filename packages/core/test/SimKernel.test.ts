import { fc, test } from "@fast-check/vitest"
import { describe, expect, it } from "vitest"
import * as Loop from "../src/Loop.ts"
import * as Request from "../src/Request.ts"
import * as SimKernel from "../src/SimKernel.ts"
import { MS, outcomeName, scenario, simulate } from "./simulate.ts"

// Property tests of the Loop driven by the simulated kernel. A failure prints fast-check's seed
// and path; `test.prop(..., { seed, path })` replays it exactly, because the SimKernel is
// deterministic for a given scenario.
const RUNS = { numRuns: 60 }
const CANCEL_LATENCY = 500_000 // SimKernel's default

describe("SimKernel", () => {
  it("replays the same scenario identically", () => {
    const s = fc.sample(scenario(), { seed: 42, numRuns: 1 })[0]!
    const trace = (o: ReturnType<typeof simulate>) =>
      o.tracked.map((t) => [t.request.tag, outcomeName(t.request), t.request.result, t.completedAt])
    expect(trace(simulate(s))).toEqual(trace(simulate(s)))
  })

  it("answers an ASYNC_CANCEL of a finished op with ENOENT and never cancels an op twice", () => {
    const kernel = SimKernel.make({ seed: 1, size: 4, retry: 0, error: 0, zero: 0, partial: 0, maxLatency: 1000 })
    const r = Request.make({ op: Request.OP_NOP })
    kernel.pushOp(5n, r)
    kernel.submitAndWait(1, undefined)
    expect(kernel.popCqe()).toBe(true)
    expect([kernel.cqeUserData, kernel.cqeResult]).toEqual([5n, 0])
    kernel.pushCancel(5n)
    kernel.submitAndWait(1, undefined)
    expect(kernel.popCqe()).toBe(true)
    expect(kernel.cqeResult).toBe(-2)
    expect(kernel.cancels).toEqual([{ target: 5n, at: kernel.cancels[0]!.at, targetInKernel: false }])
  })

  it("reports a wait that nothing can ever end as stuck", () => {
    const kernel = SimKernel.make({ seed: 1, size: 2, behaviour: () => ({ delay: Infinity, result: 0 }) })
    kernel.pushOp(1n, Request.make({ op: Request.OP_RECV, length: 1 }))
    kernel.submitAndWait(1, undefined)
    expect(kernel.stuck).toBe(true)
  })

  test.prop([scenario({ close: "unbounded" })], RUNS)(
    "every admitted request reaches exactly one terminal outcome, and never while an op of it is in the kernel",
    (s) => {
      const o = simulate(s)
      expect(o.run.exited).toBe(true)
      expect(o.tracked.length).toBe(s.requests.filter((p) => p.at <= s.closeAt!).length)
      for (const t of o.tracked) {
        expect(t.completions).toBe(1)
        expect(t.request.outcome).not.toBe(Request.OUTCOME_PENDING)
        expect(t.opsInKernelAtCompletion).toBe(0)
      }
      expect(o.loop.stats.completed).toBe(o.tracked.length)
    },
  )

  test.prop([scenario()], RUNS)("in-flight requests never exceed the configured size", (s) => {
    const o = simulate(s)
    expect(o.maxWaiters).toBeLessThanOrEqual(s.size)
    expect(o.kernel.maxRunning).toBeLessThanOrEqual(s.size)
  })

  test.prop([scenario({ cancels: false, close: "unbounded" })], RUNS)(
    "no request times out before its deadline, and each ends by its deadline (or admission) + one tick + cancel latency",
    (s) => {
      const o = simulate(s)
      for (const t of o.tracked) {
        const r = t.request
        if (!Request.hasDeadline(r)) continue
        if (r.outcome === Request.OUTCOME_TIMEOUT) expect(t.completedAt!).toBeGreaterThanOrEqual(r.deadline)
        const bound = Math.max(r.deadline, t.admittedAt!) + s.tick * MS + CANCEL_LATENCY
        expect(t.completedAt!).toBeLessThanOrEqual(bound)
      }
    },
  )

  test.prop([scenario({ cancels: false })], RUNS)(
    "a timed-out request gets at most one async cancel, and only while its op is in the kernel",
    (s) => {
      const o = simulate(s)
      const targets = o.kernel.cancels.map((c) => c.target)
      expect(new Set(targets).size).toBe(targets.length)
      for (const c of o.kernel.cancels) expect(c.targetInKernel).toBe(true)
      const cancelled = new Set(targets)
      const timedOutWithCancel = o.kernel.ops.filter((op) => cancelled.has(op.userData)).map((op) => op.request)
      for (const r of timedOutWithCancel) expect(r.deadline).not.toBe(Request.NO_DEADLINE)
    },
  )

  test.prop([scenario({ close: "unbounded" })], RUNS)(
    "shutdown without a timeout ends only when all work is done",
    (s) => {
      const o = simulate(s)
      expect(o.run.exited).toBe(true)
      expect(o.exitedAt!).toBeGreaterThanOrEqual(o.closedAt!)
      expect(o.kernel.running.size).toBe(0)
      for (const t of o.tracked) {
        expect(t.request.outcome).not.toBe(Request.OUTCOME_ABANDONED)
        expect(t.completedAt!).toBeLessThanOrEqual(o.exitedAt!)
      }
    },
  )

  test.prop([scenario({ close: "bounded" })], RUNS)(
    "shutdown with a timeout ends by the timeout and reports exactly the abandoned requests",
    (s) => {
      const o = simulate(s)
      expect(o.run.exited).toBe(true)
      const cutoff = o.closedAt! + s.shutdownTimeout! * MS
      expect(o.exitedAt!).toBeLessThanOrEqual(cutoff)
      const abandoned = o.tracked.filter((t) => t.request.outcome === Request.OUTCOME_ABANDONED)
      expect(o.loop.stats.abandoned).toBe(abandoned.length)
      for (const t of abandoned) expect(t.completedAt).toBe(o.exitedAt)
      if (abandoned.length > 0) expect(o.exitedAt).toBe(cutoff)
      // Every op still in the kernel belongs to an abandoned request (its buffers go to quarantine).
      for (const running of o.kernel.running.values()) {
        expect(running.sqe.request.outcome).toBe(Request.OUTCOME_ABANDONED)
      }
      for (const t of o.tracked) {
        expect(t.completions).toBe(1)
        if (t.request.outcome !== Request.OUTCOME_ABANDONED) expect(t.opsInKernelAtCompletion).toBe(0)
      }
    },
  )

  test.prop([scenario({ close: "unbounded" })], RUNS)(
    "a caller's cancel ends its request within the cancel latency, as CANCELLED unless it finished first",
    (s) => {
      const o = simulate(s)
      for (const t of o.tracked) {
        if (t.cancelledAt === undefined) continue
        expect(t.completedAt!).toBeLessThanOrEqual(t.cancelledAt + CANCEL_LATENCY)
        if (t.request.outcome === Request.OUTCOME_TIMEOUT)
          expect(t.completedAt!).toBeGreaterThanOrEqual(t.request.deadline)
      }
      const cancelled = o.tracked.filter((t) => t.request.outcome === Request.OUTCOME_CANCELLED)
      for (const t of cancelled) expect(t.cancelledAt).toBeDefined()
      expect(o.loop.stats.cancelled).toBe(cancelled.length)
    },
  )

  test.prop([scenario({ close: "any" }), fc.integer()], { numRuns: 30 })(
    "a stale user_data from a reused slot never completes or cancels the new occupant",
    (s, seed) => {
      // Late cancel CQEs (reordered, delayed up to 2 ms) land after their slot was reused.
      const o = simulate({ ...s, seed, size: Math.min(s.size, 2) }, { cancelLatency: 2 * MS, reorder: 0.5 })
      for (const t of o.tracked) {
        expect(t.completions).toBe(1)
        if (t.request.outcome !== Request.OUTCOME_ABANDONED) expect(t.opsInKernelAtCompletion).toBe(0)
        if (t.request.outcome === Request.OUTCOME_TIMEOUT)
          expect(t.completedAt!).toBeGreaterThanOrEqual(t.request.deadline)
        if (t.request.outcome === Request.OUTCOME_CANCELLED) expect(t.cancelledAt).toBeDefined()
      }
    },
  )

  test.prop([scenario({ close: "never" })], { numRuns: 30 })(
    "a loop that is never closed goes idle with nothing in flight and every request answered",
    (s) => {
      const o = simulate(s)
      expect(o.run.stuck).toBe(true)
      expect(o.loop.waiters.len).toBe(0)
      expect(Loop.PHASE_RUNNING).toBe(o.loop.phase)
      for (const t of o.tracked) expect(t.completions).toBe(1)
    },
  )
})
