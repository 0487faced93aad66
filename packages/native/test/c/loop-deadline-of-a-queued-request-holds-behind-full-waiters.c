/* Size 2: two recvs without deadlines fill the waiters; tag 3 (no deadline) and tag 4 (deadline in
 * 200 ms) wait in the inbound queue, tag 4 behind tag 3. Tag 4 ends TIMEOUT at its deadline (never
 * before it, and not only when a slot frees), while the loop otherwise sleeps: its CPU time stays
 * small. Later tag 3 is admitted when a slot frees, and tag 4's entry is taken without a second
 * completion. */
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

int main(void) {
  struct t_loop *t = t_open_default(2);
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  static uint8_t buf[4][8];
  struct iou_request reqs[4];
  for (int i = 0; i < 4; i++) {
    reqs[i] = t_req(IOU_OP_RECV, sv[0], 1 + (uint64_t)i);
    reqs[i].buf = buf[i];
    reqs[i].len = 8;
  }
  CHECK(iou_loop_submit(t->loop, reqs, 2) == 2);
  iou_loop_publish(t->loop);
  t_sleep_ms(30); /* both in flight: waiters full */

  uint64_t t0 = t_now_ns();
  reqs[3].deadline_ns = t0 + 200 * T_MS;
  uint64_t cpu0 = t_cpu_ns();
  CHECK(iou_loop_submit(t->loop, reqs + 2, 2) == 2);
  iou_loop_publish(t->loop);
  struct iou_completion c = t_expect(t, 4, 5000);
  uint64_t at = t_now_ns();
  CHECK(c.outcome == IOU_OUTCOME_TIMEOUT && c.result == 0);
  CHECK(at >= reqs[3].deadline_ns);
  CHECK(at - reqs[3].deadline_ns < 2000 * T_MS);
  CHECK(t_cpu_ns() - cpu0 < 100 * T_MS); /* it slept until the deadline, it did not poll for it */
  struct iou_stats st;
  iou_loop_stats(t->loop, &st);
  CHECK(st.pending_operations == 2 && st.submitted == 2 && st.timed_out == 1);
  CHECK(!t_has(t, 1) && !t_has(t, 2) && !t_has(t, 3));

  /* Three writes: the two recvs in flight, then tag 3 once it has the freed slot. */
  CHECK(write(sv[1], "abcdefgh", 8) == 8);
  t_sleep_ms(20);
  CHECK(write(sv[1], "ijklmnop", 8) == 8);
  t_sleep_ms(20);
  CHECK(write(sv[1], "qrstuvwx", 8) == 8);
  for (uint64_t tag = 1; tag <= 3; tag++) {
    c = t_expect(t, tag, 5000);
    CHECK(c.outcome == IOU_OUTCOME_OK && c.result == 8);
  }
  t_close(t, -1);
  CHECK(t->ngot == 4); /* tag 4 once */
  close(sv[0]);
  close(sv[1]);
  return T_EXIT_PASS;
}
