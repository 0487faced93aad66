/**
 * The Driver: one io_uring loop (a C thread that owns one ring) driven from one JS thread, with a
 * Promise API (`readAt`, `writeAt`, `send`, `recv`, `sync`, `nop`) and a low-level callback API
 * (`submit*`, no Promise per request) that `@iou/effect` and the benchmarks use.
 *
 * Request flow
 *
 * ```
 * readAt, submitReadAt… ─ validate (TypeError/RangeError, nothing changed) ─► pending table slot
 *   ├─ JS FIFO empty: staging area + Loop.submit ─► inbound queue (iou_loop_submit)
 *   └─ inbound queue full (or FIFO not empty): JS FIFO, pushed as completions free room
 *   the turn's first request is published at once (iou_loop_publish_early: the loop starts on it and,
 *   with requests in flight, waits briefly for the rest of the turn instead of sleeping)
 * microtask once per JS turn ─► Loop.publish (iou_loop_publish: one atomic, eventfd only if the loop sleeps)
 * loop thread ─► notify ─► uv_async ─► Loop drains completions into the completion area
 *   ─► dispatch(count): every completion of the batch: fromCompletion, free the slot, call back
 * ```
 *
 * The pending table holds each request's buffers, callback and state from submission until its
 * completion is delivered: that is what keeps the memory the kernel may write alive (GC-safe).
 * Slots are reused through a free list; a request's tag (and the RequestHandle) carries the slot and
 * its generation, so a stale handle or tag can never match the slot's next occupant. At the shutdown
 * timeout the loop cancels what is still in the kernel and waits a short grace for it; only requests
 * abandoned with the kernel still holding their memory (IOU_COMPLETION_KERNEL_HELD) have their
 * buffers moved to a module-level quarantine that is never released, because the kernel may still
 * write into them. Buffers of abandoned requests whose cancel landed are released as usual.
 *
 * A deadline holds wherever the request waits: in the kernel and the loop's wheel, in the loop's
 * inbound queue behind full waiters (the loop ends it), and in the JS FIFO (a timer armed for the
 * earliest FIFO deadline ends it here with the same ETIMEDOUT error).
 *
 * Cancelling (ring.cancel, an AbortSignal) a request still in the JS FIFO completes it at once
 * (AbortError) without touching the loop; a submitted one gets an async cancel in the loop and ends
 * with its own completion, only after the kernel has let go of its buffer (success if the operation
 * finished first).
 *
 * The file descriptor stays the caller's: keep it open until the request has completed.
 */
import { Config } from "@iou/core"
import { constants } from "node:os"
import {
  binding,
  COMPLETION_BYTES,
  IOU_FLAG_DATA_ONLY,
  IOU_ENGINE_INLINE,
  IOU_ENGINE_THREAD,
  IOU_FLAG_EXACT,
  IOU_COMPLETION_KERNEL_HELD,
  IOU_MAX_IOV,
  IOU_OP_NOP,
  IOU_OP_READ_AT,
  IOU_OP_RECV,
  IOU_OP_SEND,
  IOU_OP_SYNC,
  IOU_OP_WRITE_AT,
  IOU_OUTCOME_ABANDONED,
  IOU_OUTCOME_CANCELLED,
  IOU_OUTCOME_OK,
  IOU_OUTCOME_TIMEOUT,
  type NativeLoop,
  type NativeStats,
  STAGE_BYTES,
  STAGE_DEADLINE_F64,
  STAGE_FD,
  STAGE_FLAGS,
  STAGE_GENERATION,
  STAGE_LENGTH,
  STAGE_OFFSET,
  STAGE_OP,
  STAGE_POSITION_HI,
  STAGE_POSITION_LO,
  STAGE_SLOT,
} from "./binding.ts"
import {
  abandonedError,
  abortError,
  closedError,
  errnoError,
  fromCompletion,
  SYSCALLS,
  unavailableError,
} from "./IoUringError.ts"
import { explainSetupError, preflight, probe, simulatedSetupErrno } from "./probe.ts"
import type {
  Callback,
  CloseOptions,
  CloseResult,
  Data,
  DriverConfig,
  DriverStats,
  EffectiveConfig,
  ReadAtOptions,
  RecvOptions,
  RequestHandle,
  SyncOptions,
  WriteOptions,
} from "./types.ts"

// ---- The monotonic clock ---------------------------------------------------------------------

// performance.now() and process.hrtime() both read uv_hrtime (CLOCK_MONOTONIC); performance.now()
// is cheap and counts from a fixed origin, so one offset turns it into CLOCK_MONOTONIC milliseconds.
// The offset is off by at most half the bracketing window; the first reads are slow (lazy
// initialisation) and the thread can be descheduled in between, so the tightest of 8 brackets wins.
const CLOCK_OFFSET = (() => {
  let best = { window: Infinity, offset: 0 }
  for (let i = 0; i < 8; i++) {
    const before = performance.now()
    const monotonic = Number(process.hrtime.bigint()) / 1e6
    const after = performance.now()
    if (after - before < best.window) best = { window: after - before, offset: monotonic - (before + after) / 2 }
  }
  return best.offset
})()

/** CLOCK_MONOTONIC in milliseconds: the clock of every deadline. */
const now = (): number => performance.now() + CLOCK_OFFSET

// ---- The pending table's encoding ---------------------------------------------------------------

/** A handle is generation * SLOT_LIMIT + slot; the native tag is (generation << 32) | slot. */
export const SLOT_LIMIT = 2 ** 24
const GENERATION_LIMIT = 2 ** 28

// Slot states.
const FREE = 0
/** In the JS FIFO, waiting for room in the inbound queue. */
const QUEUED = 1
/** Taken by iou_loop_submit; its completion will come from the loop. */
const SUBMITTED = 2
/** Submitted, and a cancel was sent to the loop. */
const CANCELLING = 3
/** Ended without the loop (cancelled in the FIFO, abandoned, refused); delivery is scheduled. */
const LOCAL = 4

// What a completion calls.
const KIND_CALLBACK = 0
const KIND_PROMISE_NUMBER = 1
const KIND_PROMISE_VOID = 2

