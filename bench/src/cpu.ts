/**
 * CPU time per kind of thread of this process, from /proc/self/task/<tid>/schedstat (Linux; the
 * scheduler's own run time in ns; the tick-sampled utime + stime of .../stat where schedstat is
 * missing) with each thread's name from .../stat: the JS
 * thread, the ring's loop threads ("iou-loop"; "MainThread" before the loop named itself), libuv's
 * threadpool ("libuv-worker") and the rest (V8's GC and compiler threads). Lets each variant's row
 * say which thread did the work, e.g. fs.read keeping the threadpool busy while the JS thread waits.
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

/** Seconds of CPU each kind of thread has used so far (zeros where /proc is not there). */
export const cpuNow = (): Cpu => {
  const out = zeroCpu()
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
    if (tid === pid) out.js += seconds
    else if (comm === "libuv-worker") out.pool += seconds
    else if (comm === "iou-loop" || comm === "MainThread") out.loop += seconds
    else out.other += seconds
  }
  return out
}

export const addCpu = (into: Cpu, a: Cpu, b: Cpu): void => {
  into.js += b.js - a.js
  into.loop += b.loop - a.loop
  into.pool += b.pool - a.pool
  into.other += b.other - a.other
}
