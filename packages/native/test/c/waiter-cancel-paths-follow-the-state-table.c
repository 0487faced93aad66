/* Cancel moves Active -> CancelRequested once (with or without a deadline, reporting the tick it
 * no longer tracks); a cancel CQE never completes a waiter (0, -EALREADY, -ENOENT accepted, others
 * counted); the op CQE decides: ECANCELED -> the cancel's outcome, full success wins (and says so
 * with IOU_COMPLETION_CANCEL_LOST, which an uncancelled success never carries); a parked
 * cancel-requested waiter ends locally at stage with no SQE. */
#include <errno.h>
#include <string.h>

#include "helpers.h"
#include "waiter.h"

static uint8_t buf[16];

static struct iou__request recv_op(uint64_t tag, bool exact) {
  struct iou_request r = t_req_buf(IOU_OP_RECV, 5, tag, buf, 10);
  r.flags = exact ? IOU_FLAG_EXACT : 0;
  struct iou__request op;
  CHECK(!iou__request_init(&op, &r, IOU_CLASS_ALL));
  return op;
}

int main(void) {
  struct iou__waiters w;
  CHECK(iou__waiters_init(&w, 8) == 0);
  struct io_uring_sqe sqe;
  struct iou_completion c;
  bool had = false;
  uint64_t tick = 0;

  /* In flight, cancelled (CANCELLED), kernel says ECANCELED -> CANCELLED. */
  struct iou__request o1 = recv_op(1, false);
  uint64_t a = iou__waiters_insert(&w, &o1, true, 50);
  CHECK(iou__waiters_stage(&w, a, &sqe, &c) == IOU_STAGE_SUBMIT);
  CHECK(iou__waiters_cancel(&w, a, IOU_OUTCOME_CANCELLED, &had, &tick));
  CHECK(had && tick == 50);
  CHECK(!iou__waiters_cancel(&w, a, IOU_OUTCOME_TIMEOUT, &had, &tick)); /* second cancel: false */
  CHECK(iou__waiters_is_in_flight(&w, a));
  for (int r = 0; r > -3; r--) {
    int res = r == 0 ? 0 : r == -1 ? -EALREADY : -ENOENT;
    CHECK(iou__waiters_on_completion(&w, iou__waiter_cancel_user_data(a), res, 0, &c, &had, &tick) ==
          IOU_CQE_OUTCOME_CANCEL);
  }
  CHECK(w.unexpected_cancel_results == 0);
  CHECK(iou__waiters_on_completion(&w, iou__waiter_cancel_user_data(a), -EPERM, 0, &c, &had, &tick) ==
        IOU_CQE_OUTCOME_CANCEL);
  CHECK(w.unexpected_cancel_results == 1);
  CHECK(iou__waiters_get(&w, a)->state == IOU_WAITER_CANCEL_REQUESTED);
  CHECK(iou__waiters_on_completion(&w, a, -ECANCELED, 0, &c, &had, &tick) == IOU_CQE_OUTCOME_COMPLETE);
  CHECK(c.tag == 1 && c.outcome == IOU_OUTCOME_CANCELLED && c.result == 0);
  CHECK(!had); /* the tick was released at cancel time */

  /* In flight, timed out, but the op finished: success wins. */
  struct iou__request o2 = recv_op(2, true);
  uint64_t b = iou__waiters_insert(&w, &o2, false, 0);
  CHECK(iou__waiters_stage(&w, b, &sqe, &c) == IOU_STAGE_SUBMIT);
  CHECK(iou__waiters_cancel(&w, b, IOU_OUTCOME_TIMEOUT, &had, &tick));
  CHECK(!had);
  CHECK(iou__waiters_on_completion(&w, b, 10, 0, &c, &had, &tick) == IOU_CQE_OUTCOME_COMPLETE);
  CHECK(c.tag == 2 && c.outcome == IOU_OUTCOME_OK && c.result == 10);
  CHECK(c.flags == (IOU_COMPLETION_CANCEL_LOST | IOU_OUTCOME_TIMEOUT << IOU_COMPLETION_CANCEL_OUTCOME_SHIFT));
  struct iou__request o2b = recv_op(12, false);
  uint64_t b2 = iou__waiters_insert(&w, &o2b, false, 0);
  CHECK(iou__waiters_stage(&w, b2, &sqe, &c) == IOU_STAGE_SUBMIT);
  CHECK(iou__waiters_on_completion(&w, b2, 3, 0, &c, &had, &tick) == IOU_CQE_OUTCOME_COMPLETE);
  CHECK(c.tag == 12 && c.outcome == IOU_OUTCOME_OK && c.flags == 0);

  /* Exact recv: partial, requeued (parked), then timed out while parked: ends locally at stage. */
  struct iou__request o3 = recv_op(3, true);
  uint64_t d = iou__waiters_insert(&w, &o3, true, 7);
  CHECK(iou__waiters_stage(&w, d, &sqe, &c) == IOU_STAGE_SUBMIT);
  CHECK(iou__waiters_on_completion(&w, d, 4, 0, &c, &had, &tick) == IOU_CQE_OUTCOME_REQUEUE);
  CHECK(!iou__waiters_is_in_flight(&w, d));
  CHECK(iou__waiters_cancel(&w, d, IOU_OUTCOME_TIMEOUT, &had, &tick) && had && tick == 7);
  CHECK(!iou__waiters_is_in_flight(&w, d)); /* so the loop queues no ASYNC_CANCEL for it */
  memset(&sqe, 0xab, sizeof(sqe));
  CHECK(iou__waiters_stage(&w, d, &sqe, &c) == IOU_STAGE_TIMEOUT);
  CHECK(c.tag == 3 && c.outcome == IOU_OUTCOME_TIMEOUT && c.result == 4);
  uint8_t untouched[sizeof(sqe)];
  memset(untouched, 0xab, sizeof(untouched));
  CHECK(memcmp(&sqe, untouched, sizeof(sqe)) == 0); /* no SQE was built */
  CHECK(iou__waiters_get(&w, d) == NULL);

  /* Exact recv in flight: partial progress after the cancel ends with the cancel's outcome. */
  struct iou__request o4 = recv_op(4, true);
  uint64_t e = iou__waiters_insert(&w, &o4, false, 0);
  CHECK(iou__waiters_stage(&w, e, &sqe, &c) == IOU_STAGE_SUBMIT);
  CHECK(iou__waiters_cancel(&w, e, IOU_OUTCOME_CANCELLED, &had, &tick));
  CHECK(iou__waiters_on_completion(&w, e, 3, 0, &c, &had, &tick) == IOU_CQE_OUTCOME_COMPLETE);
  CHECK(c.outcome == IOU_OUTCOME_CANCELLED && c.result == 3);
  /* A retry after a cancel also ends it. */
  struct iou__request o5 = recv_op(5, true);
  uint64_t f = iou__waiters_insert(&w, &o5, false, 0);
  CHECK(iou__waiters_stage(&w, f, &sqe, &c) == IOU_STAGE_SUBMIT);
  CHECK(iou__waiters_cancel(&w, f, IOU_OUTCOME_TIMEOUT, &had, &tick));
  CHECK(iou__waiters_on_completion(&w, f, -EINTR, 0, &c, &had, &tick) == IOU_CQE_OUTCOME_COMPLETE);
  CHECK(c.outcome == IOU_OUTCOME_TIMEOUT);
  /* ECANCELED without a cancel request is an error, not a cancel. */
  struct iou__request o6 = recv_op(6, false);
  uint64_t g = iou__waiters_insert(&w, &o6, false, 0);
  CHECK(iou__waiters_stage(&w, g, &sqe, &c) == IOU_STAGE_SUBMIT);
  CHECK(iou__waiters_on_completion(&w, g, -ECANCELED, 0, &c, &had, &tick) == IOU_CQE_OUTCOME_COMPLETE);
  CHECK(c.outcome == IOU_OUTCOME_ERROR && c.result == -ECANCELED);
  CHECK(w.len == 0);
  iou__waiters_free(&w);
  return T_EXIT_PASS;
}