/** Largest byte count of one request (the loop reports results as int32). */
const MAX_REQUEST_BYTES = 2 ** 31 - 1

/** The longest delay setTimeout takes (ms); longer ones fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1

/** Largest file position (off_t is signed 64-bit). */
const MAX_POSITION = (1n << 63n) - 1n

const { EMFILE, ENFILE } = constants.errno

// ---- Module state ----------------------------------------------------------------------------

/** Buffers of abandoned requests: never released, the kernel may still write into them. */
const quarantine: Array<Data> = []

// A Promise executor that allocates nothing: new Promise(capture) leaves its functions here.
let capturedResolve: ((value: never) => void) | undefined
let capturedReject: ((error: unknown) => void) | undefined
const capture = (resolve: (value: never) => void, reject: (error: unknown) => void): void => {
  capturedResolve = resolve
  capturedReject = reject
}

const rethrow = (error: unknown): never => {
  throw error
}

// Filled by position(): the low and high 32 bits of the last validated position.
let positionLo = 0
let positionHi = 0

// ---- Validation: TypeError for a wrong type, RangeError for a value out of range ----------------

const describe = (value: unknown): string =>
  typeof value === "bigint" ? `${value}n` : typeof value === "string" ? JSON.stringify(value) : String(value)

const validateFd = (fd: unknown): number => {
  if (typeof fd !== "number") throw new TypeError(`fd must be a number, got ${typeof fd}`)
  if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) {
    throw new RangeError(`fd must be a non-negative integer, got ${describe(fd)}`)
  }
  return fd
}

// The intrinsic length getter: a Uint8Array subclass (or an own property) may lie about `length`,
// and the binding reads the real length, so validation must too.
const typedArrayLength = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), "length")!
  .get as (this: Uint8Array) => number

/** A Uint8Array's real element count. */
const lengthOf = (buffer: Uint8Array): number => typedArrayLength.call(buffer)

const isDetached = (buffer: Uint8Array): boolean => (buffer.buffer as { detached?: boolean }).detached === true

const validateBuffer = (buffer: unknown, name: string): Uint8Array => {
  if (!(buffer instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array or a Buffer`)
  if (isDetached(buffer)) throw new TypeError(`${name} is detached (its ArrayBuffer was transferred)`)
  return buffer
}

const validateInteger = (value: unknown, name: string, min: number, max: number): number => {
  if (typeof value !== "number") throw new TypeError(`${name} must be a number, got ${typeof value}`)
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer in [${min}, ${max}], got ${describe(value)}`)
  }
  return value
}

/** Validates a file position and leaves its halves in positionLo / positionHi. */
const position = (value: unknown): void => {
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`position must be a non-negative safe integer or a bigint, got ${describe(value)}`)
    }
    positionLo = value >>> 0
    positionHi = Math.floor(value / 4294967296)
  } else if (typeof value === "bigint") {
    if (value < 0n || value > MAX_POSITION) throw new RangeError(`position must be in [0, 2^63 - 1], got ${value}n`)
    positionLo = Number(value & 0xffffffffn)
    positionHi = Number(value >> 32n)
  } else {
    throw new TypeError(`position must be a number or a bigint, got ${typeof value}`)
  }
}

const validateBoolean = (value: unknown, name: string): boolean => {
  if (typeof value !== "boolean") throw new TypeError(`${name} must be a boolean, got ${typeof value}`)
  return value
}

const optionalBoolean = (value: unknown, name: string): boolean =>
  value === undefined ? false : validateBoolean(value, name)

/** A relative timeout in ms to an absolute deadline (0 = none). */
const deadlineOf = (timeout: unknown): number => {
  if (timeout === undefined) return 0
  if (typeof timeout !== "number")
    throw new TypeError(`timeout must be a number of milliseconds, got ${typeof timeout}`)
  if (!(timeout >= 0)) throw new RangeError(`timeout must be a number >= 0, got ${describe(timeout)}`)
  return timeout === Infinity ? 0 : now() + timeout
}

/** An absolute deadline of the low-level API (ms on Driver.now(), 0 or Infinity = none). */
const validateDeadline = (deadline: unknown): number => {
  if (typeof deadline !== "number") throw new TypeError(`deadline must be a number, got ${typeof deadline}`)
  if (!(deadline >= 0)) throw new RangeError(`deadline must be a number >= 0, got ${describe(deadline)}`)
  return deadline === Infinity ? 0 : deadline
}

const validateCallback = (callback: unknown): Callback => {
  if (typeof callback !== "function") throw new TypeError(`callback must be a function, got ${typeof callback}`)
  return callback as Callback
}

const validateOptions = <T extends object>(options: T | undefined): T | Record<string, undefined> => {
  if (options === undefined) return NO_OPTIONS
  if (typeof options !== "object" || options === null || Array.isArray(options) || ArrayBuffer.isView(options)) {
    throw new TypeError("options must be a plain object")
  }
  return options
}
const NO_OPTIONS: Record<string, undefined> = Object.freeze({}) as Record<string, undefined>

const validateSignal = (signal: unknown): AbortSignal | undefined => {
  if (signal === undefined) return undefined
  if (!(signal instanceof AbortSignal)) throw new TypeError("signal must be an AbortSignal")
  return signal
}

// Filled by validateData(): the normalized data and its byte count.
let dataValue: Uint8Array | ReadonlyArray<Uint8Array> = new Uint8Array(0)
let dataBytes = 0

/** Validates write/send data; a vectored list is copied so that later changes to it do not matter. */
const validateData = (data: unknown): void => {
  if (data instanceof Uint8Array) {
    validateBuffer(data, "data")
    const length = lengthOf(data)
    if (length > MAX_REQUEST_BYTES) throw new RangeError(`data is larger than ${MAX_REQUEST_BYTES} bytes`)
    dataValue = data
    dataBytes = length
    return
  }
  if (!Array.isArray(data)) throw new TypeError("data must be a Uint8Array or an array of them")
  if (data.length > IOU_MAX_IOV)
    throw new RangeError(`data may hold at most ${IOU_MAX_IOV} buffers, got ${data.length}`)
  let bytes = 0
  const copy: Array<Uint8Array> = []
  for (let i = 0; i < data.length; i++) {
    const buffer = validateBuffer(data[i], `data[${i}]`)
    const length = lengthOf(buffer)
    bytes += length
    if (length > 0) copy.push(buffer)
  }
  if (bytes > MAX_REQUEST_BYTES) throw new RangeError(`data is larger than ${MAX_REQUEST_BYTES} bytes`)
  dataValue = copy.length === 1 ? copy[0]! : copy
  dataBytes = bytes
}

