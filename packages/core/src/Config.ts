/**
 * The ring's configuration: defaults, validation and power-of-two rounding, shared by the native
 * Driver and the Effect layer so both accept and reject exactly the same inputs.
 *
 * Validation throws `TypeError` (wrong type) or `RangeError` (right type, value out of range);
 * nothing is clamped silently except `size`, which is rounded up to a power of two as the seed does.
 */

import { CLASSES, type Classes } from "./Operations.ts"

/** Largest ring the kernel accepts without IORING_SETUP_CLAMP. */
export const MAX_RING_SIZE = 32768

/** Largest maxInFlight: twice it is the kernel's largest completion queue. */
export const MAX_IN_FLIGHT = 32768

export interface Config {
  /**
   * Requested ring size: the submission queue's entries (and the loop's inbound queue); rounded up
   * to a power of two, at most MAX_RING_SIZE. It bounds how many requests one submit hands the
   * kernel, not how many may be outstanding (maxInFlight).
   */
  readonly size?: number | undefined
  /**
   * Requests in the loop at once (in the kernel, or waiting there between two steps): the waiter
   * capacity, an integer in [1, MAX_IN_FLIGHT], default 16384. The completion queue is sized for it
   * (twice as many entries). Requests beyond it wait, in order, until one ends. A blocked recv holds
   * one for as long as it waits, so this bounds the idle connections a server can wait on.
   */
  readonly maxInFlight?: number | undefined
  /**
   * The provided buffers that `recvMany` receives into (a buffer ring the Driver owns, Linux 6.0):
   * `count` buffers (rounded up to a power of two, at most 32768; default 256) of `size` bytes (at
   * most 1 MiB; default 4096). A chunk is at most `size` bytes; JavaScript copies it out and gives
   * the buffer back at once, so a mostly idle connection holds none. Reserved at open (zeroed,
   * resident once the kernel has written into it).
   */
  readonly recvBuffers?: { readonly count?: number | undefined; readonly size?: number | undefined } | undefined
  /**
   * SINGLE_ISSUER + DEFER_TASKRUN when the kernel accepts them (6.1+); with inlineWake "ringfd",
   * SINGLE_ISSUER + COOP_TASKRUN (6.0+).
   */
  readonly singleIssuer?: boolean | undefined
  /** IORING_SETUP_IOPOLL (only useful with O_DIRECT files). */
  readonly ioPoll?: boolean | undefined
  /** Milliseconds, an integer in [timeoutWheelTick, 2^31 - 1]: the timeout wheel's horizon. */
  readonly maxRequestTimeout?: number | undefined
  /** Milliseconds, an integer in [1, 60000]: the timeout wheel's granularity. */
  readonly timeoutWheelTick?: number | undefined
  /** Milliseconds, finite and >= 0; absent or Infinity: close() waits for every outstanding request. */
  readonly shutdownTimeout?: number | undefined
  /**
   * Microseconds (integer, 0 to MAX_IDLE_SPIN): with nothing in flight, the loop thread polls for
   * new requests this long before it parks, adapting between this and max(300, idleSpin) µs, so
   * that a request right after a completion does not pay a cross-CPU wake-up. It also bounds how
   * long the loop, with requests in flight, waits for the rest of a JS turn whose first request it
   * already has, instead of sleeping (the turn wait). 0 = never spin.
   */
  readonly idleSpin?: number | undefined
  /**
   * Who runs the loop: "inline" (the default) runs it on the JS thread's own event loop (requests
   * are staged into the ring and submitted once per JS turn, completions reaped when libuv reports
   * the ring ready, no hand-off between threads); "thread" runs it on a dedicated loop thread (the
   * seed's shape), which takes the kernel's copies off the JS thread. idleSpin applies to "thread"
   * only.
   */
  readonly engine?: Engine | undefined
  /**
   * What the ring accepts: "all" (the default), "files" (readAt, writeAt, sync, nop) or "sockets"
   * (send, recv, nop), by the `class` column of the operations' table. The kernel ring itself is
   * restricted to those operations' opcodes; a call of another operation fails with
   * ERR_IOU_OPERATION_NOT_ALLOWED before it reaches the loop.
   */
  readonly operations?: Classes | undefined
  /**
   * How the inline engine learns of completions (ignored by "thread"): "ringfd" (the default) polls
   * the ring's own fd, on a COOP_TASKRUN | TASKRUN_FLAG ring (Linux 5.19); "eventfd" polls an
   * eventfd registered with a SINGLE_ISSUER | DEFER_TASKRUN ring (Linux 6.1). Where the kernel
   * refuses "eventfd"'s ring (or singleIssuer is false), the Driver opens with "ringfd": the
   * fallback, which `probe()` reports. @iou/native's README says when to pick which.
   */
  readonly inlineWake?: InlineWake | undefined
}

/** How the inline engine learns of completions (C: IOU_INLINE_WAKE_*). */
export type InlineWake = "eventfd" | "ringfd"

export const INLINE_WAKES: ReadonlyArray<InlineWake> = ["eventfd", "ringfd"]

/** Who runs the loop's phases. */
export type Engine = "inline" | "thread"

