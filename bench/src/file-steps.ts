/**
 * `npm run -w bench file-steps`: where one small-file read's time goes, step by step, one file at a
 * time through the Driver's Promise API (the `files` suite's ring Promise variant): the wall time of
 * each awaited step (open, stat, the buffer's allocation, readAt, closeFd), averaged over 3 s of
 * files, for 4 KiB and 64 KiB files and each engine (BENCH_ENGINES, default inline,thread). Node's
 * fs.promises.readFile of the same files is timed whole beside them. It runs the built packages:
 * `npm run build` first.
 */
import * as fs from "node:fs"
import { Driver } from "@iou/native"
import { prepareFiles } from "./smallfiles.ts"

const MS = Number(process.env["BENCH_MS"] ?? 3000)
const engines = (process.env["BENCH_ENGINES"] ?? "inline,thread")
  .split(",")
  .filter((e) => e === "inline" || e === "thread")

const STEPS = ["open", "stat", "alloc", "readAt", "closeFd"] as const

const ringSteps = async (engine: "inline" | "thread", files: ReadonlyArray<string>) => {
  const ring = Driver.open({ engine, size: 512 })
  const sums = STEPS.map(() => 0)
  let n = 0
  const start = performance.now()
  try {
    while (performance.now() - start < MS) {
      const t0 = performance.now()
      const fd = await ring.open(files[n % files.length]!)
      const t1 = performance.now()
      const stats = await ring.stat(fd)
      const t2 = performance.now()
      const buffer = Buffer.allocUnsafe(Number(stats.size))
      const t3 = performance.now()
      await ring.readAt(fd, buffer, 0)
      const t4 = performance.now()
      await ring.closeFd(fd)
      const t5 = performance.now()
      const times = [t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4]
      times.forEach((t, i) => (sums[i]! += t))
      n++
    }
  } finally {
    await ring.close()
  }
  const whole = ((performance.now() - start) / n) * 1000
  return { perStep: sums.map((s) => (s / n) * 1000), whole }
}

const nodeWhole = async (files: ReadonlyArray<string>) => {
  let n = 0
  const start = performance.now()
  while (performance.now() - start < MS) await fs.promises.readFile(files[n++ % files.length]!)
  return ((performance.now() - start) / n) * 1000
}

const main = async () => {
  console.log(`µs per file, one at a time, ${MS} ms each`)
  console.log(`| file | variant | ${STEPS.join(" | ")} | whole file |`)
  console.log(`|---|---|${STEPS.map(() => "---:").join("|")}|---:|`)
  for (const size of [4096, 65536]) {
    const files = prepareFiles(size)
    const label = `${size / 1024} KiB`
    console.log(
      `| ${label} | fs.promises.readFile | ${STEPS.map(() => "").join(" | ")} | ${(await nodeWhole(files)).toFixed(1)} |`,
    )
    for (const engine of engines) {
      const { perStep, whole } = await ringSteps(engine, files)
      console.log(
        `| ${label} | Driver Promise (${engine}) | ${perStep.map((x) => x.toFixed(1)).join(" | ")} | ${whole.toFixed(1)} |`,
      )
    }
  }
}

main().catch((e) => {
  console.error(e)
  process.exitCode = 1
})
