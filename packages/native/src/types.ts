/**
 * The public types of @iou/native's Driver. This file is the
 * contract between the Driver (src/Driver.ts) and its users (@iou/effect, bench, examples).
 */
import type { Config } from "@iou/core"

/** The Driver's config: @iou/core's Config (size, singleIssuer, ioPoll, maxRequestTimeout, timeoutWheelTick, shutdownTimeout, idleSpin). */
export type DriverConfig = Config.Config

/** The effective config after validation and rounding, plus what the kernel accepted. */
export interface EffectiveConfig extends Config.ResolvedConfig {
  /** SINGLE_ISSUER | DEFER_TASKRUN were requested and the kernel accepted them. */
  readonly singleIssuerAccepted: boolean
}

export interface DriverStats {
  /** The seed's gauge: requests occupying a waiter slot in the loop. */
  readonly pendingOperations: number
  /**
   * Requests anywhere between the call that made them and their completion: in the Driver's
   * backpressure queue, the loop's inbound queue or the loop (in the kernel or waiting there).
   */
  readonly outstanding: number
  /** @deprecated Use `outstanding` (the same count); `inFlight` is removed in the next release. */
  readonly inFlight: number
  readonly submitted: number
  /** Requests that ended, whatever their outcome (success, error, timeout, cancel, abandonment). */
  readonly completed: number
  readonly failed: number
  readonly timedOut: number
  readonly cancelled: number
  readonly requeued: number
  readonly sqesStaged: number
  readonly enters: number
  readonly wakes: number
  readonly cqOverflow: number
  readonly abandoned: number
  /** Bytes of buffers of abandoned requests, kept for the life of the process (the kernel may still write them). */
  readonly quarantinedBytes: number
}

export interface CloseOptions {
  /** ms; absent: the Driver's config value; absent there too: wait for every in-flight request. */
  readonly shutdownTimeout?: number | undefined
}

export interface CloseResult {
  readonly completed: number
  readonly abandoned: number
}

export interface ReadAtOptions {
  readonly length?: number | undefined
  readonly exact?: boolean | undefined
  /** ms from now: a per-request deadline enforced by the loop. */
  readonly timeout?: number | undefined
  readonly signal?: AbortSignal | undefined
}
export interface WriteOptions {
  readonly timeout?: number | undefined
  readonly signal?: AbortSignal | undefined
}
export interface RecvOptions {
  readonly offset?: number | undefined
  readonly length?: number | undefined
  readonly exact?: boolean | undefined
  readonly timeout?: number | undefined
  readonly signal?: AbortSignal | undefined
}
export interface SyncOptions {
  readonly dataOnly?: boolean | undefined
  readonly timeout?: number | undefined
  readonly signal?: AbortSignal | undefined
}

/** Data for writeAt/send: one buffer, or several (vectored: writev / sendmsg). */
export type Data = Uint8Array | ReadonlyArray<Uint8Array>

/**
 * The low-level API's completion callback: called exactly once per request, on the Driver's thread,
 * with (null, result) on success or (error, 0) on failure. `error` is an IoUringError; a cancelled
 * request gets one whose name is "AbortError" and code "ABORT_ERR".
 */
export type Callback = (error: Error | null, result: number) => void

/**
 * A request handle of the low-level API: an opaque number accepted by `driver.cancel(handle)`.
 * Deadlines in the low-level API are absolute times in ms on the monotonic clock
 * (`Driver.now()`), 0 meaning none.
 */
export type RequestHandle = number
