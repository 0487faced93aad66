/* Through the real loop, a TCP server and client made only of ring requests: socket (a CLOEXEC fd),
 * bind, listen, an accept that waits in the kernel until a connect arrives (both end OK, the accept
 * with the connection's fd), shutdown of the write side (the peer's recv sees end of stream); a
 * connect to a port nobody listens on is ERROR -ECONNREFUSED, a bind to a port in use
 * -EADDRINUSE, an accept past its deadline TIMEOUT, an accept cancelled by the owner CANCELLED. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

static uint64_t next_tag = 1;

static struct iou_completion run(struct t_loop *t, struct iou_request *r) {
  r->tag = next_tag++;
  t_submit(t, r);
  return t_expect(t, r->tag, 5000);
}

static int ring_socket(struct t_loop *t) {
  struct iou_request r = t_req(IOU_OP_SOCKET, -1, 0);
  r.arg = AF_INET;
  r.arg2 = SOCK_STREAM | SOCK_CLOEXEC;
  struct iou_completion c = run(t, &r);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result >= 0);
  CHECK((fcntl(c.result, F_GETFD) & FD_CLOEXEC) != 0);
  return c.result;
}

static struct sockaddr_in loopback(uint16_t port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

int main(void) {
  struct t_loop *t = t_open_default(8);

  /* A listener: socket, bind to an ephemeral loopback port, listen. */
  int l = ring_socket(t);
  struct sockaddr_in a = loopback(0);
  struct iou_request b = t_req_buf(IOU_OP_BIND, l, 0, &a, sizeof(a));
  struct iou_completion c = run(t, &b);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result == 0);
  struct iou_request li = t_req(IOU_OP_LISTEN, l, 0);
  li.arg = 16;
  c = run(t, &li);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result == 0);
  socklen_t len = sizeof(a);
  CHECK(getsockname(l, (struct sockaddr *)&a, &len) == 0 && a.sin_port != 0);

  /* A second bind to the same port: EADDRINUSE. */
  int other = ring_socket(t);
  struct iou_request b2 = t_req_buf(IOU_OP_BIND, other, 0, &a, sizeof(a));
  c = run(t, &b2);
  CHECK(c.outcome == IOU_OUTCOME_ERROR && c.result == -EADDRINUSE);

  /* An accept waits in the kernel; a connect completes it. */
  struct iou_request ac = t_req(IOU_OP_ACCEPT, l, 100);
  ac.arg = SOCK_CLOEXEC;
  t_submit(t, &ac);
  t_sleep_ms(20);
  CHECK(!t_has(t, 100));
  int cl = ring_socket(t);
  struct iou_request co = t_req_buf(IOU_OP_CONNECT, cl, 0, &a, sizeof(a));
  c = run(t, &co);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result == 0);
  c = t_expect(t, 100, 5000);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result >= 0);
  int sv = c.result;
  CHECK((fcntl(sv, F_GETFD) & FD_CLOEXEC) != 0);
  CHECK(write(cl, "hi", 2) == 2);
  char got[4];
  CHECK(read(sv, got, sizeof(got)) == 2 && memcmp(got, "hi", 2) == 0);

  /* shutdown(SHUT_WR) of the client: the server's recv sees end of stream. */
  struct iou_request sh = t_req(IOU_OP_SHUTDOWN, cl, 0);
  sh.arg = SHUT_WR;
  c = run(t, &sh);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result == 0);
  struct iou_request rv = t_req_buf(IOU_OP_RECV, sv, 0, got, sizeof(got));
  c = run(t, &rv);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result == 0);

  /* A connect to a port bound but not listening: ECONNREFUSED. */
  struct sockaddr_in refused;
  len = sizeof(refused);
  CHECK(getsockname(other, (struct sockaddr *)&refused, &len) == 0);
  refused = loopback(0);
  struct iou_request b3 = t_req_buf(IOU_OP_BIND, other, 0, &refused, sizeof(refused));
  c = run(t, &b3);
  CHECK(c.outcome == IOU_OUTCOME_OK);
  len = sizeof(refused);
  CHECK(getsockname(other, (struct sockaddr *)&refused, &len) == 0);
  int cl2 = ring_socket(t);
  struct iou_request co2 = t_req_buf(IOU_OP_CONNECT, cl2, 0, &refused, sizeof(refused));
  c = run(t, &co2);
  CHECK(c.outcome == IOU_OUTCOME_ERROR && c.result == -ECONNREFUSED);

  /* An accept nobody connects to: its deadline ends it; the owner's cancel ends the next one. */
  struct iou_request late = t_req(IOU_OP_ACCEPT, l, 0);
  late.arg = SOCK_CLOEXEC;
  late.deadline_ns = t_now_ns() + 30 * T_MS;
  c = run(t, &late);
  CHECK(c.outcome == IOU_OUTCOME_TIMEOUT);
  struct iou_request cancelled = t_req(IOU_OP_ACCEPT, l, 200);
  cancelled.arg = SOCK_CLOEXEC;
  t_submit(t, &cancelled);
  t_sleep_ms(20);
  CHECK(iou_loop_cancel(t->loop, 200) == 0);
  c = t_expect(t, 200, 5000);
  CHECK(c.outcome == IOU_OUTCOME_CANCELLED);

  t_close(t, -1);
  close(cl2);
  close(sv);
  close(cl);
  close(other);
  close(l);
  return T_EXIT_PASS;
}
