/*
 * loop.h: the loop's state (struct iou_loop) and its phases, shared by loop.c, which implements the
 * phases, loop_api.c (include/iou.h's API and the ring's creation), shutdown.c, which ends a loop,
 * and the two engines that drive them: engine_thread.c (the seed's dedicated loop thread, with its
 * waker, idle spin, turn wait and one-CPU rule) and engine_inline.c (the owner's own event loop runs
 * the phases on its thread). Internal to csrc/; include/iou.h is the API.
 *
 * The phases, in the order one iteration runs them (the seed's run loop):
 *   iou__handle_cqes            every CQE: a request completes, is requeued (partial progress, a
 *                               readiness poll) or a cancel's CQE is dropped
 *   iou__take_cancels           the owner's cancels: waiters get ASYNC_CANCEL, queued requests end
 *   (cutoff)                    closing past the shutdown cutoff: iou__abandon_all, then exit
 *   iou__advance_timeouts       expired deadlines: ASYNC_CANCEL in the kernel, parked ones end
 *   iou__fill_submission_queue  wake re-arm -> pending cancels -> ready queue -> fresh requests;
 *                               at waiter capacity, queued requests whose deadline passed end
 *   iou__deliver_completions    the gauge, then completions to the owner (notify at most once)
 *   (wait)                      the engine's: thread_wait.h's named outcomes, or the host loop
 * and the shutdown drain, one step at a time (iou__drain_step), when closing and nothing is queued
 * (shutdown.c, with the cutoff's abandonment and the owner's close and destroy).
 * Every phase runs on the one thread that drives the loop (the loop thread, or the inline owner).
 */
#ifndef IOU_LOOP_H
#define IOU_LOOP_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "channel.h"
#include "compat.h"
#include "credentials.h"
#include "fill.h"
#include "iou.h"
#include "ring.h"
#include "spinner.h"
#include "waiter.h"
#include "waker.h"
#include "wheel.h"

#define IOU_NO_DEADLINE UINT64_MAX

/* Counters: stored by the loop thread with relaxed load+store (single writer), read relaxed by
 * iou_loop_stats on any thread. They order nothing themselves; the pending_operations store is
 * sequenced before the completions' release store (update_gauge before publish_completions). */
struct iou__counters {
  _Atomic uint64_t submitted, completed, failed, timed_out, cancelled, requeued, sqes_staged, enters, cq_overflow,
      cq_kernel_overflow, abandoned;
  _Atomic uint32_t pending_operations;
  _Atomic bool single_issuer;
};

/* A FIFO of WaiterIds (ready queue, pending cancels). Grows by doubling up to `bound`, so its
 * memory follows the most requests queued at once, not the waiter capacity. Loop thread. */
struct iou__id_queue {
  uint64_t *ids;
  uint32_t capacity;
  uint32_t bound;
  uint32_t head;
  uint32_t len;
};

struct iou_loop {
  /* Fixed at open. */
  uint32_t size;          /* SQ entries and inbound queue capacity */
  uint32_t max_in_flight; /* waiter capacity */
  bool io_poll;
  bool want_single_issuer;
  uint8_t operations; /* IOU_CLASS_* bits this loop accepts (never 0) */
  iou_notify_fn notify;
  void *notify_ctx;
  uint8_t engine; /* IOU_ENGINE_* */
  /* Thread engine: the loop thread. */
  pthread_t thread;
  sem_t opened;    /* posted by the loop thread once open_result is set */
  int open_result; /* written before the post, read after the wait */

