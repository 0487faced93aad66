/** @iou/native: the io_uring event loop in C (inline on the JS thread, or on its own thread), and the Driver that talks to it. */
export { probe, type Probe } from "./probe.ts"
export { Driver } from "./Driver.ts"
export type { Many } from "./Many.ts"
export { IoUringError, type IoUringErrorFields, type Reason } from "./IoUringError.ts"
export { methodOf, OPERATIONS, type Method, type SubmitMethod, type Syscall } from "./Operations.ts"
export type * from "./types.ts"
