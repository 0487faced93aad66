/* A request whose deadline already passed at admission ends TIMEOUT without touching the kernel:
 * no SQE is staged for it and no waiter is occupied. */
#include "helpers.h"

int main(void) {
  struct t_loop *t = t_open_default(8);
  struct iou_request warm = t_req(IOU_OP_NOP, -1, 1);
  t_submit(t, &warm);
  t_expect(t, 1, 5000);
  struct iou_stats before, after;
  iou_loop_stats(t->loop, &before);
  struct iou_request r = t_req(IOU_OP_RECV, 12345, 2); /* a bad fd: the kernel would say EBADF */
  static uint8_t buf[4];
  r.buf = buf;
  r.len = 4;
  r.deadline_ns = t_now_ns() - 1;
  t_submit(t, &r);
  struct iou_completion c = t_expect(t, 2, 5000);
  CHECK(c.outcome == IOU_OUTCOME_TIMEOUT && c.result == 0);
  iou_loop_stats(t->loop, &after);
  CHECK(after.sqes_staged == before.sqes_staged);
  CHECK(after.timed_out == 1 && after.pending_operations == 0);
  t_close(t, -1);
  return T_EXIT_PASS;
}
