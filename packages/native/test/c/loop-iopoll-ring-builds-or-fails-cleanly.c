/* io_poll = true: the IOPOLL ring either builds or the open fails with an errno (nothing left
 * running); when it builds, the loop (which then polls instead of using the wake poll) completes a
 * request with some outcome and closes promptly. (seed: test_new_ring_iopoll_builder_path_is_exercised) */
#include <errno.h>
#include <string.h>

#include "helpers.h"

static void on_notify(void *ctx) {
  (void)ctx;
}

int main(void) {
  t_require_io_uring();
  struct iou_loop *loop = NULL;
  struct iou_loop_config cfg = {
      .size = 4, .io_poll = true, .max_request_timeout_ns = 1000 * T_MS, .timeout_wheel_tick_ns = T_MS};
  int r = iou_loop_open(&cfg, on_notify, NULL, &loop);
  if (r != 0) {
    CHECK(r < 0 && loop == NULL);
    return T_EXIT_PASS;
  }
  int fd = t_temp_file(16);
  static uint8_t buf[16];
  struct iou_request req = t_req_buf(IOU_OP_READ_AT, fd, 1, buf, 16);
  CHECK(iou_loop_submit(loop, &req, 1) == 1);
  iou_loop_publish(loop);
  struct iou_completion c;
  uint64_t end = t_now_ns() + 5000 * T_MS;
  while (iou_loop_poll_completions(loop, &c, 1) == 0) {
    CHECK(t_now_ns() < end);
    t_sleep_ms(1);
  }
  CHECK(c.tag == 1);
  t_sleep_ms(20); /* idle on an IOPOLL ring: parked */
  CHECK(iou_loop_close(loop, -1) == 0);
  while (!iou_loop_exited(loop)) {
    CHECK(t_now_ns() < end);
    t_sleep_ms(1);
  }
  iou_loop_destroy(loop);
  return T_EXIT_PASS;
}
