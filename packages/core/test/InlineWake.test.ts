import { fc, test } from "@fast-check/vitest"
import { describe, expect, it } from "vitest"
import * as InlineWake from "../src/InlineWake.ts"

type Step = (w: InlineWake.InlineWake) => void

/**
 * Every interleaving of the actors' step lists (each actor's steps in order), each run on a fresh
 * state from `make`. Returns how many interleavings ran and the first one that ended with a lost
 * wake-up (`lost`), if any.
 */
const exploreWith = <S>(
  make: () => S,
  isLost: (s: S) => boolean,
  actors: ReadonlyArray<ReadonlyArray<(s: S) => void>>,
): { runs: number; lost: Array<string> | undefined } => {
  let runs = 0
  let lost: Array<string> | undefined
  const positions = actors.map(() => 0)
  const trace: Array<string> = []
  const go = (): void => {
    if (lost !== undefined) return
    if (positions.every((p, i) => p === actors[i]!.length)) {
      runs++
      const w = make()
      for (const name of trace) {
        const [actor, step] = name.split(":").map(Number) as [number, number]
        actors[actor]![step]!(w)
      }
      if (isLost(w)) lost = [...trace]
      return
    }
    for (let i = 0; i < actors.length; i++) {
      if (positions[i]! === actors[i]!.length) continue
      trace.push(`${i}:${positions[i]}`)
      positions[i]!++
      go()
      positions[i]!--
      trace.pop()
    }
  }
  go()
  return { runs, lost }
}

const explore = (actors: ReadonlyArray<ReadonlyArray<Step>>) =>
  exploreWith(InlineWake.make, InlineWake.lostWake, actors)

/** The kernel's actors of a run: `tasks` pieces of task work and `cqes` CQEs. */
const kernel = (tasks: number, cqes: number): Array<ReadonlyArray<Step>> => [
  ...Array.from({ length: tasks }, () => InlineWake.taskWork()),
  ...Array.from({ length: cqes }, () => InlineWake.cqe()),
]

/** The kernels every pass shape is explored against: task work alone, CQEs alone (the second one
 * held back), and both. */
const KERNELS: ReadonlyArray<readonly [number, number]> = [
  [1, 0],
  [2, 0],
  [0, 1],
  [0, 2],
  [1, 1],
  [1, 2],
]

const FAULTS = { enterFails: InlineWake.enterFails, handlePartly: InlineWake.handlePartly } as const

/** A pass after another: the host loop read the eventfd first. */
const then = (...passes: ReadonlyArray<ReadonlyArray<Step>>): Array<Step> =>
  passes.flatMap((pass, i) => (i === 0 ? [...pass] : [InlineWake.acknowledge, ...pass]))

describe("InlineWake", () => {
  it.each(KERNELS)("no wake-up is lost in any interleaving of a pass with %i task works and %i CQEs", (tasks, cqes) => {
    const { runs, lost } = explore([InlineWake.PASS, ...kernel(tasks, cqes)])
    expect(lost).toBeUndefined()
    expect(runs).toBeGreaterThan(10)
  })

  it.each(Object.keys(FAULTS) as Array<keyof typeof FAULTS>)(
    "no wake-up is lost when a pass meets %s (the C fault-injection build's faults), alone or before another pass",
    (name) => {
      const faulty = InlineWake.passWith(FAULTS[name])
      for (const passes of [faulty, then(faulty, InlineWake.PASS), then(faulty, faulty)]) {
        // Two passes against three kernel actors: about half a million runs; two actors suffice.
        for (const [tasks, cqes] of KERNELS.filter(([t, c]) => passes === faulty || t + c <= 2)) {
          const { runs, lost } = explore([passes, ...kernel(tasks, cqes)])
          expect(lost, `${name}, ${passes.length} steps, ${tasks} task works, ${cqes} CQEs`).toBeUndefined()
          expect(runs).toBeGreaterThan(4)
        }
      }
    },
  )

  it("a recheck blind to held-back CQEs (the overflow flag) loses a wake-up", () => {
    const blind: Step = (w) => {
      if (w.taskrun || w.enterAgain || w.cqes > 0) w.eventfd++
    }
    const pass = [InlineWake.disableSignals, InlineWake.handle, InlineWake.enableSignals, blind]
    const { lost } = explore([pass, ...kernel(0, 2)])
    expect(lost).toBeDefined()
  })

  it("a recheck blind to the CQ loses a wake-up after a CQE seen late", () => {
    const blind: Step = (w) => {
      if (w.taskrun || w.overflow || w.enterAgain) w.eventfd++
    }
    const pass = [InlineWake.disableSignals, InlineWake.handlePartly, InlineWake.enableSignals, blind]
    const { lost } = explore([pass, ...kernel(0, 1)])
    expect(lost).toBeDefined()
  })

  it("without the recheck a wake-up is lost (work queued while signals were off)", () => {
    const pass = InlineWake.PASS.filter((step) => step !== InlineWake.recheck)
    const { lost } = explore([pass, ...kernel(1, 0)])
    expect(lost).toBeDefined()
  })

  it("re-enabling signals after the recheck loses a wake-up too (the order matters)", () => {
    const pass = [InlineWake.disableSignals, InlineWake.handle, InlineWake.recheck, InlineWake.enableSignals]
    const { lost } = explore([pass, ...kernel(1, 0)])
    expect(lost).toBeDefined()
  })

  it("a pass whose enter failed announces itself, and the next pass handles what it left", () => {
    const w = InlineWake.make()
    for (const step of InlineWake.taskWork()) step(w)
    expect(w.eventfd).toBe(1)
    InlineWake.acknowledge(w)
    for (const step of InlineWake.passWith(InlineWake.enterFails)) step(w)
    expect(w.eventfd).toBe(1)
    InlineWake.acknowledge(w)
    for (const step of InlineWake.PASS) step(w)
    expect(w).toEqual(InlineWake.make())
  })

  it("a pass started with work already queued handles it and leaves no wake behind it", () => {
    const w = InlineWake.make()
    for (const step of [...InlineWake.taskWork(), ...InlineWake.cqe()]) step(w)
    InlineWake.acknowledge(w)
    for (const step of InlineWake.PASS) step(w)
    expect(w).toEqual(InlineWake.make())
  })

  it("a CQE held back behind a full CQ is announced by the pass that emptied the CQ, and handled by the next", () => {
    const w = InlineWake.make()
    for (const step of [...InlineWake.cqe(), ...InlineWake.cqe()]) step(w)
    expect(w).toMatchObject({ cqes: 1, heldBack: 1, overflow: true, eventfd: 1 })
    InlineWake.acknowledge(w)
    for (const step of InlineWake.PASS) step(w) // the enter found no room; the CQ is handled
    expect(w).toMatchObject({ cqes: 0, heldBack: 1, overflow: true, eventfd: 1 })
    InlineWake.acknowledge(w)
    for (const step of InlineWake.PASS) step(w)
    expect(w).toEqual(InlineWake.make())
  })
})

