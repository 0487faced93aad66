/**
 * NodeIoUring: the IoUring service backed by @iou/native's Driver, as a scoped Layer.
 *
 * The layer opens one Driver (one ring and its loop) in the layer's scope. Its finalizer calls
 * `driver.close()` and waits for it: the ring stops admitting requests, drains what is
 * outstanding, abandons whatever is left when `shutdownTimeout` expires (those requests fail with
 * `reason: "Abandoned"`; their buffers stay quarantined if the kernel did not give them back),
 * ends the loop (joining its thread, with the thread engine) and only then lets the scope finish
 * closing. Without a `shutdownTimeout` the drain waits for every request.
 *
 * ```ts
 * import { Effect } from "effect"
 * import { IoUring, NodeIoUring } from "@iou/effect"
 *
 * const program = Effect.gen(function* () {
 *   const ring = yield* IoUring
 *   yield* ring.nop
 * })
 * Effect.runPromise(program.pipe(Effect.provide(NodeIoUring.layer({ shutdownTimeout: 1000 }))))
 * ```
 *
 * Where the kernel refuses io_uring (no CONFIG_IO_URING, the io_uring_disabled sysctl, a seccomp
 * profile, a memlock limit), building the layer fails with an IoUringError whose reason is
 * `"Unavailable"` and whose message is the probe's explanation. A config the Driver rejects (a size
 * out of range, a negative timeout) is a defect for `layer` (the values come from code) and a
 * `ConfigError` for `layerConfig` (they come from the environment).
 *
 * @iou/native (the addon) is loaded when a layer is built, not when this module is imported: this
 * package installs and imports on any OS, and where @iou/native is not installed (it is Linux-only)
 * or its addon is not built, building the layer fails with `"Unavailable"` and says why.
 *
 * @since 0.0.0
 */
import { Config as CoreConfig, type DriverConfig, IoUringError as DriverError, type DriverLike } from "@iou/core"
import { Config, ConfigProvider, Duration, Effect, Layer, Option, type Scope } from "effect"
import { IoUring } from "./IoUring.ts"
import type { IoUringError } from "./IoUringError.ts"
import * as Errors from "./internal/errors.ts"
import * as Ring from "./internal/ring.ts"

/**
 * @since 0.0.0
 */
export type { DriverConfig }

/**
 * How `layerWith` opens a Driver: anything with the Driver's low-level API. `now` is the clock the
 * Driver's deadlines are measured on (default: `Driver.now`).
 *
 * @since 0.0.0
 */
export interface OpenOptions {
  readonly open: (config: DriverConfig) => DriverLike
  readonly now?: (() => number) | undefined
}

type Native = typeof import("@iou/native")
let native: Promise<Native | { readonly missing: unknown }> | undefined

/**
 * Why @iou/native cannot be imported, as the Driver's ERR_IOU_UNAVAILABLE error: the same class
 * (@iou/core's), code and reason, so that it maps like the Driver's own.
 */
const notInstalled = (error: unknown): Error => {
  const detail = error instanceof Error ? error.message : String(error)
  return new DriverError(
    `@iou/native could not be loaded (${detail}); it is an optional dependency of @iou/effect that installs on Linux only`,
    { code: "ERR_IOU_UNAVAILABLE", reason: "Unavailable", syscall: "open", cause: error },
  )
}

/**
 * @iou/native, imported on first use. Importing it never loads the addon (Driver.open does), so
 * the only failure here is the package itself missing: Unavailable, and the next build tries again.
 */
const loadNative: Effect.Effect<Native, IoUringError> = Effect.suspend(() =>
  Effect.promise(() => (native ??= import("@iou/native").catch((missing: unknown) => ({ missing })))).pipe(
    Effect.flatMap((loaded) => {
      if (!("missing" in loaded)) return Effect.succeed(loaded)
      native = undefined
      return Errors.failure(notInstalled(loaded.missing), "open", undefined)
    }),
  ),
)

/**
 * Opens a ring with `options.open(config)` in the current scope and returns the IoUring service
 * over it; closing the scope closes the ring with its bounded shutdown drain and waits for it.
 *
 * @since 0.0.0
 */
export const makeWith = (
  options: OpenOptions,
  config: DriverConfig = {},
): Effect.Effect<IoUring["Service"], IoUringError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.suspend(() => {
      try {
        return Effect.succeed(options.open(config))
      } catch (error) {
        return Errors.failure(error, "open", undefined)
      }
    }),
    (driver) =>
      Effect.tryPromise(() => driver.close()).pipe(
        Effect.flatMap((result) =>
          result.abandoned > 0
            ? Effect.logWarning(
                `io_uring shutdown: ${result.abandoned} request(s) still in flight when shutdownTimeout expired were abandoned (buffers the kernel did not give back stay quarantined); ${result.completed} completed during the drain`,
              )
            : Effect.void,
        ),
        Effect.catchCause((cause) => Effect.logError("io_uring shutdown: closing the Driver failed", cause)),
      ),
  ).pipe(
    Effect.flatMap((driver) =>
      options.now !== undefined
        ? Effect.succeed(Ring.make(driver, options.now))
        : Effect.map(loadNative, (n) => Ring.make(driver, n.Driver.now)),
    ),
  )

/**
 * Opens an @iou/native Driver with `config` in the current scope (see `makeWith`).
 *
 * @since 0.0.0
 */
export const make = (config?: DriverConfig): Effect.Effect<IoUring["Service"], IoUringError, Scope.Scope> =>
  Effect.flatMap(loadNative, ({ Driver }) =>
    makeWith({ open: (c): DriverLike => Driver.open(c), now: () => Driver.now() }, config),
  )

