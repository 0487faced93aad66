/**
 * The monotonic clock of every deadline: CLOCK_MONOTONIC in milliseconds, as the loop reads it.
 *
 * performance.now() and process.hrtime() both read uv_hrtime (CLOCK_MONOTONIC); performance.now()
 * is cheap and counts from a fixed origin, so one offset turns it into CLOCK_MONOTONIC milliseconds.
 * The offset is off by at most half the bracketing window; the first reads are slow (lazy
 * initialisation) and the thread can be descheduled in between, so the tightest of 8 brackets wins.
 * `performance` comes from node:perf_hooks, not the global of that name, which Node defines as an
 * accessor: every read of the global would call it, where this reads a module binding.
 */
import { performance } from "node:perf_hooks"

const CLOCK_OFFSET = (() => {
  let best = { window: Infinity, offset: 0 }
  for (let i = 0; i < 8; i++) {
    const before = performance.now()
    const monotonic = Number(process.hrtime.bigint()) / 1e6
    const after = performance.now()
    if (after - before < best.window) best = { window: after - before, offset: monotonic - (before + after) / 2 }
  }
  return best.offset
})()

/** CLOCK_MONOTONIC in milliseconds: the clock of every deadline. */
export const now = (): number => performance.now() + CLOCK_OFFSET

/** The longest delay setTimeout takes (ms); longer ones fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * A setTimeout delay that reaches `deadline` (ms on now()) without firing early: a deadline beyond
 * setTimeout's range waits the longest it takes, and the caller re-arms when it fires.
 */
export const delayUntil = (deadline: number): number => Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(deadline - now())))
