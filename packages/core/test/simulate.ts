// A harness that runs the Loop against the SimKernel from a generated scenario and records what
// the properties check. Not a test file: SimKernel.test.ts and Loop.test.ts use it.
import { fc } from "@fast-check/vitest"
import * as Loop from "../src/Loop.ts"
import * as Request from "../src/Request.ts"
import * as SimKernel from "../src/SimKernel.ts"
import * as Waiters from "../src/Waiters.ts"

export const MS = 1_000_000

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

const plannedRequest = (withCancels: boolean): fc.Arbitrary<PlannedRequest> =>
  fc.record({
    op: fc.integer({ min: Request.OP_NOP, max: Request.OP_SYNC }),
    length: fc.integer({ min: 0, max: 64 }),
    exact: fc.boolean(),
    vectored: fc.boolean(),
    timeout: fc.option(fc.integer({ min: 0, max: 40 }), { nil: undefined }),
    at: fc.integer({ min: 0, max: 20 * MS }),
    cancelAfter: withCancels
      ? fc.option(fc.integer({ min: 0, max: 10 * MS }), { nil: undefined, freq: 3 })
      : fc.constant(undefined),
  })

export const scenario = (
  options: {
    readonly close?: "never" | "unbounded" | "bounded" | "any"
    readonly cancels?: boolean
    readonly maxRequests?: number
  } = {},
): fc.Arbitrary<Scenario> => {
  const close = options.close ?? "any"
  return fc.record({
    seed: fc.integer(),
    size: fc.constantFrom(1, 2, 4, 8),
    tick: fc.constantFrom(1, 5),
    horizon: fc.constantFrom(4, 60_000),
    requests: fc.array(plannedRequest(options.cancels ?? true), { maxLength: options.maxRequests ?? 30 }),
    closeAt: close === "never" ? fc.constant(undefined) : fc.integer({ min: 0, max: 30 * MS }),
    shutdownTimeout:
      close === "unbounded" || close === "never"
        ? fc.constant(undefined)
        : close === "bounded"
          ? fc.integer({ min: 0, max: 20 })
          : fc.option(fc.integer({ min: 0, max: 20 }), { nil: undefined }),
    kernel: fc.record({
      maxLatency: fc.constantFrom(100_000, 3 * MS, 15 * MS),
      retry: fc.constantFrom(0, 0.1, 0.3),
      partial: fc.constantFrom(0, 0.3),
      error: fc.constantFrom(0, 0.05),
      zero: fc.constantFrom(0, 0.05),
      wakeEnd: fc.constantFrom(0, 0.2),
      reorder: fc.constantFrom(0, 0.5),
    }),
  })
}

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
  const data = p.op !== Request.OP_NOP && p.op !== Request.OP_SYNC
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
  const loop = Loop.make({ size: s.size, timeoutWheelTick: s.tick, maxRequestTimeout: s.horizon }, kernel, (r) => {
    const t = byRequest.get(r)!
    t.completions++
    t.completedAt = kernel.time
    t.admittedAt ??= kernel.time
    t.opsInKernelAtCompletion = t.sqes - t.cqes
  })
  SimKernel.attach(kernel, loop.waker)
  const pushOp = kernel.pushOp
  kernel.pushOp = (userData, request) => {
    const t = byRequest.get(request)!
    t.admittedAt ??= kernel.time
    t.sqes++
    pushOp(userData, request)
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

export { Waiters }