type RingFdStep = (w: InlineWake.RingFd) => void
const exploreRingFd = (actors: ReadonlyArray<ReadonlyArray<RingFdStep>>) =>
  exploreWith(InlineWake.makeRingFd, InlineWake.lostWakeRingFd, actors)
const completion: ReadonlyArray<RingFdStep> = [InlineWake.completeInKernel]

describe("InlineWake, the ring fd under the host loop's poll", () => {
  it.each([1, 2, 3])("no wake-up is lost in any interleaving of a pass with %i kernel completions", (arrivals) => {
    const { runs, lost } = exploreRingFd([
      InlineWake.PASS_RINGFD,
      ...Array.from({ length: arrivals }, () => completion),
    ])
    expect(lost).toBeUndefined()
    expect(runs).toBeGreaterThan(3)
  })

  it("a pass that leaves SQEs to submit calls itself back, whatever the kernel does meanwhile", () => {
    const pass = [InlineWake.startPass, InlineWake.enterAndReap, InlineWake.leaveSqes, InlineWake.recheckRingFd]
    expect(exploreRingFd([pass, completion, completion]).lost).toBeUndefined()
    const noRecheck = pass.filter((step) => step !== InlineWake.recheckRingFd)
    expect(exploreRingFd([noRecheck]).lost).toBeDefined()
  })

  it("a cancel from JavaScript before or after a pass is run by a due pass; without it, it waits for ever", () => {
    expect(exploreRingFd([[InlineWake.cancel, ...InlineWake.PASS_RINGFD], completion]).lost).toBeUndefined()
    expect(exploreRingFd([[...InlineWake.PASS_RINGFD, InlineWake.cancel], completion]).lost).toBeUndefined()
    expect(exploreRingFd([[...InlineWake.PASS_RINGFD, InlineWake.cancelUnannounced]]).lost).toBeDefined()
  })

  it("task work that arrives after the recheck is announced by the kernel itself, with no due pass", () => {
    const w = InlineWake.makeRingFd()
    for (const step of InlineWake.PASS_RINGFD) step(w)
    InlineWake.completeInKernel(w)
    expect(w.due).toBe(false)
    expect(InlineWake.lostWakeRingFd(w)).toBe(false)
    expect(w.cqes).toBe(1) /* the host loop's poll ran the task work: the ring fd is readable */
  })
})

describe("the publish budget: a chain of requests that complete at once gives the host loop its turn", () => {
  it("a chain whose every completion submits and publishes again yields after PUBLISH_PASSES passes", () => {
    const t = InlineWake.makeTurns()
    let passes = 0
    // each pass delivers the request it took, whose callback submits the next and ends its turn
    for (;;) {
      InlineWake.submit(t)
      if (!InlineWake.publish(t)) break
      passes++
    }
    expect(passes).toBe(InlineWake.PUBLISH_PASSES)
    expect(InlineWake.lostRequest(t)).toBe(false) /* announced: the host loop calls after its timers */
    InlineWake.hostCallback(t)
    expect(t.queued).toBe(0)
    InlineWake.submit(t)
    expect(InlineWake.publish(t)).toBe(true) /* a new host-loop turn: publishes run passes again */
  })

  test.prop([
    fc.array(
      fc.oneof(
        // host-loop callbacks rare enough that runs of publishes often pass the budget
        { arbitrary: fc.constant("publish"), weight: 200 },
        { arbitrary: fc.constant("submit"), weight: 100 },
        { arbitrary: fc.constant("host"), weight: 1 },
      ),
      { maxLength: 3000 },
    ),
  ])(
    "whatever the owner and the host loop do, no request waits unannounced after a publish and no more than PUBLISH_PASSES publish passes run between host-loop callbacks",
    (steps) => {
      const t = InlineWake.makeTurns()
      let run = 0
      for (const step of steps) {
        if (step === "submit") InlineWake.submit(t)
        else if (step === "host") {
          InlineWake.hostCallback(t)
          run = 0
        } else {
          if (InlineWake.publish(t)) run++
          expect(InlineWake.lostRequest(t)).toBe(false)
        }
        expect(run).toBeLessThanOrEqual(InlineWake.PUBLISH_PASSES)
      }
    },
  )
})
