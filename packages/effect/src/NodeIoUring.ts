/**
 * NodeIoUring: the IoUring service backed by @iou/native's Driver, as a scoped Layer.
 *
 * The layer opens one Driver (one ring and its loop) in the layer's scope. Its finalizer first
 * cuts off the socket connections still finishing their sends after their close (the ring's
 * lingering registry, internal/ring.ts), then calls `driver.close()` and waits for it: the ring
 * stops admitting requests, drains what is outstanding, abandons whatever is left when
 * `shutdownTimeout` expires (those requests fail with `reason: "Abandoned"`; their buffers stay
 * quarantined if the kernel did not give them back),
 * ends the loop (joining its thread, with the thread engine) and only then lets the scope finish
 * closing. The drain is bounded: without a `shutdownTimeout` in the config it lasts at most
 * DEFAULT_SHUTDOWN_TIMEOUT (10 s; a request nothing will complete, such as a read of a FIFO nobody
 * writes by a fiber the scope did not interrupt, would otherwise hold the scope open for ever);
 * `shutdownTimeout: Infinity` waits for every request, as the Driver's own close() does.
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
import * as Latency from "./internal/latency.ts"
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

/**
 * How the layer builds the service (not the Driver's config).
 *
 * @since 0.0.0
 */
export interface LayerOptions {
  /**
   * Record each operation's latency in an Effect `Metric` histogram, `iou_operation_latency_ms`,
   * with attributes `op` (`readAt`, `recv`, …) and `ring` (`true`: `"default"`). Decided when the
   * layer is built: without it the service has no timing code at all.
   */
  readonly latencyHistograms?: boolean | { readonly ring?: string | undefined } | undefined
}

const applyOptions = (service: IoUring["Service"], options: LayerOptions | undefined): IoUring["Service"] => {
  const latency = options?.latencyHistograms
  if (latency === undefined || latency === false) return service
  return Latency.withLatency(service, latency === true ? "default" : (latency.ring ?? "default"))
}

type Native = typeof import("@iou/native")
let native: Promise<Native | { readonly missing: unknown }> | undefined

/**
 * Why @iou/native cannot be imported, as the Driver's ERR_IOU_UNAVAILABLE error: the same class
 * (@iou/core's), code and reason, so that it maps like the Driver's own.
 */