const bytesOf = (data: Data | undefined): number => {
  if (data === undefined) return 0
  if (data instanceof Uint8Array) return lengthOf(data)
  let n = 0
  for (const b of data) n += lengthOf(b)
  return n
}

// ---- The Driver ----------------------------------------------------------------------------

/** Builds a native loop; tests substitute a simulated one. */
export type NativeFactory = (
  dispatch: (count: number, final: boolean) => void,
  staging: ArrayBuffer,
  completions: ArrayBuffer,
) => NativeLoop

const nativeFactory: NativeFactory = (dispatch, staging, completions) =>
  new binding.Loop(dispatch, staging, completions)

const ZERO_STATS: NativeStats = {
  submitted: 0,
  completed: 0,
  failed: 0,
  timedOut: 0,
  cancelled: 0,
  requeued: 0,
  sqesStaged: 0,
  enters: 0,
  wakes: 0,
  cqOverflow: 0,
  abandoned: 0,
  pendingOperations: 0,
  singleIssuer: false,
}

const grow32 = <A extends Uint32Array | Int32Array | Float64Array | Uint8Array>(a: A, n: number): A => {
  const b = new (a.constructor as new (n: number) => A)(n)
  b.set(a)
  return b
}

export class Driver {
  /**
   * Opens a ring: validates `config` (TypeError/RangeError), starts the loop thread and waits until
   * its ring exists. Throws an IoUringError with code "ERR_IOU_UNAVAILABLE" (message: probe()'s
   * reason) where the addon is not built, the kernel refuses io_uring or lacks a feature the loop
   * needs: checked before the loop starts, so an old kernel never gets as far as the loop.
   */
  static open(config?: DriverConfig): Driver {
    const resolved = Config.resolve(config)
    const refusal = preflight(resolved)
    if (refusal?.emfile) throw errnoError(-EMFILE, "open", undefined)
    if (refusal !== undefined) throw unavailableError(refusal.reason, undefined)
    return new Driver(resolved, nativeFactory)
  }

  /** CLOCK_MONOTONIC in milliseconds: the clock of the low-level API's absolute deadlines. */
  static now(): number {
    return now()
  }

  /** The effective config: size after rounding, and whether SINGLE_ISSUER was accepted. */
  readonly config: EffectiveConfig

  private readonly native: NativeLoop
  private readonly stage32: Uint32Array
  private readonly stage64: Float64Array
  private readonly done32: Uint32Array
  private readonly doneI32: Int32Array
  private readonly done8: Uint8Array

  // The pending table, one entry per slot (struct of arrays).
  private capacity: number
  private generation: Uint32Array
  private state: Uint8Array
  private op: Uint8Array
  private flags: Uint8Array
  private kind: Uint8Array
  private fd: Int32Array
  private posLo: Uint32Array
  private posHi: Uint32Array
  private offset: Uint32Array
  private length: Uint32Array
  private deadline: Float64Array
  private readonly data: Array<Data | undefined> = []
  /** The callback, or the promise's resolve. */
  private readonly resolve: Array<
    ((error: Error | null, result: number) => void) | ((value: never) => void) | undefined
  > = []
  private readonly reject: Array<((error: unknown) => void) | undefined> = []
  private readonly signal: Array<AbortSignal | undefined> = []
  private readonly onAbort: Array<(() => void) | undefined> = []
  private freeSlots: Int32Array
  private freeTop = 0

  // The JS FIFO: a ring buffer of (slot, generation).
  private fifoSlot: Int32Array
  private fifoGeneration: Uint32Array
  private fifoHead = 0
  private fifoLength = 0
  // Deadlines in the JS FIFO: the earliest armed (ms on Driver.now(); Infinity: none) and its timer.
  private fifoDeadline = Infinity
  private fifoTimer: ReturnType<typeof setTimeout> | undefined

  // Completions that did not come from the loop, delivered in a microtask.
  private localSlots: Array<number> = []
  private localErrors: Array<Error> = []
  private localScheduled = false

  private flushScheduled = false
  private inFlight = 0
  private localCancelled = 0
  private localAbandoned = 0
  private localTimedOut = 0
  private quarantinedBytes = 0

  // Shutdown.
  private closing = false
  private nativeClosed = false
  private destroyed = false
  private closeEnd = -1
  private closeTimer: ReturnType<typeof setTimeout> | undefined
  private closeWatch: ReturnType<typeof setInterval> | undefined
  private closePromise: Promise<CloseResult> | undefined
  private closeResolve: ((result: CloseResult) => void) | undefined
  private closeCompleted = 0
  private closeAbandoned = 0
  private lastStats: NativeStats = ZERO_STATS

  private readonly flushFn = (): void => this.flush()
  private readonly expireFifoFn = (): void => this.expireFifo()
  private readonly deliverLocalFn = (): void => this.deliverLocal()
  private readonly closeTimerFn = (): void => this.closeTimerFired()
  private readonly dispatchFn = (count: number, final: boolean): void => this.dispatch(count, final)

