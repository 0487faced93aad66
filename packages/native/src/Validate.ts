/**
 * The Driver's argument validation: a TypeError for a wrong type, a RangeError for a value out of
 * range, thrown before anything is changed. Every function returns what it validated (normalised
 * where that is needed) and keeps no state: nothing here outlives the call (a path's bytes are cut
 * from Arena.ts's slabs, each range the path's alone).
 */
import { fileURLToPath } from "node:url"
import { Views } from "@iou/core"
import * as Arena from "./Arena.ts"
import { maxIov } from "./binding.ts"
import * as Clock from "./Clock.ts"
import type { Callback, Data } from "./types.ts"

/** Largest byte count of one request (the loop reports results as int32). */
export const MAX_REQUEST_BYTES = 2 ** 31 - 1

/** Largest file position (off_t is signed 64-bit). */
const MAX_POSITION = (1n << 63n) - 1n

const describe = (value: unknown): string =>
  typeof value === "bigint" ? `${value}n` : typeof value === "string" ? JSON.stringify(value) : String(value)

/** A TypeError or RangeError with Node's `code` (ERR_INVALID_ARG_TYPE, ERR_INVALID_ARG_VALUE, ERR_OUT_OF_RANGE). */
const coded = <E extends Error>(error: E, code: string): E => Object.assign(error, { code })

/** An argument of the wrong type, as Node reports it (ERR_INVALID_ARG_TYPE). */
export const typeError = (message: string): TypeError => coded(new TypeError(message), "ERR_INVALID_ARG_TYPE")

/** An argument out of its range, as Node reports it (ERR_OUT_OF_RANGE). */
export const rangeError = (message: string): RangeError => coded(new RangeError(message), "ERR_OUT_OF_RANGE")

export const fd = (value: unknown): number => {
  if (typeof value !== "number") throw typeError(`fd must be a number, got ${typeof value}`)
  if (!Number.isInteger(value) || value < 0 || value > 0x7fffffff) {
    throw rangeError(`fd must be a non-negative integer, got ${describe(value)}`)
  }
  return value
}

// The intrinsic length getter: a Uint8Array subclass (or an own property) may lie about `length`,
// and the binding reads the real length, so validation must too.
const typedArrayLength = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), "length")!
  .get as (this: Uint8Array) => number

/** A Uint8Array's real element count. */
export const lengthOf = (buffer: Uint8Array): number => typedArrayLength.call(buffer)

// The intrinsic buffer getter, for the same reason.
const typedArrayBuffer = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), "buffer")!
  .get as (this: Uint8Array) => ArrayBufferLike

// The intrinsic byteOffset getter and constructor: firstBytes cuts a view with the intrinsics alone.
const Uint8ArrayIntrinsic = Uint8Array
const typedArrayByteOffset = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), "byteOffset")!
  .get as (this: Uint8Array) => number

/**
 * Whether the view's ArrayBuffer was detached. A detached view has length 0, so a longer one is not
 * and its `buffer` is not read: for a small view V8 keeps on its heap (64 bytes or fewer), reading
 * `buffer` first moves the bytes into an ArrayBuffer of their own.
 */
const isDetached = (buffer: Uint8Array): boolean =>
  typedArrayLength.call(buffer) === 0 && (typedArrayBuffer.call(buffer) as { detached?: boolean }).detached === true

// The intrinsic Symbol.toStringTag getter: a typed array's own kind, whatever its prototype says (a
// typed array of wider elements whose prototype was set to Uint8Array.prototype passes
// `instanceof`, and the binding refuses it), undefined for anything else.
const typedArrayKind = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), Symbol.toStringTag)!
  .get as (this: unknown) => string | undefined
const isUint8Array = (value: unknown): value is Uint8Array => typedArrayKind.call(value) === "Uint8Array"

/** A Uint8Array that is not detached (a path or an address, which the Driver copies or the kernel reads at submit). */
export const buffer = (value: unknown, name: string): Uint8Array => {
  if (!isUint8Array(value)) throw typeError(`${name} must be a Uint8Array or a Buffer`)
  if (isDetached(value))
    throw coded(new TypeError(`${name} is detached (its ArrayBuffer was transferred)`), "ERR_INVALID_ARG_VALUE")
  return value
}

/** A buffer the kernel reads or writes while its request is in flight: `buffer`, and not resizable. */
export const ioBuffer = (value: unknown, name: string): Uint8Array => {
  buffer(value, name)
  if (Views.isResizable(value as Uint8Array)) {
    throw coded(
      new TypeError(`${name} is a view of a resizable ArrayBuffer, which may shrink while the kernel uses it`),
      "ERR_INVALID_ARG_VALUE",
    )
  }
  return value as Uint8Array
}

