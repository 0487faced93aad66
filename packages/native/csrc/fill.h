/*
 * fill.h: what fill_submission_queue (loop.c) reports when it stops staging: the seed's
 * FillResult, and @iou/core's Loop.FillResult (Drained, AtSubmissionQueueCapacity,
 * AtWaiterCapacity, Disconnected). Shared by the loop's phases, which produce it, and an engine's
 * wait decision (thread_wait.h), which reads it.
 */
#ifndef IOU_FILL_H
#define IOU_FILL_H

enum iou__fill_result {
  IOU_FILL_DRAINED, /* everything admissible was staged */
  IOU_FILL_AT_SUBMISSION_QUEUE_CAPACITY,
  IOU_FILL_AT_WAITER_CAPACITY,
  IOU_FILL_DISCONNECTED, /* closing and the inbound queue is empty: drain */
};

#endif /* IOU_FILL_H */
