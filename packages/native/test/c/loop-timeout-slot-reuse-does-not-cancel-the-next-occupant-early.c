/* A request with a short deadline completes early, leaving a stale wheel entry; the next occupant
 * of its slot (later deadline) is not timed out by that stale entry: it lives until its own
 * deadline. (seed: test_timeout_slot_reuse_does_not_cancel_new_waiter_early) */
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

int main(void) {
  struct t_loop *t = t_open(8, true, 60000 * T_MS, 1 * T_MS);
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  uint8_t buf[8];
  struct iou_request r = t_req_buf(IOU_OP_RECV, sv[0], 1, buf, sizeof(buf));
  r.deadline_ns = t_now_ns() + 200 * T_MS; /* long enough that a late loop thread still admits it in time */
  t_submit(t, &r);
  CHECK(write(sv[1], "x", 1) == 1);
  struct iou_completion c = t_expect(t, 1, 5000);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result == 1);

  uint64_t start = t_now_ns();
  struct iou_request r2 = r;
  r2.tag = 2;
  r2.deadline_ns = start + 400 * T_MS;
  t_submit(t, &r2);
  c = t_expect(t, 2, 5000);
  CHECK(c.outcome == IOU_OUTCOME_TIMEOUT);
  CHECK(t_now_ns() - start >= 400 * T_MS);
  t_close(t, -1);
  close(sv[0]);
  close(sv[1]);
  return T_EXIT_PASS;
}
