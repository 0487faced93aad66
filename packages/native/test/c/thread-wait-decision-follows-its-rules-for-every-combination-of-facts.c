/* The thread engine's wait decision (iou__wait_decide) against a table of named cases taken from
 * the rules in thread_wait.h, and each rule checked over every combination of the facts (4 fill
 * results x 8 booleans). With --table it prints one line per combination instead ("fill=DRAINED
 * staging_left=0 ... -> BLOCK"), which @iou/core's ThreadWait must reproduce line for line
 * (packages/native/test/ThreadWait.conformance.test.ts). Pure: no loop, no ring, no thread. */
#include <string.h>

#include "helpers.h"
#include "thread_wait.h"

static const char *const FILL_NAMES[] = {"DRAINED", "AT_SUBMISSION_QUEUE_CAPACITY", "AT_WAITER_CAPACITY",
                                         "DISCONNECTED"};

#define BOOLS 8 /* the boolean facts, in the order of facts_of's bits */

static struct iou__wait_facts facts_of(enum iou__fill_result fill, unsigned bits) {
  struct iou__wait_facts f = {
      .fill = fill,
      .staging_left = bits & 1,
      .wake_poll = (bits >> 1) & 1,
      .waiters_in_flight = (bits >> 2) & 1,
      .spin_enabled = (bits >> 3) & 1,
      .owner_in_turn = (bits >> 4) & 1,
      .turn_wait_spent = (bits >> 5) & 1,
      .one_cpu = (bits >> 6) & 1,
      .owner_on_loop_cpu = (bits >> 7) & 1,
  };
  return f;
}

static void print_table(void) {
  for (int fill = IOU_FILL_DRAINED; fill <= IOU_FILL_DISCONNECTED; fill++) {
    for (unsigned bits = 0; bits < (1u << BOOLS); bits++) {
      struct iou__wait_facts f = facts_of(fill, bits);
      printf(
          "fill=%s staging_left=%d wake_poll=%d waiters_in_flight=%d spin_enabled=%d owner_in_turn=%d "
          "turn_wait_spent=%d one_cpu=%d owner_on_loop_cpu=%d -> %s\n",
          FILL_NAMES[fill], f.staging_left, f.wake_poll, f.waiters_in_flight, f.spin_enabled, f.owner_in_turn,
          f.turn_wait_spent, f.one_cpu, f.owner_on_loop_cpu, iou__wait_name(iou__wait_decide(&f)));
    }
  }
}

/* A busy loop with the wake poll, spinning on, nothing left to stage: the base of the named cases. */
static struct iou__wait_facts base(enum iou__fill_result fill) {
  struct iou__wait_facts f = {.fill = fill, .wake_poll = true, .waiters_in_flight = true, .spin_enabled = true};
  return f;
}

static void check_named_cases(void) {
  struct iou__wait_facts f;
  /* 1. Disconnected drains, whatever else holds. */
  f = base(IOU_FILL_DISCONNECTED);
  f.staging_left = true;
  CHECK(iou__wait_decide(&f) == IOU_WAIT_DRAIN);
  /* 2. A full SQ, or staging left behind, submits without waiting, even at waiter capacity. */
  f = base(IOU_FILL_AT_SUBMISSION_QUEUE_CAPACITY);
  CHECK(iou__wait_decide(&f) == IOU_WAIT_SUBMIT_ONLY);
  f = base(IOU_FILL_AT_WAITER_CAPACITY);
  f.staging_left = true;
  CHECK(iou__wait_decide(&f) == IOU_WAIT_SUBMIT_ONLY);
  /* 3. IOPOLL (no wake poll): idle parks, anything else submits. */
  f = base(IOU_FILL_DRAINED);
  f.wake_poll = false;
  f.waiters_in_flight = false;
  CHECK(iou__wait_decide(&f) == IOU_WAIT_PARK);
  f.waiters_in_flight = true;
  CHECK(iou__wait_decide(&f) == IOU_WAIT_SUBMIT_ONLY);
  f = base(IOU_FILL_AT_WAITER_CAPACITY);
  f.wake_poll = false;
  CHECK(iou__wait_decide(&f) == IOU_WAIT_SUBMIT_ONLY);
  /* 4. Fully idle spins then parks; parks at once without a budget or with the owner on the loop's
   *    only CPU; the same CPU on a loop that may run elsewhere is ignored. */
  f = base(IOU_FILL_DRAINED);
  f.waiters_in_flight = false;
  CHECK(iou__wait_decide(&f) == IOU_WAIT_SPIN_THEN_PARK);
  f.spin_enabled = false;
  CHECK(iou__wait_decide(&f) == IOU_WAIT_PARK);
  f.spin_enabled = true;
  f.one_cpu = true;
  f.owner_on_loop_cpu = true;
  CHECK(iou__wait_decide(&f) == IOU_WAIT_PARK);
  f.one_cpu = false;
  CHECK(iou__wait_decide(&f) == IOU_WAIT_SPIN_THEN_PARK);
  f.one_cpu = true;
  f.owner_on_loop_cpu = false;
  CHECK(iou__wait_decide(&f) == IOU_WAIT_SPIN_THEN_PARK);
  /* 5. Waiters in flight during the owner's turn wait for the turn, unless the turn wait ran out
   *    (and nothing was taken since), spinning is off or the owner is on the loop's only CPU. */
  f = base(IOU_FILL_DRAINED);
  f.owner_in_turn = true;
  CHECK(iou__wait_decide(&f) == IOU_WAIT_OWNER_TURN);
  f.turn_wait_spent = true;
  CHECK(iou__wait_decide(&f) == IOU_WAIT_BLOCK);
  f.turn_wait_spent = false;
  f.spin_enabled = false;
  CHECK(iou__wait_decide(&f) == IOU_WAIT_BLOCK);
  f.spin_enabled = true;
  f.one_cpu = true;
  f.owner_on_loop_cpu = true;
  CHECK(iou__wait_decide(&f) == IOU_WAIT_BLOCK);
  f = base(IOU_FILL_AT_WAITER_CAPACITY);
  f.owner_in_turn = true; /* no room for the rest of the turn: nothing to wait for */
  CHECK(iou__wait_decide(&f) == IOU_WAIT_BLOCK_AT_CAPACITY);
  /* 6. Otherwise block: at waiter capacity ignoring published work, else unless work came. */
  f = base(IOU_FILL_DRAINED);
  CHECK(iou__wait_decide(&f) == IOU_WAIT_BLOCK);
  f = base(IOU_FILL_AT_WAITER_CAPACITY);
  CHECK(iou__wait_decide(&f) == IOU_WAIT_BLOCK_AT_CAPACITY);
}

