/* size 3 becomes 4: the inbound queue takes 4 requests and no more until the loop runs; sizes 0
 * and above 32768 and zero horizon or tick are rejected with -EINVAL. (seed:
 * test_iouring_loop_rounds_ring_size_up_to_power_of_two, ..._rejects_sizes_that_exceed_max) */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

int main(void) {
  t_require_io_uring();
  struct iou_loop *loop;
  struct iou_loop_config cfg = {.size = 0, .max_request_timeout_ns = T_MS, .timeout_wheel_tick_ns = T_MS};
  CHECK(iou_loop_open(&cfg, NULL, NULL, &loop) == -EINVAL);
  cfg.size = 32769;
  CHECK(iou_loop_open(&cfg, NULL, NULL, &loop) == -EINVAL);
  cfg.size = 4;
  cfg.max_request_timeout_ns = 0;
  CHECK(iou_loop_open(&cfg, NULL, NULL, &loop) == -EINVAL);
  cfg.max_request_timeout_ns = T_MS;
  cfg.timeout_wheel_tick_ns = 0;
  CHECK(iou_loop_open(&cfg, NULL, NULL, &loop) == -EINVAL);

  struct t_loop *t = t_open_default(3);
  /* Fill the 4 waiters with blocking recvs, then the 4-entry inbound queue. */
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  static uint8_t buf[16][4];
  struct iou_request reqs[16];
  for (int i = 0; i < 16; i++) {
    reqs[i] = t_req_buf(IOU_OP_RECV, sv[0], (uint64_t)i, buf[i], 4);
  }
  CHECK(iou_loop_submit(t->loop, reqs, 4) == 4);
  iou_loop_publish(t->loop);
  uint64_t end = t_now_ns() + 5000 * T_MS;
  struct iou_stats st;
  do {
    t_sleep_ms(5);
    iou_loop_stats(t->loop, &st);
    CHECK(t_now_ns() < end);
  } while (st.pending_operations < 4);
  CHECK(st.pending_operations == 4);
  CHECK(iou_loop_submit(t->loop, reqs + 4, 12) == 4); /* the queue holds exactly 4 */
  CHECK(iou_loop_submit(t->loop, reqs + 8, 1) == 0);
  iou_loop_publish(t->loop);
  t_close(t, 0);
  CHECK(t->ngot == 8);
  for (uint32_t i = 0; i < t->ngot; i++) CHECK(t->got[i].outcome == IOU_OUTCOME_ABANDONED);
  close(sv[0]);
  close(sv[1]);
  return T_EXIT_PASS;
}