  /** @internal Use Driver.open. */
  constructor(resolved: Config.ResolvedConfig, factory: NativeFactory) {
    const staging = new ArrayBuffer(STAGE_BYTES)
    this.stage32 = new Uint32Array(staging)
    this.stage64 = new Float64Array(staging)
    const chunk = Math.max(64, resolved.size * 2)
    const completions = new ArrayBuffer(chunk * COMPLETION_BYTES)
    this.done32 = new Uint32Array(completions)
    this.doneI32 = new Int32Array(completions)
    this.done8 = new Uint8Array(completions)

    const n = resolved.size * 2 + 16
    this.capacity = n
    this.generation = new Uint32Array(n)
    this.state = new Uint8Array(n)
    this.op = new Uint8Array(n)
    this.flags = new Uint8Array(n)
    this.kind = new Uint8Array(n)
    this.fd = new Int32Array(n)
    this.posLo = new Uint32Array(n)
    this.posHi = new Uint32Array(n)
    this.offset = new Uint32Array(n)
    this.length = new Uint32Array(n)
    this.deadline = new Float64Array(n)
    this.freeSlots = new Int32Array(n)
    for (let slot = n - 1; slot >= 0; slot--) this.freeSlots[this.freeTop++] = slot
    this.fifoSlot = new Int32Array(64)
    this.fifoGeneration = new Uint32Array(64)

    this.native = factory(this.dispatchFn, staging, completions)
    const simulated = simulatedSetupErrno()
    const rc =
      simulated !== 0
        ? -simulated
        : this.native.open(
            resolved.size,
            resolved.singleIssuer,
            resolved.ioPoll,
            resolved.maxRequestTimeout * 1e6,
            resolved.timeoutWheelTick * 1e6,
            resolved.idleSpin,
            resolved.engine === "inline" ? IOU_ENGINE_INLINE : IOU_ENGINE_THREAD,
          )
    if (rc === -EMFILE || rc === -ENFILE) {
      // Out of file descriptors is not "io_uring unavailable": it says so, with Node's code.
      throw errnoError(rc, "open", undefined)
    }
    if (rc < 0) {
      const p = probe(resolved)
      throw unavailableError(p.supported ? explainSetupError(-rc, p.ioUringDisabled ?? 0) : (p.reason ?? ""), rc)
    }
    this.config = { ...resolved, singleIssuerAccepted: this.native.stats()?.singleIssuer ?? false }
  }

  // ---- The Promise API -----------------------------------------------------------------------

  /** A no-op through the ring. */
  nop(options?: WriteOptions): Promise<void> {
    const o = validateOptions(options)
    const deadline = deadlineOf(o.timeout)
    const signal = validateSignal(o.signal)
    return this.promise(IOU_OP_NOP, 0, 0, undefined, 0, 0, deadline, signal, KIND_PROMISE_VOID)
  }

  /**
   * Reads into buffer[0, length) from `position` until the range is full or end of file; resolves
   * with the count. With `exact`, end of file first rejects with ERR_IOU_UNEXPECTED_EOF.
   */
  readAt(fd: number, buffer: Uint8Array, position_: number | bigint, options?: ReadAtOptions): Promise<number> {
    validateFd(fd)
    validateBuffer(buffer, "buffer")
    const o = validateOptions(options)
    const size = lengthOf(buffer)
    const length = o.length === undefined ? size : validateInteger(o.length, "length", 0, size)
    if (length > MAX_REQUEST_BYTES) throw new RangeError(`length must be at most ${MAX_REQUEST_BYTES}`)
    const flags = optionalBoolean(o.exact, "exact") ? IOU_FLAG_EXACT : 0
    const deadline = deadlineOf(o.timeout)
    const signal = validateSignal(o.signal)
    // The module-level position is set after every option getter has run (one could re-enter).
    position(position_)
    if (length === 0 && !this.closing && !signal?.aborted) return Promise.resolve(0)
    return this.promise(IOU_OP_READ_AT, flags, fd, buffer, 0, length, deadline, signal, KIND_PROMISE_NUMBER)
  }

  /** Writes all of `data` (one buffer, or several: writev) at `position`. */
  writeAt(fd: number, data: Data, position_: number | bigint, options?: WriteOptions): Promise<void> {
    validateFd(fd)
    const o = validateOptions(options)
    const deadline = deadlineOf(o.timeout)
    const signal = validateSignal(o.signal)
    // The module-level data and position are set after every option getter has run.
    validateData(data)
    position(position_)
    if (dataBytes === 0 && !this.closing && !signal?.aborted) return Promise.resolve()
    return this.promise(IOU_OP_WRITE_AT, 0, fd, dataValue, 0, dataBytes, deadline, signal, KIND_PROMISE_VOID)
  }

  /** Sends all of `data` (one buffer, or several: sendmsg), with MSG_NOSIGNAL. */
  send(fd: number, data: Data, options?: WriteOptions): Promise<void> {
    validateFd(fd)
    const o = validateOptions(options)
    const deadline = deadlineOf(o.timeout)
    const signal = validateSignal(o.signal)
    // The module-level data and position are set after every option getter has run.
    validateData(data)
    positionLo = positionHi = 0
    if (dataBytes === 0 && !this.closing && !signal?.aborted) return Promise.resolve()
    return this.promise(IOU_OP_SEND, 0, fd, dataValue, 0, dataBytes, deadline, signal, KIND_PROMISE_VOID)
  }

  /**
   * Receives into buffer[offset, offset + length). Without `exact`: the first non-empty read, or 0
   * when the peer closed. With `exact`: until the range is full; a close first rejects with
   * ERR_IOU_UNEXPECTED_EOF.
   */
  recv(fd: number, buffer: Uint8Array, options?: RecvOptions): Promise<number> {
    validateFd(fd)
    validateBuffer(buffer, "buffer")
    const o = validateOptions(options)
    const size = lengthOf(buffer)
    const offset = o.offset === undefined ? 0 : validateInteger(o.offset, "offset", 0, size)
    const length = o.length === undefined ? size - offset : validateInteger(o.length, "length", 0, size - offset)
    if (length > MAX_REQUEST_BYTES) throw new RangeError(`length must be at most ${MAX_REQUEST_BYTES}`)
    const flags = optionalBoolean(o.exact, "exact") ? IOU_FLAG_EXACT : 0
    const deadline = deadlineOf(o.timeout)
    const signal = validateSignal(o.signal)
    positionLo = positionHi = 0
    if (length === 0 && !this.closing && !signal?.aborted) return Promise.resolve(0)
    return this.promise(IOU_OP_RECV, flags, fd, buffer, offset, length, deadline, signal, KIND_PROMISE_NUMBER)
  }

