/**
 * The soak's short mode (issue 16): the program of test/soak.ts with 200k requests per engine,
 * seeded (IOU_SOAK_SEED replays, IOU_SOAK_REQUESTS changes the length). Every request settles
 * exactly once with a typed error when it fails, nothing is outstanding after each close, and the
 * open fd count is back to its baseline at the end. The ten-million-request run with the RSS and
 * fd flatness check is the bench suite (`npm run bench -- soak`); no timing is asserted here.
 */
import { describe, expect, it } from "vitest"
import { Driver, IoUringError, probe } from "../src/index.ts"
import { runSoak } from "./soak.ts"

const supported = probe().supported
const SEED = Number(process.env["IOU_SOAK_SEED"] ?? 0x50a4)
const REQUESTS = Number(process.env["IOU_SOAK_REQUESTS"] ?? 200_000)

describe.skipIf(!supported)(`soak, short mode${supported ? "" : ` (skipped: ${probe().reason})`}`, () => {
  it.each(["inline", "thread"] as const)(
    `engine %s: ${REQUESTS} mixed requests with aborts, deadlines, closeFd under pending work and Driver reopens settle exactly once, and the fd count returns to its baseline (seed ${SEED})`,
    async (engine) => {
      const result = await runSoak({
        Driver,
        engine,
        requests: REQUESTS,
        seed: SEED,
        typed: (e) => e instanceof IoUringError,
        reopenEvery: 20_000,
        samples: 20,
      })
      // The short run is too short for the flatness rules to mean anything (20 samples, while the
      // connections in flight at a sample vary by more than the fd rule's slack); the fds must be
      // back to the baseline exactly at the end, which the last expectation checks.
      const failures = result.failures.filter((f) => !f.startsWith("RSS grew") && !f.startsWith("open fds grew"))
      expect(failures, `IOU_SOAK_SEED=${SEED}`).toEqual([])
      expect(result.settled).toBe(result.requests)
      expect(result.requests).toBeGreaterThanOrEqual(REQUESTS)
      expect(result.fdAfter).toBe(result.fdBaseline)
      expect(result.reopens).toBeGreaterThan(0)
    },
    60_000,
  )
})
