/* A recv on an O_NONBLOCK socket with no data: the kernel may answer -EAGAIN, and the loop then
 * waits for readiness with a POLL_ADD instead of re-submitting, so 300 ms of waiting costs almost
 * no CPU and few SQEs; when data arrives the recv completes OK. The same holds on a non-blocking
 * TCP socket, a loop with only a blocking recv in flight sleeps in io_uring_enter, and an idle loop (nothing in flight)
 * costs no CPU either. */
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

static void wait_case(struct t_loop *t, int rfd, int wfd, uint64_t tag, bool nonblocking) {
  if (nonblocking) CHECK(fcntl(rfd, F_SETFL, fcntl(rfd, F_GETFL) | O_NONBLOCK) == 0);
  uint8_t buf[16];
  struct iou_request r = t_req_buf(IOU_OP_RECV, rfd, tag, buf, sizeof(buf));
  struct iou_stats before, after;
  iou_loop_stats(t->loop, &before);
  uint64_t cpu0 = t_cpu_ns();
  t_submit(t, &r);
  t_sleep_ms(300);
  uint64_t cpu = t_cpu_ns() - cpu0;
  iou_loop_stats(t->loop, &after);
  CHECK(!t_has(t, tag));
  CHECK(after.sqes_staged - before.sqes_staged < 10);
  CHECK(cpu < 60 * T_MS);
  CHECK(write(wfd, "ping", 4) == 4);
  struct iou_completion c = t_expect(t, tag, 5000);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result == 4 && memcmp(buf, "ping", 4) == 0);
}

int main(void) {
  struct t_loop *t = t_open_default(8);
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  int bl[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, bl) == 0);
  wait_case(t, bl[0], bl[1], 4, false); /* blocking: the loop sleeps in io_uring_enter */
  close(bl[0]);
  close(bl[1]);
  wait_case(t, sv[0], sv[1], 1, true);
  int fds[2];
  t_tcp_pair(fds);
  wait_case(t, fds[1], fds[0], 2, true);

  /* Idle: nothing in flight, parked in a syscall. */
  uint64_t cpu0 = t_cpu_ns();
  t_sleep_ms(300);
  CHECK(t_cpu_ns() - cpu0 < 30 * T_MS);
  struct iou_request nop = t_req(IOU_OP_NOP, -1, 3);
  t_submit(t, &nop);
  t_expect(t, 3, 5000);
  t_close(t, -1);
  close(sv[0]);
  close(sv[1]);
  close(fds[0]);
  close(fds[1]);
  return T_EXIT_PASS;
}
