/*
 * thread_wait.c: the thread engine's wait decision; the rules are in thread_wait.h. Pure: reads
 * the facts and nothing else, so C tests and @iou/core can run it over every combination.
 */
#include "thread_wait.h"

enum iou__wait iou__wait_decide(const struct iou__wait_facts *f) {
  if (f->fill == IOU_FILL_DISCONNECTED) return IOU_WAIT_DRAIN;
  if (f->fill == IOU_FILL_AT_SUBMISSION_QUEUE_CAPACITY || f->staging_left) return IOU_WAIT_SUBMIT_ONLY;
  bool idle = f->fill == IOU_FILL_DRAINED && !f->waiters_in_flight;
  if (!f->wake_poll) return idle ? IOU_WAIT_PARK : IOU_WAIT_SUBMIT_ONLY;
  /* A poll on the owner's CPU would only keep the owner from running. */
  bool may_poll = f->spin_enabled && !(f->one_cpu && f->owner_on_loop_cpu);
  if (idle) return may_poll ? IOU_WAIT_SPIN_THEN_PARK : IOU_WAIT_PARK;
  if (f->fill == IOU_FILL_DRAINED && may_poll && f->owner_in_turn && !f->turn_wait_spent) return IOU_WAIT_OWNER_TURN;
  return f->fill == IOU_FILL_AT_WAITER_CAPACITY ? IOU_WAIT_BLOCK_AT_CAPACITY : IOU_WAIT_BLOCK;
}

const char *iou__wait_name(enum iou__wait wait) {
  switch (wait) {
    case IOU_WAIT_DRAIN:
      return "DRAIN";
    case IOU_WAIT_SUBMIT_ONLY:
      return "SUBMIT_ONLY";
    case IOU_WAIT_PARK:
      return "PARK";
    case IOU_WAIT_SPIN_THEN_PARK:
      return "SPIN_THEN_PARK";
    case IOU_WAIT_OWNER_TURN:
      return "OWNER_TURN";
    case IOU_WAIT_BLOCK:
      return "BLOCK";
    case IOU_WAIT_BLOCK_AT_CAPACITY:
      return "BLOCK_AT_CAPACITY";
  }
  return "?";
}
