/* Size 1 with a one-shot wake poll (every wake CQE needs a re-arm, as in the model's test with
 * `wakeEnd: 1`): the owner cancels a recv that never completes. The cancel's wake ends the poll,
 * so the one SQ entry goes to the re-arm and the cancel stays queued behind it while the only
 * waiter slot is taken. The loop must submit without waiting and stage the cancel next time round;
 * before the fix it blocked for a CQE that only the cancelled recv could produce (forever). Many
 * rounds, so the interleavings of wake, cancel and re-arm vary; then once more while the loop drains
 * after close. (@iou/core Loop.test.ts: "with a
 * one-entry SQ, a cancel left queued behind the wake re-arm is submitted without waiting for a CQE") */
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

int main(void) {
  struct iou_loop_config cfg = {
      .size = 1,
      .single_issuer = true,
      .max_request_timeout_ns = 60000 * T_MS,
      .timeout_wheel_tick_ns = 5 * T_MS,
      .wake_poll_oneshot = true,
  };
  struct t_loop *t = t_open_config(&cfg);
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  uint8_t buf[4];
  for (uint64_t round = 0; round < 20; round++) {
    struct iou_request r = t_req_buf(IOU_OP_RECV, sv[0], round, buf, sizeof(buf));
    t_submit(t, &r);
    t_sleep_ms(round % 2 == 0 ? 5 : 0); /* in flight (blocked in enter), or maybe not yet staged */
    uint64_t start = t_now_ns();
    CHECK(iou_loop_cancel(t->loop, round) == 0);
    struct iou_completion c;
    CHECK(t_wait(t, round, 2000, &c)); /* the unfixed loop never completes it */
    CHECK(c.outcome == IOU_OUTCOME_CANCELLED && c.result == 0);
    CHECK(t_now_ns() - start < 1000 * T_MS);
  }
  /* The same while draining (closed without a timeout): drain() must not wait for a CQE either. */
  struct iou_request r = t_req_buf(IOU_OP_RECV, sv[0], 100, buf, sizeof(buf));
  t_submit(t, &r);
  t_sleep_ms(5);
  CHECK(iou_loop_close(t->loop, -1) == 0);
  t_sleep_ms(5); /* draining, blocked in enter with the recv in flight */
  uint64_t start = t_now_ns();
  CHECK(iou_loop_cancel(t->loop, 100) == 0);
  struct iou_completion c;
  CHECK(t_wait(t, 100, 2000, &c));
  CHECK(c.outcome == IOU_OUTCOME_CANCELLED);
  CHECK(t_now_ns() - start < 1000 * T_MS);
  t_close(t, -1);
  CHECK(t->ngot == 21);
  close(sv[0]);
  close(sv[1]);
  return T_EXIT_PASS;
}
