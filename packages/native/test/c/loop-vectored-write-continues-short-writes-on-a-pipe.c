/* A vectored write of 3 iovecs (192 KiB) into a pipe of 4 KiB capacity is written in many short
 * writes, each continuing where the last stopped (the loop advances its own iovec copy), while a
 * reader drains slowly; it completes once, OK, with the total, the bytes arrive in order, and the
 * caller's iovec array is untouched. A vectored send over TCP behaves the same. */
#include <sys/socket.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

#define CHUNK (64 * 1024)
static uint8_t src[3 * CHUNK];
static uint8_t dst[3 * CHUNK];

struct reader {
  int fd;
  size_t total;
};

static void *drain(void *arg) {
  struct reader *r = arg;
  size_t got = 0;
  while (got < r->total) {
    ssize_t n = read(r->fd, dst + got, r->total - got < 1000 ? r->total - got : 1000);
    CHECK(n > 0);
    got += (size_t)n;
    if (got % 16 == 0) t_sleep_ms(1);
  }
  return NULL;
}

static void run(struct t_loop *t, int wfd, int rfd, uint8_t op, uint64_t tag) {
  memset(dst, 0, sizeof(dst));
  struct iovec iov[3] = {{src, CHUNK}, {src + CHUNK, CHUNK}, {src + 2 * CHUNK, CHUNK}};
  struct iovec copy[3];
  memcpy(copy, iov, sizeof(iov));
  struct iou_request w = t_req(op, wfd, tag);
  w.iov = iov;
  w.iov_count = 3;
  w.position = IOU_POSITION_CURRENT; /* a pipe or socket: no offset */
  struct iou_stats before, after;
  iou_loop_stats(t->loop, &before);
  t_submit(t, &w);
  struct reader r = {.fd = rfd, .total = sizeof(src)};
  pthread_t th;
  CHECK(pthread_create(&th, NULL, drain, &r) == 0);
  struct iou_completion c = t_expect(t, tag, 20000);
  pthread_join(th, NULL);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result == (int32_t)sizeof(src));
  CHECK(memcmp(src, dst, sizeof(src)) == 0);
  CHECK(memcmp(copy, iov, sizeof(iov)) == 0);
  iou_loop_stats(t->loop, &after);
  CHECK(after.completed == before.completed + 1);
  if (op == IOU_OP_WRITE_AT) CHECK(after.requeued > before.requeued); /* it was short at least once */
}

int main(void) {
  for (uint32_t i = 0; i < sizeof(src); i++) src[i] = t_pattern(i * 13);
  struct t_loop *t = t_open_default(8);
  int p[2];
  CHECK(pipe2(p, O_CLOEXEC) == 0);
  CHECK(fcntl(p[1], F_SETPIPE_SZ, 4096) >= 4096);
  run(t, p[1], p[0], IOU_OP_WRITE_AT, 1);
  /* Also with a non-blocking pipe: EAGAIN waits for POLLOUT instead of spinning. */
  CHECK(fcntl(p[1], F_SETFL, O_NONBLOCK) == 0);
  run(t, p[1], p[0], IOU_OP_WRITE_AT, 2);
  close(p[0]);
  close(p[1]);
  int fds[2];
  t_tcp_pair(fds);
  int small = 4096;
  setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
  run(t, fds[0], fds[1], IOU_OP_SEND, 3);
  close(fds[0]);
  close(fds[1]);
  t_close(t, -1);
  return T_EXIT_PASS;
}
