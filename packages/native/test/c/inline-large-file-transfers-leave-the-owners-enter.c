/* Inline engine: a page-cached file read of 1 MiB (at least IOU_INLINE_ASYNC_BYTES) is staged with
 * IOSQE_ASYNC, so the kernel copies it on an io-wq worker (a thread named iou-wrk-*) instead of inside
 * the owner's io_uring_enter; reads of 4 KiB are copied inside the enter, and no worker appears for
 * them. The loop itself has no thread. */
#include <string.h>
#include <unistd.h>

#include "helpers.h"

#define BIG (1u << 20)

static void read_at(struct t_loop *t, int fd, uint8_t *buf, uint32_t len, uint64_t tag) {
  memset(buf, 0, len);
  struct iou_request r = t_req_buf(IOU_OP_READ_AT, fd, tag, buf, len);
  t_submit(t, &r);
  struct iou_completion c = t_expect(t, tag, 5000);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result == (int32_t)len);
  CHECK(buf[0] == t_pattern(0) && buf[len - 1] == t_pattern(len - 1));
}

int main(void) {
  struct t_loop *t = t_open_engine(IOU_ENGINE_INLINE, 8);
  int fd = t_temp_file(BIG); /* written through the page cache: every read below hits it */
  static uint8_t buf[BIG];
  CHECK(t_threads_named("iou-wrk", NULL) == 0);
  for (uint64_t i = 0; i < 20; i++) read_at(t, fd, buf, 4096, 1 + i);
  CHECK(t_threads_named("iou-wrk", NULL) == 0); /* copied inside the owner's enter */
  read_at(t, fd, buf, BIG, 100);
  CHECK(t_threads_named("iou-wrk", NULL) >= 1); /* IOSQE_ASYNC: the copy ran on a worker */
  t_close(t, -1);
  close(fd);
  return T_EXIT_PASS;
}
