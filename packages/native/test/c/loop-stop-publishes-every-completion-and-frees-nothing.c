/* iou_loop_stop (the env-cleanup path's first half): with recvs blocked in the kernel and a nop
 * already delivered, it returns promptly with the loop exited and every request's completion
 * published for iou_loop_poll_completions (the recvs ABANDONED, their cancels landed, so none is
 * KERNEL_HELD: their memory is the caller's again); it is idempotent, and iou_loop_destroy or
 * iou_loop_try_destroy then frees the loop without joining anything again. */
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

int main(void) {
  struct t_loop *t = t_open_default(4);
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  static uint8_t buf[3][8];
  struct iou_request r1 = t_req_buf(IOU_OP_RECV, sv[0], 1, buf[0], 8);
  t_submit(t, &r1);
  struct iou_request nop = t_req(IOU_OP_NOP, -1, 2);
  t_submit(t, &nop);
  CHECK(t_expect(t, 2, 2000).outcome == IOU_OUTCOME_OK);
  struct iou_request r3 = t_req_buf(IOU_OP_RECV, sv[0], 3, buf[1], 8);
  t_submit(t, &r3);
  struct iou_request r4 = t_req_buf(IOU_OP_RECV, sv[0], 4, buf[2], 8);
  t_submit(t, &r4);
  t_sleep_ms(20);

  uint64_t start = t_now_ns();
  iou_loop_stop(t->loop);
  CHECK(t_now_ns() - start < 2000 * T_MS);
  CHECK(iou_loop_exited(t->loop));
  iou_loop_stop(t->loop); /* idempotent */

  struct iou_completion got[8];
  uint32_t n = iou_loop_poll_completions(t->loop, got, 8);
  n += iou_loop_poll_completions(t->loop, got + n, 8 - n);
  CHECK(n == 3);
  bool seen[5] = {false};
  for (uint32_t i = 0; i < n; i++) {
    CHECK(got[i].tag == 1 || got[i].tag == 3 || got[i].tag == 4);
    CHECK(!seen[got[i].tag]);
    seen[got[i].tag] = true;
    CHECK(got[i].outcome == IOU_OUTCOME_ABANDONED);
    CHECK((got[i].flags & IOU_COMPLETION_KERNEL_HELD) == 0);
  }
  CHECK(iou_loop_poll_completions(t->loop, got, 8) == 0);
  iou_loop_destroy(t->loop);
  t->loop = NULL; /* destroyed: the harness no longer runs it */

  /* A stopped loop is freed by try_destroy at once: the thread was joined already. */
  struct t_loop *u = t_open_default(2);
  struct iou_request r = t_req_buf(IOU_OP_RECV, sv[0], 9, buf[0], 8);
  t_submit(u, &r);
  t_sleep_ms(20);
  iou_loop_stop(u->loop);
  CHECK(iou_loop_try_destroy(u->loop));
  u->loop = NULL;

  close(sv[0]);
  close(sv[1]);
  return T_EXIT_PASS;
}
