/*
 * engine_inline.c: the inline engine. The owner (the JS thread) creates the ring and runs the phases
 * of loop.h itself, on its own event loop; there is no loop thread, no inbound hand-off and no wake
 * between threads:
 *
 *   submit   a request waits in the inbound queue (single-threaded here: no hand-off, no wake) until
 *            the owner's publish at the end of its turn runs a pass, which admits and stages it; a
 *            full SQ is submitted and staging goes on, a bounded number of rounds per pass.
 *   run      iou_loop_publish (the end of the owner's turn), the host loop's readiness callback and
 *            its timer call iou__inline_run: one bounded pass of the phases that enters the ring only
 *            when there is something to submit or task work to run, handles CQEs, takes cancels,
 *            advances timeouts, fills the SQ and delivers completions. Publishes run at most
 *            IOU_INLINE_PUBLISH_PASSES passes between two calls of the loop's own host-loop
 *            callbacks (iou_loop_run; publishes from other callbacks count too): a completion's
 *            callback may publish again before the host loop gets control back, and a chain of
 *            requests that complete at once would otherwise never give it back; past the budget a
 *            publish only wakes the host loop (iou__inline_publish; @iou/core's InlineWake, "the
 *            publish budget").
 *   wake     how the host loop learns of work, one of two modes (iou_loop_config.inline_wake):
 *            eventfd  a SINGLE_ISSUER | DEFER_TASKRUN ring and its registered eventfd (the waker's):
 *                     work is queued, CQEs or task work that only entering the ring runs (with
 *                     DEFER_TASKRUN the ring fd does not turn readable for it). Its signals are off
 *                     while the owner enters and reaps itself (they would only announce CQEs the
 *                     pass is about to handle), and back on before the pass returns;
 *            ringfd   a COOP_TASKRUN | TASKRUN_FLAG ring whose own fd the host loop polls: readable
 *                     while the CQ holds entries (level-triggered). Task work for the owner (the
 *                     IORING_SQ_TASKRUN flag) runs when the owner's thread next leaves a syscall,
 *                     its epoll wait included, and its CQEs make the fd readable; task work that
 *                     posts no CQE needs nothing from us. There is nothing to switch off.
 *            Either way the pass ends with a recheck: work it can see now (CQEs, the TASKRUN flag,
 *            SQEs left to submit, a failed enter) is announced by ourselves, so the host loop calls
 *            again after its other callbacks (the seed's arm-and-recheck, in its inline form): a
 *            write of the eventfd, or with ringfd a pass due at once (iou_loop_timeout_ns answers
 *            0), since nothing but the kernel's own work makes the ring fd readable. The kernel
 *            does not signal everything: task work queued behind unrun task work, and CQEs it holds
 *            back for want of CQ room, signal nothing, and the eventfd that announced a pass was
 *            read before it. So a pass that leaves work (an enter failed with EINTR, EAGAIN or
 *            EBUSY, a CQE seen only later, the round limit) loops again or ends with the recheck
 *            finding that work where must_enter and more_work look. @iou/core's InlineWake models
 *            both handshakes and each of these faults.
 *   timer    iou_loop_timeout_ns is when the next deadline (or the shutdown cutoff) needs a pass.
 *   shutdown close marks closing; passes drain as the thread engine does; past the cutoff,
 *            iou__abandon_all runs synchronously (bounded by the abandonment grace). destroy is a
 *            synchronous bounded drain on the owner's thread.
 *
 * Every function here runs on the owner's thread.
 */
#include <errno.h>
#include <stdatomic.h>
#include <unistd.h>

#include "loop.h"

/* Passes of enter + handle CQEs + stage per run: bounds the time one host-loop callback spends here
 * when completions keep coming (page-cache reads complete inside the enter that submits them). */
#define INLINE_MAX_ROUNDS 8

/* ---- the wake modes: what differs between eventfd and ringfd is here ------------------------- */

