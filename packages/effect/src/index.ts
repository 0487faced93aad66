/** @iou/effect: io_uring as an Effect service. */
export {}
