/* Inline engine: a page-cached read of 4 KiB completes inside the pass that submits it (the kernel
 * copies it within the owner's io_uring_enter, and the pass handles its CQE), while a read of 1 MiB
 * (at least IOU_INLINE_ASYNC_BYTES) is staged with IOSQE_ASYNC and completes later, from io-wq, so
 * the owner's enter does not do the copy. Without the flag every large read would also complete
 * inside the pass; with it almost none can (the copy takes longer than the rest of the pass), so the
 * test asks that most of 20 did not. The loop has no thread of its own. */
#include <string.h>
#include <unistd.h>

#include "helpers.h"

#define BIG (1u << 20)

/* Submits one read, runs the publish pass and says whether its completion came within that pass. */
static bool completes_in_the_pass(struct t_loop *t, int fd, uint8_t *buf, uint32_t len, uint64_t tag) {
  struct iou_request r = t_req_buf(IOU_OP_READ_AT, fd, tag, buf, len);
  CHECK(iou_loop_submit(t->loop, &r, 1) == 1);
  iou_loop_publish(t->loop); /* one pass: admit, enter, handle CQEs, deliver */
  struct iou_completion c;
  bool in_pass = iou_loop_poll_completions(t->loop, &c, 1) == 1;
  if (in_pass) CHECK(c.tag == tag);
  if (!in_pass) c = t_expect(t, tag, 5000);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result == (int32_t)len);
  CHECK(buf[0] == t_pattern(0) && buf[len - 1] == t_pattern(len - 1));
  return in_pass;
}

int main(void) {
  struct iou_loop_config cfg = {.engine = IOU_ENGINE_INLINE,
                                .size = 8,
                                .single_issuer = true,
                                .max_request_timeout_ns = 60000 * T_MS,
                                .timeout_wheel_tick_ns = 5 * T_MS};
  struct t_loop *t = t_open_config(&cfg);
  int fd = t_temp_file(BIG);
  static uint8_t buf[BIG];
  static uint8_t warm[BIG];
  CHECK(pread(fd, warm, BIG, 0) == (ssize_t)BIG); /* page-cached */
  uint32_t small_in_pass = 0, big_in_pass = 0;
  for (uint64_t i = 0; i < 20; i++) {
    memset(buf, 0, sizeof(buf));
    if (completes_in_the_pass(t, fd, buf, 4096, 1 + 2 * i)) small_in_pass++;
    memset(buf, 0, sizeof(buf));
    if (completes_in_the_pass(t, fd, buf, BIG, 2 + 2 * i)) big_in_pass++;
  }
  fprintf(stderr, "in the pass: 4 KiB %u of 20, 1 MiB %u of 20\n", small_in_pass, big_in_pass);
  CHECK(small_in_pass >= 18);
  CHECK(big_in_pass <= 10);
  t_close(t, -1);
  close(fd);
  return T_EXIT_PASS;
}
