/**
 * The ceiling of the read comparisons: tools/raw-read.c, a single-threaded raw io_uring reader (the
 * Driver's default ring flags, the same file, offsets scheme and queue depth, no registered files or
 * buffers), run as a separate process once per round. It reports its own operations, window and
 * CPU time, so its row's CPU per op is its own.
 */
import { spawnSync } from "node:child_process"
import type { Variant } from "./harness.ts"
import { buildTool } from "./tools.ts"
import type { Built } from "./tools.ts"

export const RAW_C = "raw io_uring C"

let built: Built | undefined

/**
 * The raw reader at `depth` over `file`, or why there is none (no compiler, a failed build). Its
 * first measured run adds a note with the ring flags it got to `notes` (the comparison's notes).
 */
export const rawReadVariant = (
  file: string,
  depth: number,
  notes: Array<string>,
): { variant: Variant } | { reason: string } => {
  built ??= buildTool("raw-read")
  if ("reason" in built) return { reason: `the raw io_uring reader is not available: ${built.reason}` }
  const binary = built.binary
  let noted = false
  return {
    variant: {
      name: RAW_C,
      external: true,
      run: async (budgetMs) => {
        const r = spawnSync(binary, [file, String(depth), String(Math.max(1, Math.round(budgetMs)))], {
          encoding: "utf8",
        })
        if (r.status !== 0) throw new Error(`raw-read exited with ${r.status}: ${(r.stderr ?? "").trim()}`)
        const out = JSON.parse(r.stdout) as { ops: number; seconds: number; user: number; sys: number; ring: string }
        if (!noted) {
          noted = true
          notes.push(
            `${RAW_C}: tools/raw-read.c, one thread, ring flags ${out.ring}, no registered files or buffers, ` +
              `a separate process per round (its CPU per op is its own)`,
          )
        }
        return { ops: out.ops, seconds: out.seconds, cpuSeconds: out.user + out.sys }
      },
    },
  }
}
