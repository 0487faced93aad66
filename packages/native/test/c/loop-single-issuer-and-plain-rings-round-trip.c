/* A recv + send round trip over TCP loopback works on a SINGLE_ISSUER | DEFER_TASKRUN ring (when
 * the kernel accepts it, reported in stats) and on a plain ring. (seed: test_single_issuer) */
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
  t_close(t, -1);
  close(fds[0]);
  close(fds[1]);
}

int main(void) {
  round_trip(true);
  round_trip(false);
  return T_EXIT_PASS;
}
