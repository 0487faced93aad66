/**
 * SimKernel: a deterministic simulated kernel implementing Loop.Ring, for driving the Loop through
 * random but reproducible schedules. Time is virtual (ns) and only moves while the loop waits in
 * `submitAndWait`; everything random comes from one seeded PRNG, so a seed replays a run exactly.
 *
 * - An op SQE, once submitted, completes after a random latency in [minLatency, maxLatency] with a
 *   random result: complete, partial (short read/write), EAGAIN/EINTR, an error, or zero (EOF /
 *   closed). A `behaviour` hook can decide instead (e.g. block a recv until a send releases it).
 * - An ASYNC_CANCEL resolves within `cancelLatency`: the op is cancelled (op CQE -ECANCELED, cancel
 *   CQE 0, in either order), or it was already running (-EALREADY: the op completes with its own
 *   result), or it had already completed or been cancelled by an earlier cancel (-ENOENT); a cancel
 *   after one that found it running finds it running still (-EALREADY). The op's CQE always arrives
 *   within `cancelLatency` of the cancel.
 * - A multishot op (recvMany) posts up to three results with IORING_CQE_F_MORE (each a positive
 *   count) at random times before its last CQE, and none after it: a cancel that lands first ends it
 *   with -ECANCELED as any op. Its last CQE is as an op's (0 at end of stream, an error, a retry),
 *   or sometimes a last chunk.
 * - The multishot wake poll posts a CQE for every eventfd write while it is armed (and at once when
 *   armed on a readable eventfd); with probability `wakeEnd` a wake CQE lacks IORING_CQE_F_MORE.
 * - CQEs are posted in completion order, except that with probability `reorder` a new CQE overtakes
 *   the last one still in the CQ.
 * - `futexWait` (the idle park) sleeps until the waker's word changes, as FUTEX_WAIT + FUTEX_WAKE.
 * - `at(time, action)` schedules the outside world (producers submitting, callers cancelling, close).
 *
 * It also records what the properties check: the most ops ever in the kernel at once, every
 * ASYNC_CANCEL with whether its target op was in the kernel, and ops still running when the loop
 * exited (abandoned in the kernel).
 */
import { EAGAIN, EALREADY, ECANCELED, EINTR, EIO, ENOENT, EPIPE } from "./Errno.ts"
import { fail } from "./Invariant.ts"
import * as Loop from "./Loop.ts"
import { BY_OP } from "./Operations.ts"
import * as Request from "./Request.ts"
import * as WaiterId from "./WaiterId.ts"
import type * as Waker from "./Waker.ts"

export interface Options {
  readonly seed: number
  /** SQ entries (the ring size). */
  readonly size: number
  readonly minLatency?: number
  readonly maxLatency?: number
  readonly cancelLatency?: number
  /** Probabilities of each kind of op result (the rest complete fully). */
  readonly retry?: number
  readonly error?: number
  readonly zero?: number
  readonly partial?: number
  readonly wakeEnd?: number
  readonly reorder?: number
  /** Overrides the random decision for an op SQE; `delay: Infinity` blocks it until cancelled or released. */
  readonly behaviour?: (sqe: Sqe, kernel: SimKernel) => Decision | undefined
  /** Called after each op CQE is posted (e.g. a completed send releases a blocked recv). */
  readonly afterCqe?: (sqe: Sqe, result: number, kernel: SimKernel) => void
}

export interface Decision {
  readonly delay: number
  readonly result: number
}

/** An op as the kernel saw it at submission. */
export interface Sqe {
  readonly userData: bigint
  readonly request: Request.Request
  readonly op: number
  readonly fd: number
  /** Bytes asked for. */
  readonly length: number
  readonly submittedAt: number
}

interface Running {
  readonly sqe: Sqe
  completeAt: number
  result: number
  /** Bumped when the completion is rescheduled; stale timer events are ignored. */
  version: number
  /**
   * A cancel decided it (cancelled, or found it already running): another cancel changes nothing
   * (-ENOENT, or -EALREADY while it runs on), as the kernel's.
   */
  cancelled: boolean
}

interface Timer {
  readonly at: number
  readonly order: number
  readonly run: () => void
}

interface Cqe {
  readonly userData: bigint
  readonly result: number
  readonly more: boolean
}

