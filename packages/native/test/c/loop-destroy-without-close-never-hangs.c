/* The env-cleanup path: destroy (which closes with timeout 0 first) returns promptly even with a
 * recv blocked in the kernel and requests still queued; a close(-1) shortened by a later close(0)
 * also ends at once. */
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

int main(void) {
  struct t_loop *t = t_open_default(2);
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  static uint8_t buf[4][8];
  for (int i = 0; i < 3; i++) {
    struct iou_request r = t_req_buf(IOU_OP_RECV, sv[0], (uint64_t)i, buf[i], 8);
    t_submit(t, &r);
    t_sleep_ms(10);
  }
  t_sleep_ms(20);
  uint64_t start = t_now_ns();
  iou_loop_destroy(t->loop);
  t->loop = NULL; /* destroyed: the harness no longer runs it */
  CHECK(t_now_ns() - start < 2000 * T_MS);

  struct t_loop *u = t_open_default(2);
  struct iou_request r = t_req_buf(IOU_OP_RECV, sv[0], 9, buf[0], 8);
  t_submit(u, &r);
  t_sleep_ms(20);
  CHECK(iou_loop_close(u->loop, -1) == 0);
  t_sleep_ms(20);
  CHECK(!iou_loop_exited(u->loop));
  start = t_now_ns();
  t_close(u, 0);
  CHECK(t_now_ns() - start < 2000 * T_MS);
  CHECK(u->ngot == 1 && u->got[0].outcome == IOU_OUTCOME_ABANDONED);
  close(sv[0]);
  close(sv[1]);
  return T_EXIT_PASS;
}
