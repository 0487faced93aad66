/**
 * `npm run -w bench profile [-- depth]`: where the JS thread's time goes in the QD 64 read benchmark.
 * Runs each ring variant alone (5 rounds of 1 s) with BENCH_CPU_PROFILE, which profiles only the
 * measured comparisons, not start-up, and prints the top self-time functions of each profile (see
 * profile-summary.ts). Profiles stay in bench/results/prof/.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const here = path.dirname(fileURLToPath(import.meta.url))
const depth = process.argv[2] ?? "64"
const root = path.join(here, "..", "results", "prof")

for (const variant of ["Driver callback", "Driver Promise", "Effect service"]) {
  fs.mkdirSync(root, { recursive: true })
  const file = path.join(root, `${variant.replace(/\W+/g, "-").toLowerCase()}-qd${depth}.cpuprofile`)
  console.log(`\n## ${variant}, QD ${depth}`)
  // One engine (BENCH_ENGINES, default inline), so that each profile is of one variant alone; with
  // --expose-gc, as `npm run bench`, for the settle's collection before each round.
  const run = spawnSync(process.execPath, [...process.execArgv, "--expose-gc", path.join(here, "main.ts"), "read"], {
    env: {
      ...process.env,
      BENCH_ENGINES: process.env["BENCH_ENGINES"]?.split(",")[0] ?? "inline",
      BENCH_READ_DEPTHS: depth,
      BENCH_CPU_PROFILE: file,
      BENCH_ONLY: variant,
      BENCH_ROUNDS: process.env["BENCH_ROUNDS"] ?? "5",
      BENCH_MS: process.env["BENCH_MS"] ?? "1000",
    },
    encoding: "utf8",
  })
  const line = run.stdout.split("\n").find((l) => l.startsWith(`| ${variant}`))
  console.log(line ?? run.stdout + run.stderr)
  if (!fs.existsSync(file)) continue
  const summary = spawnSync(process.execPath, [path.join(here, "profile-summary.ts"), file, "12"], {
    encoding: "utf8",
  })
  console.log(summary.stdout.trimEnd())
}