type Staged =
  | { readonly _tag: "Op"; readonly userData: bigint; readonly request: Request.Request; readonly length: number }
  | { readonly _tag: "Cancel"; readonly target: bigint }
  | { readonly _tag: "WakePoll" }

export interface CancelRecord {
  readonly target: bigint
  readonly at: number
  /** The target op had been submitted and its CQE not yet posted. */
  readonly targetInKernel: boolean
}

export interface SimKernel extends Loop.Ring {
  readonly options: Required<Omit<Options, "behaviour" | "afterCqe">> & Pick<Options, "behaviour" | "afterCqe">
  time: number
  random: () => number
  readonly staged: Array<Staged>
  readonly running: Map<bigint, Running>
  readonly cq: Array<Cqe>
  readonly timers: Array<Timer>
  order: number
  waker: Waker.Waker | undefined
  wakePollArmed: boolean
  writesSeen: number
  /** The last wait found nothing that could ever end it: the loop is deadlocked (or idle for good). */
  stuck: boolean
  maxRunning: number
  readonly cancels: Array<CancelRecord>
  readonly ops: Array<Sqe>
  cqeUserData: bigint
  cqeResult: number
  cqeMore: boolean
}

/** mulberry32: a small seeded PRNG. */
const prng = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export const make = (options: Options): SimKernel => {
  const kernel: SimKernel = {
    options: {
      minLatency: 1_000,
      maxLatency: 3_000_000,
      cancelLatency: 500_000,
      retry: 0.1,
      error: 0.05,
      zero: 0.05,
      partial: 0.2,
      wakeEnd: 0.1,
      reorder: 0.2,
      ...options,
    },
    time: 0,
    random: prng(options.seed),
    staged: [],
    running: new Map(),
    cq: [],
    timers: [],
    order: 0,
    waker: undefined,
    wakePollArmed: false,
    writesSeen: 0,
    stuck: false,
    maxRunning: 0,
    cancels: [],
    ops: [],
    cqeUserData: 0n,
    cqeResult: 0,
    cqeMore: false,
    sqSpace: () => kernel.options.size - kernel.staged.length,
    pushOp: (userData, request) => {
      if (kernel.staged.length >= kernel.options.size) fail("pushOp on a full SQ")
      kernel.staged.push({ _tag: "Op", userData, request, length: Request.sqeLength(request) })
    },
    pushCancel: (target) => {
      if (kernel.staged.length >= kernel.options.size) fail("pushCancel on a full SQ")
      kernel.staged.push({ _tag: "Cancel", target })
    },
    pushWakePoll: () => {
      if (kernel.staged.length >= kernel.options.size) fail("pushWakePoll on a full SQ")
      kernel.staged.push({ _tag: "WakePoll" })
    },
    submit: () => submitStaged(kernel),
    submitAndWait: (want, timeout) => submitAndWait(kernel, want, timeout),
    popCqe: () => {
      const cqe = kernel.cq.shift()
      if (cqe === undefined) return false
      kernel.cqeUserData = cqe.userData
      kernel.cqeResult = cqe.result
      kernel.cqeMore = cqe.more
      return true
    },
    now: () => kernel.time,
    futexWait: (waker, snapshot) => futexWait(kernel, waker, snapshot),
  }
  return kernel
}

/** Lets the kernel see the loop's eventfd (for the wake poll). */
export const attach = (kernel: SimKernel, waker: Waker.Waker): void => {
  kernel.waker = waker
  kernel.writesSeen = waker.writes
}

/** Schedules an outside action at virtual time `at`. */
export const at = (kernel: SimKernel, time: number, run: () => void): void => {
  kernel.timers.push({ at: Math.max(time, kernel.time), order: kernel.order++, run })
}

const randomInt = (kernel: SimKernel, min: number, max: number): number =>
  min + Math.floor(kernel.random() * (max - min + 1))

const post = (kernel: SimKernel, cqe: Cqe): void => {
  if (kernel.cq.length > 0 && kernel.random() < kernel.options.reorder) kernel.cq.splice(kernel.cq.length - 1, 0, cqe)
  else kernel.cq.push(cqe)
}

