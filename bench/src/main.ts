/**
 * `npm run bench [-- suite…]`: runs the selected suites (all but the opt-in ones by default), prints
 * one table per comparison and the targets, and writes bench/results/<timestamp>.json and
 * bench/results/latest.json.
 *
 *   BENCH_QUICK=1       short rounds, fewer depths (a smoke run of a few seconds per suite)
 *   BENCH_ROUNDS=n      rounds per comparison (default 7, quick 3)
 *   BENCH_MS=n          ms per variant per round (default 350, quick 150)
 *   BENCH_SETTLE_MS=n   before each measured run of a variant: a full GC and n ms idle (default 20; 0: none)
 *   BENCH_ONLY=a,b      run only the variants whose name contains one of these (e.g. for profiling)
 *   BENCH_READ_DEPTHS   the read suite's depths (default 1,16,64,256; quick 1,64)
 *   BENCH_ENGINES=a,b   the Driver engines whose ring variants run side by side (default inline,thread)
 *   BENCH_CPU_PROFILE=f write a V8 CPU profile of the measured comparisons only (not start-up) to f
 *   IOU_BENCH_DIR=dir   where the data file, the write benchmark's files and the small files go (default: os.tmpdir())
 *
 * and BENCH_COMPARISONS, BENCH_WRITE_MIB, BENCH_MEMORY_OPS, BENCH_SOAK_REQUESTS, BENCH_SOAK_SEED,
 * BENCH_PEER, BENCH_PEER_CPUS, BENCH_IDLE_SPIN, BENCH_BASELINE (bench/README.md, Settings).
 */
import type { DriverStats } from "@iou/native"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as inspector from "node:inspector"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { Context, Suite } from "./context.ts"
import { disposeEffect, loadEffect } from "./effect.ts"
import { prepareDataFile } from "./files.ts"
import { runComparison } from "./harness.ts"
import type { ComparisonResult } from "./harness.ts"
import { fioSuite } from "./fio.ts"
import { latencySuite, readSuite } from "./read.ts"
import { memorySuite } from "./memory.ts"
import { nopSuite } from "./nop.ts"
import { idleSuite } from "./idle.ts"
import { benchEngines, closeRings, loadRing, openedEngines } from "./ring.ts"
import type { Engine } from "./ring.ts"
import { formatComparison, formatTargets } from "./report.ts"
import { evaluateTargets } from "./targets.ts"
import { connsSuite, tcpSuite } from "./tcp.ts"
import { platformSuite } from "./platform.ts"
import { smallFilesSuite } from "./smallfiles.ts"
import { soakSuite } from "./soak.ts"
import { writeSuite } from "./write.ts"

const suites: ReadonlyArray<Suite> = [
  readSuite,
  nopSuite,
  latencySuite,
  writeSuite,
  tcpSuite,
  smallFilesSuite,
  connsSuite,
  platformSuite,
  fioSuite,
  idleSuite,
  memorySuite,
  soakSuite,
]

/** A V8 CPU profile of the measured part of the run (started before the first comparison). */
const cpuProfiler = (file: string | undefined) => {
  let session: inspector.Session | undefined
  const post = (method: string) =>
    new Promise<unknown>((resolve, reject) =>
      session!.post(method, (e: Error | null, r?: unknown) => (e ? reject(e) : resolve(r))),
    )
  return {
    start: async () => {
      if (!file || session) return
      session = new inspector.Session()
      session.connect()
      await post("Profiler.enable")
      await post("Profiler.start")
    },
    stop: async () => {
      if (!session || !file) return
      const { profile } = (await post("Profiler.stop")) as { profile: unknown }
      fs.writeFileSync(file, JSON.stringify(profile))
      session.disconnect()
      session = undefined
    },
  }
}

const truthy = (v: string | undefined) => v !== undefined && v !== "" && v !== "0" && v !== "false"

