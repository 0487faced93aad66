/**
 * The soak (`npm run bench -- soak`, opt-in: minutes): ten million requests per engine of the
 * seeded program in packages/native/test/soak.ts (mixed operations with random aborts, deadlines,
 * cancels, closeFd under pending work and Driver reopens), on the built @iou/native. Every request
 * must settle exactly once, nothing may be left outstanding or open, and RSS and the open fd count
 * must be flat after warm-up (the rule is in soak.ts). Any failure sets a non-zero exit code.
 *
 *   BENCH_SOAK_REQUESTS=n   requests per engine (default 10,000,000; quick 200,000)
 *   BENCH_SOAK_SEED=n       the program's seed (default 0x50a4)
 *   BENCH_ENGINES=a,b       the engines (default inline,thread)
 */
import type { Suite } from "./context.ts"
import type { ComparisonResult } from "./harness.ts"
import { si } from "./report.ts"
import { runSoak } from "../../packages/native/test/soak.ts"

const gc = (): void => {
  const g = (globalThis as { gc?: () => void }).gc
  if (g) g()
}

export const soakSuite: Suite = {
  id: "soak",
  description: "10M mixed requests per engine with aborts, deadlines, closes: exactly once, RSS and fds flat",
  optIn: true,
  build: async (ctx) => {
    const requests = Number(process.env["BENCH_SOAK_REQUESTS"] ?? (ctx.quick ? 200_000 : 10_000_000))
    const seed = Number(process.env["BENCH_SOAK_SEED"] ?? 0x50a4)
    const runs = ctx.engines.map((engine) => async (): Promise<ComparisonResult> => {
      const base = {
        id: `soak-${engine}`,
        title: `soak: ${si(requests)} mixed requests (${engine}), seed ${seed}`,
        unit: "requests/s",
        kind: "throughput" as const,
      }
      let mod: { Driver: Parameters<typeof runSoak>[0]["Driver"]; IoUringError: new (...a: Array<never>) => Error }
      try {
        mod = (await import("@iou/native")) as unknown as typeof mod
        if (!mod.Driver.open) throw new Error("no Driver")
      } catch (e) {
        return { ...base, variants: [], notes: [`skipped: @iou/native did not load (${String(e)})`] }
      }
      const r = await runSoak({
        Driver: mod.Driver,
        engine: engine === "thread" ? "thread" : "inline", // the inline wake mode is the Driver's default
        requests,
        seed,
        typed: (e) => e instanceof mod.IoUringError,
        samples: 200,
        beforeSample: gc,
        log: ctx.log,
      })
      const rate = r.requests / r.seconds
      const first = r.samples[0]
      const last = r.samples[r.samples.length - 1]
      const notes = [
        r.failures.length === 0 ? "PASS" : `FAIL: ${r.failures.join("; ")}`,
        `${r.requests} requests, ${r.settled} settled exactly once; ${r.reopens} Driver reopens; ${r.seconds.toFixed(1)} s`,
        `failures by code: ${Object.entries(r.codes)
          .map(([k, v]) => `${k} ${v}`)
          .join(", ")}`,
        `RSS (gc before each sample): start ${first?.rssMiB.toFixed(1)} MiB, second-quarter median ${r.rss.secondQuarterMiB.toFixed(1)}, last-quarter median ${r.rss.lastQuarterMiB.toFixed(1)}, end ${last?.rssMiB.toFixed(1)}`,
        `open fds: baseline ${r.fdBaseline}, second-quarter median ${r.fdsMedian.secondQuarter}, last-quarter median ${r.fdsMedian.lastQuarter}, after ${r.fdAfter}`,
        `closeFd abandoned at shutdown: ${r.uncertainCloses.failed} (${r.uncertainCloses.codes.join(", ") || "none"}), of which ${r.uncertainCloses.leftOpen} had left the fd open`,
      ]
      if (r.failures.length > 0) {
        process.exitCode = 1
        // A stuck run leaves requests outstanding that may keep the process alive: exit anyway
        // once the report is written (an unref'd timer only fires if something else holds it).
        setTimeout(() => process.exit(1), 60_000).unref()
      }
      return {
        ...base,
        variants: [{ name: `Driver (${engine})`, rounds: [rate], rate: { median: rate, min: rate, max: rate } }],
        notes,
        extra: {
          requests: r.requests,
          settled: r.settled,
          seconds: r.seconds,
          reopens: r.reopens,
          failures: r.failures.length,
          fdBaseline: r.fdBaseline,
          fdAfter: r.fdAfter,
          rssSecondQuarterMiB: r.rss.secondQuarterMiB,
          rssLastQuarterMiB: r.rss.lastQuarterMiB,
          abandonedCloseFdsLeftOpen: r.uncertainCloses.leftOpen,
          samples: JSON.stringify(r.samples),
        },
      }
    })
    return { comparisons: [], direct: runs }
  },
}