  /* Shared between the owner and the loop thread. */
  struct iou__waker waker;
  struct iou__inbound inbound;
  struct iou__cancels cancels;
  struct iou__completions completions;
  _Atomic bool closing; /* owner release-stores in close; loop acquire-loads */
  /* Owner stores it before closing (relaxed). The first close's release of `closing` publishes it;
   * a later, shorter close is published by the wake's release, paired with the loop's arm/park
   * RMW; a relaxed read of the older cutoff until then only delays the cutoff. */
  _Atomic uint64_t shutdown_deadline_ns;
  _Atomic bool exited; /* loop release-stores once everything is published; owner acquire-loads */
  /* The loop thread's last touch of `loop` or of the owner's notify context: release-stored after
   * the notify that follows `exited` returned (with `exited`, inline). Owner acquire-loads it in
   * iou_loop_try_destroy before it frees anything. The thread may still take a while to end after
   * it (see there). */
  _Atomic bool finished;
  bool stopped; /* iou_loop_stop ran: the loop exited and its thread was joined. Owner only. */
  /* True between iou_loop_publish_early and the iou_loop_publish that ends the owner's turn. Owner
   * stores it: true before the turn's first publish (relaxed), false after its last (release,
   * pairing with the acquire load of the turn wait, engine_thread.c); the loop's wait decision
   * reads it relaxed, as a hint: whether the loop sleeps is still decided by the waker's
   * arm-and-recheck, so a stale value costs a little spinning or one eventfd wake-up, never a lost
   * request. */
  _Atomic bool owner_in_turn;
  /* Only for a one_cpu loop: the CPU the owner ran on when it last published (sched_getcpu; -1
   * unknown). Owner relaxed-stores it before the publish's release; the loop relaxed-loads it in
   * owner_on_this_cpu, usually after acquiring that publish, but nothing depends on which value it
   * sees: sleeping is decided by the arm-and-recheck, so a stale CPU costs one wake or one budget. */
  _Atomic int owner_cpu;
  /* The owner's affinity at open has one CPU, so the loop thread, which inherits it, has too. Fixed
   * at open, before the thread starts (pthread_create orders it); read by both. */
  bool one_cpu;
  /* Bumped by the loop thread on every request: on cache lines of their own (IOU_CACHE_LINE), so
   * that the owner's stores above and below do not take the line away from the loop thread. */
  _Alignas(IOU_CACHE_LINE) struct iou__counters counters;

  /* Owner only, written on every submit: a cache line of its own as well. */
  _Alignas(IOU_CACHE_LINE) uint32_t unpublished; /* submitted since the last publish */
  struct iou__credentials credentials; /* owner only: the process's, taken at open (iou_loop_credentials_changed) */
  /* The provided buffers of IOU_OP_RECV_MANY: mapped at open, registered by iou__new_ring on the
   * ring's thread, produced into by the owner only (iou_loop_recv_buffers_return). */
  struct iou__buf_ring recv_buffers;
  bool destroyed;

  /* The thread that runs the phases: the loop thread (thread engine) or the owner (inline). */
  _Alignas(IOU_CACHE_LINE) struct iou_ring ring;
  struct iou__waiters waiters;
  struct iou__wheel wheel;
  struct iou__id_queue ready_queue;
  struct iou__id_queue pending_cancels;
  bool use_wake_poll;     /* false with IOPOLL (POLL_ADD is not allowed there) */
  bool wake_poll_oneshot; /* tests only (iou_loop_config): every wake CQE ends the poll */
  iou_trace_fn trace;     /* tests only (iou_loop_config): NULL = off */
  void *trace_ctx;
  bool wake_rearm_needed;           /* the multishot wake poll is neither armed nor staged */
  bool room_freed;                  /* took requests the owner waited to submit: notify even without completions */
  uint32_t processed_seq;           /* requests taken from the inbound queue, mod 2^29 */
  struct iou__spinner idle_spinner; /* calibrated by the loop thread before its first iteration */
  uint32_t idle_spin_us, idle_spin_max_us, idle_spin_quick_wake_us; /* fixed at open */
  /* Requests waiting in the inbound queue for a waiter slot: the earliest deadline among them
   * (IOU_NO_DEADLINE: none, or the loop is not at waiter capacity) and the inbound position up to
   * which their deadlines are folded into it (expire_queued). */
  uint64_t queued_deadline_ns;
  uint32_t queued_scanned;
  /* wait_for_owner_turn spent its budget with processed_seq at turn_wait_seq: it does not wait
   * again until the loop takes another request. */
  bool turn_wait_ran_out;
  uint32_t turn_wait_seq;
  /* Inline engine: IOU_INLINE_WAKE_* it opened with; fixed by iou__inline_start. Owner only. */
  uint8_t inline_wake;
  /* Inline engine, IOU_INLINE_WAKE_RINGFD: a pass is due for work the ring fd does not announce
   * (iou__inline_wake); iou_loop_timeout_ns answers 0 until a pass runs. Owner only. */
  bool wake_pending;
  /* Inline engine: the last io_uring_enter failed transiently (EINTR, EAGAIN, EBUSY) before it ran
   * the ring's task work, so the pass that follows must enter even if the SQ is empty and no
   * TASKRUN flag is seen (the eventfd that announced the work was already read). Owner only. */
  bool enter_again;
  /* Inline engine: passes iou_loop_publish ran since the host loop last called iou_loop_run. At
   * IOU_INLINE_PUBLISH_PASSES a publish runs no pass and leaves its requests to the host loop's next
   * callback (iou__inline_wake), so that requests whose completions make more requests at once (a
   * chain of page-cache reads awaited one after the other) give the host loop a turn. Owner only. */
  uint32_t publish_passes;
  /* Inline engine: file transfers of at least IOU_INLINE_SPREAD_BYTES staged in the current fill
   * pass (iou__fill_submission_queue resets it). Driving thread only. */
  uint32_t spread_staged;
};