  /** fsync, or fdatasync with `dataOnly`. */
  sync(fd: number, options?: SyncOptions): Promise<void> {
    validateFd(fd)
    const o = validateOptions(options)
    const flags = optionalBoolean(o.dataOnly, "dataOnly") ? IOU_FLAG_DATA_ONLY : 0
    const deadline = deadlineOf(o.timeout)
    const signal = validateSignal(o.signal)
    positionLo = positionHi = 0
    return this.promise(IOU_OP_SYNC, flags, fd, undefined, 0, 0, deadline, signal, KIND_PROMISE_VOID)
  }

  // ---- The low-level API: one callback per request, no Promise ----------------------------------

  /** A no-op. `deadline`: absolute ms on Driver.now(), 0 = none. */
  submitNop(deadline: number, callback: Callback): RequestHandle {
    const d = validateDeadline(deadline)
    validateCallback(callback)
    positionLo = positionHi = 0
    return this.submit(IOU_OP_NOP, 0, 0, undefined, 0, 0, d, callback)
  }

  /** readAt into buffer[0, length); the callback gets the count read. */
  submitReadAt(
    fd: number,
    buffer: Uint8Array,
    position_: number | bigint,
    length: number,
    exact: boolean,
    deadline: number,
    callback: Callback,
  ): RequestHandle {
    validateFd(fd)
    validateBuffer(buffer, "buffer")
    position(position_)
    validateInteger(length, "length", 0, Math.min(lengthOf(buffer), MAX_REQUEST_BYTES))
    const flags = validateBoolean(exact, "exact") ? IOU_FLAG_EXACT : 0
    const d = validateDeadline(deadline)
    validateCallback(callback)
    if (length === 0 && !this.closing) return this.immediately(callback, 0)
    return this.submit(IOU_OP_READ_AT, flags, fd, buffer, 0, length, d, callback)
  }

  /** writeAt of all of `data`; the callback gets the bytes written. */
  submitWriteAt(
    fd: number,
    data: Data,
    position_: number | bigint,
    deadline: number,
    callback: Callback,
  ): RequestHandle {
    validateFd(fd)
    validateData(data)
    position(position_)
    const d = validateDeadline(deadline)
    validateCallback(callback)
    if (dataBytes === 0 && !this.closing) return this.immediately(callback, 0)
    return this.submit(IOU_OP_WRITE_AT, 0, fd, dataValue, 0, dataBytes, d, callback)
  }

  /** send of all of `data`; the callback gets the bytes sent. */
  submitSend(fd: number, data: Data, deadline: number, callback: Callback): RequestHandle {
    validateFd(fd)
    validateData(data)
    const d = validateDeadline(deadline)
    validateCallback(callback)
    positionLo = positionHi = 0
    if (dataBytes === 0 && !this.closing) return this.immediately(callback, 0)
    return this.submit(IOU_OP_SEND, 0, fd, dataValue, 0, dataBytes, d, callback)
  }

  /** recv into buffer[offset, offset + length); the callback gets the count received. */
  submitRecv(
    fd: number,
    buffer: Uint8Array,
    offset: number,
    length: number,
    exact: boolean,
    deadline: number,
    callback: Callback,
  ): RequestHandle {
    validateFd(fd)
    validateBuffer(buffer, "buffer")
    validateInteger(offset, "offset", 0, lengthOf(buffer))
    validateInteger(length, "length", 0, Math.min(lengthOf(buffer) - offset, MAX_REQUEST_BYTES))
    const flags = validateBoolean(exact, "exact") ? IOU_FLAG_EXACT : 0
    const d = validateDeadline(deadline)
    validateCallback(callback)
    positionLo = positionHi = 0
    if (length === 0 && !this.closing) return this.immediately(callback, 0)
    return this.submit(IOU_OP_RECV, flags, fd, buffer, offset, length, d, callback)
  }

  /** fsync, or fdatasync with `dataOnly`. */
  submitSync(fd: number, dataOnly: boolean, deadline: number, callback: Callback): RequestHandle {
    validateFd(fd)
    const flags = validateBoolean(dataOnly, "dataOnly") ? IOU_FLAG_DATA_ONLY : 0
    const d = validateDeadline(deadline)
    validateCallback(callback)
    positionLo = positionHi = 0
    return this.submit(IOU_OP_SYNC, flags, fd, undefined, 0, 0, d, callback)
  }

  /**
   * Cancels a request. Returns true when the request was live and this call started its
   * cancellation; its callback still runs exactly once, after the kernel has let go of its buffers:
   * with an AbortError, or with success if the operation finished first. False for a request that
   * already ended, is already being cancelled, or an unknown handle.
   */
  cancel(handle: RequestHandle): boolean {
    if (typeof handle !== "number" || !Number.isSafeInteger(handle) || handle <= 0) return false
    const slot = handle % SLOT_LIMIT
    const generation = (handle - slot) / SLOT_LIMIT
    if (slot >= this.capacity || this.generation[slot] !== generation) return false
    const state = this.state[slot]
    if (state === QUEUED) {
      this.localCancelled++
      this.completeLocally(slot, abortError(SYSCALLS[this.op[slot]!]!, this.fdOf(slot), this.abortCause(slot)))
      return true
    }
    if (state !== SUBMITTED) return false
    this.state[slot] = CANCELLING
    return this.native.cancel(slot, generation) === 0
  }

  /** The loop's counters plus the Driver's own: inFlight, quarantinedBytes, and requests ended in the JS FIFO. */
  stats(): DriverStats {
    const n = (this.destroyed ? undefined : this.native.stats()) ?? this.lastStats
    return {
      pendingOperations: n.pendingOperations,
      inFlight: this.inFlight,
      submitted: n.submitted,
      completed: n.completed + this.localCancelled + this.localAbandoned + this.localTimedOut,
      failed: n.failed,
      timedOut: n.timedOut + this.localTimedOut,
      cancelled: n.cancelled + this.localCancelled,
      requeued: n.requeued,
      sqesStaged: n.sqesStaged,
      enters: n.enters,
      wakes: n.wakes,
      cqOverflow: n.cqOverflow,
      abandoned: n.abandoned + this.localAbandoned,
      quarantinedBytes: this.quarantinedBytes,
    }
  }

