/** @iou/core: the io_uring event loop's state machines, the executable specification of @iou/native. */
export * as Config from "./Config.ts"