const scheduleCompletion = (kernel: SimKernel, running: Running): void => {
  if (running.completeAt === Infinity) return
  const version = ++running.version
  at(kernel, running.completeAt, () => {
    if (running.version !== version || !kernel.running.has(running.sqe.userData)) return
    kernel.running.delete(running.sqe.userData)
    post(kernel, { userData: running.sqe.userData, result: running.result, more: false })
    kernel.options.afterCqe?.(running.sqe, running.result, kernel)
  })
}

/** A multishot op's results before its last CQE: each posted only while the op is still running. */
const scheduleMore = (kernel: SimKernel, running: Running): void => {
  if (running.result === 0 && kernel.random() < 0.2) running.result = randomInt(kernel, 1, 4096) // a last chunk
  const span = running.completeAt === Infinity ? kernel.options.maxLatency : running.completeAt - kernel.time
  const count = randomInt(kernel, 0, 3)
  for (let i = 0; i < count; i++) {
    const result = randomInt(kernel, 1, 4096)
    at(kernel, kernel.time + randomInt(kernel, 0, span), () => {
      if (kernel.running.get(running.sqe.userData) !== running || kernel.time >= running.completeAt) return
      post(kernel, { userData: running.sqe.userData, result, more: true })
    })
  }
}

/** The random result of one op SQE. */
const decide = (kernel: SimKernel, sqe: Sqe): Decision => {
  const o = kernel.options
  const custom = o.behaviour?.(sqe, kernel)
  if (custom !== undefined) return custom
  const delay = randomInt(kernel, o.minLatency, o.maxLatency)
  const full = BY_OP[sqe.op]?.movesData === true ? sqe.length : 0
  let r = kernel.random()
  if ((r -= o.retry) < 0) return { delay, result: kernel.random() < 0.5 ? -EAGAIN : -EINTR }
  if ((r -= o.error) < 0) return { delay, result: sqe.op === Request.OP_SEND ? -EPIPE : -EIO }
  if ((r -= o.zero) < 0) return { delay, result: 0 }
  if ((r -= o.partial) < 0 && full > 1) return { delay, result: randomInt(kernel, 1, full - 1) }
  return { delay, result: full }
}

const submitStaged = (kernel: SimKernel): void => {
  const staged = kernel.staged.splice(0)
  for (const s of staged) {
    if (s._tag === "Op") {
      if (kernel.running.has(s.userData)) fail(`two ops with user_data ${s.userData} in the kernel`)
      const sqe: Sqe = {
        userData: s.userData,
        request: s.request,
        op: s.request.op,
        fd: s.request.fd,
        length: s.length,
        submittedAt: kernel.time,
      }
      kernel.ops.push(sqe)
      const decision = decide(kernel, sqe)
      const running: Running = {
        sqe,
        completeAt: kernel.time + decision.delay,
        result: decision.result,
        version: 0,
        cancelled: false,
      }
      kernel.running.set(s.userData, running)
      kernel.maxRunning = Math.max(kernel.maxRunning, kernel.running.size)
      if (Request.isMultishot(s.request)) scheduleMore(kernel, running)
      scheduleCompletion(kernel, running)
    } else if (s._tag === "Cancel") {
      cancelOp(kernel, s.target)
    } else {
      kernel.wakePollArmed = true
      if (kernel.waker !== undefined) {
        kernel.writesSeen = kernel.waker.writes
        if (kernel.waker.eventfd > 0) postWake(kernel)
      }
    }
  }
}

const cancelOp = (kernel: SimKernel, target: bigint): void => {
  const running = kernel.running.get(target)
  kernel.cancels.push({ target, at: kernel.time, targetInKernel: running !== undefined })
  const latency = kernel.options.cancelLatency
  const cancelUserData = target | WaiterId.CANCEL_BIT
  const postCancel = (result: number) =>
    at(kernel, kernel.time + randomInt(kernel, 0, latency), () =>
      post(kernel, { userData: cancelUserData, result, more: false }),
    )
  if (running === undefined) return postCancel(-ENOENT)
  // An earlier cancel decided it: cancelled (nothing left to cancel) or already running (still is).
  if (running.cancelled) return postCancel(running.result === -ECANCELED ? -ENOENT : -EALREADY)
  const soon = kernel.time + randomInt(kernel, 0, latency)
  if (kernel.random() < 0.3 && running.completeAt !== Infinity) {
    // Already running: it finishes with its own result, soon.
    running.completeAt = Math.min(running.completeAt, soon)
    running.cancelled = true
    scheduleCompletion(kernel, running)
    return postCancel(-EALREADY)
  }
  if (running.completeAt <= soon) {
    // Completes on its own before the cancel lands: the cancel finds nothing.
    return postCancel(-ENOENT)
  }
  running.completeAt = soon
  running.result = -ECANCELED
  running.cancelled = true
  scheduleCompletion(kernel, running)
  postCancel(0)
}

