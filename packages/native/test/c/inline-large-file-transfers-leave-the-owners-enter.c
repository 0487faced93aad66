/* Inline engine: a page-cached file read of 1 MiB (at least IOU_INLINE_ASYNC_BYTES) is staged with
 * IOSQE_ASYNC, so the kernel copies it on an io-wq worker (a thread named iou-wrk-*) instead of inside
 * the owner's io_uring_enter; reads of 4 KiB are copied inside the enter, and no worker appears for
 * them. The loop itself has no thread. */
#include <dirent.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

#define BIG (1u << 20)

/* Threads of this process whose name starts with "iou-wrk" (io_uring's io-wq workers). */
static int io_wq_workers(void) {
  DIR *d = opendir("/proc/self/task");
  CHECK(d != NULL);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char path[300], comm[32] = {0};
    snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
    FILE *f = fopen(path, "r");
    if (f == NULL) continue; /* the thread ended meanwhile */
    if (fgets(comm, sizeof(comm), f) != NULL && strncmp(comm, "iou-wrk", 7) == 0) n++;
    fclose(f);
  }
  closedir(d);
  return n;
}

static void read_at(struct t_loop *t, int fd, uint8_t *buf, uint32_t len, uint64_t tag) {
  memset(buf, 0, len);
  struct iou_request r = t_req_buf(IOU_OP_READ_AT, fd, tag, buf, len);
  t_submit(t, &r);
  struct iou_completion c = t_expect(t, tag, 5000);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result == (int32_t)len);
  CHECK(buf[0] == t_pattern(0) && buf[len - 1] == t_pattern(len - 1));
}

int main(void) {
  struct iou_loop_config cfg = {.engine = IOU_ENGINE_INLINE,
                                .size = 8,
                                .single_issuer = true,
                                .max_request_timeout_ns = 60000 * T_MS,
                                .timeout_wheel_tick_ns = 5 * T_MS};
  struct t_loop *t = t_open_config(&cfg);
  int fd = t_temp_file(BIG); /* written through the page cache: every read below hits it */
  static uint8_t buf[BIG];
  CHECK(io_wq_workers() == 0);
  for (uint64_t i = 0; i < 20; i++) read_at(t, fd, buf, 4096, 1 + i);
  CHECK(io_wq_workers() == 0); /* copied inside the owner's enter */
  read_at(t, fd, buf, BIG, 100);
  CHECK(io_wq_workers() >= 1); /* IOSQE_ASYNC: the copy ran on a worker */
  t_close(t, -1);
  close(fd);
  return T_EXIT_PASS;
}
