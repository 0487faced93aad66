/* Through the real loop: read_at past EOF is OK with the count (exact: UNEXPECTED_EOF with the
 * count); recv after the peer closed is OK 0 (exact after a partial: UNEXPECTED_EOF); a send to a
 * closed peer is ERROR -EPIPE and does not raise SIGPIPE; a bad fd is ERROR -EBADF; invalid
 * requests are ERROR -EINVAL without the kernel; a zero-length read is OK 0. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

static _Atomic int sigpipes;
static void on_sigpipe(int sig) {
  (void)sig;
  atomic_fetch_add(&sigpipes, 1);
}

int main(void) {
  signal(SIGPIPE, on_sigpipe);
  struct t_loop *t = t_open_default(8);
  int fd = t_temp_file(100);
  uint8_t buf[64];
  struct iou_request r = t_req_buf(IOU_OP_READ_AT, fd, 1, buf, 64);
  r.position = 80;
  t_submit(t, &r);
  struct iou_completion c = t_expect(t, 1, 5000);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result == 20 && buf[0] == t_pattern(80));
  r.tag = 2;
  r.flags = IOU_FLAG_EXACT;
  t_submit(t, &r);
  c = t_expect(t, 2, 5000);
  CHECK(c.outcome == IOU_OUTCOME_UNEXPECTED_EOF && c.result == 20);

  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  struct iou_request rv = t_req_buf(IOU_OP_RECV, sv[0], 3, buf, 10);
  rv.flags = IOU_FLAG_EXACT;
  t_submit(t, &rv);
  CHECK(write(sv[1], "abc", 3) == 3);
  t_sleep_ms(20);
  close(sv[1]);
  c = t_expect(t, 3, 5000);
  CHECK(c.outcome == IOU_OUTCOME_UNEXPECTED_EOF && c.result == 3);
  rv.tag = 4;
  rv.flags = 0;
  t_submit(t, &rv);
  c = t_expect(t, 4, 5000);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result == 0);

  struct iou_request s = t_req_buf(IOU_OP_SEND, sv[0], 5, (uint8_t *)"data", 4);
  t_submit(t, &s);
  c = t_expect(t, 5, 5000);
  CHECK(c.outcome == IOU_OUTCOME_ERROR && c.result == -EPIPE);
  CHECK(atomic_load(&sigpipes) == 0);

  struct iou_request bad = t_req_buf(IOU_OP_READ_AT, 9999, 6, buf, 4);
  t_submit(t, &bad);
  c = t_expect(t, 6, 5000);
  CHECK(c.outcome == IOU_OUTCOME_ERROR && c.result == -EBADF);

  struct iou_request inval = t_req(42, fd, 7);
  t_submit(t, &inval);
  c = t_expect(t, 7, 5000);
  CHECK(c.outcome == IOU_OUTCOME_ERROR && c.result == -EINVAL);

  struct iou_request zero = t_req(IOU_OP_READ_AT, fd, 8);
  t_submit(t, &zero);
  c = t_expect(t, 8, 5000);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result == 0);

  struct iou_stats st;
  iou_loop_stats(t->loop, &st);
  CHECK(st.failed == 5 && st.completed == 8);
  t_close(t, -1);
  close(sv[0]);
  close(fd);
  return T_EXIT_PASS;
}
