/* A send still in the inbound queue when close(0) passes the shutdown cutoff ends ABANDONED and
 * never reaches the kernel: the peer receives nothing. (The cutoff is checked before admission;
 * close(0) is what env cleanup and the Driver's finalizer use.) */
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

int main(void) {
  struct t_loop *t = t_open_default(8); /* no idle spin: the loop parks and takes nothing unpublished */
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
  t_sleep_ms(30); /* parked */
  static uint8_t data[5] = "hello";
  struct iou_request r = t_req_buf(IOU_OP_SEND, sv[0], 1, data, sizeof(data));
  CHECK(iou_loop_submit(t->loop, &r, 1) == 1); /* queued, not published: close wakes the loop */
  CHECK(iou_loop_close(t->loop, 0) == 0);
  struct iou_completion c = t_expect(t, 1, 5000);
  CHECK(c.outcome == IOU_OUTCOME_ABANDONED && c.result == 0);
  CHECK((c.flags & IOU_COMPLETION_KERNEL_HELD) == 0);
  t_sleep_ms(20);
  uint8_t got[8];
  CHECK(read(sv[1], got, sizeof(got)) == -1); /* EAGAIN: nothing was sent */
  t_close(t, 0);
  close(sv[0]);
  close(sv[1]);
  return T_EXIT_PASS;
}