/* eventfd: the ring must have DEFER_TASKRUN, or this mode has no reason to be (-EINVAL: the caller
 * falls back to ringfd). */
static int start_eventfd(struct iou_loop *loop) {
  if (!loop->want_single_issuer) return -EINVAL; /* DEFER_TASKRUN needs SINGLE_ISSUER */
  int err = iou__new_ring(loop, IORING_SETUP_TASKRUN_FLAG);
  if (err != 0) return err;
  if ((loop->ring.setup_flags & IORING_SETUP_DEFER_TASKRUN) == 0) { /* before Linux 6.1 */
    iou__ring_exit(&loop->ring);
    return -EINVAL;
  }
  err = iou__ring_register_eventfd(&loop->ring, loop->waker.eventfd);
  if (err != 0) {
    iou__ring_exit(&loop->ring);
    return err;
  }
  return 0;
}

/* ringfd: COOP_TASKRUN (Linux 5.19), never DEFER_TASKRUN; a plain ring before (its fd is pollable
 * all the same). */
static int start_ringfd(struct iou_loop *loop) {
  return iou__new_ring(loop, IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG);
}

static int start_mode(struct iou_loop *loop, uint8_t mode) {
  return mode == IOU_INLINE_WAKE_RINGFD ? start_ringfd(loop) : start_eventfd(loop);
}

/* The pass is about to enter and reap: eventfd signals off (they would announce only what it is
 * about to handle); ringfd: the pass now due is this one. */
static void quiet_wake(struct iou_loop *loop) {
  if (loop->inline_wake == IOU_INLINE_WAKE_RINGFD)
    loop->wake_pending = false;
  else
    iou__ring_eventfd_signals(&loop->ring, false);
}

/* The pass is done: eventfd signals back on (a full barrier, see iou__ring_eventfd_signals) before
 * the caller's recheck; ringfd has nothing to switch on. */
static void unquiet_wake(struct iou_loop *loop) {
  if (loop->inline_wake == IOU_INLINE_WAKE_EVENTFD) iou__ring_eventfd_signals(&loop->ring, true);
}

int iou__inline_start(struct iou_loop *loop) {
  loop->use_wake_poll = false; /* the host loop polls the eventfd or the ring fd instead */
  loop->wake_rearm_needed = false;
  uint8_t asked = loop->inline_wake;
  int err = start_mode(loop, asked);
  if (err == -EINVAL) { /* a setup flag this kernel refuses (or eventfd without single issuer) */
    uint8_t other = asked == IOU_INLINE_WAKE_RINGFD ? IOU_INLINE_WAKE_EVENTFD : IOU_INLINE_WAKE_RINGFD;
    err = start_mode(loop, other);
    if (err == 0) loop->inline_wake = other;
  }
  return err;
}

/* Makes the host loop call iou__inline_run soon. eventfd: a write (nonblocking; a saturated counter
 * is already readable, which is all that matters). ringfd: a pass due at once (iou_loop_timeout_ns),
 * which the owner's timer runs; no syscall. */
void iou__inline_wake(struct iou_loop *loop) {
  if (loop->inline_wake == IOU_INLINE_WAKE_RINGFD) {
    loop->wake_pending = true;
    return;
  }
  uint64_t one = 1;
  while (write(loop->waker.eventfd, &one, sizeof(one)) < 0 && errno == EINTR) {
  }
}

int iou__inline_submit(struct iou_loop *loop, const struct iou_request *requests, uint32_t n) {
  /* Admitted at the next pass (the owner's publish at the end of its turn): a request submitted
   * but not yet published is still queued, as with the thread engine, so a close before the publish
   * abandons it without it ever reaching the kernel. */
  return (int)iou__inbound_push(&loop->inbound, requests, n);
}

int iou__inline_cancel(struct iou_loop *loop, uint64_t tag) {
  int err = iou__cancels_push(&loop->cancels, tag);
  if (err != 0) return err;
  iou__inline_wake(loop); /* the next pass takes it */
  return 0;
}

