/*
 * thread_wait.h: how the thread engine's loop waits at the end of an iteration (step 6 of loop.c),
 * as a pure decision: the facts the iteration ends with in, one named outcome out (as the seed's
 * transitions return named outcomes). No syscalls, no atomics, no clock: the caller gathers the
 * facts (the atomic ones are hints; see loop.c) and carries the outcome out. @iou/core's
 * ThreadWait is the same function, name for name (IOU_WAIT_SUBMIT_ONLY <-> ThreadWait.SubmitOnly).
 *
 * The rules, first match wins:
 *   1. Disconnected (closing, inbound queue empty) -> DRAIN.
 *   2. The SQ is full, or it filled while pending cancels, ready-queue entries or the wake re-arm
 *      were still queued -> SUBMIT_ONLY, even at waiter capacity: waiting for a CQE then could wait
 *      on the very op a queued cancel targets (the model's departure from the seed).
 *   3. No wake poll (IOPOLL: POLL_ADD is not allowed there): fully idle -> PARK, else SUBMIT_ONLY
 *      (nothing could end a blocking enter when the owner publishes).
 *   4. Fully idle (drained, no waiter) -> SPIN_THEN_PARK, or PARK when spinning is off or the owner
 *      is on the loop's only CPU.
 *   5. Drained with waiters in flight while the owner is in the middle of a turn -> OWNER_TURN,
 *      unless spinning is off, the owner is on the loop's only CPU, or the turn wait already ran
 *      out and no request was taken since. A turn that outlasts the budget ends in BLOCK.
 *   6. Otherwise: at waiter capacity -> BLOCK_AT_CAPACITY, drained with waiters in flight -> BLOCK.
 * "The owner is on the loop's only CPU" (one_cpu && owner_on_loop_cpu): nothing the owner would
 * publish can arrive while the loop polls for it, so the loop never spins or waits for the turn
 * then; on a loop that may run elsewhere the CPU match says little and is ignored.
 * Invariant the caller keeps (loop.c): a DRAINED fill leaves nothing staged behind, so rule 2
 * reads staging_left only for the other fills; the order makes the rule hold regardless.
 */
#ifndef IOU_THREAD_WAIT_H
#define IOU_THREAD_WAIT_H

#include <stdbool.h>

#include "fill.h"

enum iou__wait {
  /* Shutdown: let in-flight work finish (loop.c drain) and exit. */
  IOU_WAIT_DRAIN,
  /* io_uring_enter without waiting, then go round again. */
  IOU_WAIT_SUBMIT_ONLY,
  /* FUTEX_WAIT on the waker's word unless work or a wake is already there; no spin. */
  IOU_WAIT_PARK,
  /* Poll the published sequence for the spinner's budget, then PARK and tell the spinner how long
   * it slept. */
  IOU_WAIT_SPIN_THEN_PARK,
  /* Submit what is staged and poll briefly for the end of the owner's turn; BLOCK when the budget
   * runs out. */
  IOU_WAIT_OWNER_TURN,
  /* Arm the waker; io_uring_enter waiting for one CQE (until the next deadline) unless work was
   * published or a wake latched. */
  IOU_WAIT_BLOCK,
  /* As BLOCK, but published work is no reason to stay awake (it cannot be admitted): only a
   * latched wake (cancel, close, completion-queue room) is, or a request pushed since the queued
   * deadlines were folded (the wait's bound must know its deadline). */
  IOU_WAIT_BLOCK_AT_CAPACITY,
};

#define IOU_WAIT_COUNT (IOU_WAIT_BLOCK_AT_CAPACITY + 1)

struct iou__wait_facts {
  enum iou__fill_result fill;
  bool staging_left;      /* pending cancels, ready-queue entries or the wake re-arm still queued */
  bool wake_poll;         /* the ring watches the waker's eventfd (false with IOPOLL) */
  bool waiters_in_flight; /* the waiter slab is not empty */
  bool spin_enabled;      /* idle_spin_us > 0: the idle spin and the turn wait may poll */
  bool owner_in_turn;     /* between iou_loop_publish_early and the publish that ends the turn */
  bool turn_wait_spent;   /* the turn wait ran out and the loop has taken no request since */
  bool one_cpu;           /* the loop thread is confined to one CPU */
  bool owner_on_loop_cpu; /* the owner last published from the CPU the loop runs on */
};

/* Any thread; pure. */
enum iou__wait iou__wait_decide(const struct iou__wait_facts *facts);

/* "SUBMIT_ONLY" etc., for tests and traces. */
const char *iou__wait_name(enum iou__wait wait);

#endif /* IOU_THREAD_WAIT_H */