export const integer = (value: unknown, name: string, min: number, max: number): number => {
  if (typeof value !== "number") throw typeError(`${name} must be a number, got ${typeof value}`)
  if (!Number.isInteger(value) || value < min || value > max) {
    throw rangeError(`${name} must be an integer in [${min}, ${max}], got ${describe(value)}`)
  }
  return value
}

/** A byte count of one request (a Promise option's `length`, already within its buffer). */
export const requestLength = (length: number): number => {
  if (length > MAX_REQUEST_BYTES) throw rangeError(`length must be at most ${MAX_REQUEST_BYTES}`)
  return length
}

/** A file position: a non-negative safe integer, or a bigint up to 2^63 - 1. */
export const position = (value: unknown): number | bigint => {
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw rangeError(`position must be a non-negative safe integer or a bigint, got ${describe(value)}`)
    }
    return value
  }
  if (typeof value === "bigint") {
    if (value < 0n || value > MAX_POSITION) throw rangeError(`position must be in [0, 2^63 - 1], got ${value}n`)
    return value
  }
  throw typeError(`position must be a number or a bigint, got ${typeof value}`)
}

export const boolean = (value: unknown, name: string): boolean => {
  if (typeof value !== "boolean") throw typeError(`${name} must be a boolean, got ${typeof value}`)
  return value
}

export const optionalBoolean = (value: unknown, name: string): boolean =>
  value === undefined ? false : boolean(value, name)

/** A relative timeout in ms (a Promise option) to an absolute deadline on Clock.now() (0 = none). */
export const deadlineOf = (timeout: unknown): number => {
  if (timeout === undefined) return 0
  if (typeof timeout !== "number") throw typeError(`timeout must be a number of milliseconds, got ${typeof timeout}`)
  if (!(timeout >= 0)) throw rangeError(`timeout must be a number >= 0, got ${describe(timeout)}`)
  return timeout === Infinity ? 0 : Clock.now() + timeout
}

/** An absolute deadline of the low-level API (ms on Driver.now(), 0 or Infinity = none). */
export const deadline = (value: unknown): number => {
  if (typeof value !== "number") throw typeError(`deadline must be a number, got ${typeof value}`)
  if (!(value >= 0)) throw rangeError(`deadline must be a number >= 0, got ${describe(value)}`)
  return value === Infinity ? 0 : value
}

export const callback = (value: unknown): Callback => {
  if (typeof value !== "function") throw typeError(`callback must be a function, got ${typeof value}`)
  return value as Callback
}

/** A function argument other than the completion callback (onChunk, onConnection): ERR_INVALID_ARG_TYPE otherwise. */
export const listener = <F extends (...args: never) => unknown>(value: unknown, name: string): F => {
  if (typeof value !== "function") {
    throw Object.assign(new TypeError(`The "${name}" argument must be of type function`), {
      code: "ERR_INVALID_ARG_TYPE",
    })
  }
  return value as F
}

const NO_OPTIONS: Record<string, undefined> = Object.freeze({}) as Record<string, undefined>

export const options = <T extends object>(value: T | undefined): T | Record<string, undefined> => {
  if (value === undefined) return NO_OPTIONS
  if (typeof value !== "object" || value === null || Array.isArray(value) || ArrayBuffer.isView(value)) {
    const got =
      value === null
        ? "null"
        : Array.isArray(value)
          ? "an array"
          : ArrayBuffer.isView(value)
            ? "a typed array"
            : `a ${typeof value}`
    throw typeError(`options must be a plain object, got ${got}`)
  }
  return value
}

// A signal's own methods and getters (a subclass's overrides, a throwing getter) are not called: a
// throw there would leave a request half made, or stop a batch of completions. EventTarget's and
// AbortSignal's own are used instead, on signals that `signal` checked they accept (EventTarget's
// methods still read the signal's `constructor`: see addAbortListener and removeAbortListener).
const addListener = EventTarget.prototype.addEventListener
const removeListener = EventTarget.prototype.removeEventListener
const isAborted = Object.getOwnPropertyDescriptor(AbortSignal.prototype, "aborted")!.get!
const reasonOf = Object.getOwnPropertyDescriptor(AbortSignal.prototype, "reason")!.get!

