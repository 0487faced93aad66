/* Deadlines at the very end of the 64-bit clock (2^64 - 2 and 2^64 - 1 ns) are valid and simply
 * far: recvs carrying them on an otherwise idle loop do not fire, and the loop sleeps instead of
 * spinning (a handful of io_uring_enter calls over 200 ms). The start of their tick, start + tick *
 * tick_ns, is past 2^64 (unless a tick boundary of the loop's 5 ms wheel falls on one of the last
 * two nanoseconds): computed with wrap-around it came out near zero, every wait got a zero timeout
 * and the loop ran a full core. They end when cancelled. The wheel's tick start saturates at the
 * end of the clock instead of wrapping. */
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"
#include "wheel.h"

#define N 2

int main(void) {
  /* The wheel alone: the tick holding a deadline near 2^64 begins at the saturated end. */
  struct iou__wheel w;
  CHECK(iou__wheel_init(&w, 5 * T_MS, 60000 * T_MS, 1000) == 0);
  uint64_t last = iou__wheel_target_tick(&w, UINT64_MAX - 1);
  CHECK(last != 0);
  CHECK(iou__wheel_tick_ns(&w, last) >= UINT64_MAX - 1); /* never before the deadline */
  CHECK(iou__wheel_tick_ns(&w, last - 1) < UINT64_MAX - 1);
  CHECK(iou__wheel_schedule(&w, 1, last) == 0);
  CHECK(iou__wheel_next_tick(&w) == last);
  CHECK(iou__wheel_advance(&w, 1000 + 3600000 * T_MS) == 0); /* an hour later: still parked */
  iou__wheel_remove(&w, 1, last);
  iou__wheel_free(&w);

  struct t_loop *t = t_open_default(8);
  const uint64_t deadlines[N] = {UINT64_MAX - 1, UINT64_MAX};
  int sv[N][2];
  uint8_t buf[N][8];
  for (uint32_t i = 0; i < N; i++) {
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv[i]) == 0);
    struct iou_request r = t_req_buf(IOU_OP_RECV, sv[i][0], 1 + i, buf[i], sizeof(buf[i]));
    r.deadline_ns = deadlines[i];
    t_submit(t, &r);
  }
  t_sleep_ms(50); /* every recv is in flight and the loop has settled */
  struct iou_stats before, after;
  iou_loop_stats(t->loop, &before);
  uint64_t cpu = t_cpu_ns();
  t_sleep_ms(200);
  cpu = t_cpu_ns() - cpu;
  iou_loop_stats(t->loop, &after);
  uint64_t enters = after.enters - before.enters;
  if (enters >= 20)
    fprintf(stderr, "%llu enters, %llu ms CPU in 200 ms\n", (unsigned long long)enters,
            (unsigned long long)(cpu / T_MS));
  CHECK(enters < 20);
  CHECK(cpu < 100 * T_MS);
  CHECK(after.pending_operations == N);
  for (uint32_t i = 0; i < N; i++) CHECK(!t_has(t, 1 + i));
  for (uint32_t i = 0; i < N; i++) CHECK(iou_loop_cancel(t->loop, 1 + i) == 0);
  for (uint32_t i = 0; i < N; i++) CHECK(t_expect(t, 1 + i, 5000).outcome == IOU_OUTCOME_CANCELLED);
  t_close(t, -1);
  for (uint32_t i = 0; i < N; i++) {
    close(sv[i][0]);
    close(sv[i][1]);
  }
  return T_EXIT_PASS;
}
