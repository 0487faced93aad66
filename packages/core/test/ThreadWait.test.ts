import { fc, test } from "@fast-check/vitest"
import { describe, expect, it } from "vitest"
import * as Loop from "../src/Loop.ts"
import * as ThreadWait from "../src/ThreadWait.ts"

const fills: ReadonlyArray<Loop.FillResult> = [
  Loop.Drained,
  Loop.AtSubmissionQueueCapacity,
  Loop.AtWaiterCapacity,
  Loop.Disconnected,
]

const facts: fc.Arbitrary<ThreadWait.Facts> = fc.record({
  fill: fc.constantFrom(...fills),
  stagingLeft: fc.boolean(),
  wakePoll: fc.boolean(),
  waitersInFlight: fc.boolean(),
  spinEnabled: fc.boolean(),
  ownerInTurn: fc.boolean(),
  turnWaitSpent: fc.boolean(),
  oneCpu: fc.boolean(),
  ownerOnLoopCpu: fc.boolean(),
})

/** A busy loop with the wake poll and a spin budget, nothing left to stage. */
const busy = (fill: Loop.FillResult, more: Partial<ThreadWait.Facts> = {}): ThreadWait.Facts => ({
  fill,
  stagingLeft: false,
  wakePoll: true,
  waitersInFlight: true,
  spinEnabled: true,
  ownerInTurn: false,
  turnWaitSpent: false,
  oneCpu: false,
  ownerOnLoopCpu: false,
  ...more,
})

/** Every boolean fact: with the four fills, the 1024 combinations. */
const FLAGS = [
  "stagingLeft",
  "wakePoll",
  "waitersInFlight",
  "spinEnabled",
  "ownerInTurn",
  "turnWaitSpent",
  "oneCpu",
  "ownerOnLoopCpu",
] as const satisfies ReadonlyArray<Exclude<keyof ThreadWait.Facts, "fill">>

const idle = (f: ThreadWait.Facts) => f.fill === Loop.Drained && !f.waitersInFlight
const onTheOwnersCpu = (f: ThreadWait.Facts) => f.oneCpu && f.ownerOnLoopCpu
const polls = (w: ThreadWait.Wait) => w === ThreadWait.SpinThenPark || w === ThreadWait.OwnerTurn
/** Outcomes that may sleep in io_uring_enter (a turn wait that runs out blocks). */
const mayBlock = (w: ThreadWait.Wait) =>
  w === ThreadWait.Block || w === ThreadWait.BlockAtCapacity || w === ThreadWait.OwnerTurn

