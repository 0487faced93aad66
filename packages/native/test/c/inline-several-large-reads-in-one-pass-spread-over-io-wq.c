/* Inline engine: page-cached file reads of 64 KiB (at least IOU_INLINE_SPREAD_BYTES, less than
 * IOU_INLINE_ASYNC_BYTES) are copied inside the owner's io_uring_enter when each pass stages one,
 * and no io-wq worker (a thread named iou-wrk-*) appears for them; when one pass stages several,
 * every one after the first goes with IOSQE_ASYNC and the kernel copies those on io-wq workers.
 * Every read returns its bytes either way. Skipped where the owner may run on one CPU only (there
 * is no other CPU to spread the copies to, and the rule is off). */
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

#define CHUNK (64u * 1024u)
#define READS 8

static uint8_t bufs[READS][CHUNK];

static struct iou_request read_req(int fd, uint32_t i, uint64_t tag) {
  memset(bufs[i], 0, CHUNK);
  struct iou_request r = t_req_buf(IOU_OP_READ_AT, fd, tag, bufs[i], CHUNK);
  r.position = (uint64_t)i * CHUNK;
  return r;
}

static void check_read(struct t_loop *t, uint32_t i, uint64_t tag) {
  struct iou_completion c = t_expect(t, tag, 5000);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result == (int32_t)CHUNK);
  CHECK(bufs[i][0] == t_pattern(i * CHUNK) && bufs[i][CHUNK - 1] == t_pattern(i * CHUNK + CHUNK - 1));
}

int main(void) {
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0 && CPU_COUNT(&allowed) < 2) return T_EXIT_SKIP;
  struct t_loop *t = t_open_engine(IOU_ENGINE_INLINE, 16);
  int fd = t_temp_file(READS * CHUNK); /* written through the page cache: every read below hits it */
  CHECK(t_threads_named("iou-wrk", NULL) == 0);
  for (uint32_t round = 0; round < 3; round++) {
    for (uint32_t i = 0; i < READS; i++) { /* one per pass */
      struct iou_request r = read_req(fd, i, 1 + i);
      t_submit(t, &r);
      check_read(t, i, 1 + i);
    }
  }
  CHECK(t_threads_named("iou-wrk", NULL) == 0); /* each copied inside the owner's enter */
  for (uint32_t i = 0; i < READS; i++) {        /* all in one pass */
    struct iou_request r = read_req(fd, i, 100 + i);
    CHECK(iou_loop_submit(t->loop, &r, 1) == 1);
  }
  iou_loop_publish(t->loop);
  for (uint32_t i = 0; i < READS; i++) check_read(t, i, 100 + i);
  CHECK(t_threads_named("iou-wrk", NULL) >= 1); /* IOSQE_ASYNC: copies ran on workers */
  t_close(t, -1);
  close(fd);
  return T_EXIT_PASS;
}
