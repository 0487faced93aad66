/*
 * shutdown.c: how a loop ends. The owner's side (iou_loop_close, iou_loop_stop, iou_loop_destroy,
 * iou_loop_try_destroy), the shutdown drain one step at a time (iou__drain_step: in-flight work
 * finishes while deadlines, retries and cancels keep running), the cutoff's abandonment
 * (iou__abandon_all: one ASYNC_CANCEL per request in the kernel, a short grace, then KERNEL_HELD for
 * what did not come back) and the loop's last act (iou__finish). The phases it calls are loop.c's,
 * declared in loop.h; the engines decide when to call it (engine_thread.c, engine_inline.c).
 */
#include <errno.h>

#include "loop.h"

/* ---- the shutdown drain and the cutoff (the driving thread) ---------------------------------- */

/* How long the shutdown cutoff waits for the final CQEs of the requests it cancelled. An
 * ASYNC_CANCEL of a poll-driven op (sockets, pipes) lands at once; this bounds the wait for ops
 * that are slow to let go (an io-wq worker in a blocking call), so that close and env cleanup
 * (close with timeout 0 when Node exits or a worker ends) still return promptly. */
#define ABANDON_GRACE_NS (100ull * 1000 * 1000)

/* The shutdown cutoff passed. Requests still queued end ABANDONED at once. Every live waiter is
 * cancelled with outcome ABANDONED: one ASYNC_CANCEL each for those in the kernel (as for
 * deadlines; those already cancel-requested keep their cancel and outcome), local ends for those
 * waiting in the ready queue. Their CQEs are handled for at most ABANDON_GRACE_NS as usual (a
 * complete transfer still ends OK): the kernel has let go of their memory. Only waiters whose final
 * CQE did not come back end ABANDONED with IOU_COMPLETION_KERNEL_HELD, their loop-owned memory
 * leaked (the kernel may still use it; the owner quarantines its own). */
void iou__abandon_all(struct iou_loop *loop) {
  struct iou__inbound_entry *e;
  while ((e = iou__inbound_peek(&loop->inbound)) != NULL) {
    uint64_t tag = e->request.tag;
    bool ended = e->ended; /* already completed (cancelled while queued) */
    iou__inbound_pop(&loop->inbound);
    iou__bump(&loop->counters.submitted, 1);
    if (!ended) iou__complete_locally(loop, tag, 0, IOU_OUTCOME_ABANDONED);
  }
  for (uint32_t i = 0; i < loop->waiters.used; i++) { /* never-used slots are free */
    struct iou__waiter *w = &loop->waiters.entries[i];
    if (w->state == IOU_WAITER_ACTIVE) iou__cancel_waiter(loop, w->id, IOU_OUTCOME_ABANDONED);
  }
  uint64_t grace_end = iou__now_ns() + ABANDON_GRACE_NS;
  for (;;) {
    (void)(iou__stage_cancellations(loop) && iou__stage_ready_requests(loop)); /* ready ones end locally */
    iou__deliver_completions(loop);
    if (iou__waiters_is_empty(&loop->waiters)) return;
    uint64_t now = iou__now_ns();
    if (now >= grace_end) break;
    if (loop->pending_cancels.len > 0 || loop->ready_queue.len > 0)
      iou__submit(loop); /* the SQ filled: never wait then */
    else
      iou__submit_and_wait(loop, 1, (int64_t)(grace_end - now));
    iou__handle_cqes(loop);
  }
  for (uint32_t i = 0; i < loop->waiters.used; i++) { /* never-used slots are free */
    struct iou__waiter *w = &loop->waiters.entries[i];
    if (w->state == IOU_WAITER_FREE) continue;
    struct iou_completion c;
    iou__waiters_abandon(&loop->waiters, w->id, &c); /* KERNEL_HELD when in flight */
    iou__complete(loop, &c);
  }
  loop->ready_queue.len = 0;
  loop->pending_cancels.len = 0;
}

/* Closing and the inbound queue is empty: in-flight work finishes while deadlines, retries and
 * cancels keep running, until no waiter is left or the shutdown cutoff passes. */
