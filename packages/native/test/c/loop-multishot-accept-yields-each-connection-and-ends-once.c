/* IOU_OP_ACCEPT_MANY on a loopback listener: one SQE, one completion with IOU_COMPLETION_MORE per
 * connection (its result the accepted fd, a connected socket, flagged IOU_COMPLETION_FD), and
 * exactly one completion without MORE: CANCELLED after a cancel, TIMEOUT at the deadline of the
 * whole request. Nothing of a request comes after its last completion. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

static int listener(uint16_t *port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
  CHECK(listen(fd, 64) == 0);
  socklen_t len = sizeof(a);
  CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
  *port = ntohs(a.sin_port);
  return fd;
}

static int dial(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  CHECK(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
  return fd;
}

/* The connections (MORE completions) of tag so far, and whether its end came (checked to be last). */
static uint32_t accepted(struct t_loop *t, uint64_t tag, struct iou_completion *end, bool *ended) {
  uint32_t n = 0;
  *ended = false;
  for (uint32_t i = 0; i < t->ngot; i++) {
    if (t->got[i].tag != tag) continue;
    CHECK(!*ended); /* nothing after the end */
    if (t->got[i].flags & IOU_COMPLETION_MORE) {
      CHECK(t->got[i].outcome == IOU_OUTCOME_OK && t->got[i].result >= 0);
      CHECK(t->got[i].flags & IOU_COMPLETION_FD); /* the fd is the owner's to close */
      struct sockaddr_in peer;
      socklen_t len = sizeof(peer);
      CHECK(getpeername(t->got[i].result, (struct sockaddr *)&peer, &len) == 0); /* a connected socket */
      n++;
    } else {
      *end = t->got[i];
      *ended = true;
    }
  }
  return n;
}

static struct iou_completion run(struct t_loop *t, uint64_t tag, uint64_t deadline_ns, bool cancel) {
  uint16_t port;
  int l = listener(&port);
  struct iou_request r = t_req(IOU_OP_ACCEPT_MANY, l, tag);
  r.arg = SOCK_CLOEXEC;
  r.deadline_ns = deadline_ns;
  t_submit(t, &r);
  int clients[5];
  for (int i = 0; i < 5; i++) clients[i] = dial(port);
  struct iou_completion end;
  bool ended = false;
  uint64_t limit = t_now_ns() + 5000 * T_MS;
  while (accepted(t, tag, &end, &ended) < 5) {
    CHECK(!ended && t_now_ns() < limit);
    t_sleep_ms(1);
    t_poll(t);
  }
  if (cancel) CHECK(iou_loop_cancel(t->loop, tag) == 0);
  while (!ended) {
    CHECK(t_now_ns() < limit);
    t_sleep_ms(1);
    t_poll(t);
    (void)accepted(t, tag, &end, &ended);
  }
  t_sleep_ms(10);
  t_poll(t);
  CHECK(accepted(t, tag, &end, &ended) == 5); /* and still only one end, last */
  for (uint32_t i = 0; i < t->ngot; i++)
    if (t->got[i].tag == tag && (t->got[i].flags & IOU_COMPLETION_MORE)) close(t->got[i].result);
  for (int i = 0; i < 5; i++) close(clients[i]);
  close(l);
  return end;
}

int main(void) {
  struct t_loop *t = t_open_default(8);
  struct iou_completion end = run(t, 1, 0, true);
  CHECK(end.outcome == IOU_OUTCOME_CANCELLED);
  uint64_t deadline = t_now_ns() + 200 * T_MS;
  end = run(t, 2, deadline, false);
  CHECK(end.outcome == IOU_OUTCOME_TIMEOUT);
  CHECK(t_now_ns() >= deadline);
  t_close(t, -1);
  return T_EXIT_PASS;
}
