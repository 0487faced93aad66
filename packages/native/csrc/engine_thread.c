/*
 * engine_thread.c: the thread engine, the seed's shape. One dedicated thread per loop (named
 * "iou-loop") creates the ring and runs the phases of loop.h in a loop; the owner (the JS thread)
 * hands it requests through the inbound queue and wakes it through the waker (waker.h: one atomic per
 * publish, an eventfd write or futex wake only when the loop armed its sleep). At the end of each
 * iteration the loop decides how to wait with thread_wait.h's named outcomes: submit only, park
 * (after an adaptive idle spin, spinner.h), wait briefly for the rest of the owner's turn, or block
 * in io_uring_enter until a CQE, the next deadline or a wake; neither poll runs when the loop is
 * confined to one CPU and the owner last published from it.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "loop.h"
#include "thread_wait.h"

/* Has the owner pushed or published requests the loop has not taken yet? Loop thread. The
 * spinner's probe, and one of the turn wait's: a pushed request counts before its publish, so the
 * requests of a long turn are under way while the owner goes on (the peek reads the owner's tail,
 * acquire, only once the loop has taken every request it saw). A latched out-of-band wake (close,
 * cancel) is deliberately not a hit: nothing clears the latch before the next park, so it would
 * make every later spin hit at once; park_idle consumes it. */
static bool work_waiting(void *ctx) {
  struct iou_loop *loop = ctx;
  return iou__waker_pending(&loop->waker, loop->processed_seq) || iou__inbound_peek(&loop->inbound) != NULL;
}

/* Nothing in flight and the spin missed: park on the futex word, and tell the spinner how long a
 * real sleep lasted (a short one means spinning a little longer would have caught the work). */
static void park_idle(struct iou_loop *loop) {
  uint64_t start = iou__now_ns();
  if (iou__waker_park_idle(&loop->waker, loop->processed_seq))
    iou__spinner_on_wake(&loop->idle_spinner, iou__now_ns() - start);
}

/* Is the loop thread confined to one CPU (the owner's affinity at open: taskset, a one-CPU cpuset)
 * and did the owner last publish from that CPU? Then nothing the owner would publish can arrive
 * while the loop polls for it: it cannot run there until the poll ends, and the scheduler often
 * lets a poller run out its budget. The loop then sleeps instead of polling (the idle spin and the
 * turn wait). Not when the loop may run elsewhere: there the same CPU at one instant says little
 * (either thread may move at once), and acting on it measured worse (TCP echo, A/B in
 * bench/README.md, "Pinned to one CPU"). A hint: a wrong guess costs one park or one budget. Loop thread. */
static bool owner_on_this_cpu(struct iou_loop *loop) {
  if (!loop->one_cpu) return false;
  int cpu = sched_getcpu();
  return cpu >= 0 && cpu == atomic_load_explicit(&loop->owner_cpu, memory_order_relaxed);
}

/* IOU_WAIT_OWNER_TURN: the owner published early in its turn and more of the turn is coming; the
 * loop has waiters in flight and nothing left to stage. Sleeping now would make the owner's closing
 * publish pay an eventfd write and a cross-CPU wake-up, about as long as the turn itself on a small
 * machine, so: submit what is staged, then poll for up to idle_spin_us for the end of the turn, new
 * requests (pushed or published), a cancel, closing or a CQE. With DEFER_TASKRUN (the default) or
 * COOP_TASKRUN (the fallback) CQEs are posted only inside io_uring_enter, so completions that
 * arrive meanwhile, and a wake for completion-queue room (a latched wake is not polled: nothing
 * clears the latch before the next arm), wait at most the budget. Returns true when the caller
 * should go round again, false when it should block as usual (the turn outlasted the budget: the
 * wait decision does not choose the turn wait again until the loop takes another request, so a
 * turn that never ends costs one budget, not one per iteration). */
static bool wait_for_owner_turn(struct iou_loop *loop) {
  loop->turn_wait_ran_out = false;
  if (iou__ring_sq_pending(&loop->ring) > 0) {
    iou__submit(loop); /* staged SQEs go to the kernel now; the next iteration reaps and publishes */
    return true;
  }
  uint64_t end = iou__now_ns() + (uint64_t)loop->idle_spin_us * 1000;
  for (uint32_t i = 1;; i++) {
    /* Looks only: the next iteration takes each of these properly (the cancel stack's relaxed
     * load here is a hint; take_cancels exchanges it with acquire). The turn's end is loaded with
     * acquire, pairing with iou__thread_publish's release: the requests published with it are
     * visible to the next iteration. */
    if (!atomic_load_explicit(&loop->owner_in_turn, memory_order_acquire) ||
        work_waiting(loop) || iou__ring_cq_ready(&loop->ring) ||
        atomic_load_explicit(&loop->cancels.top, memory_order_relaxed) != NULL || iou__closing(loop))
      return true;
    iou__spin_hint();
    if (i % 64 == 0 && iou__now_ns() >= end) break; /* the clock every 64 polls, as the spinner */
  }
  loop->turn_wait_ran_out = true;
  loop->turn_wait_seq = loop->processed_seq;
  return false;
}