const postWake = (kernel: SimKernel): void => {
  const more = kernel.random() >= kernel.options.wakeEnd
  post(kernel, { userData: WaiterId.WAKE_USER_DATA, result: 1, more })
  if (!more) kernel.wakePollArmed = false
}

/** Posts a wake CQE for eventfd writes made since the last look, if the poll is armed. */
const checkWake = (kernel: SimKernel): void => {
  const waker = kernel.waker
  if (waker === undefined || waker.writes === kernel.writesSeen) return
  kernel.writesSeen = waker.writes
  if (kernel.wakePollArmed) postWake(kernel)
}

/** Completes a blocked op (delay Infinity) matching `match` after `delay`, with `result`. Returns true if one was found. */
export const release = (
  kernel: SimKernel,
  match: (sqe: Sqe) => boolean,
  result: (sqe: Sqe) => number,
  delay = 0,
): boolean => {
  for (const running of kernel.running.values()) {
    if (running.completeAt !== Infinity || !match(running.sqe)) continue
    running.completeAt = kernel.time + delay
    running.result = result(running.sqe)
    scheduleCompletion(kernel, running)
    return true
  }
  return false
}

const nextTimer = (kernel: SimKernel): number => {
  let best = -1
  for (let i = 0; i < kernel.timers.length; i++) {
    const t = kernel.timers[i]!
    const b = best < 0 ? undefined : kernel.timers[best]!
    if (b === undefined || t.at < b.at || (t.at === b.at && t.order < b.order)) best = i
  }
  return best
}

const submitAndWait = (kernel: SimKernel, want: number, timeout: number | undefined): void => {
  submitStaged(kernel)
  kernel.stuck = false
  const deadline = timeout === undefined ? Infinity : kernel.time + timeout
  for (;;) {
    checkWake(kernel)
    if (kernel.cq.length >= want) return
    const i = nextTimer(kernel)
    const next = i < 0 ? Infinity : kernel.timers[i]!.at
    if (next > deadline) {
      kernel.time = Math.max(kernel.time, deadline)
      return
    }
    if (next === Infinity) {
      kernel.stuck = true
      return
    }
    const [timer] = kernel.timers.splice(i, 1)
    kernel.time = Math.max(kernel.time, next)
    timer!.run()
  }
}

/** FUTEX_WAIT: sleeps (virtual time moves) until the word differs from the snapshot. */
const futexWait = (kernel: SimKernel, waker: Waker.Waker, snapshot: number): void => {
  kernel.stuck = false
  while (waker.word === snapshot) {
    const i = nextTimer(kernel)
    if (i < 0) {
      kernel.stuck = true
      return
    }
    const [timer] = kernel.timers.splice(i, 1)
    kernel.time = Math.max(kernel.time, timer!.at)
    timer!.run()
  }
  checkWake(kernel)
}

/** Runs outside actions due at the current time without waiting (used between loop steps). */
export const runDue = (kernel: SimKernel): void => {
  for (;;) {
    const i = nextTimer(kernel)
    if (i < 0 || kernel.timers[i]!.at > kernel.time) break
    kernel.timers.splice(i, 1)[0]!.run()
  }
  checkWake(kernel)
}

export interface RunResult {
  readonly exited: boolean
  readonly stuck: boolean
  readonly steps: number
}

/** Steps the loop until it exits, deadlocks, or `maxSteps` pass. */
export const run = (kernel: SimKernel, loop: Loop.Loop, maxSteps = 100_000): RunResult => {
  let steps = 0
  while (steps < maxSteps) {
    runDue(kernel)
    if (!Loop.step(loop)) return { exited: true, stuck: false, steps }
    steps++
    if (kernel.stuck) return { exited: false, stuck: true, steps }
  }
  return { exited: false, stuck: false, steps }
}