  /**
   * Stops admission (later calls reject with ERR_IOU_CLOSED), still admits what was already made
   * (including requests waiting in the JS FIFO), drains in-flight work while deadlines keep running,
   * and when `shutdownTimeout` (ms; default: the config's; absent: no limit) expires abandons what
   * is left (ERR_IOU_ABANDONED; buffers quarantined only if the kernel kept them). Resolves once the loop thread has been joined,
   * with how many requests live at close() completed and how many were abandoned. Calling it again
   * returns the same promise.
   */
  close(options?: CloseOptions): Promise<CloseResult> {
    const o = validateOptions(options)
    const timeout =
      o.shutdownTimeout === undefined
        ? this.config.shutdownTimeout
        : Config.shutdownTimeout(o.shutdownTimeout, this.config.shutdownTimeout)
    const end = timeout === undefined ? -1 : now() + timeout
    if (this.closePromise !== undefined) {
      // A later close may shorten the drain (to force a stuck one down), never lengthen it.
      if (end >= 0 && (this.closeEnd < 0 || end < this.closeEnd)) this.shortenClose(end)
      return this.closePromise
    }
    this.closing = true
    this.closePromise = new Promise<CloseResult>(capture)
    this.closeResolve = capturedResolve as (result: CloseResult) => void
    this.closeEnd = end
    this.refill()
    if (!this.nativeClosed && end >= 0) this.armCloseTimer()
    return this.closePromise
  }

  // ---- Submission ------------------------------------------------------------------------------

  private promise(
    op: number,
    flags: number,
    fd: number,
    data: Data | undefined,
    offset: number,
    length: number,
    deadline: number,
    signal: AbortSignal | undefined,
    kind: number,
  ): Promise<never> {
    if (this.closing) return Promise.reject(closedError(SYSCALLS[op]!, op === IOU_OP_NOP ? undefined : fd))
    if (signal?.aborted) {
      return Promise.reject(abortError(SYSCALLS[op]!, op === IOU_OP_NOP ? undefined : fd, signal.reason))
    }
    const promise = new Promise<never>(capture)
    const handle = this.enqueue(op, flags, fd, data, offset, length, deadline, kind, capturedResolve!, capturedReject)
    if (signal !== undefined) {
      const slot = handle % SLOT_LIMIT
      const onAbort = (): void => {
        this.cancel(handle)
      }
      signal.addEventListener("abort", onAbort, { once: true })
      this.signal[slot] = signal
      this.onAbort[slot] = onAbort
    }
    return promise
  }

  private submit(
    op: number,
    flags: number,
    fd: number,
    data: Data | undefined,
    offset: number,
    length: number,
    deadline: number,
    callback: Callback,
  ): RequestHandle {
    if (this.closing) {
      process.nextTick(callback, closedError(SYSCALLS[op]!, op === IOU_OP_NOP ? undefined : fd), 0)
      return 0
    }
    return this.enqueue(op, flags, fd, data, offset, length, deadline, KIND_CALLBACK, callback, undefined)
  }

  /** A request with nothing to transfer: succeeds on the next tick, never reaches the loop. */
  private immediately(callback: Callback, result: number): RequestHandle {
    process.nextTick(callback, null, result)
    return 0
  }

  /** Takes a slot (positionLo/positionHi hold the position) and pushes or queues the request. */
  private enqueue(
    op: number,
    flags: number,
    fd: number,
    data: Data | undefined,
    offset: number,
    length: number,
    deadline: number,
    kind: number,
    resolve: ((error: Error | null, result: number) => void) | ((value: never) => void),
    reject: ((error: unknown) => void) | undefined,
  ): RequestHandle {
    if (this.freeTop === 0) this.grow()
    const slot = this.freeSlots[--this.freeTop]!
    let generation = this.generation[slot]! + 1
    if (generation >= GENERATION_LIMIT) generation = 1
    this.generation[slot] = generation
    this.op[slot] = op
    this.flags[slot] = flags
    this.kind[slot] = kind
    this.fd[slot] = fd
    this.posLo[slot] = positionLo
    this.posHi[slot] = positionHi
    this.offset[slot] = offset
    this.length[slot] = length
    this.deadline[slot] = deadline
    this.data[slot] = data
    this.resolve[slot] = resolve
    this.reject[slot] = reject
    this.inFlight++
    if (this.fifoLength !== 0 || !this.push(slot)) {
      this.state[slot] = QUEUED
      this.fifoPush(slot, generation)
    }
    return generation * SLOT_LIMIT + slot
  }

  /** Copies the slot's request into the inbound queue. False when the queue is full. */
  private push(slot: number): boolean {
    const s = this.stage32
    s[STAGE_SLOT] = slot
    s[STAGE_GENERATION] = this.generation[slot]!
    s[STAGE_POSITION_LO] = this.posLo[slot]!
    s[STAGE_POSITION_HI] = this.posHi[slot]!
    s[STAGE_LENGTH] = this.length[slot]!
    s[STAGE_FD] = this.fd[slot]!
    s[STAGE_OP] = this.op[slot]!
    s[STAGE_FLAGS] = this.flags[slot]!
    s[STAGE_OFFSET] = this.offset[slot]!
    this.stage64[STAGE_DEADLINE_F64] = this.deadline[slot]!
    // The turn's first request is published at once, so that the loop starts while JS goes on
    // submitting; the flush microtask publishes the rest and ends the turn.
    const rc = this.flushScheduled ? this.native.submit(this.data[slot]) : this.native.submit(this.data[slot], true)
    if (rc === 1) {
      this.state[slot] = SUBMITTED
      if (!this.flushScheduled) {
        this.flushScheduled = true
        queueMicrotask(this.flushFn)
      }
      return true
    }
    if (rc === 0) return false
    // The loop refused the request (it is shutting down, or the binding found it malformed).
    this.completeLocally(slot, errnoError(rc, SYSCALLS[this.op[slot]!]!, this.fdOf(slot)))
    return true
  }

