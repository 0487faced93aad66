/* 64 timed recvs on a size-8 loop: only 8 fit at a time, cancel traffic exceeds the SQ, and every
 * one still ends TIMEOUT exactly once. (seed: test_deadline_timeout_ensure_enough_capacity) */
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

int main(void) {
  struct t_loop *t = t_open(8, true, 60000 * T_MS, 1 * T_MS);
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  static uint8_t buf[64][8];
  uint32_t sent = 0;
  while (sent < 64) {
    struct iou_request r = t_req_buf(IOU_OP_RECV, sv[0], 100 + sent, buf[sent], 8);
    r.deadline_ns = t_now_ns() + 20 * T_MS;
    int n = iou_loop_submit(t->loop, &r, 1);
    CHECK(n >= 0);
    iou_loop_publish(t->loop);
    if (n == 1)
      sent++;
    else {
      t_poll(t);
      t_sleep_ms(1);
    }
  }
  for (uint32_t i = 0; i < 64; i++) {
    struct iou_completion c = t_expect(t, 100 + i, 10000);
    CHECK(c.outcome == IOU_OUTCOME_TIMEOUT);
  }
  t_sleep_ms(20);
  t_poll(t);
  CHECK(t->ngot == 64);
  t_close(t, -1);
  close(sv[0]);
  close(sv[1]);
  return T_EXIT_PASS;
}
