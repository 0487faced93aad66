/** @iou/native: the io_uring event loop in C on its own thread, and the Driver that talks to it. */
export { probe, type Probe } from "./probe.ts"