/** A real AbortSignal (one AbortSignal's own getter accepts: not an object made from its prototype), or undefined. */
export const signal = (value: unknown): AbortSignal | undefined => {
  if (value === undefined) return undefined
  let real = value instanceof AbortSignal
  if (real) {
    try {
      isAborted.call(value)
    } catch {
      real = false
    }
  }
  if (!real) throw typeError("signal must be an AbortSignal")
  return value as AbortSignal
}

/** Whether `signal` (checked by `signal` above) has aborted (see above: no code of the signal's runs). */
export const aborted = (signal: AbortSignal | undefined): boolean => abortReason(signal) !== undefined

/**
 * Adds a request's one-shot abort listener to `signal` (checked by `signal` above). EventTarget's
 * own method still reads the signal's `constructor`, which a signal can make throw: then this
 * throws the TypeError of a bad signal, and callers add the listener before they make anything.
 */
export const addAbortListener = (signal: AbortSignal, listener: () => void): void => {
  try {
    addListener.call(signal, "abort", listener, { once: true })
  } catch {
    throw typeError("signal must be an AbortSignal")
  }
}

/** Removes a request's abort listener from `signal` (see above: no code of the signal's runs). */
export const removeAbortListener = (signal: AbortSignal, listener: () => void): void => {
  try {
    removeListener.call(signal, "abort", listener)
  } catch {
    // Not a real EventTarget: no listener could have been added to it.
  }
}

/** The reason of `signal` if it aborted, else undefined (see above: no code of the signal's runs). */
export const abortReason = (signal: AbortSignal | undefined): unknown => {
  if (signal === undefined) return undefined
  try {
    return isAborted.call(signal) === true ? reasonOf.call(signal) : undefined
  } catch {
    return undefined
  }
}

/**
 * Write/send data: one buffer as given, or a vectored list copied without its empty buffers (so
 * that later changes to the caller's array do not matter; one buffer left is passed alone).
 * Its byte count is bytesOf(result).
 */
export const data = (value: unknown): Data => {
  if (value instanceof Uint8Array) {
    ioBuffer(value, "data")
    if (lengthOf(value) > MAX_REQUEST_BYTES) throw rangeError(`data is larger than ${MAX_REQUEST_BYTES} bytes`)
    return value
  }
  const list = bufferList(value, "data")
  return list.length === 1 ? list[0]! : list
}

/**
 * Several buffers (`name`, an array): each checked, the empty ones left out of the copy returned; at
 * most maxIov() of them and MAX_REQUEST_BYTES in all.
 */
const bufferList = (value: unknown, name: string): Array<Uint8Array> => {
  if (!Array.isArray(value)) throw typeError(`${name} must be a Uint8Array or an array of them`)
  // Its length is read once: an element's getter (or a Proxy) that grows the array does not make
  // the copy longer than what was checked.
  const n = value.length
  if (n > maxIov()) throw rangeError(`${name} may hold at most ${maxIov()} buffers, got ${n}`)
  let bytes = 0
  const copy: Array<Uint8Array> = []
  for (let i = 0; i < n; i++) {
    const element = ioBuffer(value[i], `${name}[${i}]`)
    const length = lengthOf(element)
    bytes += length
    if (length === 0) continue
    // A view that tracks a growable SharedArrayBuffer's length would grow with it before the wire
    // records the list (the inline engine stages at the turn's end): fixed at the length checked.
    copy.push(
      Views.isGrowableShared(element)
        ? new Uint8ArrayIntrinsic(typedArrayBuffer.call(element), typedArrayByteOffset.call(element), length)
        : element,
    )
  }
  if (bytes > MAX_REQUEST_BYTES) throw rangeError(`${name} is larger than ${MAX_REQUEST_BYTES} bytes`)
  return copy
}

/** The bytes of `data` (0 for none). */
export const bytesOf = (value: Data | undefined): number => {
  if (value === undefined) return 0
  if (value instanceof Uint8Array) return lengthOf(value)
  let n = 0
  for (let i = 0; i < value.length; i++) n += lengthOf(value[i]!)
  return n
}

// ---- Paths and the file operations' arguments ----------------------------------------------------

/**
 * readFile's `encoding`: none (undefined, null or any other falsy value, as node:fs: a Buffer) or
 * one Buffer.toString knows (else ERR_INVALID_ARG_VALUE).
 */
export const encoding = (value: unknown): BufferEncoding | undefined => {
  if (!value) return undefined
  if (typeof value === "string" && Buffer.isEncoding(value)) return value
  throw coded(
    new TypeError(`encoding must be a Buffer encoding ("utf8", "latin1", "base64"…), got ${String(value)}`),
    "ERR_INVALID_ARG_VALUE",
  )
}

