/* Size 2: two recvs without deadlines fill the waiters; tag 3 (no deadline) and tag 4 (deadline in
 * 200 ms) wait in the inbound queue, tag 4 behind tag 3. Tag 4 ends TIMEOUT at its deadline (never
 * before it, and not only when a slot frees), while the loop otherwise sleeps: its CPU time stays
 * small. Later tag 3 is admitted when a slot frees, and tag 4's entry is taken without a second
 * completion. */
#include "helpers.h"

int main(void) {
  struct t_full_ring f;
  t_full_ring_open(&f);
  struct t_loop *t = f.t;
  f.reqs[3].deadline_ns = t_now_ns() + 200 * T_MS;
  uint64_t cpu0 = t_cpu_ns();
  t_full_ring_queue(&f);

  struct iou_completion c = t_expect(t, 4, 5000);
  uint64_t at = t_now_ns();
  CHECK(c.outcome == IOU_OUTCOME_TIMEOUT && c.result == 0);
  CHECK(at >= f.reqs[3].deadline_ns);
  CHECK(at - f.reqs[3].deadline_ns < 2000 * T_MS);
  CHECK(t_cpu_ns() - cpu0 < 100 * T_MS); /* it slept until the deadline, it did not poll for it */
  struct iou_stats st;
  iou_loop_stats(t->loop, &st);
  CHECK(st.pending_operations == 2 && st.submitted == 2 && st.timed_out == 1);
  CHECK(!t_has(t, 1) && !t_has(t, 2) && !t_has(t, 3));

  t_full_ring_finish(&f);
  return T_EXIT_PASS;
}
