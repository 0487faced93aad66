/* The owner's turn (iou_loop_publish_early ... iou_loop_publish). With a recv in flight and the
 * owner in the middle of a turn, the loop waits for the rest of the turn instead of arming its
 * sleep, so the publish that ends the turn needs no eventfd write; with idle_spin_us 0 the same
 * sequence needs one (the loop slept in io_uring_enter). A cancel during the wait is taken at once,
 * not at the end of the budget. A turn that never ends costs one budget: then the loop sleeps (its
 * CPU time stops growing) and a cancel still wakes it. Results are the same either way.
 * The loop does not wait for a turn whose thread last ran on the loop's own CPU (it could not run
 * while the loop polled): pinned to one CPU together, the ending publish needs its eventfd write
 * again. The loop thread inherits the affinity of the thread that opens it, so the waiting parts
 * run with the loop on one CPU and this thread on another (skipped with fewer than two CPUs, or
 * where pinning does not take effect). */
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

#define BUDGET_US 1000000u /* 1 s: far longer than any step below, even under the sanitizers */

static uint64_t wakes(struct t_loop *t) {
  struct iou_stats st;
  iou_loop_stats(t->loop, &st);
  return st.wakes;
}

static uint64_t taken(struct t_loop *t) {
  struct iou_stats st;
  iou_loop_stats(t->loop, &st);
  return st.submitted;
}

/* Waits until the loop has taken `count` requests in all (a loaded machine may not run the loop
 * thread for a while), then 50 ms more: the loop is now in the wait it chose after taking them. */
static void until_taken(struct t_loop *t, uint64_t count) {
  uint64_t end = t_now_ns() + 5000 * T_MS;
  while (taken(t) < count) {
    CHECK(t_now_ns() < end);
    t_sleep_ms(1);
  }
  t_sleep_ms(50);
}

/* recv (tag 1) published early, 50 ms later a nop (tag 2) ends the turn; returns the wakes the
 * ending publish needed. The recv stays in flight. */
static uint64_t turn_with_a_recv_in_flight(struct t_loop *t, int fd, uint8_t *buf) {
  struct iou_request r = t_req_buf(IOU_OP_RECV, fd, 1, buf, 8);
  uint64_t count = taken(t) + 1;
  CHECK(iou_loop_submit(t->loop, &r, 1) == 1);
  iou_loop_publish_early(t->loop);
  until_taken(t, count); /* the loop took the recv: it is now waiting for the turn, or asleep */
  uint64_t before = wakes(t);
  struct iou_request nop = t_req(IOU_OP_NOP, -1, 2);
  CHECK(iou_loop_submit(t->loop, &nop, 1) == 1);
  iou_loop_publish(t->loop);
  struct iou_completion c = t_expect(t, 2, 5000);
  CHECK(c.outcome == IOU_OUTCOME_OK);
  CHECK(!t_has(t, 1));
  return wakes(t) - before;
}

int main(void) {
  uint8_t buf[8];
  int sv[2];
  int cpu_a, cpu_b;
  t_first_cpus(&cpu_a, &cpu_b);

  /* Without the spin budget the loop sleeps with the recv in flight: the ending publish wakes it. */
  struct t_loop *plain = t_open_spinning(0);
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  CHECK(turn_with_a_recv_in_flight(plain, sv[0], buf) == 1);
  CHECK(write(sv[1], "abc", 3) == 3);
  CHECK(t_expect(plain, 1, 5000).result == 3);
  t_close(plain, -1);
  close(sv[0]);
  close(sv[1]);

  /* Owner and loop on one CPU: the loop sleeps instead of waiting, as without the budget. */
  if (!t_pin_to(cpu_a)) {
    fprintf(stderr, "skip: pinning to CPU %d did not take effect here\n", cpu_a);
    return T_EXIT_SKIP;
  }
  struct t_loop *shared = t_open_spinning(BUDGET_US); /* its thread inherits cpu_a alone */
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  CHECK(turn_with_a_recv_in_flight(shared, sv[0], buf) == 1);
  CHECK(write(sv[1], "abc", 3) == 3);
  CHECK(t_expect(shared, 1, 5000).result == 3);
  t_close(shared, -1);
  close(sv[0]);
  close(sv[1]);

  /* The loop on cpu_a, this thread on cpu_b: the loop waits for the rest of the turn. */
  if (cpu_b < 0) {
    fprintf(stderr, "skip: waiting for a turn needs the owner and the loop on two CPUs\n");
    return T_EXIT_SKIP;
  }
  struct t_loop *t = t_open_spinning(BUDGET_US);
  CHECK(t_pin_to(cpu_b));
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  CHECK(turn_with_a_recv_in_flight(t, sv[0], buf) == 0);

  /* A cancel while the loop waits for a turn is taken at once. */
  int sp[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
  uint8_t buf3[8];
  struct iou_request r3 = t_req_buf(IOU_OP_RECV, sp[0], 3, buf3, 8);
  uint64_t count3 = taken(t) + 1;
  CHECK(iou_loop_submit(t->loop, &r3, 1) == 1);
  iou_loop_publish_early(t->loop);
  until_taken(t, count3);
  uint64_t t0 = t_now_ns();
  CHECK(iou_loop_cancel(t->loop, 3) == 0);
  CHECK(t_expect(t, 3, 5000).outcome == IOU_OUTCOME_CANCELLED);
  CHECK(t_now_ns() - t0 < 300 * T_MS);

  /* The turn above never ended: after one budget the loop sleeps and its CPU time stops growing. */
  uint8_t buf4[8];
  struct iou_request r4 = t_req_buf(IOU_OP_RECV, sp[0], 4, buf4, 8);
  uint64_t count4 = taken(t) + 1;
  CHECK(iou_loop_submit(t->loop, &r4, 1) == 1);
  iou_loop_publish_early(t->loop);
  until_taken(t, count4);
  t_sleep_ms(BUDGET_US / 1000 + 300);
  uint64_t cpu0 = t_cpu_ns();
  t_sleep_ms(500);
  CHECK(t_cpu_ns() - cpu0 < 200 * T_MS);
  CHECK(!t_has(t, 4));
  CHECK(iou_loop_cancel(t->loop, 4) == 0);
  CHECK(t_expect(t, 4, 5000).outcome == IOU_OUTCOME_CANCELLED);

  CHECK(write(sv[1], "abc", 3) == 3);
  struct iou_completion c1 = t_expect(t, 1, 5000);
  CHECK(c1.outcome == IOU_OUTCOME_OK && c1.result == 3);
  t_close(t, -1);
  close(sv[0]);
  close(sv[1]);
  close(sp[0]);
  close(sp[1]);
  return T_EXIT_PASS;
}
