/** Plain-text tables for the terminal (also valid Markdown, so they paste into the README). */
import type { ComparisonResult, CpuShare, Spread } from "./harness.ts"
import type { TargetResult } from "./targets.ts"

/** 1234567 -> "1.23M", 12345 -> "12.3k", 12.345 -> "12.3". */
export const si = (x: number | undefined): string => {
  if (x === undefined || !Number.isFinite(x)) return "–"
  const a = Math.abs(x)
  // Thresholds where three digits of the smaller unit would round up to 1000 (999,999 is "1.00M").
  if (a >= 999.5e6) return `${(x / 1e9).toPrecision(3)}G`
  if (a >= 999.5e3) return `${(x / 1e6).toPrecision(3)}M`
  if (a >= 1e4) return `${(x / 1e3).toPrecision(3)}k`
  if (a >= 100) return x.toFixed(0)
  if (a >= 10) return x.toFixed(1)
  return x.toFixed(2)
}

/** "js/loop/pool/other" CPU as % of one core, e.g. "35/98/0/4". */
const cpuCell = (c: CpuShare | undefined) =>
  c ? [c.js, c.loop, c.pool, c.other].map((x) => Math.round(x * 100)).join("/") : "–"

/**
 * The CPU column: % of one core used by the JS thread / the ring's loop threads / libuv's threadpool
 * / every other thread (io-wq's workers, which copy the inline engine's large reads, and V8's).
 */
export const CPU_HEADER = "CPU % js/loop/pool/other"

/** The CPU-per-unit column's header for a rate unit: "ops/s" -> "CPU µs/op", "MiB/s" -> "CPU µs/MiB". */
export const cpuPerHeader = (unit: string): string => `CPU µs/${unit.replace(/\/s$/, "").replace(/^ops$/, "op")}`

const cpuPer = (x: number | undefined) =>
  x === undefined || !Number.isFinite(x) ? "–" : x >= 100 ? x.toFixed(0) : x.toPrecision(3)

const ratioCell = (x: number | undefined) => (x === undefined ? "–" : `${x.toFixed(2)}x`)

const range = (s: Spread | undefined) => (s ? `${si(s.min)}–${si(s.max)}` : "–")

const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ")} |`
  const rule = `|${widths.map((w, i) => (i === 0 ? "-".repeat(w + 2) : "-".repeat(w + 1) + ":")).join("|")}|`
  return [line(header), rule, ...rows.map(line)].join("\n")
}

export const formatComparison = (r: ComparisonResult): string => {
  const title = `${r.title} [${r.id}]`
  const ratioHeader = r.baseline ? `vs ${r.baseline}` : "ratio"
  const ceiling = r.ceiling ? [`vs ${r.ceiling}`] : []
  const ratios = (v: ComparisonResult["variants"][number]) =>
    v.error
      ? [`failed: ${v.error}`, ...ceiling.map(() => "–")]
      : [ratioCell(v.ratio), ...(r.ceiling ? [ratioCell(v.ceilingRatio)] : [])]
  // Results built by hand (the idle and memory checks) have no CPU figures per row: no CPU columns.
  const hasCpu = r.variants.some((v) => v.cpu !== undefined || v.cpuUsPerUnit !== undefined)
  const cpuCells = (v: ComparisonResult["variants"][number]) => (hasCpu ? [cpuPer(v.cpuUsPerUnit), cpuCell(v.cpu)] : [])
  const rows =
    r.kind === "latency"
      ? r.variants.map((v) => [
          v.name,
          si(v.p50Us?.median),
          range(v.p50Us),
          si(v.p99Us?.median),
          range(v.p99Us),
          si(v.rate.median),
          ...ratios(v),
          ...cpuCells(v),
        ])
      : r.variants.map((v) => [v.name, si(v.rate.median), range(v.rate), ...ratios(v), ...cpuCells(v)])
  const cpuHeaders = hasCpu ? [cpuPerHeader(r.kind === "latency" ? "ops/s" : r.unit), CPU_HEADER] : []
  const header =
    r.kind === "latency"
      ? ["variant", "p50 µs", "p50 min–max", "p99 µs", "p99 min–max", r.unit, ratioHeader, ...ceiling, ...cpuHeaders]
      : ["variant", `median ${r.unit}`, "min–max", ratioHeader, ...ceiling, ...cpuHeaders]
  const notes = r.notes.map((n) => `  note: ${n}`)
  if (r.variants.length === 0) return [`### ${title}`, "", ...notes].join("\n")
  return [`### ${title}`, "", table(header, rows), ...(notes.length ? ["", ...notes] : [])].join("\n")
}

export const formatTargets = (targets: ReadonlyArray<TargetResult>): string =>
  [
    "### Targets",
    "",
    table(
      ["target", "measured", "wanted", "result"],
      targets.map((t) => [
        t.name,
        t.measured,
        t.wanted,
        t.met === undefined ? (t.reported ? "reported" : "n/a") : t.met ? "met" : "NOT met",
      ]),
    ),
    ...targets.filter((t) => t.note).map((t) => `  note: ${t.name}: ${t.note}`),
    ...(targets.some((t) => t.reported)
      ? ["  note: reported rows are figures shown beside the targets (engines other than inline), not targets"]
      : []),
  ].join("\n")
