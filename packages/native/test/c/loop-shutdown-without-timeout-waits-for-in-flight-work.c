/* close(-1) with a recv in flight: the loop keeps running until the recv completes (data arrives
 * 100 ms later), it ends OK, and only then does the thread exit; submissions after close are
 * refused with -ESHUTDOWN. (seed: test_shutdown_no_timeout) */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

int main(void) {
  struct t_loop *t = t_open_default(8);
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  uint8_t buf[8];
  struct iou_request r = t_req_buf(IOU_OP_RECV, sv[0], 1, buf, sizeof(buf));
  t_submit(t, &r);
  t_sleep_ms(20);
  CHECK(iou_loop_close(t->loop, -1) == 0);
  CHECK(iou_loop_submit(t->loop, &r, 1) == -ESHUTDOWN);
  t_sleep_ms(100);
  CHECK(!iou_loop_exited(t->loop));
  CHECK(!t_has(t, 1));
  CHECK(write(sv[1], "done", 4) == 4);
  struct iou_completion c = t_expect(t, 1, 5000);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result == 4);
  t_close(t, -1);
  CHECK(t->ngot == 1);
  close(sv[0]);
  close(sv[1]);
  return T_EXIT_PASS;
}
