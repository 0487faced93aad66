/* Inline engine, both wake modes: a receive that completes while the owner is away (blocked in
 * poll on iou_loop_fd, as libuv's epoll wait would be) makes that fd readable with no enter from
 * the owner: the registered eventfd with IOU_INLINE_WAKE_EVENTFD, the ring fd itself with
 * IOU_INLINE_WAKE_RINGFD. The fd is not readable before the data comes, and the pass that follows
 * delivers the completion. A cancel is announced too: by the eventfd, or with the ring fd by a
 * pass due at once (iou_loop_timeout_ns 0). EVENTFD without single issuer (no DEFER_TASKRUN)
 * falls back to RINGFD. */
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

static bool readable(int fd, int ms) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  int n = poll(&p, 1, ms);
  return n > 0 && (p.revents & POLLIN) != 0;
}

static void drain_counter(struct t_loop *t) {
  uint64_t v;
  if (iou_loop_inline_wake(t->loop) == IOU_INLINE_WAKE_EVENTFD) CHECK(read(iou_loop_fd(t->loop), &v, sizeof(v)) == 8);
}

static void check_mode(uint8_t mode) {
  struct t_loop *t = t_open_inline(mode, true, 8);
  CHECK(iou_loop_inline_wake(t->loop) == mode); /* this kernel has both (Linux 6.1+) */
  struct iou_stats st;
  iou_loop_stats(t->loop, &st);
  CHECK(st.inline_wake == mode);
  int fd = iou_loop_fd(t->loop);
  CHECK(fd >= 0);

  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
  static uint8_t buf[16];
  struct iou_request r = t_req_buf(IOU_OP_RECV, sv[0], 1, buf, sizeof(buf));
  t_submit(t, &r); /* the publish's pass submits it: the recv waits in the kernel */
  CHECK(!t_has(t, 1));
  CHECK(!readable(fd, 50)); /* nothing to announce yet */

  CHECK(write(sv[1], "ping", 4) == 4);
  CHECK(readable(fd, 5000)); /* announced without the owner entering the ring */
  drain_counter(t);
  iou_loop_run(t->loop);
  struct iou_completion c = t_expect(t, 1, 0);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result == 4 && memcmp(buf, "ping", 4) == 0);

  /* A cancel of a waiting recv: the host loop is told to run a pass. */
  r = t_req_buf(IOU_OP_RECV, sv[0], 2, buf, sizeof(buf));
  t_submit(t, &r);
  CHECK(iou_loop_cancel(t->loop, 2) == 0);
  if (mode == IOU_INLINE_WAKE_RINGFD)
    CHECK(iou_loop_timeout_ns(t->loop) == 0);
  else
    CHECK(readable(fd, 0));
  c = t_expect(t, 2, 5000);
  CHECK(c.outcome == IOU_OUTCOME_CANCELLED);

  t_close(t, -1);
  close(sv[0]);
  close(sv[1]);
}

int main(void) {
  check_mode(IOU_INLINE_WAKE_EVENTFD);
  check_mode(IOU_INLINE_WAKE_RINGFD);
  /* DEFER_TASKRUN needs SINGLE_ISSUER: the eventfd mode is refused and the ring fd is polled. */
  struct t_loop *t = t_open_inline(IOU_INLINE_WAKE_EVENTFD, false, 8);
  CHECK(iou_loop_inline_wake(t->loop) == IOU_INLINE_WAKE_RINGFD);
  t_close(t, -1);
  return T_EXIT_PASS;
}