enum iou__drain_step iou__drain_step(struct iou_loop *loop) {
  iou__handle_cqes(loop);
  iou__take_cancels(loop);
  if (iou__waiters_is_empty(&loop->waiters)) return IOU_DRAIN_DONE;
  if (iou__shutdown_expired(loop)) {
    iou__abandon_all(loop);
    return IOU_DRAIN_DONE;
  }
  iou__advance_timeouts(loop);
  (void)(iou__stage_wake_rearm(loop) && iou__stage_cancellations(loop) && iou__stage_ready_requests(loop));
  iou__deliver_completions(loop);
  if (iou__waiters_is_empty(&loop->waiters)) return IOU_DRAIN_DONE;             /* the last one ended locally */
  if (!loop->use_wake_poll || iou__staging_left(loop)) return IOU_DRAIN_SUBMIT; /* the SQ filled */
  return IOU_DRAIN_WAIT;
}

void iou__finish(struct iou_loop *loop) {
  iou__deliver_completions(loop);
  /* KERNEL_HELD requests' memory stays with its owners (quarantine). The inline engine's ring fd
   * (or eventfd) is what the owner's host loop polls: it stays open until the owner, having stopped
   * that poll, frees the loop (iou__free_loop), so that a poll never watches a closed fd, nor its
   * number reused by another file. */
  if (loop->engine == IOU_ENGINE_THREAD) iou__ring_exit(&loop->ring);
  /* Release pairs with the owner's acquire in iou_loop_exited / poll: the overflow list and every
   * completion are the owner's from now on. */
  atomic_store_explicit(&loop->exited, true, memory_order_release);
}

/* ---- the owner's side ------------------------------------------------------------------------ */

int iou_loop_close(struct iou_loop *loop, int64_t shutdown_timeout_ns) {
  if (shutdown_timeout_ns < -1) return -EINVAL;
  if (shutdown_timeout_ns >= 0) {
    /* A later close may shorten the cutoff (env cleanup closes with 0), never lengthen it. */
    uint64_t cutoff = iou__now_ns() + (uint64_t)shutdown_timeout_ns;
    if (cutoff < atomic_load_explicit(&loop->shutdown_deadline_ns, memory_order_relaxed))
      atomic_store_explicit(&loop->shutdown_deadline_ns, cutoff, memory_order_relaxed);
  }
  atomic_store_explicit(&loop->owner_in_turn, false, memory_order_relaxed); /* closing ends the turn */
  /* Release pairs with the loop's acquire in iou__closing(): the cutoff and every submitted request
   * are visible once it sees closing. The wake publishes it again for a loop that is asleep. */
  atomic_store_explicit(&loop->closing, true, memory_order_release);
  if (loop->engine == IOU_ENGINE_INLINE)
    iou__inline_wake(loop);
  else
    iou__waker_wake(&loop->waker);
  return 0;
}

bool iou_loop_exited(struct iou_loop *loop) {
  return atomic_load_explicit(&loop->exited, memory_order_acquire);
}

void iou_loop_stop(struct iou_loop *loop) {
  if (loop->stopped) return;
  iou_loop_close(loop, 0); /* idempotent; only ever shortens a cutoff, so this never hangs */
  if (loop->engine == IOU_ENGINE_INLINE)
    iou__inline_stop(loop);
  else
    iou__thread_join(loop);
  loop->stopped = true;
}

void iou_loop_destroy(struct iou_loop *loop) {
  if (loop == NULL) return;
  iou_loop_stop(loop);
  iou__free_loop(loop);
}

/* A thread that submitted io_uring requests waits, as it exits, for the io-wq workers still running
 * them (the kernel cancels what it can and lets the rest finish: a large write to a file, say). So a
 * loop that abandoned such a request with IOU_COMPLETION_KERNEL_HELD can have published everything
 * and still be in the kernel's exit path for as long as that request takes; pthread_join would make
 * the owner wait for it. Here the owner only looks. An inline loop has no thread: exited is enough. */
bool iou_loop_try_destroy(struct iou_loop *loop) {
  if (!iou_loop_exited(loop)) return false;
  if (loop->engine == IOU_ENGINE_THREAD && !loop->stopped && !iou__thread_try_join(loop)) return false;
  iou__free_loop(loop);
  return true;
}
