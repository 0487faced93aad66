/**
 * IoUringMetrics on the real kernel: prom-client collectors read the Driver's stats on scrape and
 * go away with their scope; the same figures as Effect Metrics.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Metric, Scope } from "effect"
import * as Prom from "prom-client"
import { probe } from "@iou/native"
import { IoUring, IoUringMetrics, NodeIoUring } from "@iou/effect"
import { FakeDriver, nativeError, openFake } from "./FakeDriver.ts"

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
        // `outstanding`'s gauge, and its deprecated old name beside it.
        assert.include(text, "# TYPE iou_outstanding gauge")
        assert.include(text, "# TYPE iou_in_flight gauge")
        assert.strictEqual(sample(text, "iou_outstanding"), stats.outstanding)
        assert.strictEqual(sample(text, "iou_in_flight"), stats.outstanding)
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

describe("latency histograms (the latencyHistograms layer option)", () => {
  /** Each test counts in its own Metric registry. */
  const freshRegistry = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.suspend(() => Effect.provideService(effect, Metric.MetricRegistry, new Map()))

  const latencySeries = Effect.map(Metric.snapshot, (snapshots) =>
    snapshots.filter((s) => s.id === "iou_operation_latency_ms"),
  )

  const runOps = (driver: FakeDriver) =>
    Effect.gen(function* () {
      const io = yield* IoUring
      const nop = yield* Effect.forkChild(io.nop)
      const recv = yield* Effect.forkChild(io.recv(4, new Uint8Array(8)).pipe(Effect.flip))
      yield* Effect.yieldNow
      driver.complete(driver.requests[0]!.handle, null, 0)
      driver.complete(driver.requests[1]!.handle, nativeError("ECONNRESET", { syscall: "recv", fd: 4 }))
      yield* Fiber.join(nop)
      yield* Fiber.join(recv)
    })

  it.effect("with the option, each completed operation (success or failure) is counted in its op's series", () => {
    const driver = new FakeDriver()
    return Effect.gen(function* () {
      yield* runOps(driver).pipe(
        Effect.provide(
          Layer.fresh(NodeIoUring.layerWith(openFake(driver), {}, { latencyHistograms: { ring: "lat" } })),
        ),
      )
      const series = yield* latencySeries
      const count = (op: string) =>
        series.find((s) => s.attributes?.["op"] === op && s.attributes?.["ring"] === "lat")?.state as
          | { count: number }
          | undefined
      assert.strictEqual(count("nop")?.count, 1)
      assert.strictEqual(count("recv")?.count, 1)
      assert.strictEqual(count("readAt")?.count ?? 0, 0)
    }).pipe(freshRegistry)
  })

  it.effect("an interrupted operation is not a latency sample", () => {
    const driver = new FakeDriver()
    return Effect.gen(function* () {
      yield* Effect.gen(function* () {
        const io = yield* IoUring
        const fiber = yield* Effect.forkChild(io.recv(4, new Uint8Array(8)))
        yield* Effect.yieldNow
        yield* Fiber.interrupt(fiber)
      }).pipe(Effect.provide(Layer.fresh(NodeIoUring.layerWith(openFake(driver), {}, { latencyHistograms: true }))))
      const recv = (yield* latencySeries).find((s) => s.attributes?.["op"] === "recv")
      assert.strictEqual((recv?.state as { count: number } | undefined)?.count ?? 0, 0)
    }).pipe(freshRegistry)
  })

  it.effect("without the option no latency series exists", () => {
    const driver = new FakeDriver()
    return Effect.gen(function* () {
      yield* runOps(driver).pipe(Effect.provide(Layer.fresh(NodeIoUring.layerWith(openFake(driver)))))
      assert.deepStrictEqual(yield* latencySeries, [])
    }).pipe(freshRegistry)
  })
})
