/**
 * The leak check (`npm run bench -- memory`; about 20 s here): 10 million mixed operations through the
 * Driver's callback API (every other one a nop, the rest 4 KiB readAt from the data file) at QD 64;
 * RSS is sampled after the first million and at the end. Growth within 10% means no per-request leak.
 */
import * as fs from "node:fs"
import type { Suite } from "./context.ts"
import type { ComparisonResult } from "./harness.ts"
import { BLOCK, Offsets } from "./files.ts"
import { si } from "./report.ts"
import { withEngine } from "./ring.ts"

const DEPTH = 64

const gc = (): void => {
  const g = (globalThis as { gc?: () => void }).gc
  if (g) g()
}

export const memorySuite: Suite = {
  id: "memory",
  description: "RSS after 10M mixed callback-API ops (nop + 4 KiB readAt) vs after the first 1M",
  build: async (ctx) => {
    const total = Number(process.env["BENCH_MEMORY_OPS"] ?? (ctx.quick ? 2_000_000 : 10_000_000))
    const first = Math.min(1_000_000, Math.floor(total / 2))
    // The first engine of the run (inline unless BENCH_ENGINES says otherwise).
    const engine = ctx.engines[0]!
    const ring = await ctx.ring(engine)
    const run = async (): Promise<ComparisonResult> => {
      const base = {
        id: "memory",
        title: `RSS: after ${si(first)} vs after ${si(total)} mixed ops, callback API (${engine}), QD ${DEPTH}`,
        unit: "ops/s",
        kind: "throughput" as const,
      }
      if (!ring.ok) return { ...base, variants: [], notes: [`skipped: ${ring.reason}`] }
      const r = ring.ring
      const fd = fs.openSync(ctx.dataFile(), "r")
      const bufs = Array.from({ length: DEPTH }, () => Buffer.allocUnsafeSlow(BLOCK))
      const offsets = new Offsets(11)
      let rssFirst = 0
      let heapFirst = 0
      const t0 = performance.now()
      try {
        await new Promise<void>((resolve, reject) => {
          let issued = 0
          let completed = 0
          let failed: Error | null = null
          const cbs: Array<(e: Error | null) => void> = []
          const issue = (slot: number) => {
            issued++
            const cb = (cbs[slot] ??= (e) => {
              if (e) failed ??= e
              if (++completed === first) {
                gc()
                const m = process.memoryUsage()
                rssFirst = m.rss
                heapFirst = m.heapUsed
                ctx.log(`  memory: after ${first} ops RSS ${(m.rss / 1048576).toFixed(1)} MiB`)
              }
              if (issued < total && !failed) issue(slot)
              else if (completed === issued) failed ? reject(failed) : resolve()
            })
            if (issued & 1) r.submitNop(0, cb)
            else r.submitReadAt(fd, bufs[slot]!, offsets.next(), BLOCK, false, 0, cb)
          }
          for (let s = 0; s < DEPTH && issued < total; s++) issue(s)
        })
      } finally {
        fs.closeSync(fd)
      }
      const seconds = (performance.now() - t0) / 1000
      gc()
      const m = process.memoryUsage()
      const growth = m.rss / rssFirst - 1
      const rate = total / seconds
      return {
        ...base,
        variants: [
          {
            name: withEngine("Driver callback, nop + readAt", engine),
            rounds: [rate],
            rate: { median: rate, min: rate, max: rate },
          },
        ],
        notes: [
          `RSS after ${first}: ${(rssFirst / 1048576).toFixed(1)} MiB; after ${total}: ${(m.rss / 1048576).toFixed(1)} MiB (${(growth * 100).toFixed(1)}%)`,
          `JS heap used: ${(heapFirst / 1048576).toFixed(1)} MiB -> ${(m.heapUsed / 1048576).toFixed(1)} MiB${(globalThis as { gc?: unknown }).gc ? "" : " (no --expose-gc: sampled without a forced GC)"}`,
        ],
        extra: {
          opsFirst: first,
          opsTotal: total,
          rssFirst,
          rssLast: m.rss,
          rssGrowth: growth,
          heapFirst,
          heapLast: m.heapUsed,
        },
      }
    }
    return { comparisons: [], direct: [run] }
  },
}
