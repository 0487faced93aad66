/**
 * The Driver's argument validation: a TypeError for a wrong type, a RangeError for a value out of
 * range, thrown before anything is changed. Every function returns what it validated (normalised
 * where that is needed) and keeps no state: nothing here outlives the call.
 */
import { maxIov } from "./binding.ts"
import * as Clock from "./Clock.ts"
import type { Callback, Data } from "./types.ts"

/** Largest byte count of one request (the loop reports results as int32). */
export const MAX_REQUEST_BYTES = 2 ** 31 - 1

/** Largest file position (off_t is signed 64-bit). */
const MAX_POSITION = (1n << 63n) - 1n

const describe = (value: unknown): string =>
  typeof value === "bigint" ? `${value}n` : typeof value === "string" ? JSON.stringify(value) : String(value)

export const fd = (value: unknown): number => {
  if (typeof value !== "number") throw new TypeError(`fd must be a number, got ${typeof value}`)
  if (!Number.isInteger(value) || value < 0 || value > 0x7fffffff) {
    throw new RangeError(`fd must be a non-negative integer, got ${describe(value)}`)
  }
  return value
}

// The intrinsic length getter: a Uint8Array subclass (or an own property) may lie about `length`,
// and the binding reads the real length, so validation must too.
const typedArrayLength = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), "length")!
  .get as (this: Uint8Array) => number

/** A Uint8Array's real element count. */
export const lengthOf = (buffer: Uint8Array): number => typedArrayLength.call(buffer)

const isDetached = (buffer: Uint8Array): boolean => (buffer.buffer as { detached?: boolean }).detached === true

export const buffer = (value: unknown, name: string): Uint8Array => {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array or a Buffer`)
  if (isDetached(value)) throw new TypeError(`${name} is detached (its ArrayBuffer was transferred)`)
  return value
}

export const integer = (value: unknown, name: string, min: number, max: number): number => {
  if (typeof value !== "number") throw new TypeError(`${name} must be a number, got ${typeof value}`)
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer in [${min}, ${max}], got ${describe(value)}`)
  }
  return value
}

/** A byte count of one request (a Promise option's `length`, already within its buffer). */
export const requestLength = (length: number): number => {
  if (length > MAX_REQUEST_BYTES) throw new RangeError(`length must be at most ${MAX_REQUEST_BYTES}`)
  return length
}

/** A file position: a non-negative safe integer, or a bigint up to 2^63 - 1. */
export const position = (value: unknown): number | bigint => {
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`position must be a non-negative safe integer or a bigint, got ${describe(value)}`)
    }
    return value
  }
  if (typeof value === "bigint") {
    if (value < 0n || value > MAX_POSITION) throw new RangeError(`position must be in [0, 2^63 - 1], got ${value}n`)
    return value
  }
  throw new TypeError(`position must be a number or a bigint, got ${typeof value}`)
}

export const boolean = (value: unknown, name: string): boolean => {
  if (typeof value !== "boolean") throw new TypeError(`${name} must be a boolean, got ${typeof value}`)
  return value
}

export const optionalBoolean = (value: unknown, name: string): boolean =>
  value === undefined ? false : boolean(value, name)

/** A relative timeout in ms (a Promise option) to an absolute deadline on Clock.now() (0 = none). */
export const deadlineOf = (timeout: unknown): number => {
  if (timeout === undefined) return 0
  if (typeof timeout !== "number")
    throw new TypeError(`timeout must be a number of milliseconds, got ${typeof timeout}`)
  if (!(timeout >= 0)) throw new RangeError(`timeout must be a number >= 0, got ${describe(timeout)}`)
  return timeout === Infinity ? 0 : Clock.now() + timeout
}

/** An absolute deadline of the low-level API (ms on Driver.now(), 0 or Infinity = none). */
export const deadline = (value: unknown): number => {
  if (typeof value !== "number") throw new TypeError(`deadline must be a number, got ${typeof value}`)
  if (!(value >= 0)) throw new RangeError(`deadline must be a number >= 0, got ${describe(value)}`)
  return value === Infinity ? 0 : value
}

export const callback = (value: unknown): Callback => {
  if (typeof value !== "function") throw new TypeError(`callback must be a function, got ${typeof value}`)
  return value as Callback
}

const NO_OPTIONS: Record<string, undefined> = Object.freeze({}) as Record<string, undefined>

export const options = <T extends object>(value: T | undefined): T | Record<string, undefined> => {
  if (value === undefined) return NO_OPTIONS
  if (typeof value !== "object" || value === null || Array.isArray(value) || ArrayBuffer.isView(value)) {
    throw new TypeError("options must be a plain object")
  }
  return value
}

export const signal = (value: unknown): AbortSignal | undefined => {
  if (value === undefined) return undefined
  if (!(value instanceof AbortSignal)) throw new TypeError("signal must be an AbortSignal")
  return value
}

/**
 * Write/send data: one buffer as given, or a vectored list copied without its empty buffers (so
 * that later changes to the caller's array do not matter; one buffer left is passed alone).
 * Its byte count is bytesOf(result).
 */
export const data = (value: unknown): Data => {
  if (value instanceof Uint8Array) {
    buffer(value, "data")
    if (lengthOf(value) > MAX_REQUEST_BYTES) throw new RangeError(`data is larger than ${MAX_REQUEST_BYTES} bytes`)
    return value
  }
  if (!Array.isArray(value)) throw new TypeError("data must be a Uint8Array or an array of them")
  if (value.length > maxIov()) throw new RangeError(`data may hold at most ${maxIov()} buffers, got ${value.length}`)
  let bytes = 0
  const copy: Array<Uint8Array> = []
  for (let i = 0; i < value.length; i++) {
    const element = buffer(value[i], `data[${i}]`)
    const length = lengthOf(element)
    bytes += length
    if (length > 0) copy.push(element)
  }
  if (bytes > MAX_REQUEST_BYTES) throw new RangeError(`data is larger than ${MAX_REQUEST_BYTES} bytes`)
  return copy.length === 1 ? copy[0]! : copy
}

/** The bytes of `data` (0 for none). */
export const bytesOf = (value: Data | undefined): number => {
  if (value === undefined) return 0
  if (value instanceof Uint8Array) return lengthOf(value)
  let n = 0
  for (let i = 0; i < value.length; i++) n += lengthOf(value[i]!)
  return n
}
