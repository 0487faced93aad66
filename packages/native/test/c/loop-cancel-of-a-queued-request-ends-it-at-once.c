/* Size 2: two recvs in flight fill the waiters; tags 3 and 4 wait in the inbound queue. Cancelling
 * tag 4, which waits behind tag 3, ends it CANCELLED at once, while the waiters stay full (an
 * interrupted fiber must not wait for a free slot). Later tag 3 is admitted when a slot frees, and
 * tag 4's entry is taken without a second completion. */
#include "helpers.h"

int main(void) {
  struct t_full_ring f;
  t_full_ring_open(&f);
  struct t_loop *t = f.t;
  t_full_ring_queue(&f);
  t_sleep_ms(30);

  CHECK(iou_loop_cancel(t->loop, 4) == 0);
  struct iou_completion c = t_expect(t, 4, 5000);
  CHECK(c.outcome == IOU_OUTCOME_CANCELLED && c.result == 0);
  struct iou_stats st;
  iou_loop_stats(t->loop, &st);
  CHECK(st.pending_operations == 2 && st.submitted == 2 && st.cancelled == 1);
  CHECK(!t_has(t, 1) && !t_has(t, 2) && !t_has(t, 3));

  t_full_ring_finish(&f);
  return T_EXIT_PASS;
}
