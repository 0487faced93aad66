/* iou_loop_cancel of a recv blocked in the kernel sends one ASYNC_CANCEL and the request ends
 * CANCELLED (distinct from TIMEOUT) exactly once; a cancel of a tag that already completed, or
 * that never existed, is ignored; the loop keeps working. */
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

int main(void) {
  struct t_loop *t = t_open_default(8);
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  uint8_t buf[8];
  struct iou_request r = t_req_buf(IOU_OP_RECV, sv[0], 1, buf, sizeof(buf));
  r.deadline_ns = t_now_ns() + 10000 * T_MS;
  t_submit(t, &r);
  t_sleep_ms(20);
  CHECK(iou_loop_cancel(t->loop, 1) == 0);
  struct iou_completion c = t_expect(t, 1, 5000);
  CHECK(c.outcome == IOU_OUTCOME_CANCELLED && c.result == 0);

  CHECK(iou_loop_cancel(t->loop, 1) == 0);   /* already completed: ignored */
  CHECK(iou_loop_cancel(t->loop, 999) == 0); /* unknown: ignored */
  struct iou_request nop = t_req(IOU_OP_NOP, -1, 2);
  t_submit(t, &nop);
  c = t_expect(t, 2, 5000);
  CHECK(c.outcome == IOU_OUTCOME_OK);
  t_sleep_ms(20);
  t_poll(t);
  CHECK(t->ngot == 2);
  struct iou_stats st;
  iou_loop_stats(t->loop, &st);
  CHECK(st.cancelled == 1 && st.timed_out == 0 && st.pending_operations == 0);
  t_close(t, -1);
  close(sv[0]);
  close(sv[1]);
  return T_EXIT_PASS;
}