/* Inline engine: a single-buffer file read or write of at least this many bytes is staged with
 * IOSQE_ASYNC. Without it the kernel copies a page-cached transfer inside the io_uring_enter that
 * submits it, that is on the JS thread, for about as long as a memcpy of that size; with it the copy
 * runs on an io-wq worker and the enter returns at once. Sockets are left alone (io-wq would park a
 * worker on a receive that waits for data). Smaller transfers stay inline, where they are cheapest. */
#define IOU_INLINE_ASYNC_BYTES (256u * 1024u)
/* Inline engine: when one fill pass stages several single-buffer file transfers of at least this
 * many bytes (many reads in flight at once) and the owner may run on more than one CPU, every one
 * after the first goes with IOSQE_ASYNC too, so that io-wq workers copy them on the other CPUs while
 * the owner's enter copies the first. A lone transfer of this size stays inline. */
#define IOU_INLINE_SPREAD_BYTES (32u * 1024u)
/* Inline engine: passes iou_loop_publish may run between two calls of iou_loop_run, the host loop's
 * readiness and timer callbacks (publish_passes; publishes from the host's other callbacks count
 * too, so one in this many waits for a host-loop iteration it might not have needed). Each pass
 * delivers what completed at once, whose callbacks may publish again before the host loop gets
 * control back; past this many, the host loop's timers and other I/O run before the next pass. */
#define IOU_INLINE_PUBLISH_PASSES 256u

/* ---- phases (the driving thread) ------------------------------------------------------------ */

/* Counts n into a counter (single writer: relaxed load + store). */
void iou__bump(_Atomic uint64_t *c, uint64_t n);

/* Acquire-loads `closing` (pairs with iou_loop_close's release). */
bool iou__closing(struct iou_loop *loop);
/* Closing and past the shutdown cutoff. */
bool iou__shutdown_expired(struct iou_loop *loop);

/* io_uring_enter: submits what is staged and waits for `want` CQEs at most timeout_ns (-1: no
 * limit). Returns its result: the SQEs taken, or a transient -errno (EINTR, EAGAIN, EBUSY, ETIME:
 * call again); anything else aborts. */
int iou__submit_and_wait(struct iou_loop *loop, uint32_t want, int64_t timeout_ns);
/* io_uring_enter without waiting (GETEVENTS: deferred task work runs, its CQEs are posted); its
 * result as iou__submit_and_wait's. */
int iou__submit(struct iou_loop *loop);
/* The wait bound in ns (-1: none): the next deadline (wheel, parked, or of a request queued behind
 * full waiters) and, while closing, the shutdown cutoff. */
int64_t iou__wait_timeout(struct iou_loop *loop);

