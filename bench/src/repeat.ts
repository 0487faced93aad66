/**
 * `npm run -w bench repeat -- N [suite…]`: runs the bench (src/main.ts, the same suites and BENCH_*
 * settings) N times, one fresh process after the other, then prints each target's median over the
 * runs beside every run's value. On a shared 2-CPU machine one run's ratio can swing by a third, so
 * a target is judged on the median of several runs: a `>= Nx` target is met when the median ratio
 * is; any other target when at least half of the runs met it. With the `baseline` engine among
 * BENCH_ENGINES (two builds compared, README "Comparing two builds"), it also prints, for each row
 * and each other engine, the median over the runs of that run's ratio (the row's median rate over
 * the baseline's in the same run). Writes results/repeat-<timestamp>.json (each run's targets, the
 * summaries); each run also writes its own results file, as a single run does. It runs the built
 * packages: `npm run build` first.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { formatTargets } from "./report.ts"
import type { ComparisonResult } from "./harness.ts"
import { shownRatio, type TargetResult } from "./targets.ts"

const here = path.dirname(fileURLToPath(import.meta.url))
const resultsDir = path.join(here, "..", "results")

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

/** One row of two builds compared: a variant of an engine against the same variant of `baseline`. */
interface BuildRow {
  readonly row: string
  readonly engine: string
  readonly median: number
  readonly runs: ReadonlyArray<number | undefined>
}

const ENGINE_SUFFIX = / \(([a-z-]+)\)$/

/** Each engine's rows against the baseline engine's, per run (rate medians divided in each run). */
const againstBaseline = (runs: ReadonlyArray<ReadonlyArray<ComparisonResult>>): Array<BuildRow> => {
  const ratios = new Map<string, { row: string; engine: string; runs: Array<number | undefined> }>()
  runs.forEach((comparisons, i) => {
    for (const c of comparisons) {
      for (const v of c.variants) {
        const engine = ENGINE_SUFFIX.exec(v.name)?.[1]
        if (engine === undefined || engine === "baseline" || v.error !== undefined || v.rounds.length === 0) continue
        const base = c.variants.find((b) => b.name === v.name.replace(ENGINE_SUFFIX, " (baseline)"))
        if (base === undefined || base.error !== undefined || base.rounds.length === 0) continue
        const row = `${c.id}: ${v.name.replace(ENGINE_SUFFIX, "")}`
        const key = `${row}|${engine}`
        let entry = ratios.get(key)
        if (entry === undefined) ratios.set(key, (entry = { row, engine, runs: runs.map(() => undefined) }))
        entry.runs[i] = v.rate.median / base.rate.median
      }
    }
  })
  return [...ratios.values()].map(({ row, engine, runs: each }) => ({
    row,
    engine,
    runs: each,
    median: median(each.filter((x): x is number => x !== undefined)),
  }))
}

/**
 * One target over the runs. A `>= Nx` target: the median of its runs' ratios (unrounded), met when
 * that median is at least N. Any other target (its figures may have different units or thresholds
 * from run to run): how many runs met it, met when at least half did; each run's figure in the note.
 */
const summarise = (name: string, runs: ReadonlyArray<TargetResult | undefined>): TargetResult => {
  const seen = runs.filter((t): t is TargetResult => t !== undefined)
  const first = seen[0]
  if (first === undefined) return { name, measured: "not measured", wanted: "", met: undefined }
  const ratios = seen.map((t) => t.ratio).filter((x): x is number => x !== undefined)
  // A ratio target in any run makes it one (a run that did not measure it says nothing of the rule).
  const ratioRun = seen.find((t) => t.wantedRatio !== undefined)
  if (ratioRun !== undefined) {
    const each = runs.map((t) => (t?.ratio === undefined ? "–" : t.ratio.toFixed(2))).join(" ")
    const reportedRow = seen.some((t) => t.reported === true) || undefined
    if (ratios.length === 0) return { name, measured: "not measured", wanted: ratioRun.wanted, met: undefined }
    const m = median(ratios)
    // Judged only where at least half the runs measured it.
    const enough = ratios.length * 2 >= runs.length
    return {
      name,
      measured: enough ? `${shownRatio(m)}x` : `${shownRatio(m)}x in ${ratios.length} of ${runs.length} runs`,
      wanted: ratioRun.wanted,
      met: reportedRow || !enough ? undefined : m >= ratioRun.wantedRatio!,
      reported: reportedRow,
      note: `runs: ${each}`,
    }
  }
  const decided = seen.filter((t) => t.met !== undefined)
  const metRuns = decided.filter((t) => t.met === true).length
  const each = runs.map((t) => (t === undefined ? "–" : `${t.measured} (${t.wanted})`)).join("; ")
  // A reported row (another engine's) is not judged: its figures, not a count of runs that met it.
  const measured =
    first.reported === true
      ? seen.length === 1
        ? first.measured
        : `${seen.length} runs (in the note)`
      : decided.length === 0
        ? "not measured"
        : `met in ${metRuns} of ${decided.length}`
  return {
    name,
    measured,
    wanted: first.wanted,
    met: first.reported || decided.length === 0 ? undefined : metRuns * 2 >= decided.length,
    reported: first.reported,
    note: `runs: ${each}`,
  }
}

