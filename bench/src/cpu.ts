/**
 * CPU time per kind of thread of this process, from /proc/self/task/<tid>/schedstat (Linux; the
 * scheduler's own run time in ns; the tick-sampled utime + stime of .../stat where schedstat is
 * missing) with each thread's name from .../stat: the JS
 * thread, the ring's loop threads ("iou-loop"; "MainThread" before the loop named itself), libuv's
 * threadpool ("libuv-worker") and the rest (V8's GC and compiler threads). Lets each variant's row
 * say which thread did the work, e.g. fs.read keeping the threadpool busy while the JS thread waits.
 * A window's share is taken thread by thread (cpuNow's snapshot, addCpu): a thread that started
 * within it counts from 0, one that exited within it is not counted (its time before the window
 * must not be subtracted from the others').
 */
import * as fs from "node:fs"
import * as os from "node:os"

export interface Cpu {
  js: number
  loop: number
  pool: number
  other: number
}

const TICK = 1 / 100 // USER_HZ

export const zeroCpu = (): Cpu => ({ js: 0, loop: 0, pool: 0, other: 0 })

/** Seconds of CPU each thread has used so far, by thread id, with its kind. */
export type CpuSnapshot = Map<string, { readonly kind: keyof Cpu; readonly seconds: number }>

/** Every thread's CPU so far (empty where /proc is not there). */
export const cpuNow = (): CpuSnapshot => {
  const out: CpuSnapshot = new Map()
  if (os.platform() !== "linux") return out
  let tids: Array<string>
  try {
    tids = fs.readdirSync("/proc/self/task")
  } catch {
    return out
  }
  const pid = String(process.pid)
  for (const tid of tids) {
    let stat: string
    try {
      stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, "utf8")
    } catch {
      continue // exited meanwhile
    }
    const open = stat.indexOf("(")
    const close = stat.lastIndexOf(")")
    const comm = stat.slice(open + 1, close)
    const fields = stat.slice(close + 2).split(" ")
    // fields[0] is the state (field 3); utime and stime are fields 14 and 15.
    let seconds = (Number(fields[11]) + Number(fields[12])) * TICK
    try {
      // The first field: time on a CPU in ns, exact rather than sampled at the tick.
      const ns = Number(fs.readFileSync(`/proc/self/task/${tid}/schedstat`, "utf8").split(" ")[0])
      if (Number.isFinite(ns)) seconds = ns / 1e9
    } catch {
      // no schedstat (an older kernel or it exited meanwhile): the ticks
    }
    const kind: keyof Cpu =
      tid === pid
        ? "js"
        : comm === "libuv-worker"
          ? "pool"
          : comm === "iou-loop" || comm === "MainThread"
            ? "loop"
            : "other"
    out.set(tid, { kind, seconds })
  }
  return out
}

/** Adds to `into` what each thread alive at `b` used since `a` (from 0 for one started since). */
export const addCpu = (into: Cpu, a: CpuSnapshot, b: CpuSnapshot): void => {
  for (const [tid, now] of b) into[now.kind] += now.seconds - (a.get(tid)?.seconds ?? 0)
}
