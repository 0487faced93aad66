/* Many requests (NOPs, file reads, recvs that data may or may not satisfy) are cancelled at random
 * moments, including before admission and after completion. Every tag gets exactly one completion,
 * and a cancelled recv that still got its data reports OK (success wins). Run under TSan too. */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

#define N 3000

static int32_t seen[N];
static uint8_t kinds[N]; /* 0 nop, 1 read, 2 recv */

int main(void) {
  struct t_loop *t = t_open_default(16);
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  int fd = t_temp_file(4096);
  static uint8_t bufs[N][16];
  uint32_t rng = 99;
  uint32_t next = 0;
  uint32_t sent = 0; /* bytes the peer end sent: each is taken by exactly one recv that ends OK, or left */
  uint64_t end = t_now_ns() + 60000 * T_MS;
  while (next < N || t->ngot < N) {
    if (t_now_ns() > end) {
      struct iou_stats st;
      iou_loop_stats(t->loop, &st);
      fprintf(stderr, "stuck: next %u got %u submitted %llu completed %llu pending %u\n", next, t->ngot,
              (unsigned long long)st.submitted, (unsigned long long)st.completed, st.pending_operations);
      return T_EXIT_FAIL;
    }
    if (next < N) {
      rng = rng * 1103515245u + 12345u;
      uint32_t kind = (rng >> 16) % 3;
      struct iou_request r = t_req(IOU_OP_NOP, -1, next);
      if (kind == 1) {
        r = t_req_buf(IOU_OP_READ_AT, fd, next, bufs[next], 16);
        r.position = (rng >> 4) % 4000;
      } else if (kind == 2) {
        r = t_req_buf(IOU_OP_RECV, sv[0], next, bufs[next], 1);
        r.deadline_ns = t_now_ns() + 200 * T_MS;
        if ((rng >> 20) % 2 && send(sv[1], "z", 1, MSG_DONTWAIT) == 1) sent++; /* full buffer: skip */
      }
      int n = iou_loop_submit(t->loop, &r, 1);
      CHECK(n >= 0);
      if (n == 1) {
        kinds[next] = (uint8_t)kind;
        if ((rng >> 8) % 2) iou_loop_publish(t->loop);
        if ((rng >> 9) % 3 == 0) CHECK(iou_loop_cancel(t->loop, next) == 0);
        if (next > 5 && (rng >> 11) % 4 == 0) CHECK(iou_loop_cancel(t->loop, next - 5) == 0);
        next++;
      } else {
        /* The inbound queue is full: publish and let the host loop run (an inline loop's publishes
         * run a bounded number of passes between its callbacks). */
        iou_loop_publish(t->loop);
        t_sleep_ms(1);
      }
    } else {
      iou_loop_publish(t->loop);
      t_sleep_ms(1);
    }
    t_poll(t);
  }
  t_sleep_ms(50);
  t_poll(t);
  CHECK(t->ngot == N);
  memset(seen, 0, sizeof(seen));
  uint32_t received = 0;
  for (uint32_t i = 0; i < t->ngot; i++) {
    struct iou_completion *c = &t->got[i];
    CHECK(c->tag < N);
    CHECK(seen[c->tag]++ == 0);
    CHECK(c->outcome == IOU_OUTCOME_OK || c->outcome == IOU_OUTCOME_CANCELLED || c->outcome == IOU_OUTCOME_TIMEOUT);
    if (kinds[c->tag] == 2 && c->outcome == IOU_OUTCOME_OK) {
      CHECK(c->result == 1);
      received++;
    }
  }
  /* Success wins: a recv that took its byte reports OK, even when its cancel or deadline came
   * too, so every byte sent is either in an OK recv or still in the socket. */
  uint8_t rest[4096];
  ssize_t left = recv(sv[0], rest, sizeof(rest), MSG_DONTWAIT);
  if (left < 0) left = 0;
  if (sent != received + (uint32_t)left) fprintf(stderr, "sent %u, OK recvs %u, left %zd\n", sent, received, left);
  CHECK(sent == received + (uint32_t)left);
  struct iou_stats st;
  iou_loop_stats(t->loop, &st);
  CHECK(st.completed == N && st.submitted == N && st.pending_operations == 0);
  t_close(t, -1);
  close(fd);
  close(sv[0]);
  close(sv[1]);
  return T_EXIT_PASS;
}
