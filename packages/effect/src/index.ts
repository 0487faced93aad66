/**
 * @iou/effect: io_uring as an Effect service.
 *
 * ```ts
 * import { IoUring, IoUringError, NodeIoUring, IoUringMetrics } from "@iou/effect"
 * ```
 *
 * - `IoUring`: the service (a `Context.Service` class) and its option types.
 * - `IoUringError`: the one error class, with a `reason`.
 * - `NodeIoUring`: layers that open an @iou/native Driver in their scope.
 * - `IoUringMetrics`: prom-client and Effect `Metric` views of the Driver's stats.
 * - `IoUringFileSystem`: Effect's `FileSystem` service on the ring (`IoUringFileSystem.layer`).
 *
 * @since 0.0.0
 */
export { IoUring } from "./IoUring.ts"
export type { Data, DriverStats, ReadAtOptions, RecvOptions, SyncOptions, WriteOptions } from "./IoUring.ts"
export { IoUringError, isIoUringError } from "./IoUringError.ts"
export type { Reason, Syscall } from "./IoUringError.ts"
export * as IoUringFileSystem from "./IoUringFileSystem.ts"
export * as IoUringMetrics from "./IoUringMetrics.ts"
export * as NodeIoUring from "./NodeIoUring.ts"
