/* With a 30 ms horizon, a recv with a 250 ms deadline is not clamped: it ends TIMEOUT no earlier
 * than 250 ms after submission (the seed would fire it at ~30 ms). */
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

int main(void) {
  struct t_loop *t = t_open(8, true, 30 * T_MS, 2 * T_MS);
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  uint8_t buf[8];
  struct iou_request r = t_req_buf(IOU_OP_RECV, sv[0], 1, buf, sizeof(buf));
  uint64_t start = t_now_ns();
  r.deadline_ns = start + 250 * T_MS;
  t_submit(t, &r);
  struct iou_completion c = t_expect(t, 1, 5000);
  uint64_t took = t_now_ns() - start;
  CHECK(c.outcome == IOU_OUTCOME_TIMEOUT);
  CHECK(took >= 250 * T_MS);
  CHECK(took < 2000 * T_MS);
  t_close(t, -1);
  close(sv[0]);
  close(sv[1]);
  return T_EXIT_PASS;
}
