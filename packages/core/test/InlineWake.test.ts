import { describe, expect, it } from "vitest"
import * as InlineWake from "../src/InlineWake.ts"

type Step = (w: InlineWake.InlineWake) => void

/**
 * Every interleaving of the actors' step lists (each actor's steps in order). Returns how many
 * interleavings ran and the first one that ended with a lost wake-up, if any.
 */
const explore = (actors: ReadonlyArray<ReadonlyArray<Step>>): { runs: number; lost: Array<string> | undefined } => {
  let runs = 0
  let lost: Array<string> | undefined
  const positions = actors.map(() => 0)
  const trace: Array<string> = []
  const go = (): void => {
    if (lost !== undefined) return
    if (positions.every((p, i) => p === actors[i]!.length)) {
      runs++
      const w = InlineWake.make()
      for (const name of trace) {
        const [actor, step] = name.split(":").map(Number) as [number, number]
        actors[actor]![step]!(w)
      }
      if (InlineWake.lostWake(w)) lost = [...trace]
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
