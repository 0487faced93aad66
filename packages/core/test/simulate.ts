// A harness that runs the Loop against the SimKernel from a generated scenario and records what
// the properties check. Not a test file: SimKernel.test.ts and Loop.test.ts use it.
import { fc } from "@fast-check/vitest"
import * as Fifo from "../src/Fifo.ts"
import * as Loop from "../src/Loop.ts"
import * as Operations from "../src/Operations.ts"
import * as Request from "../src/Request.ts"
import * as SimKernel from "../src/SimKernel.ts"
import * as Waiters from "../src/Waiters.ts"

export const MS = 1_000_000
/** ns: the SimKernel's default cancel latency. */
export const CANCEL_LATENCY = 500_000

export interface PlannedRequest {
  readonly op: number
  readonly length: number
  readonly exact: boolean
  readonly vectored: boolean
  /** ms after submission; undefined: no deadline. */
  readonly timeout: number | undefined
  /** ns. */
  readonly at: number
  /** ns after submission; undefined: never cancelled by the caller. */
  readonly cancelAfter: number | undefined
}

export interface Scenario {
  readonly seed: number
  readonly size: number
  readonly tick: number
  readonly horizon: number
  readonly requests: ReadonlyArray<PlannedRequest>
  /** ns; undefined: never closed. */
  readonly closeAt: number | undefined
  /** ms; undefined: close waits for everything. */
  readonly shutdownTimeout: number | undefined
  readonly kernel: Partial<Omit<SimKernel.Options, "seed" | "size">>
}

// The generators aim every outcome at a fair share of scenarios (the coverage guard in
// SimKernel.test.ts counts them): deadlines short against the kernel's latency, bursts that fill
// the waiter table so requests wait in the inbound queue and expire there, early closes with small
// shutdown timeouts, cancels that land while their op is completing, a lockstep kernel whose
// completions coincide with deadline ticks and cancels (so a request is parked in the ready queue
// when its deadline, cancel or the cutoff comes), and a kernel too slow to answer cancels within
// the abandonment grace (kernel-held).

/** ms: none, short against the kernel's latency, or anything up to 40 ms. */
const timeout: fc.Arbitrary<number | undefined> = fc.oneof(
  { weight: 1, arbitrary: fc.constant(undefined) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 4 }) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 40 }) },
)

/** ns: spread over 20 ms, in a burst at the start, or on whole milliseconds (for the lockstep kernel). */
const arrival: fc.Arbitrary<number> = fc.oneof(
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 20 * MS }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: MS / 2 }) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 20 }).map((ms) => ms * MS) },
)

/** ns after submission: spread, or on whole milliseconds. */
const cancelAfter: fc.Arbitrary<number> = fc.oneof(
  fc.integer({ min: 0, max: 10 * MS }),
  fc.integer({ min: 0, max: 10 }).map((ms) => ms * MS),
)

const plannedRequest = (withCancels: boolean): fc.Arbitrary<PlannedRequest> =>
  fc.record({
    op: fc.constantFrom(
      Request.OP_NOP,
      Request.OP_READ_AT,
      Request.OP_WRITE_AT,
      Request.OP_SEND,
      Request.OP_RECV,
      Request.OP_SYNC,
      Request.OP_RECV_MANY,
      Request.OP_ACCEPT_MANY,
    ),
    length: fc.integer({ min: 0, max: 64 }),
    exact: fc.boolean(),
    vectored: fc.boolean(),
    timeout,
    at: arrival,
    cancelAfter: withCancels ? fc.option(cancelAfter, { nil: undefined, freq: 3 }) : fc.constant(undefined),
  })

/** The kernel's latencies and retry rate, which differ between the kernels below. */
interface Timing {
  readonly minLatency: number
  readonly maxLatency: number
  readonly cancelLatency: number
  readonly retry: number
}