export const ENGINES: ReadonlyArray<Engine> = ["inline", "thread"]

/** A validated config with every default filled in and `size` rounded. */
export interface ResolvedConfig {
  readonly size: number
  readonly maxInFlight: number
  readonly recvBuffers: { readonly count: number; readonly size: number }
  readonly singleIssuer: boolean
  readonly ioPoll: boolean
  readonly maxRequestTimeout: number
  readonly timeoutWheelTick: number
  readonly shutdownTimeout: number | undefined
  readonly idleSpin: number
  readonly engine: Engine
  readonly operations: Classes
  readonly inlineWake: InlineWake
}

export const DEFAULTS = {
  size: 128,
  maxInFlight: 16384,
  recvBuffers: { count: 256, size: 4096 },
  singleIssuer: true,
  ioPoll: false,
  maxRequestTimeout: 60_000,
  timeoutWheelTick: 5,
  idleSpin: 50,
  engine: "inline",
  operations: "all",
  inlineWake: "ringfd",
} as const

/** Largest idleSpin in µs (10 ms): beyond that, parking is cheaper than the CPU burnt. */
export const MAX_IDLE_SPIN = 10_000

/** Largest recvBuffers.size: one chunk of a recvMany. */
export const MAX_RECV_BUFFER_SIZE = 1 << 20
/** Largest recvBuffers.count (the kernel's largest buffer ring). */
export const MAX_RECV_BUFFERS = 32768

/** Smallest power of two >= n (n >= 1). */
export const nextPowerOfTwo = (n: number): number => {
  let p = 1
  while (p < n) p *= 2
  return p
}

/** Largest timeoutWheelTick in ms: a coarser wheel would make every deadline imprecise. */
export const MAX_TICK = 60_000

/** Largest maxRequestTimeout in ms (2^31 - 1, setTimeout's range): the wheel's horizon. */
export const MAX_REQUEST_TIMEOUT = 2 ** 31 - 1

/**
 * A config value out of range: a RangeError that names the offending field, so callers (the Effect
 * layer's ConfigError) can say which setting was wrong without reading the message.
 */
export interface ConfigRangeError extends RangeError {
  readonly field: string
}

/** A RangeError naming `field`; the message starts with the field's name. Node's code: ERR_OUT_OF_RANGE. */
export const rangeError = (field: string, message: string): ConfigRangeError =>
  Object.assign(new RangeError(`${field} ${message}`), { field, code: "ERR_OUT_OF_RANGE" })

/** A TypeError naming `field`, as rangeError. Node's code: ERR_INVALID_ARG_TYPE. */
export const typeError = (field: string, message: string): TypeError & { readonly field: string } =>
  Object.assign(new TypeError(`${field} ${message}`), { field, code: "ERR_INVALID_ARG_TYPE" })

const millis = (name: string, value: unknown, fallback: number, min: number, max: number): number => {
  if (value === undefined) return fallback
  if (typeof value !== "number") throw typeError(name, `must be a number of milliseconds, got ${typeof value}`)
  if (!Number.isInteger(value) || value < min || value > max) {
    throw rangeError(name, `must be an integer number of milliseconds in [${min}, ${max}], got ${value}`)
  }
  return value
}

/**
 * Validates a shutdown timeout (config or close()): a finite number of ms >= 0, or Infinity for no
 * limit (returned as undefined, as an absent one).
 */
export const shutdownTimeout = (value: unknown, fallback: number | undefined): number | undefined => {
  if (value === undefined) return fallback
  if (typeof value !== "number") {
    throw typeError("shutdownTimeout", `must be a number of milliseconds, got ${typeof value}`)
  }
  if (value === Infinity) return undefined
  if (!Number.isFinite(value) || value < 0) {
    throw rangeError("shutdownTimeout", `must be a finite number of milliseconds >= 0, or Infinity, got ${value}`)
  }
  return value
}

const flag = (name: string, value: unknown, fallback: boolean): boolean => {
  if (value === undefined) return fallback
  if (typeof value !== "boolean") throw typeError(name, `must be a boolean, got ${typeof value}`)
  return value
}

