/* An exact 100-byte recv is filled from a 40-byte and a 60-byte write, arriving at different
 * times, and completes once with 100 bytes in order; it was requeued at least once. A partial
 * exact recv whose deadline passes ends TIMEOUT with the bytes so far. (seed:
 * test_exact_recv_partial_progress, test_timeout_fires_while_request_in_ready_queue) */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

int main(void) {
  struct t_loop *t = t_open_default(8);
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  uint8_t want[100], buf[100];
  for (int i = 0; i < 100; i++) want[i] = t_pattern((uint32_t)i);
  struct iou_request r = t_req_buf(IOU_OP_RECV, sv[0], 1, buf, 100);
  r.flags = IOU_FLAG_EXACT;
  r.deadline_ns = t_now_ns() + 5000 * T_MS;
  t_submit(t, &r);
  CHECK(write(sv[1], want, 40) == 40);
  /* The loop takes the 40 bytes and requeues the rest before the 60 are sent: waited for, not
   * timed (some kernels announce them to the eventfd wake late: the native README, "Inline wake
   * modes"). */
  struct iou_stats st;
  uint64_t give_up = t_now_ns() + 5000 * T_MS;
  do {
    t_sleep_ms(1);
    iou_loop_stats(t->loop, &st);
  } while (st.requeued == 0 && t_now_ns() < give_up);
  CHECK(st.requeued >= 1);
  CHECK(!t_has(t, 1));
  CHECK(write(sv[1], want + 40, 60) == 60);
  struct iou_completion c = t_expect(t, 1, 5000);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result == 100);
  CHECK(memcmp(buf, want, 100) == 0);

  /* 5 of 100 bytes, then the deadline. */
  r.tag = 2;
  r.deadline_ns = t_now_ns() + 300 * T_MS; /* the 5 bytes arrive well before it, even on a busy machine */
  t_submit(t, &r);
  CHECK(write(sv[1], want, 5) == 5);
  c = t_expect(t, 2, 5000);
  CHECK(c.outcome == IOU_OUTCOME_TIMEOUT && c.result == 5);
  t_close(t, -1);
  close(sv[0]);
  close(sv[1]);
  return T_EXIT_PASS;
}
