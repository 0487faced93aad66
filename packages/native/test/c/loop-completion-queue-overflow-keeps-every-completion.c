/* A consumer that does not poll: 200 NOPs on a size-4 loop (completion queue of 8) overflow into
 * the loop's own list (counted in cq_overflow) instead of blocking the loop or being dropped; the
 * loop keeps admitting; when the consumer polls a few at a time, room frees, the loop is woken and
 * moves the rest in, in order; every tag arrives exactly once. */
#include <string.h>

#include "helpers.h"

#define N 200

int main(void) {
  struct t_loop *t = t_open_default(4);
  uint32_t next = 0;
  uint64_t end = t_now_ns() + 20000 * T_MS;
  while (next < N) {
    CHECK(t_now_ns() < end);
    struct iou_request r = t_req(IOU_OP_NOP, -1, next);
    int n = iou_loop_submit(t->loop, &r, 1);
    CHECK(n >= 0);
    iou_loop_publish(t->loop);
    if (n == 1)
      next++;
    else
      t_sleep_ms(1);
  }
  struct iou_stats st;
  do {
    t_sleep_ms(2);
    iou_loop_stats(t->loop, &st);
    CHECK(t_now_ns() < end);
  } while (st.completed < N);
  CHECK(st.cq_overflow >= N - 8);
  /* A tiny consumer: 3 at a time. */
  struct iou_completion got[N];
  uint32_t n = 0;
  while (n < N) {
    CHECK(t_now_ns() < end);
    uint32_t k = iou_loop_poll_completions(t->loop, &got[n], 3);
    CHECK(k <= 3);
    n += k;
    if (k == 0) t_sleep_ms(1);
  }
  for (uint32_t i = 0; i < N; i++) CHECK(got[i].tag == i && got[i].outcome == IOU_OUTCOME_OK);
  CHECK(iou_loop_poll_completions(t->loop, got, 3) == 0);
  t_close(t, -1);
  CHECK(t->ngot == 0);
  return T_EXIT_PASS;
}