/** Validates a user config and fills in defaults. Throws TypeError/RangeError on bad input. */
export const resolve = (config: Config = {}): ResolvedConfig => {
  if (typeof config !== "object" || config === null || Array.isArray(config) || ArrayBuffer.isView(config)) {
    throw typeError("config", "must be a plain object")
  }
  // Every field is read once (a getter runs once): what is checked is what is used.
  const c: Config = {
    size: config.size,
    maxInFlight: config.maxInFlight,
    recvBuffers: config.recvBuffers,
    singleIssuer: config.singleIssuer,
    ioPoll: config.ioPoll,
    maxRequestTimeout: config.maxRequestTimeout,
    timeoutWheelTick: config.timeoutWheelTick,
    shutdownTimeout: config.shutdownTimeout,
    idleSpin: config.idleSpin,
    engine: config.engine,
    operations: config.operations,
    inlineWake: config.inlineWake,
  }
  let size: number = DEFAULTS.size
  if (c.size !== undefined) {
    if (typeof c.size !== "number") throw typeError("size", `must be a number, got ${typeof c.size}`)
    if (!Number.isInteger(c.size) || c.size < 1 || c.size > MAX_RING_SIZE) {
      throw rangeError("size", `must be an integer in [1, ${MAX_RING_SIZE}], got ${c.size}`)
    }
    size = nextPowerOfTwo(c.size)
  }
  let maxInFlight: number = DEFAULTS.maxInFlight
  if (c.maxInFlight !== undefined) {
    if (typeof c.maxInFlight !== "number") {
      throw typeError("maxInFlight", `must be a number, got ${typeof c.maxInFlight}`)
    }
    if (!Number.isInteger(c.maxInFlight) || c.maxInFlight < 1 || c.maxInFlight > MAX_IN_FLIGHT) {
      throw rangeError("maxInFlight", `must be an integer in [1, ${MAX_IN_FLIGHT}], got ${c.maxInFlight}`)
    }
    maxInFlight = c.maxInFlight
  }
  let recvBuffers: { count: number; size: number } = DEFAULTS.recvBuffers
  if (c.recvBuffers !== undefined) {
    const r = c.recvBuffers as unknown
    if (typeof r !== "object" || r === null || Array.isArray(r)) {
      throw typeError("recvBuffers", `must be an object { count, size }, got ${r === null ? "null" : typeof r}`)
    }
    const { count, size: bytes } = r as { count?: unknown; size?: unknown }
    const integer = (name: string, value: unknown, fallback: number, max: number): number => {
      if (value === undefined) return fallback
      if (typeof value !== "number") throw typeError("recvBuffers", `${name} must be a number, got ${typeof value}`)
      if (!Number.isInteger(value) || value < 1 || value > max) {
        throw rangeError("recvBuffers", `${name} must be an integer in [1, ${max}], got ${value}`)
      }
      return value
    }
    recvBuffers = {
      count: nextPowerOfTwo(integer("count", count, DEFAULTS.recvBuffers.count, MAX_RECV_BUFFERS)),
      size: integer("size", bytes, DEFAULTS.recvBuffers.size, MAX_RECV_BUFFER_SIZE),
    }
  }
  const timeoutWheelTick = millis("timeoutWheelTick", c.timeoutWheelTick, DEFAULTS.timeoutWheelTick, 1, MAX_TICK)
  const maxRequestTimeout = millis(
    "maxRequestTimeout",
    c.maxRequestTimeout,
    Math.max(DEFAULTS.maxRequestTimeout, timeoutWheelTick),
    timeoutWheelTick,
    MAX_REQUEST_TIMEOUT,
  )
  const shutdown = shutdownTimeout(c.shutdownTimeout, undefined)
  let idleSpin: number = DEFAULTS.idleSpin
  if (c.idleSpin !== undefined) {
    if (typeof c.idleSpin !== "number") {
      throw typeError("idleSpin", `must be a number of microseconds, got ${typeof c.idleSpin}`)
    }
    if (!Number.isInteger(c.idleSpin) || c.idleSpin < 0 || c.idleSpin > MAX_IDLE_SPIN) {
      throw rangeError("idleSpin", `must be an integer in [0, ${MAX_IDLE_SPIN}] (microseconds), got ${c.idleSpin}`)
    }
    idleSpin = c.idleSpin
  }
  let engine: Engine = DEFAULTS.engine
  if (c.engine !== undefined) {
    if (typeof c.engine !== "string") throw typeError("engine", `must be "inline" or "thread", got ${typeof c.engine}`)
    if (!ENGINES.includes(c.engine as Engine)) {
      throw rangeError("engine", `must be "inline" or "thread", got ${JSON.stringify(c.engine)}`)
    }
    engine = c.engine as Engine
  }
  let operations: Classes = DEFAULTS.operations
  if (c.operations !== undefined) {
    if (typeof c.operations !== "string") {
      throw typeError("operations", `must be "all", "files" or "sockets", got ${typeof c.operations}`)
    }
    if (!CLASSES.includes(c.operations)) {
      throw rangeError("operations", `must be "all", "files" or "sockets", got ${JSON.stringify(c.operations)}`)
    }
    operations = c.operations
  }
  let inlineWake: InlineWake = DEFAULTS.inlineWake
  if (c.inlineWake !== undefined) {
    if (typeof c.inlineWake !== "string") {
      throw typeError("inlineWake", `must be "eventfd" or "ringfd", got ${typeof c.inlineWake}`)
    }
    if (!INLINE_WAKES.includes(c.inlineWake)) {
      throw rangeError("inlineWake", `must be "eventfd" or "ringfd", got ${JSON.stringify(c.inlineWake)}`)
    }
    inlineWake = c.inlineWake
  }
  return {
    size,
    maxInFlight,
    recvBuffers,
    singleIssuer: flag("singleIssuer", c.singleIssuer, DEFAULTS.singleIssuer),
    ioPoll: flag("ioPoll", c.ioPoll, DEFAULTS.ioPoll),
    maxRequestTimeout,
    timeoutWheelTick,
    shutdownTimeout: shutdown,
    idleSpin,
    engine,
    operations,
    inlineWake,
  }
}