  private flush(): void {
    this.flushScheduled = false
    if (!this.destroyed) this.native.publish()
  }

  private fifoPush(slot: number, generation: number): void {
    if (this.fifoLength === this.fifoSlot.length) {
      const n = this.fifoSlot.length * 2
      const slots = new Int32Array(n)
      const generations = new Uint32Array(n)
      const mask = this.fifoSlot.length - 1
      for (let i = 0; i < this.fifoLength; i++) {
        slots[i] = this.fifoSlot[(this.fifoHead + i) & mask]!
        generations[i] = this.fifoGeneration[(this.fifoHead + i) & mask]!
      }
      this.fifoSlot = slots
      this.fifoGeneration = generations
      this.fifoHead = 0
    }
    const at = (this.fifoHead + this.fifoLength) & (this.fifoSlot.length - 1)
    this.fifoSlot[at] = slot
    this.fifoGeneration[at] = generation
    this.fifoLength++
    const deadline = this.deadline[slot]!
    if (deadline > 0 && deadline < this.fifoDeadline) this.armFifoTimer(deadline)
  }

  /**
   * Pushes FIFO requests, oldest first, while the inbound queue has room, dropping entries that
   * ended while queued (cancelled). Once a closing Driver's FIFO is empty, the loop is closed.
   */
  private refill(): void {
    const mask = this.fifoSlot.length - 1
    while (this.fifoLength > 0) {
      const slot = this.fifoSlot[this.fifoHead]!
      const live = this.state[slot] === QUEUED && this.generation[slot] === this.fifoGeneration[this.fifoHead]
      if (live && !this.push(slot)) break
      this.fifoHead = (this.fifoHead + 1) & mask
      this.fifoLength--
    }
    if (this.fifoLength === 0) {
      this.stopFifoTimer() // so that it holds neither the Driver nor its loop thread any longer
      if (this.closing) this.closeNative()
    }
  }

