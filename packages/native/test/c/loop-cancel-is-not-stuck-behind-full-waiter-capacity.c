/* Size 2: two blocking recvs fill the waiters and more requests wait in the inbound queue.
 * Cancelling an in-flight recv still works (the cancel queue is drained every iteration), which
 * frees a slot for the queued work; cancelling a request still in the inbound queue ends it
 * CANCELLED at admission without an SQE. */
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

int main(void) {
  struct t_loop *t = t_open_default(2);
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  static uint8_t buf[4][8];
  struct iou_request reqs[4];
  for (int i = 0; i < 4; i++) {
    reqs[i] = t_req(IOU_OP_RECV, sv[0], 1 + (uint64_t)i);
    reqs[i].buf = buf[i];
    reqs[i].len = 8;
  }
  CHECK(iou_loop_submit(t->loop, reqs, 2) == 2);
  iou_loop_publish(t->loop);
  t_sleep_ms(30); /* both in flight: waiters full */
  CHECK(iou_loop_submit(t->loop, reqs + 2, 2) == 2);
  iou_loop_publish(t->loop);
  t_sleep_ms(30);
  struct iou_stats st;
  iou_loop_stats(t->loop, &st);
  CHECK(st.pending_operations == 2 && st.submitted == 2);

  CHECK(iou_loop_cancel(t->loop, 4) == 0); /* still queued */
  CHECK(iou_loop_cancel(t->loop, 1) == 0); /* in flight */
  struct iou_completion c = t_expect(t, 1, 5000);
  CHECK(c.outcome == IOU_OUTCOME_CANCELLED);
  c = t_expect(t, 4, 5000);
  CHECK(c.outcome == IOU_OUTCOME_CANCELLED && c.result == 0);
  /* Tag 3 took the freed slot: two writes satisfy the two recvs (in either order). */
  CHECK(write(sv[1], "abcdefgh", 8) == 8);
  t_sleep_ms(20);
  CHECK(write(sv[1], "ijklmnop", 8) == 8);
  c = t_expect(t, 2, 5000);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result == 8);
  c = t_expect(t, 3, 5000);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result == 8);
  t_close(t, -1);
  CHECK(t->ngot == 4);
  close(sv[0]);
  close(sv[1]);
  return T_EXIT_PASS;
}
