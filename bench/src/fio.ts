/**
 * The single-core ceiling: the host's fio, engine io_uring, one job, 4 KiB randread at QD 64 over the
 * same page-cached file, interleaved with the Driver's callback API and fs.read at the same depth.
 * Skipped with a note where fio is not installed (`apt-get install fio`).
 */
import { spawnSync } from "node:child_process"
import type { Suite } from "./context.ts"
import type { Variant } from "./harness.ts"
import { FILE_SIZE } from "./files.ts"
import { FS_READ, RING_CB, openReadFiles, readVariants } from "./read.ts"
import { withEngine } from "./ring.ts"

export const FIO = "fio io_uring randread"
const DEPTH = 64

export const fioAvailable = (): string | undefined => {
  const r = spawnSync("fio", ["--version"], { encoding: "utf8" })
  return r.status === 0 ? r.stdout.trim() : undefined
}

export const fioSuite: Suite = {
  id: "fio",
  description: `fio's io_uring randread (1 job, QD ${DEPTH}) as the single-core ceiling, when fio is installed`,
  build: async (ctx) => {
    const version = fioAvailable()
    if (!version) {
      const note = "fio is not installed: the single-core ceiling was not measured (apt-get install fio)"
      ctx.log(`fio: skipped (${note})`)
      return {
        comparisons: [],
        direct: [
          async () => ({
            id: "fio",
            title: "fio's io_uring randread (skipped)",
            unit: "ops/s",
            kind: "throughput",
            variants: [],
            notes: [note],
          }),
        ],
      }
    }
    const file = ctx.dataFile()
    const files = await openReadFiles(file)
    const notes = [
      `${version}: --ioengine=io_uring --rw=randread --bs=4k --iodepth=${DEPTH} --numjobs=1 --invalidate=0 (the page cache is kept), a separate process`,
    ]
    const fio: Variant = {
      name: FIO,
      external: true,
      run: async (budgetMs) => {
        const r = spawnSync(
          "fio",
          [
            "--name=iou-bench",
            `--filename=${file}`,
            "--ioengine=io_uring",
            "--rw=randread",
            "--bs=4k",
            `--iodepth=${DEPTH}`,
            "--numjobs=1",
            `--size=${FILE_SIZE}`,
            "--invalidate=0",
            "--time_based",
            `--runtime=${Math.max(200, Math.round(budgetMs))}ms`,
            "--output-format=json",
          ],
          { encoding: "utf8" },
        )
        if (r.status !== 0) throw new Error(`fio exited with ${r.status}: ${r.stderr.trim()}`)
        const json = JSON.parse(r.stdout.slice(r.stdout.indexOf("{"))) as {
          jobs: Array<{ read: { iops: number; total_ios: number; runtime: number }; usr_cpu: number; sys_cpu: number }>
        }
        const job = json.jobs[0]!
        const seconds = job.read.runtime / 1000
        // fio's usr_cpu and sys_cpu are percentages of one core over the job's run time.
        return { ops: job.read.total_ios, seconds, cpuSeconds: ((job.usr_cpu + job.sys_cpu) / 100) * seconds }
      },
    }
    const all = await readVariants(ctx, files, DEPTH, notes)
    const keep = [FS_READ, ...ctx.engines.map((e) => withEngine(RING_CB, e))]
    const variants = [fio, ...all.filter((v) => keep.includes(v.name))]
    return {
      comparisons: [
        {
          id: "fio",
          title: `fio's io_uring randread vs the Driver, QD ${DEPTH}`,
          unit: "ops/s",
          baseline: FIO,
          variants,
          notes,
        },
      ],
      cleanup: files.close,
    }
  },
}
