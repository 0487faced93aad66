/**
 * IoUringMetrics: the Driver's counters and gauges for Prometheus (prom-client) and for Effect's
 * `Metric` registry, read from `stats` when they are scraped or snapshotted (nothing is updated on
 * the hot path).
 *
 * | name                       | type    | stats field         |
 * | -------------------------- | ------- | ------------------- |
 * | `iou_pending_operations`   | gauge   | `pendingOperations` (the seed's gauge: waiter slots in use) |
 * | `iou_outstanding`          | gauge   | `outstanding` (held by the Driver: backpressure queue, inbound queue or loop) |
 * | `iou_in_flight`            | gauge   | `outstanding`: the same gauge under its old name, deprecated, kept for one release as `stats().inFlight` is |
 * | `iou_quarantined_bytes`    | gauge   | `quarantinedBytes`  |
 * | `iou_submitted_total`      | counter | `submitted`         |
 * | `iou_completed_total`      | counter | `completed`         |
 * | `iou_failed_total`         | counter | `failed`            |
 * | `iou_timed_out_total`      | counter | `timedOut`          |
 * | `iou_cancelled_total`      | counter | `cancelled`         |
 * | `iou_requeued_total`       | counter | `requeued`          |
 * | `iou_sqes_staged_total`    | counter | `sqesStaged`        |
 * | `iou_enters_total`         | counter | `enters`            |
 * | `iou_wakes_total`          | counter | `wakes`             |
 * | `iou_abandoned_total`      | counter | `abandoned`         |
 * | `iou_cq_overflow_total`    | counter | `cqOverflow`        |
 *
 * Every series carries a `ring` label (default `"default"`), so several rings can share one
 * registry; registering the same ring label twice on one registry is a defect.
 *
 * ```ts
 * const registry = new Prom.Registry()
 * yield* IoUringMetrics.register(registry, { ring: "storage" }) // removed when the scope closes
 * const text = yield* Effect.promise(() => registry.metrics())
 * ```
 *
 * @since 0.0.0
 */
import type { DriverStats } from "@iou/core"
import { Context, Effect, Metric, type Scope } from "effect"
import type * as Prom from "prom-client"
import { IoUring } from "./IoUring.ts"

/**
 * @since 0.0.0
 */
export interface RegisterOptions {
  /** The value of the `ring` label; default `"default"`. */
  readonly ring?: string | undefined
}

interface Figure {
  readonly name: string
  readonly help: string
  readonly kind: "gauge" | "counter"
  readonly read: (stats: DriverStats) => number
}

/**
 * The figures exported, in the order they are registered.
 *
 * @since 0.0.0
 */
export const figures: ReadonlyArray<Figure> = [
  {
    name: "iou_pending_operations",
    kind: "gauge",
    help: "Requests occupying a waiter slot in the io_uring loop",
    read: (s) => s.pendingOperations,
  },
  {
    name: "iou_outstanding",
    kind: "gauge",
    help: "Requests the Driver holds that have not completed (backpressure queue, inbound queue or loop)",
    read: (s) => s.outstanding,
  },
  {
    name: "iou_in_flight",
    kind: "gauge",
    help: "Deprecated: iou_outstanding under its old name",
    read: (s) => s.outstanding,
  },
  {
    name: "iou_quarantined_bytes",
    kind: "gauge",
    help: "Bytes of buffers of abandoned requests, kept because the kernel may still write them",
    read: (s) => s.quarantinedBytes,
  },
  { name: "iou_submitted_total", kind: "counter", help: "Requests submitted to the loop", read: (s) => s.submitted },
  {
    name: "iou_completed_total",
    kind: "counter",
    help: "Requests that ended, whatever their outcome",
    read: (s) => s.completed,
  },
  {
    name: "iou_failed_total",
    kind: "counter",
    help:
      "Requests the loop ended with an error: an errno from the kernel (or EINVAL/ENOMEM for a request it could not take), " +
      "an exact read or recv that met end of file or the peer's close first, or a write or send that moved no bytes. " +
      "Timeouts, cancellations and abandonments are not counted here (see iou_timed_out_total, iou_cancelled_total, iou_abandoned_total)",
    read: (s) => s.failed,
  },
  {
    name: "iou_timed_out_total",
    kind: "counter",
    help:
      "Requests that ended because their timeout passed before the operation finished (in the loop, or still queued in the Driver); " +
      "an operation that finished first counts as done, not here",
    read: (s) => s.timedOut,
  },
  {
    name: "iou_cancelled_total",
    kind: "counter",
    help:
      "Requests that ended because their caller cancelled them (an interrupted fiber, an aborted signal) before the operation finished; " +
      "an operation that finished first counts as done, not here, and cancellations at shutdown count in iou_abandoned_total",
    read: (s) => s.cancelled,
  },
  {
    name: "iou_requeued_total",
    kind: "counter",
    help:
      "Completions after which a request needed another submission (partial progress, EAGAIN or EINTR, a readiness poll); " +
      "one request can count several times",
    read: (s) => s.requeued,
  },
  {
    name: "iou_sqes_staged_total",
    kind: "counter",
    help: "Submission queue entries staged by the loop",
    read: (s) => s.sqesStaged,
  },
  { name: "iou_enters_total", kind: "counter", help: "io_uring_enter calls made by the loop", read: (s) => s.enters },
  {
    name: "iou_wakes_total",
    kind: "counter",
    help: "Wake-ups of a sleeping loop (eventfd writes)",
    read: (s) => s.wakes,
  },
  {
    name: "iou_abandoned_total",
    kind: "counter",
    help: "Requests abandoned at shutdown when shutdownTimeout expired",
    read: (s) => s.abandoned,
  },
  {
    name: "iou_cq_overflow_total",
    kind: "counter",
    help: "Completions the loop kept in its overflow list because the completion queue was full",
    read: (s) => s.cqOverflow,
  },
]