  /**
   * Arms the JS FIFO's deadline timer for `deadline` (ms on Driver.now()). Delays beyond what
   * setTimeout takes (2^31 - 1 ms) wait that long and re-arm from expireFifo.
   */
  private armFifoTimer(deadline: number): void {
    this.stopFifoTimer()
    this.fifoDeadline = deadline
    this.fifoTimer = setTimeout(this.expireFifoFn, Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(deadline - now()))))
    // Requests in the FIFO mean a full inbound queue, which already keeps the process alive.
    this.fifoTimer.unref()
  }

  /** Disarms the JS FIFO's deadline timer (the FIFO emptied, or the Driver is gone). */
  private stopFifoTimer(): void {
    if (this.fifoTimer !== undefined) clearTimeout(this.fifoTimer)
    this.fifoTimer = undefined
    this.fifoDeadline = Infinity
  }

  /**
   * A deadline in the JS FIFO came: requests whose deadline has passed end with ETIMEDOUT here,
   * never given to the loop (as the loop ends those waiting in its inbound queue), and the timer
   * is armed for the next deadline. An early timer (its request left the FIFO) just re-arms.
   */
  private expireFifo(): void {
    this.fifoTimer = undefined
    this.fifoDeadline = Infinity
    if (this.destroyed) return
    const t = now()
    const mask = this.fifoSlot.length - 1
    let next = Infinity
    for (let i = 0; i < this.fifoLength; i++) {
      const at = (this.fifoHead + i) & mask
      const slot = this.fifoSlot[at]!
      if (this.state[slot] !== QUEUED || this.generation[slot] !== this.fifoGeneration[at]) continue
      const deadline = this.deadline[slot]!
      if (deadline === 0) continue
      if (deadline <= t) {
        this.localTimedOut++
        this.completeLocally(slot, fromCompletion(this.op[slot]!, this.fd[slot]!, 0, IOU_OUTCOME_TIMEOUT)!)
      } else if (deadline < next) {
        next = deadline
      }
    }
    if (next !== Infinity) this.armFifoTimer(next)
  }

  private grow(): void {
    const old = this.capacity
    if (old >= SLOT_LIMIT) throw new RangeError(`more than ${SLOT_LIMIT} requests in flight`)
    const n = Math.min(old * 2, SLOT_LIMIT)
    this.capacity = n
    this.generation = grow32(this.generation, n)
    this.state = grow32(this.state, n)
    this.op = grow32(this.op, n)
    this.flags = grow32(this.flags, n)
    this.kind = grow32(this.kind, n)
    this.fd = grow32(this.fd, n)
    this.posLo = grow32(this.posLo, n)
    this.posHi = grow32(this.posHi, n)
    this.offset = grow32(this.offset, n)
    this.length = grow32(this.length, n)
    this.deadline = grow32(this.deadline, n)
    this.freeSlots = grow32(this.freeSlots, n)
    for (let slot = n - 1; slot >= old; slot--) this.freeSlots[this.freeTop++] = slot
  }

  // ---- Completion ------------------------------------------------------------------------------

  /** Called by the binding once per chunk of completions; `final` after the loop thread exited. */
  private dispatch(count: number, final: boolean): void {
    const c32 = this.done32
    const cI32 = this.doneI32
    const c8 = this.done8
    for (let i = 0; i < count; i++) {
      const slot = c32[i * 4]!
      const generation = c32[i * 4 + 1]!
      const result = cI32[i * 4 + 2]!
      const outcome = c8[i * 16 + 12]!
      const completionFlags = c8[i * 16 + 13]!
      // Tags are unique among live requests: a mismatch would be a loop bug; never touch the slot.
      if (slot >= this.capacity || this.generation[slot] !== generation) continue
      const state = this.state[slot]
      if (state !== SUBMITTED && state !== CANCELLING) continue
      if (outcome === IOU_OUTCOME_OK) {
        this.finish(slot, null, result)
      } else {
        if (outcome === IOU_OUTCOME_ABANDONED && (completionFlags & IOU_COMPLETION_KERNEL_HELD) !== 0) {
          this.quarantine(slot)
        }
        const cause = outcome === IOU_OUTCOME_CANCELLED ? this.abortCause(slot) : undefined
        this.finish(slot, fromCompletion(this.op[slot]!, this.fd[slot], result, outcome, cause), result)
      }
    }
    if (this.fifoLength > 0) this.refill()
    if (final) this.exited()
  }

  /** Frees the slot, then calls back (a callback may submit again and reuse the slot). */
  private finish(slot: number, error: Error | null, result: number): void {
    const kind = this.kind[slot]
    const resolve = this.resolve[slot]!
    const reject = this.reject[slot]
    const signal = this.signal[slot]
    if (signal !== undefined) {
      signal.removeEventListener("abort", this.onAbort[slot]!)
      this.signal[slot] = undefined
      this.onAbort[slot] = undefined
    }
    this.data[slot] = undefined
    this.resolve[slot] = undefined
    this.reject[slot] = undefined
    this.state[slot] = FREE
    this.freeSlots[this.freeTop++] = slot
    this.inFlight--
    if (this.closing) {
      if (error !== null && (error as { code?: string }).code === "ERR_IOU_ABANDONED") this.closeAbandoned++
      else this.closeCompleted++
    }
    if (kind === KIND_CALLBACK) {
      try {
        ;(resolve as Callback)(error, error === null ? result : 0)
      } catch (thrown) {
        // One callback's exception must not stop the batch: rethrow it as an uncaught exception.
        process.nextTick(rethrow, thrown)
      }
    } else if (error !== null) {
      reject!(error)
    } else {
      ;(resolve as (value: number | undefined) => void)(kind === KIND_PROMISE_VOID ? undefined : result)
    }
  }

  /** Ends a request that the loop will not complete (it never reached the loop, or was refused). */
  private completeLocally(slot: number, error: Error): void {
    this.state[slot] = LOCAL
    this.localSlots.push(slot)
    this.localErrors.push(error)
    if (!this.localScheduled) {
      this.localScheduled = true
      queueMicrotask(this.deliverLocalFn)
    }
  }

  private deliverLocal(): void {
    this.localScheduled = false
    const slots = this.localSlots
    const errors = this.localErrors
    this.localSlots = []
    this.localErrors = []
    for (let i = 0; i < slots.length; i++) this.finish(slots[i]!, errors[i]!, 0)
    if (this.closing && !this.destroyed) this.refill()
  }

  private quarantine(slot: number): void {
    const data = this.data[slot]
    if (data === undefined) return
    quarantine.push(data)
    this.quarantinedBytes += bytesOf(data)
  }

  private fdOf(slot: number): number | undefined {
    return this.op[slot] === IOU_OP_NOP ? undefined : this.fd[slot]
  }

  private abortCause(slot: number): unknown {
    const signal = this.signal[slot]
    return signal !== undefined && signal.aborted ? signal.reason : undefined
  }

  // ---- Shutdown --------------------------------------------------------------------------------

  /** Closes the loop once nothing waits in the JS FIFO, with what is left of the budget. */
  private closeNative(): void {
    if (this.nativeClosed) return
    this.nativeClosed = true
    if (this.closeTimer !== undefined) clearTimeout(this.closeTimer)
    this.closeTimer = undefined
    if (this.flushScheduled) this.flush()
    const ms = this.closeEnd < 0 ? -1 : Math.max(0, this.closeEnd - now())
    if (this.native.close(ms) < 0) {
      this.exited()
      return
    }
    // The loop notifies when its thread exits; this watch only guards against a lost notification.
    this.closeWatch = setInterval(() => this.checkExited(), 50)
    this.closeWatch.unref()
  }

  /**
   * Arms the shutdown timer for closeEnd; a delay beyond setTimeout's range (2^31 - 1 ms) waits that
   * long and re-arms, so a long shutdownTimeout never fires early.
   */
  private armCloseTimer(): void {
    if (this.closeTimer !== undefined) clearTimeout(this.closeTimer)
    const delay = Math.max(0, Math.ceil(this.closeEnd - now()))
    this.closeTimer = setTimeout(this.closeTimerFn, Math.min(MAX_TIMER_MS, delay))
  }

  private closeTimerFired(): void {
    this.closeTimer = undefined
    if (this.nativeClosed) return
    if (now() < this.closeEnd) this.armCloseTimer()
    else this.abandonFifo()
  }

  /** A later close() with an earlier end: the JS FIFO's timer, or the loop's cutoff, moves up. */
  private shortenClose(end: number): void {
    this.closeEnd = end
    if (!this.nativeClosed) this.armCloseTimer()
    else if (!this.destroyed) this.native.close(Math.max(0, end - now()))
  }

  private checkExited(): void {
    if (this.destroyed) return
    this.native.poll()
  }

  /** The JS FIFO's requests at the shutdown timeout: never given to the kernel, abandoned here. */
  private abandonFifo(): void {
    const mask = this.fifoSlot.length - 1
    while (this.fifoLength > 0) {
      const slot = this.fifoSlot[this.fifoHead]!
      if (this.state[slot] === QUEUED && this.generation[slot] === this.fifoGeneration[this.fifoHead]) {
        this.localAbandoned++
        this.completeLocally(slot, abandonedError(SYSCALLS[this.op[slot]!]!, this.fdOf(slot)))
      }
      this.fifoHead = (this.fifoHead + 1) & mask
      this.fifoLength--
    }
    this.stopFifoTimer()
    this.closeEnd = now()
    this.closeNative()
  }

  /** The loop thread has exited and every completion was dispatched: release it and resolve close(). */
  private exited(): void {
    if (this.destroyed) return
    this.stopFifoTimer()
    this.lastStats = this.native.stats() ?? this.lastStats
    this.native.destroy()
    this.destroyed = true
    if (this.closeWatch !== undefined) clearInterval(this.closeWatch)
    // Local completions (abandoned FIFO entries) are delivered first: they were queued earlier.
    queueMicrotask(() => this.closeResolve?.({ completed: this.closeCompleted, abandoned: this.closeAbandoned }))
  }
}
