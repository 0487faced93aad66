/* While a recv blocks the loop in io_uring_enter, a newly published NOP is picked up promptly (the
 * eventfd wake), not when the recv ends. (seed: test_publish_wakes_eventfd_blocked_loop) */
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
  t_sleep_ms(50); /* the loop is now blocked in io_uring_enter */
  for (int i = 0; i < 20; i++) {
    struct iou_request nop = t_req(IOU_OP_NOP, -1, 10 + (uint64_t)i);
    uint64_t t0 = t_now_ns();
    t_submit(t, &nop);
    t_expect(t, 10 + (uint64_t)i, 5000);
    CHECK(t_now_ns() - t0 < 500 * T_MS);
    t_sleep_ms(2);
  }
  struct iou_stats st;
  iou_loop_stats(t->loop, &st);
  CHECK(st.wakes >= 1);
  CHECK(!t_has(t, 1));
  CHECK(write(sv[1], "abc", 3) == 3);
  struct iou_completion c = t_expect(t, 1, 5000);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result == 3);
  t_close(t, -1);
  close(sv[0]);
  close(sv[1]);
  return T_EXIT_PASS;
}
