/* A recv + send round trip over TCP loopback works on a SINGLE_ISSUER | DEFER_TASKRUN ring (when
 * the kernel accepts it, reported in stats) and on the fallback ring (COOP_TASKRUN where the kernel
 * accepts it: task work runs when the loop enters the kernel, so a loop asleep in io_uring_enter
 * must still be woken for it). On both, a recv that gets its data while the loop sleeps completes,
 * a recv without data times out at its deadline and a cancel ends one. (seed: test_single_issuer) */
#include <string.h>
#include <unistd.h>

#include "helpers.h"

static void round_trip(bool single_issuer) {
  struct t_loop *t = t_open(16, single_issuer, 60000 * T_MS, 5 * T_MS);
  struct iou_probe p;
  iou_probe(&p);
  struct iou_stats st;
  iou_loop_stats(t->loop, &st);
  CHECK(st.single_issuer == (single_issuer && p.single_issuer));
  int fds[2];
  t_tcp_pair(fds);
  uint8_t in[11];
  struct iou_request rv = t_req_buf(IOU_OP_RECV, fds[1], 1, in, sizeof(in));
  rv.flags = IOU_FLAG_EXACT;
  t_submit(t, &rv);
  struct iou_request sd = t_req_buf(IOU_OP_SEND, fds[0], 2, (uint8_t *)"hello world", 11);
  t_submit(t, &sd);
  struct iou_completion c = t_expect(t, 2, 5000);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result == 11);
  c = t_expect(t, 1, 5000);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result == 11 && memcmp(in, "hello world", 11) == 0);

  /* Data that arrives while the loop sleeps in io_uring_enter with the recv in flight. */
  struct iou_request late = t_req_buf(IOU_OP_RECV, fds[1], 3, in, 5);
  t_submit(t, &late);
  t_sleep_ms(100);
  CHECK(!t_has(t, 3));
  CHECK(write(fds[0], "later", 5) == 5);
  c = t_expect(t, 3, 5000);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result == 5 && memcmp(in, "later", 5) == 0);

  /* No data: the deadline ends it, neither early nor much later. */
  uint64_t t0 = t_now_ns();
  struct iou_request timed = t_req_buf(IOU_OP_RECV, fds[1], 4, in, 5);
  timed.deadline_ns = t0 + 50 * T_MS;
  t_submit(t, &timed);
  c = t_expect(t, 4, 5000);
  CHECK(c.outcome == IOU_OUTCOME_TIMEOUT);
  CHECK(t_now_ns() - t0 >= 50 * T_MS && t_now_ns() - t0 < 2000 * T_MS);

  /* No data: a cancel ends it. */
  struct iou_request cancelled = t_req_buf(IOU_OP_RECV, fds[1], 5, in, 5);
  t_submit(t, &cancelled);
  t_sleep_ms(20);
  CHECK(iou_loop_cancel(t->loop, 5) == 0);
  CHECK(t_expect(t, 5, 5000).outcome == IOU_OUTCOME_CANCELLED);
  t_close(t, -1);
  close(fds[0]);
  close(fds[1]);
}

int main(void) {
  round_trip(true);
  round_trip(false);
  return T_EXIT_PASS;
}
