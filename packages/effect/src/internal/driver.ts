/**
 * The part of @iou/native's Driver that @iou/effect uses: its low-level callback API (one callback
 * per request, no Promise and no AbortSignal per operation), `cancel`, `stats` and `close`. It is
 * declared in @iou/core, which has no native code, so this package type-checks and imports where
 * @iou/native is absent.
 *
 * The service is written against this structural slice of the Driver class rather than the class
 * itself, so that `NodeIoUring.layerWith` can build the service around any Driver-shaped value
 * (tests use it to simulate a kernel that refuses io_uring). Every callback is called exactly once,
 * on the JS thread, with `(null, result)` or `(error, 0)`; deadlines are absolute milliseconds on
 * the clock of `Driver.now()`, 0 meaning none.
 */
export type { DriverLike } from "@iou/core"