static bool polls(enum iou__wait w) {
  return w == IOU_WAIT_SPIN_THEN_PARK || w == IOU_WAIT_OWNER_TURN;
}

/* The outcomes that may sleep in io_uring_enter (a turn wait that runs out blocks). */
static bool blocks(enum iou__wait w) {
  return w == IOU_WAIT_BLOCK || w == IOU_WAIT_BLOCK_AT_CAPACITY || w == IOU_WAIT_OWNER_TURN;
}

static void check_rules_over_every_combination(void) {
  unsigned seen = 0; /* bit per outcome: every outcome is reachable */
  for (int fill = IOU_FILL_DRAINED; fill <= IOU_FILL_DISCONNECTED; fill++) {
    for (unsigned bits = 0; bits < (1u << BOOLS); bits++) {
      struct iou__wait_facts f = facts_of(fill, bits);
      enum iou__wait w = iou__wait_decide(&f);
      CHECK((unsigned)w < IOU_WAIT_COUNT);
      seen |= 1u << w;
      bool idle = fill == IOU_FILL_DRAINED && !f.waiters_in_flight;
      /* Drains exactly when disconnected. */
      CHECK((w == IOU_WAIT_DRAIN) == (fill == IOU_FILL_DISCONNECTED));
      /* Never sleeps or polls while SQ work or pending cancels / restages are staged. */
      if (fill == IOU_FILL_AT_SUBMISSION_QUEUE_CAPACITY || (f.staging_left && fill != IOU_FILL_DISCONNECTED))
        CHECK(w == IOU_WAIT_SUBMIT_ONLY);
      /* Parks or spins only when fully idle. */
      if (w == IOU_WAIT_PARK || w == IOU_WAIT_SPIN_THEN_PARK) CHECK(idle);
      /* Blocks in io_uring_enter only with waiters in flight or at waiter capacity, and with the
       * wake poll armed (nothing else could end the wait when the owner publishes). */
      if (blocks(w)) CHECK(f.wake_poll && (f.waiters_in_flight || fill == IOU_FILL_AT_WAITER_CAPACITY));
      CHECK((w == IOU_WAIT_BLOCK_AT_CAPACITY) ==
            (fill == IOU_FILL_AT_WAITER_CAPACITY && f.wake_poll && !f.staging_left));
      /* Never polls without a budget, or against an owner on the loop's only CPU. */
      if (polls(w)) CHECK(f.spin_enabled && !(f.one_cpu && f.owner_on_loop_cpu));
      /* Waits for the owner's turn only in it, with room to admit it, before the wait ran out. */
      if (w == IOU_WAIT_OWNER_TURN)
        CHECK(f.owner_in_turn && !f.turn_wait_spent && fill == IOU_FILL_DRAINED && f.waiters_in_flight);
      /* The owner's CPU matters only on a one-CPU loop. */
      if (!f.one_cpu) {
        struct iou__wait_facts g = f;
        g.owner_on_loop_cpu = !f.owner_on_loop_cpu;
        CHECK(iou__wait_decide(&g) == w);
      }
      /* Submits only without waiting: IOPOLL with waiters, or the rule above. */
      if (w == IOU_WAIT_SUBMIT_ONLY)
        CHECK(fill == IOU_FILL_AT_SUBMISSION_QUEUE_CAPACITY || f.staging_left || (!f.wake_poll && !idle));
    }
  }
  CHECK(seen == (1u << IOU_WAIT_COUNT) - 1);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--table") == 0) {
    print_table();
    return T_EXIT_PASS;
  }
  check_named_cases();
  check_rules_over_every_combination();
  return T_EXIT_PASS;
}
