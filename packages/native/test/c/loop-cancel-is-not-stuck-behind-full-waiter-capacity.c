/* Size 2: two blocking recvs fill the waiters and more requests wait in the inbound queue.
 * Cancelling an in-flight recv still works (the cancel queue is drained every iteration), which
 * frees a slot for the queued work; cancelling a request still in the inbound queue ends it
 * CANCELLED without an SQE. */
#include <unistd.h>

#include "helpers.h"

int main(void) {
  struct t_full_ring f;
  t_full_ring_open(&f);
  struct t_loop *t = f.t;
  t_full_ring_queue(&f);
  t_sleep_ms(30);
  struct iou_stats st;
  iou_loop_stats(t->loop, &st);
  CHECK(st.pending_operations == 2 && st.submitted == 2);

  CHECK(iou_loop_cancel(t->loop, 4) == 0); /* still queued */
  CHECK(iou_loop_cancel(t->loop, 1) == 0); /* in flight */
  struct iou_completion c = t_expect(t, 1, 5000);
  CHECK(c.outcome == IOU_OUTCOME_CANCELLED);
  c = t_expect(t, 4, 5000);
  CHECK(c.outcome == IOU_OUTCOME_CANCELLED && c.result == 0);
  /* Tag 3 took the freed slot: two writes satisfy the two recvs (in either order). */
  CHECK(write(f.sv[1], "abcdefgh", 8) == 8);
  t_sleep_ms(20);
  CHECK(write(f.sv[1], "ijklmnop", 8) == 8);
  c = t_expect(t, 2, 5000);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result == 8);
  c = t_expect(t, 3, 5000);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result == 8);
  t_close(t, -1);
  CHECK(t->ngot == 4);
  close(f.sv[0]);
  close(f.sv[1]);
  return T_EXIT_PASS;
}
