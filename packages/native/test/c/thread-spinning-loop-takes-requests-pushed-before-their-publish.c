/* The thread engine takes requests as the owner pushes them, not only when it publishes them: a
 * loop that polls (the idle spin, or the wait for the rest of the owner's turn) also looks at the
 * inbound queue, so the requests of a long turn are under way before the turn's closing publish.
 * Here the owner pushes a request and does not publish it: with the loop in its idle spin, and
 * with the loop waiting for the turn (a recv in flight), the request completes anyway. The
 * publish that ends the turn afterwards changes nothing (no request is taken twice). Skipped when
 * this process may use one CPU only: a loop confined to the owner's CPU does not poll at all (see
 * thread-owner-on-the-loop-cpu-is-not-spun-against), so it takes nothing before the publish. */
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

#define BUDGET_US 2000000u /* 2 s: the loop polls for far longer than any step below */

static uint64_t taken(struct t_loop *t) {
  struct iou_stats st;
  iou_loop_stats(t->loop, &st);
  return st.submitted;
}

int main(void) {
  int cpu_a, cpu_b;
  t_first_cpus(&cpu_a, &cpu_b);
  if (cpu_b < 0) {
    fprintf(stderr, "skip: a loop on the owner's only CPU does not poll\n");
    return T_EXIT_SKIP;
  }
  struct t_loop *t = t_open_spinning(BUDGET_US);

  /* The idle spin: a nop published early completes; the loop has nothing in flight and polls. */
  struct iou_request first = t_req(IOU_OP_NOP, -1, 1);
  CHECK(iou_loop_submit(t->loop, &first, 1) == 1);
  iou_loop_publish_early(t->loop);
  CHECK(t_expect(t, 1, 5000).outcome == IOU_OUTCOME_OK);
  t_sleep_ms(20);
  struct iou_request pushed = t_req(IOU_OP_NOP, -1, 2);
  CHECK(iou_loop_submit(t->loop, &pushed, 1) == 1); /* not published */
  CHECK(t_expect(t, 2, 1000).outcome == IOU_OUTCOME_OK);
  iou_loop_publish(t->loop); /* the turn ends; its request was taken already */
  CHECK(taken(t) == 2);

  /* The turn wait: a recv in flight, the owner in its turn; a pushed nop completes unpublished. */
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  uint8_t buf[8];
  struct iou_request recv = t_req_buf(IOU_OP_RECV, sv[0], 3, buf, 8);
  CHECK(iou_loop_submit(t->loop, &recv, 1) == 1);
  iou_loop_publish_early(t->loop);
  uint64_t end = t_now_ns() + 5000 * T_MS;
  while (taken(t) < 3) {
    CHECK(t_now_ns() < end);
    t_sleep_ms(1);
  }
  t_sleep_ms(20);
  struct iou_request nop = t_req(IOU_OP_NOP, -1, 4);
  CHECK(iou_loop_submit(t->loop, &nop, 1) == 1); /* not published */
  CHECK(t_expect(t, 4, 1000).outcome == IOU_OUTCOME_OK);
  CHECK(!t_has(t, 3));
  iou_loop_publish(t->loop);
  CHECK(write(sv[1], "abc", 3) == 3);
  struct iou_completion c = t_expect(t, 3, 5000);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result == 3);

  /* Published requests still go through as usual. */
  struct iou_request last = t_req(IOU_OP_NOP, -1, 5);
  CHECK(iou_loop_submit(t->loop, &last, 1) == 1);
  iou_loop_publish(t->loop);
  CHECK(t_expect(t, 5, 5000).outcome == IOU_OUTCOME_OK);
  CHECK(taken(t) == 5);
  t_close(t, -1);
  close(sv[0]);
  close(sv[1]);
  return T_EXIT_PASS;
}
