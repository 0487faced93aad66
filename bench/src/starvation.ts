/**
 * The starvation row (issue 13; `npm run -w bench starvation`): 16 active ping-pong clients' round
 * trips with no idle connection, then beside 10,000 idle ones waiting in recvMany, on the default
 * config (inline engine, or BENCH_ENGINE=thread); the p50/p99 of each and their ratio (target
 * within 2x), and the RSS each idle connection's armed recvMany adds to the server process (after
 * its socket was accepted; gc before each sample). The scenario is packages/native/test/starvation.ts,
 * which the starvation test runs too. Prints a table and writes bench/results/starvation.json.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { runStarvation } from "../../packages/native/test/starvation.ts"

const IDLE = Number(process.env["BENCH_IDLE"] ?? 10_000)
const ROUNDS = Number(process.env["BENCH_ROUNDS"] ?? 500)
const engine = (process.env["BENCH_ENGINE"] ?? "inline") as "inline" | "thread"

const quantile = (xs: ReadonlyArray<number>, q: number): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}

const rows: Array<{ idle: number; p50: number; p99: number; max: number; rssPerIdle: number | undefined }> = []
for (const idle of [0, IDLE]) {
  const r = await runStarvation({ idle, active: 16, rounds: ROUNDS, config: { engine } })
  rows.push({
    idle,
    p50: quantile(r.rtts, 0.5),
    p99: quantile(r.rtts, 0.99),
    max: Math.max(...r.rtts),
    rssPerIdle: idle > 0 ? (r.rssArmed - r.rssAccepted) / idle : undefined,
  })
}
const ratio = rows[1]!.p99 / rows[0]!.p99
console.log(`## Starvation: 16 active ping-pong clients x ${ROUNDS} round trips, engine ${engine}`)
console.log("| idle connections | p50 ms | p99 ms | max ms | RSS per idle recvMany |")
console.log("| --- | --- | --- | --- | --- |")
for (const r of rows) {
  const rss = r.rssPerIdle === undefined ? "–" : `${Math.round(r.rssPerIdle)} B`
  console.log(`| ${r.idle} | ${r.p50.toFixed(3)} | ${r.p99.toFixed(3)} | ${r.max.toFixed(3)} | ${rss} |`)
}
console.log(`p99 with ${IDLE} idle / p99 with none: ${ratio.toFixed(2)}x (target within 2x)`)
const dir = join(fileURLToPath(new URL(".", import.meta.url)), "../results")
mkdirSync(dir, { recursive: true })
writeFileSync(join(dir, "starvation.json"), JSON.stringify({ engine, rounds: ROUNDS, rows, ratio }, null, 2))