const main = async () => {
  const args = process.argv.slice(2).filter((a) => a !== "--")
  if (args.includes("--help") || args.includes("-h")) {
    console.log(`usage: npm run bench [-- ${suites.map((s) => s.id).join("|")} …]  (BENCH_QUICK=1 for a short run)`)
    for (const s of suites) console.log(`  ${s.id.padEnd(8)} ${s.description}${s.optIn ? " (opt-in)" : ""}`)
    return
  }
  const unknown = args.filter((a) => !suites.some((s) => s.id === a))
  if (unknown.length) throw new Error(`unknown suite(s): ${unknown.join(", ")}; try --help`)
  const selected = args.length ? suites.filter((s) => args.includes(s.id)) : suites.filter((s) => !s.optIn)

  const quick = truthy(process.env["BENCH_QUICK"])
  const rounds = Number(process.env["BENCH_ROUNDS"] ?? (quick ? 3 : 7))
  const budgetMs = Number(process.env["BENCH_MS"] ?? (quick ? 150 : 350))
  const warmupMs = Math.max(50, Math.round(budgetMs / 2))
  const settleMs = Number(process.env["BENCH_SETTLE_MS"] ?? 20)
  if (!Number.isFinite(settleMs) || settleMs < 0) throw new Error(`BENCH_SETTLE_MS must be a number >= 0`)
  const log = (line: string) => console.log(line)
  const only = (process.env["BENCH_ONLY"] ?? "").split(",").filter((x) => x !== "")
  const onlyComparisons = (process.env["BENCH_COMPARISONS"] ?? "").split(",").filter((x) => x !== "")

  const engines = benchEngines()
  let dataFile: string | undefined
  const ctx: Context = {
    quick,
    log,
    engines,
    ring: loadRing,
    effect: loadEffect,
    dataFile: () => (dataFile ??= prepareDataFile(log)),
  }

  const git = (args: Array<string>) => {
    const r = spawnSync("git", args, { encoding: "utf8" })
    return r.status === 0 ? r.stdout.trim() : undefined
  }
  const revision = {
    commit: git(["rev-parse", "--short", "HEAD"]),
    dirty: (git(["status", "--porcelain"]) ?? "") !== "",
  }
  const machine = {
    nproc: os.availableParallelism(),
    cpu: os.cpus()[0]?.model ?? "unknown",
    kernel: os.release(),
    node: process.version,
    memoryMiB: Math.round(os.totalmem() / 1024 / 1024),
    loadavg: os.loadavg(),
  }
  log(
    `@iou bench: ${selected.map((s) => s.id).join(", ")}; ${rounds} rounds × ${budgetMs} ms per variant, each after a ${settleMs} ms settle${"gc" in globalThis ? "" : " (no GC in it: run with --expose-gc)"}${quick ? " (quick)" : ""}`,
  )
  log(`revision: ${revision.commit ?? "unknown"}${revision.dirty ? " (with uncommitted changes)" : ""}`)
  log(`engines: ${engines.join(", ")} (BENCH_ENGINES)`)
  if (process.env["BENCH_IDLE_SPIN"]) log(`ring idleSpin: ${process.env["BENCH_IDLE_SPIN"]} µs (BENCH_IDLE_SPIN)`)
  log(
    `machine: ${machine.nproc} cpus (${machine.cpu}), Linux ${machine.kernel}, Node ${machine.node}, ` +
      `load average ${machine.loadavg.map((x) => x.toFixed(2)).join(" ")}`,
  )

  /** The counters of each Driver a suite has opened (never opens one by itself). */
  const ringStats = async (): Promise<Map<Engine, DriverStats>> => {
    const out = new Map<Engine, DriverStats>()
    for (const engine of openedEngines()) {
      const r = await loadRing(engine)
      if (r.ok) out.set(engine, r.ring.stats())
    }
    return out
  }

  const profiler = cpuProfiler(process.env["BENCH_CPU_PROFILE"])

  const startedAt = new Date()
  const results: Array<ComparisonResult> = []
  try {
    for (const suite of selected) {
      const { comparisons, direct, cleanup } = await suite.build(ctx)
      try {
        for (const full of comparisons) {
          if (onlyComparisons.length && !onlyComparisons.includes(full.id)) continue
          const c = only.length
            ? { ...full, variants: full.variants.filter((v) => only.some((o) => v.name.includes(o))) }
            : full
          if (c.variants.length === 0) continue
          // A baseline left out by BENCH_ONLY leaves every ratio and target of this comparison blank: say so.
          if (c.baseline !== undefined && !c.variants.some((v) => v.name === c.baseline)) {
            log(`  ${c.id}: BENCH_ONLY left out the baseline (${c.baseline}): no ratios or targets for it`)
          }
          log("")
          await profiler.start()
          const before = await ringStats()
          const result = await runComparison(c, { rounds, budgetMs, warmupMs, settleMs, log })
          const after = await ringStats()
          for (const [engine, a] of after) {
            const b = before.get(engine)
            if (!b) continue
            const d = (k: keyof DriverStats) => a[k] - b[k]
            const completed = d("completed")
            if (completed > 0) {
              const per = (k: keyof DriverStats) => (d(k) / completed).toFixed(3)
              ;(result.notes as Array<string>).push(
                `${engine} Driver's counters over this comparison (all its variants): ${completed} completed; per request: ` +
                  `${per("sqesStaged")} SQEs, ${per("enters")} io_uring_enter, ${per("wakes")} eventfd wakes, ` +
                  `${per("requeued")} requeued`,
              )
            }
          }
          results.push(result)
          log(formatComparison(result))
        }
        for (const run of direct ?? []) {
          log("")
          const result = await run()
          results.push(result)
          log(formatComparison(result))
        }
      } finally {
        await cleanup?.()
      }
    }
  } finally {
    await profiler.stop()
    await disposeEffect()
    await closeRings()
  }

  const targets = evaluateTargets(results, engines)
  if (targets.length) {
    log("")
    log(formatTargets(targets))
  }

  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "results")
  fs.mkdirSync(dir, { recursive: true })
  const json = JSON.stringify(
    {
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      revision,
      machine: { ...machine, loadavgAtEnd: os.loadavg() },
      settings: { quick, rounds, budgetMs, warmupMs, settleMs, engines, suites: selected.map((s) => s.id) },
      comparisons: results,
      targets,
    },
    null,
    2,
  )
  const stamp = startedAt.toISOString().replace(/[:.]/g, "-")
  fs.writeFileSync(path.join(dir, `${stamp}.json`), json)
  fs.writeFileSync(path.join(dir, "latest.json"), json)
  log("")
  log(`results: ${path.relative(process.cwd(), path.join(dir, `${stamp}.json`))} (and latest.json)`)
}

main().catch((e) => {
  console.error(e)
  process.exitCode = 1
})
