/* Through the real loop: a request that moves data and fails after part of it moved says how much
 * in its completion's `done` (the errno stays its `result`): an exact recv that got 3 bytes before
 * the peer reset the connection ends ERROR -ECONNRESET with done 3; a write_at of 8 KiB that
 * crosses the process's file size limit writes the first 4 KiB, then ends ERROR -EFBIG with done
 * 4096. Every other outcome's done is its result (a read at end of file), and an operation that
 * moves no data has done 0 (an fsync). */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

int main(void) {
  signal(SIGXFSZ, SIG_IGN); /* a write past RLIMIT_FSIZE then fails with EFBIG instead */
  struct t_loop *t = t_open_default(8);

  int fds[2];
  t_tcp_pair(fds);
  uint8_t buf[10];
  memset(buf, 0, sizeof(buf));
  struct iou_request r = t_req_buf(IOU_OP_RECV, fds[0], 1, buf, sizeof(buf));
  r.flags = IOU_FLAG_EXACT;
  t_submit(t, &r);
  CHECK(write(fds[0], "x", 1) == 1); /* unread by fds[1]: its close is then a reset */
  CHECK(write(fds[1], "abc", 3) == 3);
  t_sleep_ms(50); /* the recv takes the 3 bytes and waits for the rest */
  CHECK(!t_has(t, 1));
  close(fds[1]);
  struct iou_completion c = t_expect(t, 1, 5000);
  CHECK(c.outcome == IOU_OUTCOME_ERROR && c.result == -ECONNRESET);
  CHECK(c.done == 3 && memcmp(buf, "abc", 3) == 0);
  close(fds[0]);

  int fd = t_temp_file(0);
  struct rlimit limit = {.rlim_cur = 4096, .rlim_max = RLIM_INFINITY};
  struct rlimit before;
  CHECK(getrlimit(RLIMIT_FSIZE, &before) == 0);
  limit.rlim_max = before.rlim_max;
  CHECK(setrlimit(RLIMIT_FSIZE, &limit) == 0);
  uint8_t data[8192];
  memset(data, 7, sizeof(data));
  struct iou_request w = t_req_buf(IOU_OP_WRITE_AT, fd, 2, data, sizeof(data));
  w.position = 0;
  t_submit(t, &w);
  c = t_expect(t, 2, 5000);
  CHECK(setrlimit(RLIMIT_FSIZE, &before) == 0);
  CHECK(c.outcome == IOU_OUTCOME_ERROR && c.result == -EFBIG);
  CHECK(c.done == 4096 && lseek(fd, 0, SEEK_END) == 4096);

  uint8_t out[16];
  struct iou_request eof = t_req_buf(IOU_OP_READ_AT, fd, 3, out, sizeof(out));
  eof.position = 4090;
  t_submit(t, &eof);
  c = t_expect(t, 3, 5000);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result == 6 && c.done == 6);

  struct iou_request sync = t_req(IOU_OP_SYNC, fd, 4);
  t_submit(t, &sync);
  c = t_expect(t, 4, 5000);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result == 0 && c.done == 0);

  t_close(t, -1);
  close(fd);
  return T_EXIT_PASS;
}
