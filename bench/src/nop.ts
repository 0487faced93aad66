/**
 * nop round trips: the cost of the machinery itself (JS -> inbound queue -> loop thread -> kernel
 * -> completion -> JS callback), batched (256 in flight) and one at a time. The reference is libuv's
 * own round trip through its threadpool (fs.fstat of an open fd), what every node:fs call pays.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import type { Suite } from "./context.ts"
import { callbackLoop, promiseLoop } from "./harness.ts"
import type { Variant } from "./harness.ts"
import { effectLoop } from "./effect.ts"
import { withEngine } from "./ring.ts"

export const NOP_BATCH = 256
export const NOP_CB_BATCHED = `Driver callback, ${NOP_BATCH} in flight`
export const NOP_CB_ONE = "Driver callback, one at a time"
const REFERENCE = `libuv threadpool (fs.fstat), ${NOP_BATCH} in flight`

export const nopSuite: Suite = {
  id: "nop",
  description: "nop round trips, batched and one at a time",
  build: async (ctx) => {
    const fd = fs.openSync(os.devNull, "r")
    const notes: Array<string> = [
      "reference: one libuv threadpool round trip per op (fs.fstat on /dev/null), the machinery node:fs pays per call",
    ]
    const variants: Array<Variant> = [
      {
        name: REFERENCE,
        run: (budget) => callbackLoop(NOP_BATCH, budget, (_slot, done) => fs.fstat(fd, (e) => done(e))),
      },
    ]
    for (const engine of ctx.engines) {
      const ring = await ctx.ring(engine)
      if (!ring.ok) {
        notes.push(`Driver variants (${engine}) skipped: ${ring.reason}`)
        continue
      }
      const r = ring.ring
      const nopLoop = (depth: number, budget: number) => {
        const cbs: Array<(e: Error | null) => void> = []
        return callbackLoop(depth, budget, (slot, done) => r.submitNop(0, (cbs[slot] ??= (e) => done(e))))
      }
      variants.push(
        { name: withEngine(NOP_CB_BATCHED, engine), run: (budget) => nopLoop(NOP_BATCH, budget) },
        { name: withEngine(NOP_CB_ONE, engine), run: (budget) => nopLoop(1, budget) },
        {
          name: withEngine(`Driver Promise, ${NOP_BATCH} in flight`, engine),
          run: (budget) => promiseLoop(NOP_BATCH, budget, () => r.nop()),
        },
        {
          name: withEngine("Driver Promise, one at a time", engine),
          run: (budget) => promiseLoop(1, budget, () => r.nop()),
        },
      )
    }
    for (const engine of ctx.engines) {
      const eff = await ctx.effect(engine)
      if (!eff.ok) {
        notes.push(`Effect variants (${engine}) skipped: ${eff.reason}`)
        continue
      }
      variants.push(
        {
          name: withEngine(`Effect service, ${NOP_BATCH} fibers`, engine),
          run: (budget) => effectLoop(eff.io, NOP_BATCH, budget, (s) => s.nop),
        },
        {
          name: withEngine("Effect service, one at a time", engine),
          run: (budget) => effectLoop(eff.io, 1, budget, (s) => s.nop),
        },
      )
    }
    return {
      comparisons: [{ id: "nop", title: "nop round trips", unit: "ops/s", baseline: REFERENCE, variants, notes }],
      cleanup: () => fs.closeSync(fd),
    }
  },
}
