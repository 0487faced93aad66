/**
 * `node src/profile-summary.ts <file.cpuprofile> [top]`: the functions with the most self time in a
 * V8 CPU profile (from `node --cpu-prof`), with their share of the samples. A function without a
 * script (not a V8 pseudo-entry in parentheses) is native code, marked `[native]`: V8 names every
 * Node-API function (all of @iou/native's binding calls) after one of them, so that row is the
 * binding's whole native time, whatever its name; `perf record` splits it.
 */
import * as fs from "node:fs"

interface Node {
  readonly id: number
  readonly callFrame: { functionName: string; url: string; lineNumber: number }
  readonly hitCount?: number
}
interface Profile {
  readonly nodes: ReadonlyArray<Node>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

const [file, topText] = process.argv.slice(2)
if (!file) {
  console.error("usage: profile-summary.ts <file.cpuprofile> [top]")
  process.exit(2)
}
const profile = JSON.parse(fs.readFileSync(file, "utf8")) as Profile
const byId = new Map(profile.nodes.map((n) => [n.id, n]))
const self = new Map<string, number>()
let total = 0
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0
  const n = byId.get(id)
  if (!n) return
  const f = n.callFrame
  const where = f.url ? `${f.url.replace(/^.*\/(node_modules|packages|bench)\//, "$1/")}:${f.lineNumber + 1}` : ""
  const native = !f.url && !f.functionName.startsWith("(")
  const key = `${f.functionName || "(anonymous)"} ${native ? "[native]" : where}`.trim()
  self.set(key, (self.get(key) ?? 0) + dt)
  total += dt
})
// The profiler's own start/stop requests (BENCH_CPU_PROFILE) are not the benchmark's time.
for (const k of [...self.keys()]) {
  if (k.startsWith("post node:inspector")) {
    total -= self.get(k)!
    self.delete(k)
  }
}
const idle = self.get("(idle)") ?? 0
const busy = total - idle
const rows = [...self.entries()]
  .filter(([k]) => k !== "(idle)")
  .sort((a, b) => b[1] - a[1])
  .slice(0, Number(topText ?? 25))
console.log(
  `${(total / 1000).toFixed(0)} ms sampled, ${((idle / total) * 100).toFixed(1)}% idle; shares below are of the ${(busy / 1000).toFixed(0)} ms busy`,
)
for (const [k, v] of rows)
  console.log(`${((v / busy) * 100).toFixed(1).padStart(5)}%  ${(v / 1000).toFixed(0).padStart(6)} ms  ${k}`)