/** A validated path: the NUL-terminated bytes the kernel reads, and the text its errors carry. */
export interface Path {
  readonly bytes: Uint8Array
  readonly text: string
}

/**
 * A path as node:fs takes it: a string (UTF-8), its bytes (a Uint8Array), or a `file:` URL. Copied
 * into NUL-terminated bytes of its own (Arena.ts; the kernel reads them until the completion; the
 * caller's memory is not held). A NUL byte inside is refused, as Node refuses it.
 */
export const path = (value: unknown, name: string): Path => {
  if (typeof value === "string") {
    // U+0000 is the only character whose UTF-8 holds a NUL byte.
    if (value.includes("\0")) throw nulInPath(name, value)
    return { bytes: Arena.cString(value), text: value }
  }
  if (value instanceof Uint8Array) {
    buffer(value, name)
    const length = lengthOf(value)
    const bytes = Arena.zeroed(length + 1)
    bytes.set(value)
    const text = Buffer.from(value).toString()
    if (bytes.indexOf(0) !== length) throw nulInPath(name, text)
    return { bytes, text }
  }
  if (value instanceof URL) {
    if (value.protocol !== "file:") {
      throw coded(
        new TypeError(`${name} must be a URL of scheme file, got ${value.protocol}`),
        "ERR_INVALID_URL_SCHEME",
      )
    }
    return path(fileURLToPath(value), name)
  }
  throw coded(
    new TypeError(
      `${name} must be a string, a Uint8Array or a file: URL, got ${value === null ? "null" : typeof value}`,
    ),
    "ERR_INVALID_ARG_TYPE",
  )
}

const nulInPath = (name: string, text: string): TypeError =>
  coded(new TypeError(`${name} must be a string without null bytes, got ${describe(text)}`), "ERR_INVALID_ARG_VALUE")

// Linux O_* bits (x86-64 and arm64 alike), for the flag strings of node:fs.
const O_RDONLY = 0
const O_WRONLY = 0o1
const O_RDWR = 0o2
const O_CREAT = 0o100
const O_EXCL = 0o200
const O_TRUNC = 0o1000
const O_APPEND = 0o2000
const O_SYNC = 0o4010000
/** Added to every open: an fd of the ring's never leaks into a child process. */
export const O_CLOEXEC = 0o2000000

/** node:fs's flag strings (lib/internal/fs/utils.js stringToFlags), as O_* bits. */
const FLAG_STRINGS: ReadonlyMap<string, number> = new Map([
  ["r", O_RDONLY],
  ["rs", O_RDONLY | O_SYNC],
  ["sr", O_RDONLY | O_SYNC],
  ["r+", O_RDWR],
  ["rs+", O_RDWR | O_SYNC],
  ["sr+", O_RDWR | O_SYNC],
  ["w", O_TRUNC | O_CREAT | O_WRONLY],
  ["wx", O_TRUNC | O_CREAT | O_WRONLY | O_EXCL],
  ["xw", O_TRUNC | O_CREAT | O_WRONLY | O_EXCL],
  ["w+", O_TRUNC | O_CREAT | O_RDWR],
  ["wx+", O_TRUNC | O_CREAT | O_RDWR | O_EXCL],
  ["xw+", O_TRUNC | O_CREAT | O_RDWR | O_EXCL],
  ["a", O_APPEND | O_CREAT | O_WRONLY],
  ["ax", O_APPEND | O_CREAT | O_WRONLY | O_EXCL],
  ["xa", O_APPEND | O_CREAT | O_WRONLY | O_EXCL],
  ["as", O_APPEND | O_CREAT | O_WRONLY | O_SYNC],
  ["sa", O_APPEND | O_CREAT | O_WRONLY | O_SYNC],
  ["a+", O_APPEND | O_CREAT | O_RDWR],
  ["ax+", O_APPEND | O_CREAT | O_RDWR | O_EXCL],
  ["xa+", O_APPEND | O_CREAT | O_RDWR | O_EXCL],
  ["as+", O_APPEND | O_CREAT | O_RDWR | O_SYNC],
  ["sa+", O_APPEND | O_CREAT | O_RDWR | O_SYNC],
])

/**
 * open's flags (a node:fs string or O_* bits; undefined or null: "r", as node:fs) as the O_* bits
 * the kernel gets, O_CLOEXEC included.
 */
