/**
 * Latency histograms per operation, opted into with the layers' `latencyHistograms` option: the
 * IoUring service wrapped so that each operation that ends (success or failure; an interrupted
 * one is not a latency) records its wall time in an Effect `Metric` histogram.
 *
 * The wrapping is decided once, when the layer is built: without the option the service is the
 * plain one, so the default hot path has no timing, no branch and no allocation for metrics.
 */
import { Effect, Exit, Metric } from "effect"
import type * as IoUring from "../IoUring.ts"
import * as Ring from "./ring.ts"

/** The histogram's name; one series per operation (`op`) and ring (`ring`). */
export const LATENCY_METRIC = "iou_operation_latency_ms"

/** Bucket boundaries in ms: 1 µs to about 4 s, doubling. */
const BOUNDARIES = Metric.exponentialBoundaries({ start: 0.001, factor: 2, count: 23 })

const histogram = (op: string, ring: string) =>
  Metric.histogram(LATENCY_METRIC, {
    description: "wall time of each io_uring operation from submission to completion, in milliseconds",
    boundaries: BOUNDARIES,
    attributes: { op, ring },
  })

const timed = <A, E>(metric: Metric.Histogram<number>, effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  Effect.suspend(() => {
    const start = performance.now()
    return Effect.onExit(effect, (exit) =>
      Exit.isFailure(exit) && Exit.hasInterrupts(exit) ? Effect.void : Metric.update(metric, performance.now() - start),
    )
  })

/**
 * `service` with each operation timed into its histogram (labelled `op` and `ring`): every member
 * but `stats`, an Effect (`nop`) or a function returning one, is wrapped alike, so a new operation
 * is timed without a line here.
 */
export const withLatency = (service: IoUring.IoUring["Service"], ring: string): IoUring.IoUring["Service"] => {
  const timedService: Record<string, unknown> = { stats: service.stats }
  for (const [op, member] of Object.entries(service)) {
    if (op === "stats") continue
    const metric = histogram(op, ring)
    timedService[op] =
      typeof member === "function"
        ? (...args: Array<unknown>) =>
            timed(metric, (member as (...args: Array<unknown>) => Effect.Effect<unknown, unknown>)(...args))
        : timed(metric, member as Effect.Effect<unknown, unknown>)
  }
  return Ring.withLingering(timedService as IoUring.IoUring["Service"], Ring.lingeringOf(service))
}
