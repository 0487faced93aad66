/**
 * The ring's configuration: defaults, validation and power-of-two rounding, shared by the native
 * Driver and the Effect layer so both accept and reject exactly the same inputs.
 *
 * Validation throws `TypeError` (wrong type) or `RangeError` (right type, value out of range);
 * nothing is clamped silently except `size`, which is rounded up to a power of two as the seed does.
 */

/** Largest ring the kernel accepts without IORING_SETUP_CLAMP. */
export const MAX_RING_SIZE = 32768

export interface Config {
  /** Requested ring size; rounded up to a power of two, at most MAX_RING_SIZE. */
  readonly size?: number | undefined
  /** SINGLE_ISSUER + DEFER_TASKRUN when the kernel accepts them (6.1+). */
  readonly singleIssuer?: boolean | undefined
  /** IORING_SETUP_IOPOLL (only useful with O_DIRECT files). */
  readonly ioPoll?: boolean | undefined
  /** Milliseconds: the timeout wheel's horizon. */
  readonly maxRequestTimeout?: number | undefined
  /** Milliseconds: the timeout wheel's granularity. */
  readonly timeoutWheelTick?: number | undefined
  /** Milliseconds; absent: close() waits for every in-flight request. */
  readonly shutdownTimeout?: number | undefined
  /**
   * Microseconds (integer, 0 to MAX_IDLE_SPIN): with nothing in flight, the loop thread polls for
   * new requests this long before it parks, adapting between this and max(300, idleSpin) µs, so
   * that a request right after a completion does not pay a cross-CPU wake-up. It also bounds how
   * long the loop, with requests in flight, waits for the rest of a JS turn whose first request it
   * already has, instead of sleeping (the turn wait). 0 = never spin.
   */
  readonly idleSpin?: number | undefined
}

/** A validated config with every default filled in and `size` rounded. */
export interface ResolvedConfig {
  readonly size: number
  readonly singleIssuer: boolean
  readonly ioPoll: boolean
  readonly maxRequestTimeout: number
  readonly timeoutWheelTick: number
  readonly shutdownTimeout: number | undefined
  readonly idleSpin: number
}

export const DEFAULTS = {
  size: 128,
  singleIssuer: true,
  ioPoll: false,
  maxRequestTimeout: 60_000,
  timeoutWheelTick: 5,
  idleSpin: 50,
} as const

/** Largest idleSpin in µs (10 ms): beyond that, parking is cheaper than the CPU burnt. */
export const MAX_IDLE_SPIN = 10_000

/** Smallest power of two >= n (n >= 1). */
export const nextPowerOfTwo = (n: number): number => {
  let p = 1
  while (p < n) p *= 2
  return p
}

const positiveMillis = (name: string, value: unknown, fallback: number): number => {
  if (value === undefined) return fallback
  if (typeof value !== "number") throw new TypeError(`${name} must be a number of milliseconds, got ${typeof value}`)
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a finite number > 0, got ${value}`)
  return value
}

const flag = (name: string, value: unknown, fallback: boolean): boolean => {
  if (value === undefined) return fallback
  if (typeof value !== "boolean") throw new TypeError(`${name} must be a boolean, got ${typeof value}`)
  return value
}

/** Validates a user config and fills in defaults. Throws TypeError/RangeError on bad input. */
export const resolve = (config: Config = {}): ResolvedConfig => {
  if (typeof config !== "object" || config === null) throw new TypeError("config must be an object")
  let size: number = DEFAULTS.size
  if (config.size !== undefined) {
    if (typeof config.size !== "number") throw new TypeError(`size must be a number, got ${typeof config.size}`)
    if (!Number.isInteger(config.size) || config.size < 1 || config.size > MAX_RING_SIZE) {
      throw new RangeError(`size must be an integer in [1, ${MAX_RING_SIZE}], got ${config.size}`)
    }
    size = nextPowerOfTwo(config.size)
  }
  const timeoutWheelTick = positiveMillis("timeoutWheelTick", config.timeoutWheelTick, DEFAULTS.timeoutWheelTick)
  const maxRequestTimeout = positiveMillis("maxRequestTimeout", config.maxRequestTimeout, DEFAULTS.maxRequestTimeout)
  let shutdownTimeout: number | undefined
  if (config.shutdownTimeout !== undefined) {
    if (typeof config.shutdownTimeout !== "number") {
      throw new TypeError(`shutdownTimeout must be a number of milliseconds, got ${typeof config.shutdownTimeout}`)
    }
    if (!(config.shutdownTimeout >= 0)) {
      throw new RangeError(`shutdownTimeout must be >= 0, got ${config.shutdownTimeout}`)
    }
    shutdownTimeout = config.shutdownTimeout
  }
  let idleSpin: number = DEFAULTS.idleSpin
  if (config.idleSpin !== undefined) {
    if (typeof config.idleSpin !== "number") {
      throw new TypeError(`idleSpin must be a number of microseconds, got ${typeof config.idleSpin}`)
    }
    if (!Number.isInteger(config.idleSpin) || config.idleSpin < 0 || config.idleSpin > MAX_IDLE_SPIN) {
      throw new RangeError(
        `idleSpin must be an integer in [0, ${MAX_IDLE_SPIN}] (microseconds), got ${config.idleSpin}`,
      )
    }
    idleSpin = config.idleSpin
  }
  return {
    size,
    singleIssuer: flag("singleIssuer", config.singleIssuer, DEFAULTS.singleIssuer),
    ioPoll: flag("ioPoll", config.ioPoll, DEFAULTS.ioPoll),
    maxRequestTimeout,
    timeoutWheelTick,
    shutdownTimeout,
    idleSpin,
  }
}
