/**
 * Waiting for the loop's gauge. `inFlight` is the Driver's own count and is exact the moment a
 * request's callback has run; `pendingOperations` is the loop thread's gauge, which it refreshes
 * right after publishing a batch of completions, so JS can see a completion a moment before the
 * gauge stops counting it. Tests assert `inFlight` at once and the gauge once it has caught up.
 */
import { Effect } from "effect"
import type { DriverStats } from "@iou/native"
import { IoUring } from "@iou/effect"

/** The stats once the loop's gauge reads 0 (at most ~1 s), or the last stats read. */
export const gaugeSettled: Effect.Effect<DriverStats, never, IoUring> = Effect.gen(function* () {
  const io = yield* IoUring
  for (let i = 0; i < 200; i++) {
    const stats = yield* io.stats
    if (stats.pendingOperations === 0) return stats
    yield* Effect.sleep(5)
  }
  return yield* io.stats
})