/* IOU_WAIT_BLOCK and IOU_WAIT_BLOCK_AT_CAPACITY: waiters in flight (or no capacity for more):
 * block in io_uring_enter until a CQE, the next deadline or a wake. With no waiter capacity, work
 * published ahead is no reason to stay awake (it cannot be admitted); a latched wake (cancel,
 * close, completion room) is, and so is a request pushed since this iteration folded the queued
 * deadlines (expire_queued): the wait's bound does not know its deadline yet, so the loop goes
 * round to fold it first. One pushed after the tail is read here is published after the arm, and
 * that publish sees the wait bit and wakes the loop. */
static void block(struct iou_loop *loop, bool at_capacity) {
  struct iou__waker_arm a = iou__waker_arm(&loop->waker, loop->processed_seq);
  bool sleep = a.still_idle;
  if (at_capacity) {
    /* Acquire pairs with the owner's release store of the tail in iou__inbound_push. */
    uint32_t tail = atomic_load_explicit(&loop->inbound.tail, memory_order_acquire);
    sleep = !a.wake_latched && tail == loop->queued_scanned;
  }
  if (sleep) iou__submit_and_wait(loop, 1, iou__wait_timeout(loop));
  iou__waker_disarm(&loop->waker);
}

/* IOU_WAIT_DRAIN: the shutdown drain, stepped by loop.c; this engine's part is how it waits
 * (armed, so that a cancel, a shorter close or completion room wakes it). */
static void drain(struct iou_loop *loop) {
  for (;;) {
    enum iou__drain_step step = iou__drain_step(loop);
    if (step == IOU_DRAIN_DONE) break;
    if (step == IOU_DRAIN_SUBMIT) {
      iou__submit(loop);
      continue;
    }
    struct iou__waker_arm a = iou__waker_arm(&loop->waker, loop->processed_seq);
    if (a.wake_latched)
      iou__submit(loop);
    else
      iou__submit_and_wait(loop, 1, iou__wait_timeout(loop));
    iou__waker_disarm(&loop->waker);
  }
}

/* Step 6: gathers the facts, lets iou__wait_decide (thread_wait.c) name the wait and carries it
 * out. Returns false once the loop drained and should exit. */
static bool thread_wait(struct iou_loop *loop, enum iou__fill_result fill) {
  struct iou__wait_facts facts = {
      .fill = fill,
      .staging_left = iou__staging_left(loop),
      .wake_poll = loop->use_wake_poll,
      .waiters_in_flight = !iou__waiters_is_empty(&loop->waiters),
      .spin_enabled = loop->idle_spin_us > 0,
      .owner_in_turn = atomic_load_explicit(&loop->owner_in_turn, memory_order_relaxed), /* a hint: see the field */
      .turn_wait_spent = loop->turn_wait_ran_out && loop->turn_wait_seq == loop->processed_seq,
      .one_cpu = loop->one_cpu,
      .owner_on_loop_cpu = owner_on_this_cpu(loop),
  };
  switch (iou__wait_decide(&facts)) {
    case IOU_WAIT_DRAIN:
      drain(loop);
      return false;
    case IOU_WAIT_SUBMIT_ONLY:
      iou__submit(loop);
      return true;
    case IOU_WAIT_PARK:
      /* Fully idle (or IOPOLL idle): park on the futex word without entering the ring, no spin,
       * nothing to adapt. A staged wake re-arm stays in the SQ; it is submitted by the next enter,
       * and arming a poll checks current readiness, so nothing written to the eventfd meanwhile is
       * lost. */
      (void)iou__waker_park_idle(&loop->waker, loop->processed_seq);
      return true;
    case IOU_WAIT_SPIN_THEN_PARK:
      if (!iou__spinner_spin(&loop->idle_spinner, work_waiting, loop)) park_idle(loop);
      return true;
    case IOU_WAIT_OWNER_TURN:
      if (!wait_for_owner_turn(loop)) block(loop, false); /* the turn outlasted the budget */
      return true;
    case IOU_WAIT_BLOCK:
      block(loop, false);
      return true;
    case IOU_WAIT_BLOCK_AT_CAPACITY:
      block(loop, true);
      return true;
  }
  IOU_ASSERT(0, "iou__wait_decide returned no outcome");
  return false;
}

