/* Size 1: the SQ has one entry, so the wake poll's (re-)arm and the request compete for it (the
 * seed's "rearm survives SQ full" case). Many rounds of "block in a recv, then publish a NOP behind
 * it, then satisfy the recv" all complete: the loop was woken out of io_uring_enter each time, so
 * the poll was armed whenever it slept; after idle periods the futex park also wakes. */
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

int main(void) {
  struct t_loop *t = t_open_default(1);
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  uint8_t buf[4];
  for (uint64_t round = 0; round < 30; round++) {
    struct iou_request r = t_req_buf(IOU_OP_RECV, sv[0], 2 * round, buf, sizeof(buf));
    t_submit(t, &r);
    /* The loop took the recv (on a loaded machine that can take longer than a sleep), then blocks in
     * io_uring_enter with the only slot taken. */
    uint64_t end = t_now_ns() + 5000 * T_MS;
    for (struct iou_stats st = {0}; iou_loop_stats(t->loop, &st), st.submitted < 2 * round + 1;) {
      CHECK(t_now_ns() < end);
      t_sleep_ms(1);
    }
    t_sleep_ms(2);
    struct iou_request nop = t_req(IOU_OP_NOP, -1, 2 * round + 1);
    t_submit(t, &nop); /* waits in the inbound queue for the slot */
    CHECK(write(sv[1], "x", 1) == 1);
    struct iou_completion c = t_expect(t, 2 * round, 5000);
    CHECK(c.outcome == IOU_OUTCOME_OK && c.result == 1);
    c = t_expect(t, 2 * round + 1, 5000);
    CHECK(c.outcome == IOU_OUTCOME_OK);
    if (round % 10 == 9) t_sleep_ms(20); /* idle: futex park */
  }
  t_close(t, -1);
  CHECK(t->ngot == 60);
  close(sv[0]);
  close(sv[1]);
  return T_EXIT_PASS;
}
