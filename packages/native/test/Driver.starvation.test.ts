/**
 * Idle connections starve no one (issue 13): 10,000 idle connections waiting in recvMany (their
 * client ends in a child process: the fd limit is per process) and 16 active ping-pong clients, on
 * the default config. Every active round trip completes and none takes longer than 1 s, a liveness
 * bound, not a performance target (before maxInFlight, one waited 29.5 s for the idle ones' timeouts).
 */
import { execFileSync } from "node:child_process"
import { describe, expect, it } from "vitest"
import { probe } from "../src/index.ts"
import { runStarvation } from "./starvation.ts"
import { UNDER_TEST } from "./helpers.ts"

const IDLE = 10_000
const supported = probe().supported
const fdLimit = Number(execFileSync("sh", ["-c", "ulimit -n"]).toString().trim())
const enoughFds = Number.isNaN(fdLimit) || fdLimit >= IDLE + 1000

describe.skipIf(!supported || !enoughFds)(
  `starvation${supported ? (enoughFds ? "" : ` (skipped: ulimit -n is ${fdLimit})`) : " (skipped: no io_uring)"}`,
  () => {
    it("16 active ping-pong clients are served within 1 s per round trip beside 10,000 idle recvMany connections", async () => {
      const result = await runStarvation({
        idle: IDLE,
        active: 16,
        rounds: 50,
        config: UNDER_TEST,
      })
      expect(result.pendingIdle).toBeGreaterThanOrEqual(IDLE)
      expect(result.rtts.length).toBe(16 * 50)
      expect(Math.max(...result.rtts)).toBeLessThan(1000)
    }, 120_000)
  },
)
