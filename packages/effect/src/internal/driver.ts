/**
 * The part of @iou/native's Driver that @iou/effect uses: its low-level callback API (one callback
 * per request, no Promise and no AbortSignal per operation), `cancel`, `stats` and `close`.
 *
 * The service is written against this structural slice of the Driver class rather than the class itself, so that
 * `NodeIoUring.layerWith` can build the service around any Driver-shaped value (tests use it to
 * simulate a kernel that refuses io_uring). Every callback is called exactly once, on the JS
 * thread, with `(null, result)` or `(error, 0)`; deadlines are absolute milliseconds on the clock of
 * `Driver.now()`, 0 meaning none.
 */
import type { Driver } from "@iou/native"

export type DriverLike = Pick<
  Driver,
  | "config"
  | "submitNop"
  | "submitReadAt"
  | "submitWriteAt"
  | "submitSend"
  | "submitRecv"
  | "submitSync"
  | "cancel"
  | "stats"
  | "close"
>
