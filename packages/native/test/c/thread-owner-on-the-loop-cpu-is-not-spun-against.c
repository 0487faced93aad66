/* Owner and loop pinned to one CPU (the loop thread inherits the affinity of the thread that opens
 * it). Whatever the loop polls for there (new requests in the idle spin, the end of a turn in the
 * turn wait) can only come from the owner, which cannot run while the loop polls: a poll there
 * only delays the owner, by its whole budget whenever the scheduler lets the poller run first.
 * So a loop confined to one CPU sleeps at once when the owner last published from it. Checked with
 * a 1 ms idle spin over 4000 one-at-a-time nops: the loop parks every time, so many publishes need
 * a wake (more than a quarter; a spinning loop needs almost none), and at most one round trip in 20
 * takes 500 µs or more (a loop that spins against its owner makes many wait out the spin; the bound
 * is loose because a loaded machine adds its own delays: under TSan, with other processes busy on
 * both CPUs, 101 of 4000 once took that long). With the loop on one CPU and the owner
 * on another the spin still runs and catches most requests (fewer wakes than half the nops). */
#include <stdio.h>

#include "helpers.h"

#define SPIN_US 1000u
#define SLOW_NS (500 * 1000u)
#define NOPS 4000

/* NOPS round trips one at a time; returns how many took SLOW_NS or longer. */
static int slow_round_trips(struct t_loop *t, uint64_t *wakes) {
  struct iou_stats before, after;
  iou_loop_stats(t->loop, &before);
  int slow = 0;
  for (uint64_t tag = 1; tag <= NOPS; tag++) {
    uint64_t t0 = t_now_ns();
    struct iou_request r = t_req(IOU_OP_NOP, -1, tag);
    t_submit(t, &r);
    CHECK(t_expect(t, tag, 5000).outcome == IOU_OUTCOME_OK);
    if (t_now_ns() - t0 >= SLOW_NS) slow++;
  }
  iou_loop_stats(t->loop, &after);
  *wakes = after.wakes - before.wakes;
  return slow;
}

int main(void) {
  int cpu_a, cpu_b;
  t_first_cpus(&cpu_a, &cpu_b);

  if (!t_pin_to(cpu_a)) {
    fprintf(stderr, "skip: pinning to CPU %d did not take effect here\n", cpu_a);
    return T_EXIT_SKIP;
  }
  struct t_loop *shared = t_open_spinning(SPIN_US);
  uint64_t wakes_shared;
  int slow = slow_round_trips(shared, &wakes_shared);
  if (slow > 0) fprintf(stderr, "%d of %d round trips took 500 µs or longer\n", slow, NOPS);
  if (wakes_shared <= NOPS / 4)
    fprintf(stderr, "owner on the loop's CPU: only %llu wakes for %d nops\n", (unsigned long long)wakes_shared, NOPS);
  CHECK(wakes_shared > NOPS / 4); /* the loop parked instead of spinning */
  CHECK(slow <= NOPS / 20);       /* and nobody waited out a spin */
  t_close(shared, -1);

  if (cpu_b < 0) return T_EXIT_PASS;               /* one CPU: the other half needs two */
  struct t_loop *apart = t_open_spinning(SPIN_US); /* on cpu_a */
  CHECK(t_pin_to(cpu_b));
  uint64_t wakes_apart;
  (void)slow_round_trips(apart, &wakes_apart);
  if (wakes_apart >= NOPS / 2)
    fprintf(stderr, "owner on its own CPU: %llu wakes for %d nops\n", (unsigned long long)wakes_apart, NOPS);
  CHECK(wakes_apart < NOPS / 2); /* the spin caught most of them */
  t_close(apart, -1);
  return T_EXIT_PASS;
}