/**
 * The IoUring service over a Driver opened with `config`, closed when the layer's scope closes.
 *
 * @since 0.0.0
 */
export const layer = (config?: DriverConfig): Layer.Layer<IoUring, IoUringError> => Layer.effect(IoUring, make(config))

/**
 * Like `layer`, with your own way to open the Driver (a Driver subclass, a shared config, a
 * simulated refusal in tests).
 *
 * @since 0.0.0
 */
export const layerWith = (options: OpenOptions, config?: DriverConfig): Layer.Layer<IoUring, IoUringError> =>
  Layer.effect(IoUring, makeWith(options, config))

/** Environment variable of each config field, for ConfigError messages. */
const ENV_NAMES = {
  size: "IOU_SIZE",
  maxInFlight: "IOU_MAX_IN_FLIGHT",
  singleIssuer: "IOU_SINGLE_ISSUER",
  ioPoll: "IOU_IO_POLL",
  maxRequestTimeout: "IOU_MAX_REQUEST_TIMEOUT",
  timeoutWheelTick: "IOU_TIMEOUT_WHEEL_TICK",
  shutdownTimeout: "IOU_SHUTDOWN_TIMEOUT",
  idleSpin: "IOU_IDLE_SPIN",
  engine: "IOU_ENGINE",
} as const

const millis = (duration: Option.Option<Duration.Duration>): number | undefined =>
  Option.isSome(duration) ? Duration.toMillis(duration.value) : undefined

/**
 * The Driver's config read with effect's `Config`:
 *
 * | variable                  | field             | example       |
 * | ------------------------- | ----------------- | ------------- |
 * | `IOU_SIZE`                | size              | `256`         |
 * | `IOU_MAX_IN_FLIGHT`       | maxInFlight       | `16384`       |
 * | `IOU_SINGLE_ISSUER`       | singleIssuer      | `false`       |
 * | `IOU_IO_POLL`             | ioPoll            | `false`       |
 * | `IOU_MAX_REQUEST_TIMEOUT` | maxRequestTimeout | `2 minutes`   |
 * | `IOU_TIMEOUT_WHEEL_TICK`  | timeoutWheelTick  | `5 millis`    |
 * | `IOU_SHUTDOWN_TIMEOUT`    | shutdownTimeout   | `10 seconds`  |
 * | `IOU_IDLE_SPIN`           | idleSpin (µs)     | `0`           |
 * | `IOU_ENGINE`              | engine            | `thread`      |
 *
 * Durations are `Duration.Input` strings; `IOU_SHUTDOWN_TIMEOUT=Infinity` waits for every request,
 * as does leaving it unset. Absent variables take the Driver's defaults. A malformed value, or one
 * the Driver would reject (a size above 32768, a tick of 0), fails with a `ConfigError` naming the
 * variable; nothing falls back silently.
 *
 * @since 0.0.0
 */
export const config: Config.Config<DriverConfig> = Config.all({
  size: Config.option(Config.Int(ENV_NAMES.size)),
  maxInFlight: Config.option(Config.Int(ENV_NAMES.maxInFlight)),
  singleIssuer: Config.option(Config.Boolean(ENV_NAMES.singleIssuer)),
  ioPoll: Config.option(Config.Boolean(ENV_NAMES.ioPoll)),
  maxRequestTimeout: Config.option(Config.Duration(ENV_NAMES.maxRequestTimeout)),
  timeoutWheelTick: Config.option(Config.Duration(ENV_NAMES.timeoutWheelTick)),
  shutdownTimeout: Config.option(Config.Duration(ENV_NAMES.shutdownTimeout)),
  idleSpin: Config.option(Config.Int(ENV_NAMES.idleSpin)),
  engine: Config.option(Config.String(ENV_NAMES.engine)),
}).pipe(
  Config.mapEffect((raw) => {
    const shutdownTimeout = millis(raw.shutdownTimeout)
    const driverConfig: DriverConfig = {
      size: Option.getOrUndefined(raw.size),
      maxInFlight: Option.getOrUndefined(raw.maxInFlight),
      singleIssuer: Option.getOrUndefined(raw.singleIssuer),
      ioPoll: Option.getOrUndefined(raw.ioPoll),
      maxRequestTimeout: millis(raw.maxRequestTimeout),
      timeoutWheelTick: millis(raw.timeoutWheelTick),
      shutdownTimeout: shutdownTimeout === Number.POSITIVE_INFINITY ? undefined : shutdownTimeout,
      idleSpin: Option.getOrUndefined(raw.idleSpin),
      engine: Option.getOrUndefined(raw.engine) as DriverConfig["engine"],
    }
    try {
      // The Driver's own validation (shared through @iou/core), so that what passes here opens.
      CoreConfig.resolve(driverConfig)
      return Effect.succeed(driverConfig)
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      // The core's validation errors carry the offending field.
      const field = (error as { field?: string }).field
      const variable = field !== undefined && field in ENV_NAMES ? ENV_NAMES[field as keyof typeof ENV_NAMES] : "IOU_*"
      return Effect.fail(
        new Config.ConfigError(new ConfigProvider.SourceError({ message: `${variable}: ${message}`, cause: error })),
      )
    }
  }),
)

/**
 * `layer` with its config read from the environment (see `config`).
 *
 * @since 0.0.0
 */
export const layerConfig: Layer.Layer<IoUring, IoUringError | Config.ConfigError> = Layer.effect(
  IoUring,
  Effect.gen(function* () {
    return yield* make(yield* config)
  }),
)