/* Must the pass enter the ring: SQEs to submit, task work the kernel flagged, CQEs the kernel held
 * back for want of CQ room, or an enter that failed transiently (whose task work may be announced
 * by nothing else any more)? */
static bool must_enter(struct iou_loop *loop) {
  return loop->enter_again || iou__ring_sq_pending(&loop->ring) > 0 || iou__ring_taskrun(&loop->ring) ||
         iou__ring_cq_overflowed(&loop->ring);
}

/* Is there anything a pass would do right now? */
static bool more_work(struct iou_loop *loop) {
  return must_enter(loop) || iou__ring_cq_ready(&loop->ring);
}

void iou__inline_run(struct iou_loop *loop) {
  if (atomic_load_explicit(&loop->exited, memory_order_relaxed)) return; /* our own store */
  quiet_wake(loop);
  for (int round = 0; round < INLINE_MAX_ROUNDS; round++) {
    /* EINTR, EAGAIN, EBUSY: nothing ran; this round goes on with what it has, the pass ends, and
     * the recheck below (enter_again) brings the host loop back for another enter. */
    if (must_enter(loop)) loop->enter_again = iou__submit(loop) < 0;
    iou__handle_cqes(loop);
    iou__take_cancels(loop);
    if (iou__closing(loop) && iou__shutdown_expired(loop)) {
      iou__abandon_all(loop);
      iou__finish(loop);
      return;
    }
    iou__advance_timeouts(loop);
    enum iou__fill_result fill = iou__fill_submission_queue(loop);
    if (fill == IOU_FILL_DISCONNECTED && iou__waiters_is_empty(&loop->waiters)) {
      iou__finish(loop); /* closing, and the drain is done */
      return;
    }
    if (loop->enter_again || !more_work(loop)) break;
  }
  iou__deliver_completions(loop);
  unquiet_wake(loop);
  if (more_work(loop)) iou__inline_wake(loop); /* the recheck: come back after the host's callbacks */
}

int iou_loop_fd(struct iou_loop *loop) {
  if (loop->engine != IOU_ENGINE_INLINE) return -EINVAL;
  return loop->inline_wake == IOU_INLINE_WAKE_RINGFD ? loop->ring.fd : loop->waker.eventfd;
}

int iou_loop_inline_wake(struct iou_loop *loop) {
  return loop->engine == IOU_ENGINE_INLINE ? loop->inline_wake : -EINVAL;
}

int64_t iou_loop_timeout_ns(struct iou_loop *loop) {
  if (loop->engine != IOU_ENGINE_INLINE || atomic_load_explicit(&loop->exited, memory_order_relaxed)) return -1;
  if (loop->wake_pending) return 0;
  return iou__wait_timeout(loop);
}

/* The host loop's callback (readiness, timer): a new host-loop turn, so publishes run passes again. */
void iou_loop_run(struct iou_loop *loop) {
  if (loop->engine != IOU_ENGINE_INLINE) return;
  loop->publish_passes = 0;
  iou__inline_run(loop);
}

/* The owner's turn ended: a pass, unless IOU_INLINE_PUBLISH_PASSES publishes already ran one since
 * the host loop last called; then the requests wait for the host loop's next callback, which the
 * wake asks for and which runs after the host loop's other callbacks (its timers and I/O). */
void iou__inline_publish(struct iou_loop *loop) {
  if (loop->publish_passes >= IOU_INLINE_PUBLISH_PASSES) {
    iou__inline_wake(loop);
    return;
  }
  loop->publish_passes++;
  iou__inline_run(loop);
}

/* destroy: iou_loop_close(0) came first, so the first pass is past the cutoff and abandons what is
 * left (waiting at most the abandonment grace for cancelled requests to come back). */
void iou__inline_stop(struct iou_loop *loop) {
  while (!atomic_load_explicit(&loop->exited, memory_order_relaxed)) iou__inline_run(loop);
}
