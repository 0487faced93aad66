/**
 * The part of @iou/native's Driver that @iou/effect uses: its low-level callback API (one callback
 * per request, no Promise and no AbortSignal per operation), `cancel`, `stats` and `close`.
 *
 * The service is written against this structural type rather than the Driver class, so that
 * `NodeIoUring.layerWith` can build the service around any Driver-shaped value (tests use it to
 * simulate a kernel that refuses io_uring). Every callback is called exactly once, on the JS
 * thread, with `(null, result)` or `(error, 0)`; deadlines are absolute milliseconds on the clock of
 * `Driver.now()`, 0 meaning none.
 */
import type {
  Callback,
  CloseResult,
  Data,
  DriverStats,
  EffectiveConfig,
  RequestHandle,
  CloseOptions,
} from "@iou/native"

export interface DriverLike {
  readonly config: EffectiveConfig
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
  cancel(handle: RequestHandle): void
  stats(): DriverStats
  close(options?: CloseOptions): Promise<CloseResult>
}