const kernelOptions = (timing: fc.Arbitrary<Timing>): fc.Arbitrary<Scenario["kernel"]> =>
  fc
    .record({
      timing,
      partial: fc.constantFrom(0, 0.3),
      error: fc.constantFrom(0, 0.05),
      zero: fc.constantFrom(0, 0.05),
      wakeEnd: fc.constantFrom(0, 0.2),
      reorder: fc.constantFrom(0, 0.5),
    })
    .map(({ timing, ...rest }) => ({ ...timing, ...rest }))

const kernel: fc.Arbitrary<Scenario["kernel"]> = fc.oneof(
  {
    weight: 3,
    arbitrary: kernelOptions(
      fc.record({
        minLatency: fc.constant(1_000),
        maxLatency: fc.constantFrom(100_000, 3 * MS, 15 * MS),
        cancelLatency: fc.constant(CANCEL_LATENCY),
        retry: fc.constantFrom(0, 0.1, 0.3),
      }),
    ),
  },
  // Lockstep: every op takes exactly 1 or 2 ms and many are retried, so a retry's CQE often comes
  // at the very tick of a deadline, cancel or shutdown cutoff: the request is then parked in the
  // ready queue when that catches it.
  {
    weight: 2,
    arbitrary: kernelOptions(
      fc
        .record({ latency: fc.constantFrom(MS, 2 * MS), retry: fc.constantFrom(0.3, 0.6) })
        .map(({ latency, retry }) => ({
          minLatency: latency,
          maxLatency: latency,
          cancelLatency: CANCEL_LATENCY,
          retry,
        })),
    ),
  },
  // Ops and cancels slower than the abandonment grace: what is in the kernel at the shutdown
  // cutoff may still be there when the grace runs out (kernel-held).
  {
    weight: 1,
    arbitrary: kernelOptions(
      fc.record({
        minLatency: fc.constant(1_000),
        maxLatency: fc.constant(300 * MS),
        cancelLatency: fc.constant(300 * MS),
        retry: fc.constantFrom(0, 0.1, 0.3),
      }),
    ),
  },
)

export const scenario = (
  options: {
    readonly close?: "never" | "unbounded" | "bounded" | "any"
    readonly cancels?: boolean
    readonly maxRequests?: number
  } = {},
): fc.Arbitrary<Scenario> => {
  const close = options.close ?? "any"
  // ms: anything up to 20, or small enough to cut work off.
  const shutdownTimeout = fc.oneof(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 3 }))
  return fc.record({
    seed: fc.integer(),
    size: fc.constantFrom(1, 2, 4, 8),
    tick: fc.constantFrom(1, 5),
    horizon: fc.constantFrom(4, 60_000),
    requests: fc.array(plannedRequest(options.cancels ?? true), {
      maxLength: options.maxRequests ?? 30,
      size: "medium",
    }),
    // Anywhere, or early while the first requests are still in the kernel or queued (on a whole
    // millisecond too, for the lockstep kernel).
    closeAt:
      close === "never"
        ? fc.constant(undefined)
        : fc.oneof(
            fc.integer({ min: 0, max: 30 * MS }),
            fc.integer({ min: MS / 2, max: 6 * MS }),
            fc.integer({ min: 1, max: 6 }).map((ms) => ms * MS),
          ),
    shutdownTimeout:
      close === "unbounded" || close === "never"
        ? fc.constant(undefined)
        : close === "bounded"
          ? shutdownTimeout
          : fc.option(shutdownTimeout, { nil: undefined }),
    kernel,
  })
}

/** The scenario's cancel latency: how long an ASYNC_CANCEL's answer (and its op's CQE) may take. */
export const cancelLatency = (s: Scenario): number => s.kernel.cancelLatency ?? CANCEL_LATENCY

