/**
 * The public types of @iou/native's Driver. They live in @iou/core (DriverApi.ts), which has no
 * native code, so that @iou/effect can type against the Driver on a machine where the addon is
 * absent; this file re-exports them for the Driver and its users.
 */
export type {
  Callback,
  ChunkCallback,
  CloseOptions,
  CloseResult,
  Data,
  DriverConfig,
  DriverLike,
  DriverStats,
  EffectiveConfig,
  ReadAtOptions,
  RecvManyOptions,
  RecvOptions,
  RequestHandle,
  SyncOptions,
  WriteOptions,
} from "@iou/core"
