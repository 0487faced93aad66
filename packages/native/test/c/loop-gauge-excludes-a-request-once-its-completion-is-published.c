/* The pending_operations gauge is updated before completions are published, so whoever receives a
 * completion (here: the notify call, which runs right after the publish, and the owner polling)
 * never sees the gauge still counting that request. One NOP at a time: the gauge must read 0 at
 * every notify that follows its completion, and right after polling it. */
#include <errno.h>
#include <string.h>

#include "helpers.h"

static struct iou_loop *loop;
static _Atomic uint32_t worst; /* the largest gauge read inside notify */

static void on_notify(void *ctx) {
  (void)ctx;
  struct iou_stats st;
  iou_loop_stats(loop, &st);
  if (st.pending_operations > atomic_load(&worst)) atomic_store(&worst, st.pending_operations);
}

int main(void) {
  t_require_io_uring();
  struct iou_loop_config cfg = {
      .size = 4, .single_issuer = true, .max_request_timeout_ns = 1000 * T_MS, .timeout_wheel_tick_ns = T_MS};
  int r = iou_loop_open(&cfg, on_notify, NULL, &loop);
  if (r == -ENOMEM || r == -EPERM) {
    printf("iou_loop_open refused: %s\n", strerror(-r));
    return T_EXIT_SKIP;
  }
  CHECK(r == 0);
  for (uint64_t i = 0; i < 200; i++) {
    struct iou_request req = t_req(IOU_OP_NOP, -1, i);
    CHECK(iou_loop_submit(loop, &req, 1) == 1);
    iou_loop_publish(loop);
    struct iou_completion c;
    uint64_t start = t_now_ns();
    while (iou_loop_poll_completions(loop, &c, 1) == 0) CHECK(t_now_ns() - start < 5000 * T_MS);
    CHECK(c.tag == i && c.outcome == IOU_OUTCOME_OK);
    struct iou_stats st;
    iou_loop_stats(loop, &st);
    CHECK(st.pending_operations == 0);
  }
  CHECK(atomic_load(&worst) == 0);
  iou_loop_destroy(loop);
  return T_EXIT_PASS;
}