export interface Tracked {
  readonly request: Request.Request
  readonly submittedAt: number
  /** First op SQE, or the completion when it ended at admission. */
  admittedAt: number | undefined
  completedAt: number | undefined
  completions: number
  cancelledAt: number | undefined
  sqes: number
  cqes: number
  /** SQEs still in the kernel when the request completed. */
  opsInKernelAtCompletion: number
  /** ASYNC_CANCELs staged for its ops. */
  cancelSqes: number
  /** It ended while still in the inbound queue (cancelled or expired waiting for a waiter slot). */
  endedQueued: boolean
  /** Results of a multishot request published before its completion, and after it (must stay 0). */
  mores: number
  moresAfterEnd: number
}

export interface Outcome {
  readonly loop: Loop.Loop
  readonly kernel: SimKernel.SimKernel
  readonly tracked: Array<Tracked>
  readonly run: { exited: boolean; stuck: boolean; steps: number }
  readonly exitedAt: number | undefined
  readonly closedAt: number | undefined
  readonly maxWaiters: number
}

const buildRequest = (p: PlannedRequest, tag: number, now: number): Request.Request => {
  const data = Operations.BY_OP[p.op]?.movesData === true
  const vectored = p.vectored && (p.op === Request.OP_WRITE_AT || p.op === Request.OP_SEND) && p.length >= 2
  const half = Math.floor(p.length / 2)
  return Request.make({
    op: p.op,
    tag,
    fd: tag % 3,
    flags: p.exact ? Request.FLAG_EXACT : 0,
    ...(vectored ? { iov: [half, p.length - half] } : { length: data ? p.length : 0 }),
    ...(p.timeout === undefined ? {} : { deadline: now + p.timeout * MS + 1 }),
  })
}

/** Runs a scenario to the end (exit, deadlock or the step budget). */
export const simulate = (s: Scenario, extra: Partial<SimKernel.Options> = {}, maxSteps = 50_000): Outcome => {
  const tracked: Array<Tracked> = []
  const byRequest = new Map<Request.Request, Tracked>()
  const byUserData = new Map<bigint, Tracked>()
  const kernel = SimKernel.make({
    seed: s.seed,
    size: s.size,
    ...s.kernel,
    ...extra,
    afterCqe: (sqe, result, k) => {
      const t = byRequest.get(sqe.request)
      if (t !== undefined) t.cqes++
      extra.afterCqe?.(sqe, result, k)
    },
  })
  const loop = Loop.make(
    { size: s.size, timeoutWheelTick: s.tick, maxRequestTimeout: s.horizon },
    kernel,
    (r) => {
      const t = byRequest.get(r)!
      t.completions++
      t.completedAt = kernel.time
      t.admittedAt ??= kernel.time
      t.opsInKernelAtCompletion = t.sqes - t.cqes
      for (let i = 0; i < loop.inbound.length; i++) if (Fifo.at(loop.inbound, i) === r) t.endedQueued = true
    },
    (r) => {
      const t = byRequest.get(r)!
      if (t.completions > 0) t.moresAfterEnd++
      else t.mores++
    },
  )
  SimKernel.attach(kernel, loop.waker)
  const pushOp = kernel.pushOp
  kernel.pushOp = (userData, request) => {
    const t = byRequest.get(request)!
    t.admittedAt ??= kernel.time
    t.sqes++
    pushOp(userData, request)
    byUserData.set(userData, t)
  }
  const pushCancel = kernel.pushCancel
  kernel.pushCancel = (target) => {
    byUserData.get(target)!.cancelSqes++
    pushCancel(target)
  }
  let closedAt: number | undefined
  s.requests.forEach((p, tag) => {
    SimKernel.at(kernel, p.at, () => {
      const request = buildRequest(p, tag, kernel.time)
      const t: Tracked = {
        request,
        submittedAt: kernel.time,
        admittedAt: undefined,
        completedAt: undefined,
        completions: 0,
        cancelledAt: undefined,
        sqes: 0,
        cqes: 0,
        opsInKernelAtCompletion: 0,
        cancelSqes: 0,
        endedQueued: false,
        mores: 0,
        moresAfterEnd: 0,
      }
      if (!Loop.submit(loop, request)) return
      tracked.push(t)
      byRequest.set(request, t)
      if (p.cancelAfter !== undefined) {
        SimKernel.at(kernel, kernel.time + p.cancelAfter, () => {
          if (t.completedAt === undefined) t.cancelledAt = kernel.time
          Loop.cancel(loop, request)
        })
      }
    })
  })
  if (s.closeAt !== undefined) {
    SimKernel.at(kernel, s.closeAt, () => {
      closedAt = kernel.time
      Loop.close(loop, s.shutdownTimeout === undefined ? undefined : s.shutdownTimeout * MS)
    })
  }
  let maxWaiters = 0
  let steps = 0
  let exitedAt: number | undefined
  for (; steps < maxSteps; steps++) {
    SimKernel.runDue(kernel)
    const alive = Loop.step(loop)
    maxWaiters = Math.max(maxWaiters, loop.waiters.len)
    if (loop.waiters.len > s.size) throw new Error(`waiters ${loop.waiters.len} exceed size ${s.size}`)
    if (!alive) {
      exitedAt = kernel.time
      break
    }
    if (kernel.stuck) break
  }
  return {
    loop,
    kernel,
    tracked,
    maxWaiters,
    run: { exited: exitedAt !== undefined, stuck: kernel.stuck, steps },
    exitedAt,
    closedAt,
  }
}

