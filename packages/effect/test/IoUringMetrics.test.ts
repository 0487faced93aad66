/**
 * IoUringMetrics on the real kernel: prom-client collectors read the Driver's stats on scrape and
 * go away with their scope; the same figures as Effect Metrics.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, Metric, Scope, Exit } from "effect"
import * as Prom from "prom-client"
import { probe } from "@iou/native"
import { IoUring, IoUringMetrics, NodeIoUring } from "@iou/effect"

const supported = probe().supported

const sample = (text: string, name: string, ring = "default"): number | undefined => {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{ring="${ring}"} `))
  return line === undefined ? undefined : Number(line.split(" ")[1])
}

describe.skipIf(!supported)("IoUringMetrics (real kernel)", () => {
  layer(NodeIoUring.layer({ size: 8, shutdownTimeout: 1000 }), { excludeTestServices: true })((it) => {
    it.effect("register exposes the Driver's stats on scrape and removes them when the scope closes", () =>
      Effect.gen(function* () {
        const io = yield* IoUring
        const registry = new Prom.Registry()
        const scope = yield* Scope.make()
        yield* IoUringMetrics.register(registry).pipe(Scope.provide(scope))
        yield* io.nop
        yield* io.nop
        const stats = yield* io.stats
        assert.strictEqual(stats.pendingOperations, 0)
        const text = yield* Effect.promise(() => registry.metrics())
        assert.include(text, "# TYPE iou_pending_operations gauge")
        assert.include(text, "# TYPE iou_submitted_total counter")
        for (const name of [
          "iou_submitted_total",
          "iou_completed_total",
          "iou_failed_total",
          "iou_timed_out_total",
          "iou_cancelled_total",
          "iou_requeued_total",
          "iou_sqes_staged_total",
          "iou_enters_total",
          "iou_wakes_total",
          "iou_abandoned_total",
        ]) {
          assert.isDefined(sample(text, name), name)
        }
        assert.strictEqual(sample(text, "iou_pending_operations"), 0)
        assert.strictEqual(sample(text, "iou_submitted_total"), stats.submitted)
        assert.isAtLeast(stats.submitted, 2)
        // A later scrape reads the stats again.
        yield* io.nop
        const again = yield* Effect.promise(() => registry.metrics())
        assert.strictEqual(sample(again, "iou_submitted_total"), stats.submitted + 1)
        yield* Scope.close(scope, Exit.void)
        assert.notInclude(yield* Effect.promise(() => registry.metrics()), "iou_")
        assert.isUndefined(registry.getSingleMetric("iou_submitted_total"))
      }),
    )

    it.effect("two rings share a registry under distinct ring labels; a duplicate label is a defect", () =>
      Effect.gen(function* () {
        const registry = new Prom.Registry()
        yield* IoUringMetrics.register(registry, { ring: "a" })
        yield* IoUringMetrics.register(registry, { ring: "b" })
        const text = yield* Effect.promise(() => registry.metrics())
        assert.isDefined(sample(text, "iou_enters_total", "a"))
        assert.isDefined(sample(text, "iou_enters_total", "b"))
        const exit = yield* Effect.exit(Effect.scoped(IoUringMetrics.register(registry, { ring: "a" })))
        assert.isTrue(Exit.isFailure(exit))
      }),
    )

    it.effect("track exposes the same figures as Effect Metrics labelled by ring, until the scope closes", () =>
      Effect.gen(function* () {
        const io = yield* IoUring
        const scope = yield* Scope.make()
        yield* IoUringMetrics.track({ ring: "main" }).pipe(Scope.provide(scope))
        yield* io.nop
        const stats = yield* io.stats
        assert.strictEqual(stats.pendingOperations, 0)
        const snapshots = yield* Metric.snapshot
        const submitted = snapshots.find((s) => s.id === "iou_submitted_total")
        assert.isDefined(submitted)
        assert.deepStrictEqual(submitted!.attributes, { ring: "main" })
        assert.strictEqual((submitted!.state as { count: number }).count, stats.submitted)
        const pending = snapshots.find((s) => s.id === "iou_pending_operations")
        assert.strictEqual((pending!.state as { value: number }).value, 0)
        yield* Scope.close(scope, Exit.void)
        assert.isUndefined((yield* Metric.snapshot).find((s) => s.id.startsWith("iou_")))
      }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())),
    )

    it.effect("snapshot lists every figure with its current value", () =>
      Effect.gen(function* () {
        const io = yield* IoUring
        const figures = yield* IoUringMetrics.snapshot
        const stats = yield* io.stats
        assert.strictEqual(figures.length, IoUringMetrics.figures.length)
        assert.strictEqual(figures.find((f) => f.name === "iou_enters_total")!.value, stats.enters)
      }),
    )
  })
})