export const openFlags = (value: unknown): number => {
  if (value === undefined || value === null) return O_RDONLY | O_CLOEXEC
  if (typeof value === "string") {
    const bits = FLAG_STRINGS.get(value)
    if (bits === undefined) {
      throw coded(
        new TypeError(`flags must be a node:fs flag string ("r", "w+", "a"…), got ${describe(value)}`),
        "ERR_INVALID_ARG_VALUE",
      )
    }
    return (bits | O_CLOEXEC) >>> 0
  }
  if (typeof value !== "number") {
    // As node:fs: any other value is an invalid value of flags.
    throw coded(new TypeError(`flags must be a string or a number, got ${typeof value}`), "ERR_INVALID_ARG_VALUE")
  }
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw coded(
      new RangeError(`flags must be O_* bits (an integer in [0, 2^32)), got ${describe(value)}`),
      "ERR_OUT_OF_RANGE",
    )
  }
  return (value | O_CLOEXEC) >>> 0
}

/**
 * A file mode (permission and special bits) in [0, 0o7777]: a number, or a string of octal digits
 * as node:fs takes it ("644"); `fallback` when absent.
 */
export const mode = (value: unknown, fallback: number): number => {
  if (value === undefined) return fallback
  if (typeof value === "string") {
    if (!/^[0-7]+$/.test(value)) {
      throw coded(
        new TypeError(`mode must be a number or a string of octal digits, got "${value}"`),
        "ERR_INVALID_ARG_VALUE",
      )
    }
    value = parseInt(value, 8)
  }
  if (typeof value !== "number")
    throw coded(new TypeError(`mode must be a number, got ${typeof value}`), "ERR_INVALID_ARG_TYPE")
  if (!Number.isInteger(value) || value < 0 || value > 0o7777) {
    throw coded(new RangeError(`mode must be an integer in [0, 0o7777], got ${describe(value)}`), "ERR_OUT_OF_RANGE")
  }
  return value
}

/**
 * A transfer or range from `at` of `length` bytes ends at 2^63 - 1 (the largest off_t) or before,
 * else a RangeError, as node:fs refuses it (the kernel would answer EINVAL or EFBIG). Numbers (safe
 * integers) always do.
 */
export const endWithin = (at: number | bigint, length: number | bigint): void => {
  if (typeof at === "number" && typeof length === "number") return
  if (BigInt(at) + BigInt(length) > MAX_POSITION) {
    throw rangeError(`position + length must be at most 2^63 - 1, got ${describe(at)} + ${describe(length)}`)
  }
}

/** allocate's length: at least 1 byte (fallocate(2) refuses 0). */
export const allocateLength = (value: unknown): number | bigint => {
  const length = fileSize(value, "length")
  if (length === 0 || length === 0n) throw rangeError("length must be at least 1 (fallocate(2) refuses 0), got 0")
  return length
}

/** A byte count or offset of a file (truncate's length, allocate's range): as a position. */
export const fileSize = (value: unknown, name: string): number | bigint => {
  try {
    return position(value)
  } catch (error) {
    throw coded(
      error instanceof TypeError
        ? new TypeError(`${name} must be a number or a bigint, got ${typeof value}`)
        : new RangeError(`${name} must be a non-negative safe integer or a bigint below 2^63, got ${describe(value)}`),
      error instanceof TypeError ? "ERR_INVALID_ARG_TYPE" : "ERR_OUT_OF_RANGE",
    )
  }
}

/**
 * readAt's buffers: one Uint8Array, or several filled in order (readv), copied without the empty
 * ones; their total is at most MAX_REQUEST_BYTES.
 */
export const readBuffers = (value: unknown): Uint8Array | Array<Uint8Array> => {
  if (value instanceof Uint8Array) return ioBuffer(value, "buffer")
  return bufferList(value, "buffer")
}

/**
 * The first `length` bytes of vectored buffers (the last one cut short: a plain Uint8Array over the
 * same memory, made from the intrinsics: a subclass's `subarray` could return a view of another
 * buffer, one validation never saw).
 */
export const firstBytes = (buffers: ReadonlyArray<Uint8Array>, length: number): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  let left = length
  for (let i = 0; i < buffers.length && left > 0; i++) {
    const b = buffers[i]!
    const n = lengthOf(b)
    out.push(n <= left ? b : new Uint8ArrayIntrinsic(typedArrayBuffer.call(b), typedArrayByteOffset.call(b), left))
    left -= Math.min(n, left)
  }
  return out
}