const main = () => {
  const args = process.argv.slice(2).filter((a) => a !== "--")
  const n = Number(args[0])
  if (!Number.isInteger(n) || n < 1) {
    console.error("usage: npm run -w bench repeat -- N [suite…]   (N runs of the bench, then each target's median)")
    process.exitCode = 2
    return
  }
  const suites = args.slice(1)
  const runs: Array<ReadonlyArray<TargetResult>> = []
  const comparisons: Array<ReadonlyArray<ComparisonResult>> = []
  for (let i = 1; i <= n; i++) {
    console.log(`== run ${i} of ${n}: ${suites.length ? suites.join(" ") : "every suite"}`)
    const started = Date.now()
    const r = spawnSync(process.execPath, ["--expose-gc", path.join(here, "main.ts"), ...suites], {
      stdio: ["ignore", "pipe", "inherit"],
      encoding: "utf8",
    })
    if (r.status !== 0) {
      console.log(r.stdout)
      throw new Error(`run ${i} failed (exit ${r.status})`)
    }
    const file = /^results: (\S+\.json)/m.exec(r.stdout)?.[1]
    if (!file) throw new Error(`run ${i} named no results file`)
    const json = JSON.parse(fs.readFileSync(path.resolve(file), "utf8")) as {
      targets: ReadonlyArray<TargetResult>
      comparisons: ReadonlyArray<ComparisonResult>
    }
    runs.push(json.targets)
    comparisons.push(json.comparisons)
    console.log(`   ${file} (${Math.round((Date.now() - started) / 1000)} s)`)
  }
  const names = [...new Set(runs.flatMap((targets) => targets.map((t) => t.name)))]
  const summary = names.map((name) =>
    summarise(
      name,
      runs.map((targets) => targets.find((t) => t.name === name)),
    ),
  )
  console.log("")
  console.log(`Targets over ${n} runs (measured: the median; note: each run's value, in order)`)
  console.log(formatTargets(summary))
  const builds = againstBaseline(comparisons)
  if (builds.length > 0) {
    console.log("")
    console.log(`Against the baseline build over ${n} runs (each run's ratio of medians; the median of those)`)
    console.log("| row | engine | median | runs |")
    console.log("| --- | --- | ---: | --- |")
    for (const b of builds) {
      const each = b.runs.map((x) => (x === undefined ? "–" : x.toFixed(2))).join(" ")
      console.log(`| ${b.row} | ${b.engine} | ${b.median.toFixed(3)} | ${each} |`)
    }
    for (const engine of [...new Set(builds.map((b) => b.engine))]) {
      const rows = builds.filter((b) => b.engine === engine)
      console.log(`  ${engine}: ${rows.filter((b) => b.median >= 0.95).length} of ${rows.length} rows at or above 0.95`)
    }
  }
  fs.mkdirSync(resultsDir, { recursive: true })
  const stamp = new Date().toISOString().replace(/[:.]/g, "-")
  const out = path.join(resultsDir, `repeat-${stamp}.json`)
  fs.writeFileSync(
    out,
    JSON.stringify({ runs: n, suites, settingsFromEnv: benchEnv(), perRun: runs, summary, builds }, null, 2),
  )
  console.log("")
  console.log(`results: ${path.relative(process.cwd(), out)}`)
}

/** The BENCH_* settings the runs saw. */
const benchEnv = (): Record<string, string> =>
  Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("BENCH_")) as Array<[string, string]>)

main()
