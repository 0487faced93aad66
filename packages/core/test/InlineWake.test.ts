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

const arrival: ReadonlyArray<Step> = [InlineWake.queueWork, InlineWake.signalIfEnabled]

describe("InlineWake", () => {
  it.each([1, 2, 3])("no wake-up is lost in any interleaving of a pass with %i kernel arrivals", (arrivals) => {
    const { runs, lost } = explore([InlineWake.PASS, ...Array.from({ length: arrivals }, () => arrival)])
    expect(lost).toBeUndefined()
    expect(runs).toBeGreaterThan(10)
  })

  it("without the recheck a wake-up is lost (work queued while signals were off)", () => {
    const pass = InlineWake.PASS.filter((step) => step !== InlineWake.recheck)
    const { lost } = explore([pass, arrival])
    expect(lost).toBeDefined()
  })

  it("re-enabling signals after the recheck loses a wake-up too (the order matters)", () => {
    const pass = [InlineWake.disableSignals, InlineWake.handle, InlineWake.recheck, InlineWake.enableSignals]
    const { lost } = explore([pass, arrival])
    expect(lost).toBeDefined()
  })

  it("a pass started with work already queued handles it and leaves no wake behind it", () => {
    const w = InlineWake.make()
    InlineWake.queueWork(w)
    InlineWake.signalIfEnabled(w)
    InlineWake.acknowledge(w)
    for (const step of InlineWake.PASS) step(w)
    expect(w).toEqual({ queued: 0, taskrun: false, signalsOn: true, eventfd: 0 })
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
