/**
 * @iou/effect: io_uring as an Effect service.
 *
 * ```ts
 * import { IoUring, IoUringError, NodeIoUring, IoUringMetrics } from "@iou/effect"
 * ```
 *
 * - `IoUring`: the service (a `Context.Service` class) and its option types.
 * - `IoUringError`: the one error class, with a tagged `reason` (`Timeout`, `Closed`, …), and its
 *   conversions to Effect's `PlatformError` and `SocketError`.
 * - `NodeIoUring`: layers that open an @iou/native Driver in their scope.
 * - `IoUringMetrics`: prom-client and Effect `Metric` views of the Driver's stats.
 * - `IoUringFileSystem`: Effect's `FileSystem` service on the ring (`IoUringFileSystem.layer`).
 * - `IoUringSocket`, `IoUringSocketServer`: effect/socket's Socket and SocketServer on the ring.
 * - `IoUringServices`: one layer with the platform services on the ring, or Node's where io_uring
 *   is refused.
 *
 * @since 0.0.0
 */
export { IoUring } from "./IoUring.ts"
export type {
  ConnectOptions,
  ConnectTarget,
  Connection,
  Data,
  DriverStats,
  ListenTarget,
  Listener,
  ReadAtOptions,
  RecvOptions,
  ShutdownHow,
  SocketAddress,
  SyncOptions,
  WriteOptions,
} from "./IoUring.ts"
export {
  Abandoned,
  Closed,
  CredentialsChanged,
  IoUringError,
  isIoUringError,
  NotAllowed,
  platformErrorTag,
  reasonOf,
  SystemError,
  Timeout,
  toPlatformError,
  toSocketError,
  UnexpectedEof,
  Unavailable,
} from "./IoUringError.ts"
export type { Reason, ReasonTag, SocketSide, Syscall } from "./IoUringError.ts"
export * as IoUringFileSystem from "./IoUringFileSystem.ts"
export * as IoUringMetrics from "./IoUringMetrics.ts"
export * as IoUringServices from "./IoUringServices.ts"
export * as IoUringSocket from "./IoUringSocket.ts"
export * as IoUringSocketServer from "./IoUringSocketServer.ts"
export * as NodeIoUring from "./NodeIoUring.ts"
/** The Driver's config, which `NodeIoUring.layer` and `IoUringServices.layer({ config })` take. */
export type { DriverConfig } from "./NodeIoUring.ts"
