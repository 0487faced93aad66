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

export const NOP_BATCH = 256
export const NOP_CB_BATCHED = `Driver callback, ${NOP_BATCH} in flight`
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
    const ring = await ctx.ring()
    if (ring.ok) {
      const r = ring.ring
      const nopLoop = (depth: number, budget: number) => {
        const cbs: Array<(e: Error | null) => void> = []
        return callbackLoop(depth, budget, (slot, done) => r.submitNop(0, (cbs[slot] ??= (e) => done(e))))
      }
      variants.push(
        { name: NOP_CB_BATCHED, run: (budget) => nopLoop(NOP_BATCH, budget) },
        { name: "Driver callback, one at a time", run: (budget) => nopLoop(1, budget) },
        {
          name: `Driver Promise, ${NOP_BATCH} in flight`,
          run: (budget) => promiseLoop(NOP_BATCH, budget, () => r.nop()),
        },
        { name: "Driver Promise, one at a time", run: (budget) => promiseLoop(1, budget, () => r.nop()) },
      )
    } else notes.push(`Driver variants skipped: ${ring.reason}`)
    const eff = await ctx.effect()
    if (eff.ok) {
      variants.push(
        {
          name: `Effect service, ${NOP_BATCH} fibers`,
          run: (budget) => effectLoop(eff.io, NOP_BATCH, budget, (s) => s.nop),
        },
        { name: "Effect service, one at a time", run: (budget) => effectLoop(eff.io, 1, budget, (s) => s.nop) },
      )
    } else notes.push(`Effect variants skipped: ${eff.reason}`)
    return {
      comparisons: [{ id: "nop", title: "nop round trips", unit: "ops/s", baseline: REFERENCE, variants, notes }],
      cleanup: () => fs.closeSync(fd),
    }
  },
}
