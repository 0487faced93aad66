/** @iou/core: the io_uring event loop's state machines, the executable specification of @iou/native. */
export * as Config from "./Config.ts"
export type {
  Callback,
  ChunkCallback,
  CloseOptions,
  ConnectOptions,
  ConnectTarget,
  Connection,
  ListenTarget,
  Listener,
  ResultCallback,
  ShutdownHow,
  SocketAddress,
  SocketMethods,
  FileMethods,
  CloseResult,
  Data,
  DriverConfig,
  DriverLike,
  DriverStats,
  EffectiveConfig,
  ReadAtOptions,
  ReadFileOptions,
  RecvManyOptions,
  RecvOptions,
  RequestHandle,
  SyncOptions,
  WriteOptions,
  SocketOptions,
  AcceptManyOptions,
  AllocateOptions,
  FileStats,
  MkdirOptions,
  OpenFlags,
  OpenOptions,
  PathLike,
  PathOptions,
  RenameOptions,
  StatCallback,
  StatOptions,
  UnlinkOptions,
} from "./DriverApi.ts"
export { MAX_READ_FILE, UNKNOWN_SIZE_CHUNK } from "./DriverApi.ts"
export * as Errno from "./Errno.ts"
export * as Fifo from "./Fifo.ts"
export * as Invariant from "./Invariant.ts"
export { IoUringError, type IoUringErrorFields, type Reason } from "./IoUringError.ts"
export * as Loop from "./Loop.ts"
export * as Operations from "./Operations.ts"
export * as Request from "./Request.ts"
export * as SimKernel from "./SimKernel.ts"
export * as Sockaddr from "./Sockaddr.ts"
export * as ThreadWait from "./ThreadWait.ts"
export * as TimeoutWheel from "./TimeoutWheel.ts"
export * as Views from "./Views.ts"
export * as WaiterId from "./WaiterId.ts"
export * as Waiters from "./Waiters.ts"
export * as InlineWake from "./InlineWake.ts"
export * as Waker from "./Waker.ts"