void iou__handle_cqes(struct iou_loop *loop);
void iou__take_cancels(struct iou_loop *loop);
void iou__advance_timeouts(struct iou_loop *loop);
/* Stages in the seed's order and folds the deadlines of requests queued behind full waiters. */
enum iou__fill_result iou__fill_submission_queue(struct iou_loop *loop);
/* Staging stopped with the SQ full while pending cancels, ready-queue entries or the wake re-arm
 * are still queued: submit without waiting and go round again. */
bool iou__staging_left(const struct iou_loop *loop);
void iou__deliver_completions(struct iou_loop *loop);

/* Pieces of the phases that the shutdown (shutdown.c) runs on their own.
 * A request ended: its completion queued for the owner, the counters bumped. */
void iou__complete(struct iou_loop *loop, const struct iou_completion *c);
void iou__complete_locally(struct iou_loop *loop, uint64_t tag, int32_t result, uint8_t outcome);
/* Requests the end of a live waiter with `outcome`: an in-flight one gets one ASYNC_CANCEL (pending
 * cancels), a parked one ends when the ready queue reaches it. */
void iou__cancel_waiter(struct iou_loop *loop, uint64_t id, uint8_t outcome);
/* Staging steps in the seed's order; each returns false when it stopped for lack of SQ room. */
bool iou__stage_wake_rearm(struct iou_loop *loop);
bool iou__stage_cancellations(struct iou_loop *loop);
bool iou__stage_ready_requests(struct iou_loop *loop);

/* ---- shutdown (shutdown.c; the driving thread) ---------------------------------------------- */

/* The shutdown cutoff passed: every request ends (abandoned kernel-held after a short grace). */
void iou__abandon_all(struct iou_loop *loop);

/* One step of the shutdown drain (closing, the inbound queue empty): handles CQEs, cancels,
 * the cutoff, deadlines and staging, and says what the engine does next. */
enum iou__drain_step {
  IOU_DRAIN_DONE,   /* no waiter left (or the cutoff abandoned them): exit */
  IOU_DRAIN_SUBMIT, /* submit without waiting, then step again */
  IOU_DRAIN_WAIT,   /* submit and wait for a CQE, a wake or iou__wait_timeout, then step again */
};
enum iou__drain_step iou__drain_step(struct iou_loop *loop);
/* The loop's last act: final gauge and completions, the ring closed (the thread engine's; the inline
 * engine's stays open until iou__free_loop), `exited` release-stored. */
void iou__finish(struct iou_loop *loop);

/* ---- the ring and the loop's memory --------------------------------------------------------- */

/* Creates the ring on the calling thread (the thread that will submit: SINGLE_ISSUER's issuer)
 * with the config's flags plus `extra_flags`, falling back as iou.h says. 0 or -errno. */
int iou__new_ring(struct iou_loop *loop, uint32_t extra_flags);
/* Frees the loop and what iou_loop_open allocated, closing the ring first if it is still open (the
 * inline engine's, or one that never started). Owner. */
void iou__free_loop(struct iou_loop *loop);
/* An id queue (the ready queue, the pending cancels) of `capacity` ids, growing up to `bound`. */
int iou__id_queue_init(struct iou__id_queue *q, uint32_t capacity, uint32_t bound);

/* ---- engines (owner thread unless said otherwise) -------------------------------------------- */

int iou__thread_start(struct iou_loop *loop);
void iou__thread_publish(struct iou_loop *loop, bool early);
int iou__thread_cancel(struct iou_loop *loop, uint64_t tag);
void iou__thread_join(struct iou_loop *loop);
bool iou__thread_try_join(struct iou_loop *loop);

int iou__inline_start(struct iou_loop *loop);
int iou__inline_submit(struct iou_loop *loop, const struct iou_request *requests, uint32_t n);
void iou__inline_run(struct iou_loop *loop);
void iou__inline_publish(struct iou_loop *loop);
int iou__inline_cancel(struct iou_loop *loop, uint64_t tag);
void iou__inline_wake(struct iou_loop *loop);
void iou__inline_stop(struct iou_loop *loop);

#endif /* IOU_LOOP_H */