static void *run(void *arg) {
  struct iou_loop *loop = arg;
  (void)pthread_setname_np(pthread_self(), "iou-loop"); /* for top, perf, gdb; failure is harmless */
  loop->open_result = iou__new_ring(loop, 0);
  sem_post(&loop->opened);
  if (loop->open_result != 0) return NULL;

  if (loop->idle_spin_us > 0) {
    /* Calibrated here, on the thread and CPU that spins, with the probe it will poll (~1 ms). */
    uint64_t per_ms = iou__spinner_calibrate(work_waiting, loop, 20000);
    (void)iou__spinner_init(&loop->idle_spinner, loop->idle_spin_us, loop->idle_spin_max_us,
                            loop->idle_spin_quick_wake_us, per_ms); /* checked in iou_loop_open */
  }
  loop->use_wake_poll = !loop->io_poll;
  loop->wake_rearm_needed = loop->use_wake_poll;
  for (;;) {
    iou__handle_cqes(loop);
    iou__take_cancels(loop);
    /* The cutoff before admission (as @iou/core's Loop): a request still queued when it passes
     * ends ABANDONED and never reaches the kernel. iou__abandon_all delivers what was handled. */
    if (iou__closing(loop) && iou__shutdown_expired(loop)) {
      iou__abandon_all(loop);
      break;
    }
    iou__advance_timeouts(loop);
    enum iou__fill_result fill = iou__fill_submission_queue(loop);
    iou__deliver_completions(loop);
    if (!thread_wait(loop, fill)) break;
  }

  iou_notify_fn notify = loop->notify;
  void *ctx = loop->notify_ctx;
  iou__finish(loop); /* only `finished` is touched after it */
  if (notify != NULL) notify(ctx);
  /* Release pairs with the acquire in iou__thread_try_join: the notify is over, and nothing of
   * `loop` or of the owner's context is touched after this store. */
  atomic_store_explicit(&loop->finished, true, memory_order_release);
  return NULL;
}

/* ---- the owner's side ---------------------------------------------------------------------- */

/* Starts the loop thread and waits until its ring exists. 0 or -errno (nothing left running). */
int iou__thread_start(struct iou_loop *loop) {
  if (sem_init(&loop->opened, 0, 0) != 0) return -errno;
  /* The loop thread blocks every signal: handlers run on the owner's threads, and the loop's
   * syscalls are not interrupted needlessly. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int err = -pthread_create(&loop->thread, NULL, run, loop);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (err != 0) {
    sem_destroy(&loop->opened);
    return err;
  }
  while (sem_wait(&loop->opened) != 0 && errno == EINTR) {
  }
  sem_destroy(&loop->opened);
  if (loop->open_result != 0) {
    pthread_join(loop->thread, NULL);
    return loop->open_result;
  }
  return 0;
}

void iou__thread_publish(struct iou_loop *loop, bool early) {
  /* A turn starts before its requests are published (relaxed: the publish's release orders it
   * before them) and ends after (release, pairing with the turn wait's acquire load): a loop that
   * sees the turn over sees the requests that ended it too, so it never arms its sleep over them
   * and the closing publish needs no eventfd write. */
  if (early) atomic_store_explicit(&loop->owner_in_turn, true, memory_order_relaxed);
  if (loop->one_cpu) atomic_store_explicit(&loop->owner_cpu, sched_getcpu(), memory_order_relaxed); /* a hint */
  uint32_t n = loop->unpublished;
  loop->unpublished = 0;
  iou__waker_publish(&loop->waker, n);
  if (!early) atomic_store_explicit(&loop->owner_in_turn, false, memory_order_release);
}

int iou__thread_cancel(struct iou_loop *loop, uint64_t tag) {
  int err = iou__cancels_push(&loop->cancels, tag);
  if (err != 0) return err;
  iou__waker_wake(&loop->waker);
  return 0;
}

/* The thread exited (iou_loop_exited): waits for its last notify to return (it must not block, iou.h),
 * then joins it only if it has ended already. */
bool iou__thread_try_join(struct iou_loop *loop) {
  while (!atomic_load_explicit(&loop->finished, memory_order_acquire)) sched_yield();
  return pthread_tryjoin_np(loop->thread, NULL) == 0; /* EBUSY: still leaving the kernel */
}

/* After a close with timeout 0: joining waits at most the abandonment grace. */
void iou__thread_join(struct iou_loop *loop) {
  pthread_join(loop->thread, NULL);
}
