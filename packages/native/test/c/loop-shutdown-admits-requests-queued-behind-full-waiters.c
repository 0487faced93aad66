/* Size 1: a recv occupies the only slot and a NOP waits in the inbound queue when close(-1) is
 * called. The recv completes when data arrives, then the queued NOP is still admitted and
 * completes OK before the thread exits. A partially filled exact recv keeps being re-staged from
 * the ready queue during the drain until it is full. (seed:
 * test_shutdown_drains_buffered_request_behind_full_waiter_capacity,
 * test_shutdown_no_timeout_processes_ready_queue) */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

int main(void) {
  struct t_loop *t = t_open_default(1);
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  uint8_t buf[10];
  struct iou_request r = t_req_buf(IOU_OP_RECV, sv[0], 1, buf, sizeof(buf));
  r.flags = IOU_FLAG_EXACT;
  t_submit(t, &r);
  t_sleep_ms(20);
  struct iou_request nop = t_req(IOU_OP_NOP, -1, 2);
  t_submit(t, &nop);
  CHECK(iou_loop_close(t->loop, -1) == 0);
  t_sleep_ms(20);
  CHECK(write(sv[1], "0123", 4) == 4); /* partial: re-staged from the ready queue */
  t_sleep_ms(30);
  CHECK(!t_has(t, 1) && !t_has(t, 2));
  CHECK(write(sv[1], "456789", 6) == 6);
  struct iou_completion c = t_expect(t, 1, 5000);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result == 10 && memcmp(buf, "0123456789", 10) == 0);
  c = t_expect(t, 2, 5000);
  CHECK(c.outcome == IOU_OUTCOME_OK);
  t_close(t, -1);
  close(sv[0]);
  close(sv[1]);
  return T_EXIT_PASS;
}
