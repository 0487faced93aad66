/**
 * The public types of @iou/native's Driver, kept here in @iou/core (no native code) so that
 * @iou/effect and anyone else can type against the Driver without loading or even installing the
 * addon. @iou/native re-exports them unchanged (src/types.ts); its Driver class is checked against
 * `DriverLike` where @iou/effect opens one.
 */
import type * as Config from "./Config.ts"
import type { SubmitMethod } from "./Operations.ts"

/** The Driver's config: @iou/core's Config (size, maxInFlight, singleIssuer, ioPoll, maxRequestTimeout, timeoutWheelTick, shutdownTimeout, idleSpin). */
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
  /**
   * Times the loop found the kernel holding completions back because its completion queue was full
   * (the kernel keeps them, NODROP, and hands them over at the next enter: none is lost).
   */
  readonly cqKernelOverflow: number
  /** Times a recvMany found the provided buffers all taken (ENOBUFS) and was re-armed once they came back. */
  readonly recvBuffersEmpty: number
  readonly abandoned: number
  /** Bytes of buffers of abandoned requests, kept for the life of the process (the kernel may still write them). */
  readonly quarantinedBytes: number
}

export interface CloseOptions {
  /** ms; absent: the Driver's config value; absent there too: wait for every outstanding request. */
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

/**
 * The Driver's low-level (callback) method of each operation, by the name the operation table
 * gives it (Operations.ts `submit`). A row added there without its signature here fails to compile
 * where DriverLike picks it.
 */
export interface SubmitMethods {
  submitNop(deadline: number, callback: Callback): RequestHandle
  submitReadAt(
    fd: number,
    buffer: Uint8Array,
    position: number | bigint,
    length: number,
    exact: boolean,
    deadline: number,
    callback: Callback,
  ): RequestHandle
  submitWriteAt(fd: number, data: Data, position: number | bigint, deadline: number, callback: Callback): RequestHandle
  submitSend(fd: number, data: Data, deadline: number, callback: Callback): RequestHandle
  submitRecv(
    fd: number,
    buffer: Uint8Array,
    offset: number,
    length: number,
    exact: boolean,
    deadline: number,
    callback: Callback,
  ): RequestHandle
  submitSync(fd: number, dataOnly: boolean, deadline: number, callback: Callback): RequestHandle
  submitRecvMany(fd: number, deadline: number, onChunk: ChunkCallback, callback: Callback): RequestHandle
}

/**
 * recvMany's chunk callback: one call per chunk received, in order, before the request's one
 * `Callback`. The chunk is the caller's (a copy; the provided buffer is already given back).
 */
export type ChunkCallback = (chunk: Uint8Array) => void

export interface RecvManyOptions {
  /** ms from now: a deadline for the whole stream (it ends with ETIMEDOUT). */
  readonly timeout?: number | undefined
  /** Aborting ends the stream: the iterator throws the AbortError (after the chunks before it). */
  readonly signal?: AbortSignal | undefined
}

/**
 * The slice of the Driver that a service built over it needs: the low-level method of every
 * operation of the table (one callback per request, no Promise and no AbortSignal per operation),
 * `cancel`, `stats` and `close`. The Driver class has this shape; `NodeIoUring.layerWith` accepts
 * any value that does. Every callback is called exactly once, on the JS thread; deadlines are
 * absolute milliseconds on the clock of `Driver.now()`, 0 meaning none.
 */
export interface DriverLike extends Pick<SubmitMethods, SubmitMethod> {
  readonly config: EffectiveConfig
  cancel(handle: RequestHandle): boolean
  stats(): DriverStats
  close(options?: CloseOptions): Promise<CloseResult>
}