export const outcomeName = (r: Request.Request): string =>
  r.outcome === Request.OUTCOME_PENDING ? "PENDING" : Request.OUTCOME_NAMES[r.outcome]!

const isCancelOutcome = (outcome: number): boolean =>
  outcome === Request.OUTCOME_TIMEOUT || outcome === Request.OUTCOME_CANCELLED || outcome === Request.OUTCOME_ABANDONED

/**
 * How one request ended, for the coverage guard: its outcome; for TIMEOUT, CANCELLED and ABANDONED
 * also where it was caught: `queued` (in the inbound queue, waiting for a slot, or there at the
 * cutoff), `at admission`, `in flight` (ended through its ASYNC_CANCEL), `parked` (after an SQE but
 * without an ASYNC_CANCEL: in the ready queue, ended when staged), `kernel-held`; then the races
 * its cancel was in.
 */
export const paths = (s: Scenario, o: Outcome, t: Tracked): Array<string> => {
  const r = t.request
  const name = outcomeName(r)
  const out: Array<string> = []
  if (!isCancelOutcome(r.outcome)) out.push(name)
  else if (r.kernelHeld) out.push(`${name} kernel-held`)
  // The cutoff takes what is left in the inbound queue out of it before ending it.
  else if (t.sqes === 0)
    out.push(t.endedQueued || r.outcome === Request.OUTCOME_ABANDONED ? `${name} queued` : `${name} at admission`)
  else out.push(t.cancelSqes > 0 ? `${name} in flight` : `${name} parked`)
  if (t.cancelSqes > 0) {
    const cutoff =
      o.closedAt !== undefined && s.shutdownTimeout !== undefined ? o.closedAt + s.shutdownTimeout * MS : Infinity
    if (!isCancelOutcome(r.outcome)) out.push("the op completes while its cancel is in flight")
    if (r.outcome === Request.OUTCOME_TIMEOUT && t.cancelledAt !== undefined)
      out.push("the caller cancels while a deadline's cancel is in flight")
    if (r.outcome === Request.OUTCOME_CANCELLED && Request.hasDeadline(r) && t.completedAt! >= r.deadline)
      out.push("the deadline passes while the caller's cancel is in flight")
    if (r.outcome === Request.OUTCOME_TIMEOUT && t.completedAt! >= cutoff)
      out.push("the shutdown cutoff passes while a deadline's cancel is in flight")
  }
  return out
}

export { Waiters }
