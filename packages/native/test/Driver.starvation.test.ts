/**
 * Idle connections starve no one (issue 13): 10,000 idle connections waiting in recvMany (their
 * client ends in a child process: the fd limit is per process) and 16 active ping-pong clients, on
 * the default config. Every active round trip completes and none takes longer than 1 s, a liveness
 * bound, not a performance target (before maxInFlight, one waited 29.5 s for the idle ones' timeouts).
 *
 * Requests that complete at once starve no one either: a chain of them, each started when the one
 * before completed (awaited, or from its callback), lets the event loop's timers and immediates run.
 * With the inline engine such a chain completes inside the publishes at the end of each JS turn,
 * which run a bounded number of passes before the event loop gets control back.
 */
import { execFileSync } from "node:child_process"
import { describe, expect, it } from "vitest"
import { Driver, probe } from "../src/index.ts"
import { runStarvation } from "./starvation.ts"
import { UNDER_TEST } from "./helpers.ts"
import { ENGINES, cleanups, file } from "./fixtures.ts"

/** Far more steps than a chain takes before a 1 ms timer fires when the event loop gets its turns (hundreds). */
const GUARD = 200_000

/** Runs `step` as a chain until a timer set at the start fires (or GUARD steps); returns what stopped it. */
const chainUntilTimer = (step: (next: () => void) => void, waitFor: "timer" | "immediate") =>
  new Promise<{ stoppedBy: string; steps: number }>((resolve) => {
    let fired = false
    if (waitFor === "timer") setTimeout(() => (fired = true), 1)
    else setImmediate(() => (fired = true))
    let steps = 0
    const next = () => {
      if (fired) return resolve({ stoppedBy: waitFor, steps })
      if (++steps > GUARD) return resolve({ stoppedBy: "guard", steps })
      step(next)
    }
    next()
  })

describe.skipIf(!probe().supported)("a chain of requests that complete at once starves no one", () => {
  const engines: typeof ENGINES = [
    ...ENGINES,
    { name: "inline, ring-fd wake", config: { engine: "inline", inlineWake: "ringfd" } },
  ]
  for (const { name, config } of engines) {
    describe(name, () => {
      const open = async () => {
        const ring = await Driver.open(config)
        cleanups.push(() => ring.close())
        return ring
      }
      for (const waitFor of ["timer", "immediate"] as const) {
        it(`awaited nops let a pending ${waitFor} run`, async () => {
          const ring = await open()
          const r = await chainUntilTimer((next) => void ring.nop().then(next), waitFor)
          expect(r.stoppedBy).toBe(waitFor)
        })
      }
      it("awaited page-cache reads let a pending timer run", async () => {
        const ring = await open()
        const f = file(new Uint8Array(4096).fill(7))
        const buf = Buffer.alloc(4096)
        const r = await chainUntilTimer((next) => void ring.readAt(f.fd, buf, 0).then(next), "timer")
        expect(r.stoppedBy).toBe("timer")
        expect(buf[4095]).toBe(7)
      })
      it("nops submitted from each other's callbacks let a pending timer run", async () => {
        const ring = await open()
        const r = await chainUntilTimer(
          (next) =>
            void ring.submitNop(0, (error) => {
              if (error) throw error
              next()
            }),
          "timer",
        )
        expect(r.stoppedBy).toBe("timer")
      })
    })
  }
})

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
