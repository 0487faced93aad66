/* Pending cancels (capacity 2 * size) stay bounded however cancels and completions interleave: a
 * size-2 loop (SQ of 2, so cancels often wait for room behind restages and the wake re-arm) takes
 * bursts of requests that are each cancelled by the owner and by a deadline at about the time data
 * arrives. Every request ends exactly once and the loop never hits its overflow assertion. */
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

#define ROUNDS 200

int main(void) {
  struct iou_loop_config cfg = {
      .size = 2,
      .single_issuer = true,
      .max_request_timeout_ns = 1000 * T_MS,
      .timeout_wheel_tick_ns = T_MS / 4,
      .wake_poll_oneshot = true,
  };
  struct t_loop *t = t_open_config(&cfg);
  int sv[2][2];
  for (int i = 0; i < 2; i++) CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv[i]) == 0);
  static uint8_t buf[2][64];
  for (uint64_t round = 0; round < ROUNDS; round++) {
    for (int i = 0; i < 2; i++) {
      struct iou_request r = t_req_buf(IOU_OP_RECV, sv[i][0], 2 * round + i, buf[i], 64);
      r.flags = IOU_FLAG_EXACT;
      r.deadline_ns = t_now_ns() + (round % 3) * T_MS / 2 + 1;
      t_submit(t, &r);
    }
    for (int i = 0; i < 2; i++) {
      if ((round + i) % 2 == 0) CHECK(write(sv[i][1], "abcdefgh", 8) == 8); /* partial: requeued */
      CHECK(iou_loop_cancel(t->loop, 2 * round + i) == 0);
    }
    for (int i = 0; i < 2; i++) {
      struct iou_completion c = t_expect(t, 2 * round + i, 5000);
      CHECK(c.outcome == IOU_OUTCOME_CANCELLED || c.outcome == IOU_OUTCOME_TIMEOUT);
    }
    uint8_t drainbuf[64];
    for (int i = 0; i < 2; i++) (void)recv(sv[i][0], drainbuf, sizeof(drainbuf), MSG_DONTWAIT);
  }
  t_close(t, -1);
  CHECK(t->ngot == 2 * ROUNDS);
  for (int i = 0; i < 2; i++) {
    close(sv[i][0]);
    close(sv[i][1]);
  }
  return T_EXIT_PASS;
}