const notInstalled = (error: unknown): Error => {
  const detail = error instanceof Error ? error.message : String(error)
  // On Linux the package should be there: the detail says what went wrong, not the platform.
  const why =
    process.platform === "linux" ? "" : "; it is an optional dependency of @iou/effect that installs on Linux only"
  return new DriverError(`@iou/native could not be loaded (${detail})${why}`, {
    code: "ERR_IOU_UNAVAILABLE",
    reason: "Unavailable",
    syscall: "open",
    cause: error,
  })
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
 * The layer's shutdown drain, in ms, where the config gives no `shutdownTimeout` (see the module
 * comment: the finalizer's drain is bounded).
 *
 * @since 0.0.0
 */
export const DEFAULT_SHUTDOWN_TIMEOUT = 10_000

/**
 * Opens a ring with `options.open(config)` in the current scope and returns the IoUring service
 * over it; closing the scope closes the ring with its bounded shutdown drain (DEFAULT_SHUTDOWN_TIMEOUT
 * unless the config says) and waits for it.
 *
 * @since 0.0.0
 */
export const makeWith = (
  options: OpenOptions,
  config: DriverConfig = {},
  layerOptions?: LayerOptions,
): Effect.Effect<IoUring["Service"], IoUringError, Scope.Scope> =>
  Effect.suspend(() => {
    // This ring's connections still finishing their sends after their close: cut off before its
    // Driver closes. One per run: each build of a layer is a ring of its own.
    const lingering: Ring.Lingering = new Set()
    return Effect.acquireRelease(
      Effect.suspend(() => {
        try {
          // Only a plain object gets the default: anything else goes to open as it is, to be refused there.
          const plain =
            typeof config === "object" && config !== null && !Array.isArray(config) && !ArrayBuffer.isView(config)
          const bounded =
            plain && config.shutdownTimeout === undefined
              ? { ...config, shutdownTimeout: DEFAULT_SHUTDOWN_TIMEOUT }
              : config
          return Effect.succeed(options.open(bounded))
        } catch (error) {
          return Errors.failure(error, "open", undefined)
        }
      }),
      (driver) =>
        Effect.tryPromise(() => {
          for (const cutOff of [...lingering]) cutOff()
          return driver.close()
        }).pipe(
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
          ? Effect.succeed(Ring.make(driver, options.now, lingering))
          : Effect.map(loadNative, (n) => Ring.make(driver, n.Driver.now, lingering)),
      ),
      Effect.map((service) => applyOptions(service, layerOptions)),
    )
  })

/**
 * Opens an @iou/native Driver with `config` in the current scope (see `makeWith`).
 *
 * @since 0.0.0
 */
export const make = (
  config?: DriverConfig,
  options?: LayerOptions,
): Effect.Effect<IoUring["Service"], IoUringError, Scope.Scope> =>
  Effect.flatMap(loadNative, ({ Driver }) =>
    makeWith({ open: (c): DriverLike => Driver.open(c), now: () => Driver.now() }, config, options),
  )

/**
 * The IoUring service over a Driver opened with `config`, closed when the layer's scope closes.
 *
 * @since 0.0.0
 */
export const layer = (config?: DriverConfig, options?: LayerOptions): Layer.Layer<IoUring, IoUringError> =>
  Layer.effect(IoUring, make(config, options))

/**
 * Like `layer`, with your own way to open the Driver (a Driver subclass, a shared config, a
 * simulated refusal in tests).
 *
 * @since 0.0.0
 */
export const layerWith = (
  options: OpenOptions,
  config?: DriverConfig,
  layerOptions?: LayerOptions,
): Layer.Layer<IoUring, IoUringError> => Layer.effect(IoUring, makeWith(options, config, layerOptions))

/** Environment variable of each config field. */
const ENV_NAMES = {
  size: "IOU_SIZE",
  singleIssuer: "IOU_SINGLE_ISSUER",
  ioPoll: "IOU_IO_POLL",
  maxRequestTimeout: "IOU_MAX_REQUEST_TIMEOUT",
  timeoutWheelTick: "IOU_TIMEOUT_WHEEL_TICK",
  shutdownTimeout: "IOU_SHUTDOWN_TIMEOUT",
  idleSpin: "IOU_IDLE_SPIN",
  engine: "IOU_ENGINE",
  maxInFlight: "IOU_MAX_IN_FLIGHT",
  operations: "IOU_OPERATIONS",
  inlineWake: "IOU_INLINE_WAKE",
} as const

type Field = keyof typeof ENV_NAMES

/** A ConfigError whose message starts with `VARIABLE=value:` (or `VARIABLE:` when the value is not known). */
const configError = (field: Field, value: string | undefined, message: string, cause?: unknown) =>
  new Config.ConfigError(
    new ConfigProvider.SourceError({
      message: `${ENV_NAMES[field]}${value === undefined ? "" : `=${value}`}: ${message}`,
      cause,
    }),
  )

/** What each variable's text parses to; a failure is the sentence after `VARIABLE=value:`. */
type Parsed<A> = { readonly ok: true; readonly value: A } | { readonly ok: false; readonly message: string }

const parseInt = (text: string): Parsed<number> =>
  /^[+-]?\d+$/.test(text.trim())
    ? { ok: true, value: Number(text.trim()) }
    : { ok: false, message: "expected an integer (for example 256)" }

const TRUE = ["true", "yes", "on", "1", "y"]
const FALSE = ["false", "no", "off", "0", "n"]
const parseBoolean = (text: string): Parsed<boolean> => {
  const lower = text.trim().toLowerCase()
  if (TRUE.includes(lower)) return { ok: true, value: true }
  if (FALSE.includes(lower)) return { ok: true, value: false }
  return { ok: false, message: `expected one of ${[...TRUE, ...FALSE].join(", ")}` }
}

/** A `Duration.Input` string in ms (`Infinity` allowed; the field's own rules decide if it fits). */
const parseMillis = (text: string): Parsed<number> => {
  const duration = Duration.fromInput(text.trim() as Duration.Input)
  if (Option.isNone(duration)) {
    return { ok: false, message: `expected a duration such as "5 millis", "2 minutes" or "Infinity"` }
  }
  const ms = Duration.toMillis(duration.value)
  return ms < 0 ? { ok: false, message: "a duration must not be negative" } : { ok: true, value: ms }
}

const parseString = (text: string): Parsed<string> => ({ ok: true, value: text.trim() })

/** The largest IOU_MAX_IN_FLIGHT (the Driver's waiter capacity ceiling). */
const MAX_IN_FLIGHT = 32768

/**
 * Whether the installed Driver's config has `maxInFlight` (waiter capacity independent of `size`).
 * Read from @iou/core's defaults, which gain the field together with its validation; until then an
 * IOU_MAX_IN_FLIGHT that is set cannot be honoured and is refused rather than ignored.
 */
const driverHasMaxInFlight = (): boolean => "maxInFlight" in CoreConfig.DEFAULTS

/**
 * The part of the DriverConfig that IOU_MAX_IN_FLIGHT contributes: `{ maxInFlight }` where the
 * Driver has the field; spread into the config, so this compiles whether or not DriverConfig
 * declares it yet, and the Driver's own validation (Config.resolve) then checks it like any field.
 */
const maxInFlightField = (value: number | undefined): Parsed<{ readonly maxInFlight?: number }> => {
  if (value === undefined) return { ok: true, value: {} }
  if (!Number.isSafeInteger(value) || value < 1 || value > MAX_IN_FLIGHT) {
    return { ok: false, message: `maxInFlight must be an integer in [1, ${MAX_IN_FLIGHT}], got ${value}` }
  }
  if (!driverHasMaxInFlight()) {
    return {
      ok: false,
      message: "the installed @iou/native Driver has no maxInFlight setting; unset the variable or update @iou/native",
    }
  }
  return { ok: true, value: { maxInFlight: value } }
}

/**
 * The Driver's config read with effect's `Config`:
 *
 * | variable                  | field             | example       |
 * | ------------------------- | ----------------- | ------------- |
 * | `IOU_SIZE`                | size              | `256`         |
 * | `IOU_SINGLE_ISSUER`       | singleIssuer      | `false`       |
 * | `IOU_IO_POLL`             | ioPoll            | `false`       |
 * | `IOU_MAX_REQUEST_TIMEOUT` | maxRequestTimeout | `2 minutes`   |
 * | `IOU_TIMEOUT_WHEEL_TICK`  | timeoutWheelTick  | `5 millis`    |
 * | `IOU_SHUTDOWN_TIMEOUT`    | shutdownTimeout   | `10 seconds`  |
 * | `IOU_IDLE_SPIN`           | idleSpin (µs)     | `0`           |
 * | `IOU_ENGINE`              | engine            | `thread`      |
 * | `IOU_MAX_IN_FLIGHT`       | maxInFlight       | `16384`       |
 * | `IOU_OPERATIONS`          | operations        | `files`       |
 * | `IOU_INLINE_WAKE`         | inlineWake        | `eventfd`     |
 *
 * Durations are `Duration.Input` strings; `IOU_SHUTDOWN_TIMEOUT=Infinity` waits for every request;
 * left unset, the layer's drain lasts at most DEFAULT_SHUTDOWN_TIMEOUT. Other absent variables take
 * the Driver's defaults. A malformed value, or one
 * the Driver would reject (a size above 32768, a tick of 0), fails with a `ConfigError` whose message
 * starts with `VARIABLE=value:`; nothing falls back silently. `IOU_MAX_IN_FLIGHT` is passed to the
 * Driver only where its config has `maxInFlight`; elsewhere setting it is a ConfigError.
 *
 * @since 0.0.0
 */
export const config: Config.Config<DriverConfig> = Config.all({
  size: Config.option(Config.String(ENV_NAMES.size)),
  singleIssuer: Config.option(Config.String(ENV_NAMES.singleIssuer)),
  ioPoll: Config.option(Config.String(ENV_NAMES.ioPoll)),
  maxRequestTimeout: Config.option(Config.String(ENV_NAMES.maxRequestTimeout)),
  timeoutWheelTick: Config.option(Config.String(ENV_NAMES.timeoutWheelTick)),
  shutdownTimeout: Config.option(Config.String(ENV_NAMES.shutdownTimeout)),
  idleSpin: Config.option(Config.String(ENV_NAMES.idleSpin)),
  engine: Config.option(Config.String(ENV_NAMES.engine)),
  maxInFlight: Config.option(Config.String(ENV_NAMES.maxInFlight)),
  operations: Config.option(Config.String(ENV_NAMES.operations)),
  inlineWake: Config.option(Config.String(ENV_NAMES.inlineWake)),
}).pipe(
  Config.mapEffect((raw) => {
    const texts: Partial<Record<Field, string>> = {}
    let failure: Config.ConfigError | undefined
    /** The variable's value parsed, or undefined when absent; records the first failure. */
    const read = <A>(field: Field, parse: (text: string) => Parsed<A>): A | undefined => {
      const text = Option.getOrUndefined(raw[field])
      if (text === undefined) return undefined
      texts[field] = text
      const parsed = parse(text)
      if (parsed.ok) return parsed.value
      failure ??= configError(field, text, parsed.message)
      return undefined
    }
    const shutdownTimeout = read("shutdownTimeout", parseMillis)
    const fields: DriverConfig = {
      size: read("size", parseInt),
      singleIssuer: read("singleIssuer", parseBoolean),
      ioPoll: read("ioPoll", parseBoolean),
      maxRequestTimeout: read("maxRequestTimeout", parseMillis),
      timeoutWheelTick: read("timeoutWheelTick", parseMillis),
      shutdownTimeout,
      idleSpin: read("idleSpin", parseInt),
      operations: read("operations", parseString) as DriverConfig["operations"],
      engine: read("engine", parseString) as DriverConfig["engine"],
      inlineWake: read("inlineWake", parseString) as DriverConfig["inlineWake"],
    }
    const maxInFlight = maxInFlightField(read("maxInFlight", parseInt))
    if (!maxInFlight.ok) failure ??= configError("maxInFlight", texts.maxInFlight, maxInFlight.message)
    if (failure !== undefined) return Effect.fail(failure)
    const driverConfig: DriverConfig = { ...fields, ...(maxInFlight.ok ? maxInFlight.value : {}) }
    try {
      // The Driver's own validation (shared through @iou/core), so that what passes here opens.
      CoreConfig.resolve(driverConfig)
      return Effect.succeed(driverConfig)
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      // The core's validation errors carry the offending field.
      const field = (error as { field?: string }).field
      if (field !== undefined && field in ENV_NAMES) {
        return Effect.fail(configError(field as Field, texts[field as Field], message, error))
      }
      return Effect.fail(
        new Config.ConfigError(new ConfigProvider.SourceError({ message: `IOU_*: ${message}`, cause: error })),
      )
    }
  }),
)

/**
 * `layer` with its config read from the environment (see `config`) and the given layer options.
 *
 * @since 0.0.0
 */
export const layerConfigWith = (options?: LayerOptions): Layer.Layer<IoUring, IoUringError | Config.ConfigError> =>
  Layer.effect(
    IoUring,
    Effect.gen(function* () {
      return yield* make(yield* config, options)
    }),
  )

/**
 * `layer` with its config read from the environment (see `config`).
 *
 * @since 0.0.0
 */
export const layerConfig: Layer.Layer<IoUring, IoUringError | Config.ConfigError> = layerConfigWith()