// ---------------------------------------------------------------------------------------------
// prom-client
// ---------------------------------------------------------------------------------------------

/** What one prom-client registry holds for this module: the collectors and the rings they read. */
interface Registration {
  readonly rings: Map<string, () => DriverStats>
  readonly names: ReadonlyArray<string>
}

const registrations = new WeakMap<Prom.Registry, Registration>()

/**
 * prom-client is an optional peer dependency: imported on the first `register`, never by importing
 * this module. Missing, `register` dies with a message saying to install it.
 */
let promClient: Promise<typeof Prom> | undefined
const loadPromClient: Effect.Effect<typeof Prom> = Effect.promise(
  () =>
    (promClient ??= import("prom-client").catch((error: unknown) => {
      promClient = undefined
      throw new Error(
        "IoUringMetrics.register needs prom-client, an optional peer dependency: npm install prom-client",
        {
          cause: error,
        },
      )
    })),
)

const install = (client: typeof Prom, registry: Prom.Registry): Registration => {
  const rings = new Map<string, () => DriverStats>()
  const snapshot = (): Array<readonly [string, DriverStats]> =>
    Array.from(rings, ([ring, stats]) => [ring, stats()] as const)
  for (const figure of figures) {
    const common = { name: figure.name, help: figure.help, labelNames: ["ring"] as const, registers: [registry] }
    if (figure.kind === "gauge") {
      new client.Gauge({
        ...common,
        collect() {
          this.reset()
          for (const [ring, stats] of snapshot()) this.set({ ring }, figure.read(stats))
        },
      })
    } else {
      new client.Counter({
        ...common,
        collect() {
          this.reset()
          for (const [ring, stats] of snapshot()) this.inc({ ring }, figure.read(stats))
        },
      })
    }
  }
  const registration: Registration = { rings, names: figures.map((figure) => figure.name) }
  registrations.set(registry, registration)
  return registration
}

/**
 * Registers collect-on-scrape prom-client metrics for the IoUring in context on `registry`, with
 * a `ring` label; they are removed when the current scope closes (the last ring of a registry
 * removes the metrics themselves).
 *
 * @since 0.0.0
 */
export const register = (
  registry: Prom.Registry,
  options?: RegisterOptions,
): Effect.Effect<void, never, IoUring | Scope.Scope> =>
  Effect.gen(function* () {
    const io = yield* IoUring
    const prom = yield* loadPromClient
    const ring = options?.ring ?? "default"
    const read = (): DriverStats => Effect.runSync(io.stats)
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        const registration = registrations.get(registry) ?? install(prom, registry)
        if (registration.rings.has(ring)) {
          throw new Error(
            `IoUringMetrics.register: a ring labelled "${ring}" is already registered on this registry; pass a distinct { ring } for each ring`,
          )
        }
        registration.rings.set(ring, read)
        return registration
      }),
      (registration) =>
        Effect.sync(() => {
          registration.rings.delete(ring)
          if (registration.rings.size === 0) {
            for (const name of registration.names) registry.removeSingleMetric(name)
            registrations.delete(registry)
          }
        }),
    )
  })

// ---------------------------------------------------------------------------------------------
// Effect Metric
// ---------------------------------------------------------------------------------------------

const effectMetric = (figure: Figure) =>
  figure.kind === "gauge"
    ? Metric.gauge(figure.name, { description: figure.help })
    : Metric.counter(figure.name, { description: figure.help, incremental: true })

/**
 * The same figures as Effect `Metric`s, keyed by name (`metrics.iou_pending_operations`, …).
 * Their series are backed by the Driver's stats once `track` has run.
 *
 * @since 0.0.0
 */
export const metrics: Readonly<Record<string, Metric.Metric<number, unknown>>> = Object.fromEntries(
  figures.map((figure) => [figure.name, effectMetric(figure)]),
)

/**
 * Registers the figures in Effect's current `Metric.MetricRegistry` as series labelled
 * `{ ring }`, read from the Driver's stats whenever they are snapshotted (`Metric.snapshot`, an
 * exporter); removed when the current scope closes.
 *
 * @since 0.0.0
 */
export const track = (options?: RegisterOptions): Effect.Effect<void, never, IoUring | Scope.Scope> =>
  Effect.gen(function* () {
    const io = yield* IoUring
    const ring = options?.ring ?? "default"
    const base = yield* Effect.context<never>()
    const context = Context.add(base, Metric.CurrentMetricAttributes, {
      ...Context.get(base, Metric.CurrentMetricAttributes),
      ring,
    })
    const read = (): DriverStats => Effect.runSync(io.stats)
    yield* Effect.acquireRelease(
      Effect.sync(() =>
        figures.map((figure) => {
          const metric = metrics[figure.name]!
          return Metric.registerUnsafe(metric, context, {
            get: () =>
              figure.kind === "gauge"
                ? { value: figure.read(read()) }
                : { count: figure.read(read()), incremental: true },
            update: () => {},
            modify: () => {},
          })
        }),
      ),
      (handles) => Effect.sync(() => handles.forEach((handle) => handle.remove())),
    )
  })

/**
 * The figures of the IoUring in context, now, as `{ name, kind, value }`.
 *
 * @since 0.0.0
 */
export const snapshot: Effect.Effect<
  ReadonlyArray<{ readonly name: string; readonly kind: "gauge" | "counter"; readonly value: number }>,
  never,
  IoUring
> = Effect.map(
  Effect.flatMap(Effect.service(IoUring), (io) => io.stats),
  (stats) => figures.map((figure) => ({ name: figure.name, kind: figure.kind, value: figure.read(stats) })),
)
