/* A non-exact recv on a socket that never receives data ends with TIMEOUT at (not before) its
 * deadline, through one ASYNC_CANCEL; the timeout is counted. (seed: test_timeout) */
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

int main(void) {
  struct t_loop *t = t_open_default(8);
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  uint8_t buf[64];
  struct iou_request r = t_req_buf(IOU_OP_RECV, sv[0], 1, buf, sizeof(buf));
  uint64_t start = t_now_ns();
  r.deadline_ns = start + 50 * T_MS;
  t_submit(t, &r);
  struct iou_completion c = t_expect(t, 1, 5000);
  uint64_t took = t_now_ns() - start;
  CHECK(c.outcome == IOU_OUTCOME_TIMEOUT && c.result == 0);
  CHECK(took >= 50 * T_MS && took < 1000 * T_MS);
  struct iou_stats st;
  iou_loop_stats(t->loop, &st);
  CHECK(st.timed_out == 1 && st.completed == 1 && st.pending_operations == 0);
  t_close(t, -1);
  close(sv[0]);
  close(sv[1]);
  return T_EXIT_PASS;
}