describe("ThreadWait", () => {
  it("names one wait per rule of the thread engine", () => {
    const d = ThreadWait.decide
    expect(d(busy(Loop.Disconnected, { stagingLeft: true }))).toBe(ThreadWait.Drain)
    expect(d(busy(Loop.AtSubmissionQueueCapacity))).toBe(ThreadWait.SubmitOnly)
    expect(d(busy(Loop.AtWaiterCapacity, { stagingLeft: true }))).toBe(ThreadWait.SubmitOnly)
    expect(d(busy(Loop.Drained, { wakePoll: false, waitersInFlight: false }))).toBe(ThreadWait.Park)
    expect(d(busy(Loop.Drained, { wakePoll: false }))).toBe(ThreadWait.SubmitOnly)
    expect(d(busy(Loop.Drained, { waitersInFlight: false }))).toBe(ThreadWait.SpinThenPark)
    expect(d(busy(Loop.Drained, { waitersInFlight: false, spinEnabled: false }))).toBe(ThreadWait.Park)
    expect(d(busy(Loop.Drained, { waitersInFlight: false, oneCpu: true, ownerOnLoopCpu: true }))).toBe(ThreadWait.Park)
    expect(d(busy(Loop.Drained, { waitersInFlight: false, ownerOnLoopCpu: true }))).toBe(ThreadWait.SpinThenPark)
    expect(d(busy(Loop.Drained, { ownerInTurn: true }))).toBe(ThreadWait.OwnerTurn)
    expect(d(busy(Loop.Drained, { ownerInTurn: true, turnWaitSpent: true }))).toBe(ThreadWait.Block)
    expect(d(busy(Loop.Drained, { ownerInTurn: true, oneCpu: true, ownerOnLoopCpu: true }))).toBe(ThreadWait.Block)
    expect(d(busy(Loop.AtWaiterCapacity, { ownerInTurn: true }))).toBe(ThreadWait.BlockAtCapacity)
    expect(d(busy(Loop.Drained))).toBe(ThreadWait.Block)
  })

  test.prop([facts])("drains exactly when disconnected", (f) => {
    expect(ThreadWait.decide(f) === ThreadWait.Drain).toBe(f.fill === Loop.Disconnected)
  })

  test.prop([facts])(
    "never sleeps or polls while the SQ is full or pending cancels / restages are left: submits only",
    (f) => {
      fc.pre(f.fill === Loop.AtSubmissionQueueCapacity || (f.stagingLeft && f.fill !== Loop.Disconnected))
      expect(ThreadWait.decide(f)).toBe(ThreadWait.SubmitOnly)
    },
  )

  test.prop([facts])("submits without waiting only for a full SQ, staging left, or IOPOLL with work", (f) => {
    if (ThreadWait.decide(f) !== ThreadWait.SubmitOnly) return
    expect(f.fill === Loop.AtSubmissionQueueCapacity || f.stagingLeft || (!f.wakePoll && !idle(f))).toBe(true)
  })

  test.prop([facts])("parks or spins only when fully idle (drained, no waiter)", (f) => {
    const w = ThreadWait.decide(f)
    if (w === ThreadWait.Park || w === ThreadWait.SpinThenPark) expect(idle(f)).toBe(true)
  })

  test.prop([facts])(
    "blocks in io_uring_enter only with waiters in flight or at waiter capacity, and with the wake poll",
    (f) => {
      if (!mayBlock(ThreadWait.decide(f))) return
      expect(f.wakePoll).toBe(true)
      expect(f.waitersInFlight || f.fill === Loop.AtWaiterCapacity).toBe(true)
    },
  )

  test.prop([facts])("ignores published work (BlockAtCapacity) exactly at waiter capacity with nothing staged", (f) => {
    expect(ThreadWait.decide(f) === ThreadWait.BlockAtCapacity).toBe(
      f.fill === Loop.AtWaiterCapacity && f.wakePoll && !f.stagingLeft,
    )
  })

  test.prop([facts])("never spins or waits for the turn on a one-CPU loop whose owner is on the loop's CPU", (f) => {
    fc.pre(onTheOwnersCpu(f))
    expect(polls(ThreadWait.decide(f))).toBe(false)
  })

  test.prop([facts])("never polls without a spin budget", (f) => {
    fc.pre(!f.spinEnabled)
    expect(polls(ThreadWait.decide(f))).toBe(false)
  })

  test.prop([facts])(
    "waits for the owner's turn only inside it, drained with waiters in flight, before the turn wait ran out",
    (f) => {
      if (ThreadWait.decide(f) !== ThreadWait.OwnerTurn) return
      expect(f.ownerInTurn && !f.turnWaitSpent && f.fill === Loop.Drained && f.waitersInFlight).toBe(true)
    },
  )

  test.prop([facts])("the owner's CPU matters only on a one-CPU loop", (f) => {
    fc.pre(!f.oneCpu)
    expect(ThreadWait.decide({ ...f, ownerOnLoopCpu: !f.ownerOnLoopCpu })).toBe(ThreadWait.decide(f))
  })

  test.prop([facts])("the turn wait facts matter only when drained with waiters in flight", (f) => {
    fc.pre(!(f.fill === Loop.Drained && f.waitersInFlight))
    const w = ThreadWait.decide(f)
    expect(ThreadWait.decide({ ...f, ownerInTurn: !f.ownerInTurn })).toBe(w)
    expect(ThreadWait.decide({ ...f, turnWaitSpent: !f.turnWaitSpent })).toBe(w)
  })

  it("reaches every outcome over the 1024 combinations of facts", () => {
    const seen = new Set<ThreadWait.Wait>()
    for (const fill of fills) {
      for (let bits = 0; bits < 1 << FLAGS.length; bits++) {
        const flags = Object.fromEntries(FLAGS.map((name, i) => [name, ((bits >> i) & 1) === 1]))
        seen.add(ThreadWait.decide({ fill, ...flags } as unknown as ThreadWait.Facts))
      }
    }
    expect([...seen].map((w) => w._tag).sort()).toEqual(ThreadWait.all.map((w) => w._tag).sort())
  })
})
