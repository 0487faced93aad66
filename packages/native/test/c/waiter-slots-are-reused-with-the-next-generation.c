/* Inserts get slots 0, 1, ...; a completed waiter frees its slot, which the next insert reuses
 * with generation + 1; a late cancel CQE for the old occupant is ignored and leaves the new one
 * alone; in_flight goes false -> true (stage) -> false (CQE). */
#include <errno.h>
#include <string.h>

#include "helpers.h"
#include "waiter.h"

static struct iou__request nop(uint64_t tag) {
  struct iou_request r = t_req(IOU_OP_NOP, -1, tag);
  struct iou__request op;
  CHECK(!iou__request_init(&op, &r, IOU_CLASS_ALL));
  return op;
}

int main(void) {
  struct iou__waiters w;
  CHECK(iou__waiters_init(&w, 4) == 0);
  struct iou__request a = nop(100), b = nop(101);
  uint64_t ia = iou__waiters_insert(&w, &a, true, 9);
  uint64_t ib = iou__waiters_insert(&w, &b, false, 0);
  CHECK(iou__waiter_index(ia) == 0 && iou__waiter_index(ib) == 1);
  CHECK(iou__waiter_generation(ia) == 0);
  CHECK(w.len == 2);
  CHECK(!iou__waiters_is_in_flight(&w, ia));

  struct io_uring_sqe sqe;
  memset(&sqe, 0, sizeof(sqe));
  struct iou_completion c;
  CHECK(iou__waiters_stage(&w, ia, &sqe, &c) == IOU_STAGE_SUBMIT);
  CHECK(sqe.opcode == IORING_OP_NOP && sqe.user_data == ia);
  CHECK(iou__waiters_is_in_flight(&w, ia));

  bool had_tick = false;
  uint64_t tick = 0;
  CHECK(iou__waiters_on_completion(&w, ia, 0, 0, &c, &had_tick, &tick) == IOU_CQE_OUTCOME_COMPLETE);
  CHECK(had_tick && tick == 9);
  CHECK(c.tag == 100 && c.outcome == IOU_OUTCOME_OK && c.result == 0);
  CHECK(!iou__waiters_is_in_flight(&w, ia));
  CHECK(iou__waiters_get(&w, ia) == NULL);
  CHECK(w.len == 1);

  /* The freed slot comes back first, one generation on. */
  struct iou__request d = nop(102);
  uint64_t id = iou__waiters_insert(&w, &d, false, 0);
  CHECK(iou__waiter_index(id) == 0 && iou__waiter_generation(id) == 1);
  CHECK(id != ia);

  /* A late cancel CQE for the old occupant is ignored and does not touch the new one. */
  CHECK(iou__waiters_on_completion(&w, iou__waiter_cancel_user_data(ia), -ENOENT, 0, &c, &had_tick, &tick) ==
        IOU_CQE_OUTCOME_CANCEL);
  CHECK(iou__waiters_get(&w, id) != NULL && iou__waiters_get(&w, id)->state == IOU_WAITER_ACTIVE);
  /* A stale id is never in flight and cannot be cancelled. */
  CHECK(!iou__waiters_is_in_flight(&w, ia));
  CHECK(!iou__waiters_cancel(&w, ia, IOU_OUTCOME_TIMEOUT, &had_tick, &tick));
  /* Out of range and empty slots. */
  CHECK(!iou__waiters_cancel(&w, iou__waiter_id(99, 0), IOU_OUTCOME_TIMEOUT, &had_tick, &tick));
  CHECK(!iou__waiters_is_in_flight(&w, iou__waiter_id(3, 0)));
  iou__waiters_free(&w);
  return T_EXIT_PASS;
}
