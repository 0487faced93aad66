/*
 * loop.c: the loop's phases (the seed's mod.rs, step by step; see loop.h for the order) over one
 * struct iou_loop. The public API of include/iou.h (open, submit, publish, cancel, completions,
 * stats) and the ring's creation are loop_api.c's; how a loop ends (close, the shutdown drain, the
 * cutoff, destroy) is shutdown.c's; who drives the phases is the engine's: engine_thread.c (a
 * dedicated loop thread) or engine_inline.c (the owner's thread runs them). Nothing here waits
 * except through iou__submit_and_wait, which the engines and the shutdown's abandonment call.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "loop.h"
#include "request.h"

/* ---- small helpers (loop thread) ---------------------------------------------------------- */

void iou__bump(_Atomic uint64_t *c, uint64_t n) {
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}

int iou__id_queue_init(struct iou__id_queue *q, uint32_t capacity, uint32_t bound) {
  q->ids = calloc(capacity, sizeof(*q->ids));
  q->capacity = capacity;
  q->bound = bound;
  q->head = q->len = 0;
  return q->ids == NULL ? -ENOMEM : 0;
}

/* Doubles a full queue's capacity up to its bound (its entries unwrapped to the front); false at
 * the bound. Out of memory is fatal: an id would be lost. */
static bool id_queue_grow(struct iou__id_queue *q) {
  if (q->capacity >= q->bound) return false;
  uint32_t capacity = q->capacity * 2 < q->bound ? q->capacity * 2 : q->bound;
  uint64_t *ids = malloc((size_t)capacity * sizeof(*ids));
  IOU_ASSERT_ERRNO(ids != NULL, errno, "id queue: out of memory growing it (an id would be lost)");
  for (uint32_t i = 0; i < q->len; i++) ids[i] = q->ids[(q->head + i) % q->capacity];
  free(q->ids);
  q->ids = ids;
  q->capacity = capacity;
  q->head = 0;
  return true;
}

static void id_queue_push(struct iou__id_queue *q, uint64_t id) {
  if (q->len == q->capacity) (void)id_queue_grow(q);
  IOU_ASSERT(q->len < q->capacity, "id queue overflow");
  q->ids[(q->head + q->len++) % q->capacity] = id;
}

static uint64_t id_queue_front(const struct iou__id_queue *q) {
  return q->ids[q->head];
}

static void id_queue_pop(struct iou__id_queue *q) {
  q->head = (q->head + 1) % q->capacity;
  q->len--;
}

/* Pending cancels are provably bounded (2 * max_in_flight, asserted anyway): an entry is pushed only
 * when a waiter goes Active -> CancelRequested while in flight, which happens at most once per
 * waiter occupancy, so at most max_in_flight entries are live (their waiter still in flight) at any time.
 * The others are stale (their op CQE came first) and staging drops them; when the queue is full
 * they are compacted away in place here, which leaves at most max_in_flight - 1 live entries plus
 * the new one. No allocation. */
static void push_pending_cancel(struct iou_loop *loop, uint64_t id) {
  struct iou__id_queue *q = &loop->pending_cancels;
  if (q->len == q->capacity && !id_queue_grow(q)) {
    uint32_t kept = 0;
    for (uint32_t i = 0; i < q->len; i++) { /* writes never overtake reads: safe in place */
      uint64_t entry = q->ids[(q->head + i) % q->capacity];
      if (iou__waiters_is_in_flight(&loop->waiters, entry)) q->ids[(q->head + kept++) % q->capacity] = entry;
    }
    q->len = kept;
  }
  IOU_ASSERT(q->len < q->capacity, "pending cancels overflow: more live entries than waiters");
  id_queue_push(q, id);
}

/* A request ended: queue its completion for the owner and count it. */
void iou__complete(struct iou_loop *loop, const struct iou_completion *c) {
  struct iou__counters *k = &loop->counters;
  if (iou__completions_add(&loop->completions, c) > 0) iou__bump(&k->cq_overflow, 1);
  iou__bump(&k->completed, 1);
  switch (c->outcome) {
    case IOU_OUTCOME_ERROR:
    case IOU_OUTCOME_UNEXPECTED_EOF:
    case IOU_OUTCOME_WRITE_ZERO:
      iou__bump(&k->failed, 1);
      break;
    case IOU_OUTCOME_TIMEOUT:
      iou__bump(&k->timed_out, 1);
      break;
    case IOU_OUTCOME_CANCELLED:
      iou__bump(&k->cancelled, 1);
      break;
    case IOU_OUTCOME_ABANDONED:
      iou__bump(&k->abandoned, 1);
      break;
    default:
      break;
  }
}

void iou__complete_locally(struct iou_loop *loop, uint64_t tag, int32_t result, uint8_t outcome) {
  struct iou_completion c = {.tag = tag, .result = result, .outcome = outcome};
  iou__complete(loop, &c);
}

/* Moves completions into the owner's queue and notifies once if any became visible, or the owner
 * waits to hear that the inbound queue has room. */
static void publish_completions(struct iou_loop *loop) {
  bool room = loop->room_freed;
  loop->room_freed = false;
  if ((iou__completions_flush(&loop->completions) > 0 || room) && loop->notify != NULL) loop->notify(loop->notify_ctx);
}

bool iou__closing(struct iou_loop *loop) {
  return atomic_load_explicit(&loop->closing, memory_order_acquire); /* pairs with close's release */
}

bool iou__shutdown_expired(struct iou_loop *loop) {
  uint64_t deadline = atomic_load_explicit(&loop->shutdown_deadline_ns, memory_order_relaxed);
  return deadline != IOU_NO_DEADLINE && iou__now_ns() >= deadline;
}

/* ---- submission ----------------------------------------------------------------------------- */

/* io_uring_enter: EINTR, EAGAIN and EBUSY are transient (drain CQEs and go round again); -ETIME is
 * a timed-out wait. Anything else is an invariant violation. */
int iou__submit_and_wait(struct iou_loop *loop, uint32_t want, int64_t timeout_ns) {
  iou__bump(&loop->counters.enters, 1);
  int r = iou__ring_enter(&loop->ring, want, timeout_ns);
  bool transient = r >= 0 || r == -ETIME || r == -EINTR || r == -EAGAIN || r == -EBUSY;
  IOU_ASSERT_ERRNO(transient, -r,
                   "io_uring_enter failed with an unexpected error (EEXIST: a submit from a thread other than the "
                   "single issuer)");
  return r;
}

int iou__submit(struct iou_loop *loop) {
  return iou__submit_and_wait(loop, 0, -1);
}

/* The wait bound: the next deadline (wheel or parked, or of a request queued behind full waiters)
 * and, while closing, the shutdown cutoff. A bound at the end of the clock (UINT64_MAX: a deadline
 * whose tick begins past 2^64 ns saturates there) never comes: the wait has no timeout. */
int64_t iou__wait_timeout(struct iou_loop *loop) {
  uint64_t at = loop->queued_deadline_ns; /* IOU_NO_DEADLINE unless at waiter capacity */
  uint64_t tick = iou__wheel_next_tick(&loop->wheel);
  if (tick != IOU_WHEEL_NO_TICK && iou__wheel_tick_ns(&loop->wheel, tick) < at)
    at = iou__wheel_tick_ns(&loop->wheel, tick);
  if (iou__closing(loop)) {
    uint64_t cutoff = atomic_load_explicit(&loop->shutdown_deadline_ns, memory_order_relaxed);
    if (cutoff < at) at = cutoff;
  }
  if (at == IOU_NO_DEADLINE) return -1;
  uint64_t now = iou__now_ns();
  uint64_t left = at > now ? at - now : 0;
  return left > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)left;
}

/* ---- CQEs ----------------------------------------------------------------------------------- */

static uint8_t trace_cancel_of(const struct iou__waiter *w) {
  if (w->state != IOU_WAITER_CANCEL_REQUESTED) return IOU_TRACE_CANCEL_NONE;
  switch (w->cancel_outcome) {
    case IOU_OUTCOME_TIMEOUT:
      return IOU_TRACE_CANCEL_DEADLINE;
    case IOU_OUTCOME_CANCELLED:
      return IOU_TRACE_CANCEL_CALLER;
    default:
      return IOU_TRACE_CANCEL_SHUTDOWN;
  }
}

/* Tracing (tests only): the request as the op CQE found it. */
static void trace_before(struct iou_loop *loop, const struct io_uring_cqe *cqe, struct iou_trace_event *ev) {
  memset(ev, 0, sizeof(*ev));
  ev->res = cqe->res;
  struct iou__waiter *w = iou__waiters_get(&loop->waiters, cqe->user_data);
  if (w == NULL) return; /* a stale op CQE aborts in iou__waiters_on_completion anyway */
  ev->tag = w->request.req.tag;
  ev->done = w->request.done;
  ev->total = w->request.total;
  ev->iov_count = w->request.req.iov_count;
  ev->op = w->request.req.op;
  ev->flags = w->request.req.flags;
  ev->cancel = trace_cancel_of(w);
  ev->poll = w->request.poll_events != 0;
  ev->more = (cqe->flags & IORING_CQE_F_MORE) != 0;
}

/* Tracing (tests only): what the loop decided, reported before the completion is published. */
static void trace_after(struct iou_loop *loop, struct iou_trace_event *ev, uint8_t decision,
                        const struct iou_completion *c) {
  ev->decision = decision;
  ev->outcome = c->outcome;
  ev->result = c->result;
  ev->completion_flags = c->flags;
  loop->trace(loop->trace_ctx, ev);
}

/* A multishot op's result that is not its end: published with IOU_COMPLETION_MORE; not counted as
 * a completed request. */
static void publish_more(struct iou_loop *loop, const struct iou_completion *c) {
  if (iou__completions_add(&loop->completions, c) > 0) iou__bump(&loop->counters.cq_overflow, 1);
}

static void handle_cqe(struct iou_loop *loop, const struct io_uring_cqe *cqe) {
  if (cqe->user_data == IOU_WAKE_USER_DATA) {
    IOU_ASSERT(cqe->res != -EINVAL, "wake poll rejected: multishot POLL_ADD needs Linux 5.13");
    iou__waker_acknowledge(&loop->waker);
    if (!(cqe->flags & IORING_CQE_F_MORE)) loop->wake_rearm_needed = true; /* the multishot ended */
    return;
  }
  struct iou_trace_event ev;
  bool traced = loop->trace != NULL && !iou__user_data_is_cancel(cqe->user_data);
  if (traced) trace_before(loop, cqe, &ev);
  struct iou_completion c;
  bool had_tick = false;
  uint64_t tick = 0;
  switch (iou__waiters_on_completion(&loop->waiters, cqe->user_data, cqe->res, cqe->flags, &c, &had_tick, &tick)) {
    case IOU_CQE_OUTCOME_CANCEL:
      return;
    case IOU_CQE_OUTCOME_MORE:
      /* Traced before it is published, so that the owner finds the event once it has the result. */
      if (traced) trace_after(loop, &ev, IOU_TRACE_MORE, &c);
      publish_more(loop, &c);
      return;
    case IOU_CQE_OUTCOME_REQUEUE:
      id_queue_push(&loop->ready_queue, cqe->user_data);
      iou__bump(&loop->counters.requeued, 1);
      if (traced) {
        struct iou__waiter *w = iou__waiters_get(&loop->waiters, cqe->user_data);
        ev.decision = w->request.poll_events != 0 ? IOU_TRACE_POLL_WAIT : IOU_TRACE_REQUEUE;
        loop->trace(loop->trace_ctx, &ev);
      }
      return;
    case IOU_CQE_OUTCOME_COMPLETE:
      if (had_tick) iou__wheel_remove(&loop->wheel, cqe->user_data, tick);
      if (traced) trace_after(loop, &ev, IOU_TRACE_COMPLETE, &c);
      iou__complete(loop, &c);
      return;
  }
}

void iou__handle_cqes(struct iou_loop *loop) {
  struct io_uring_cqe cqe;
  bool any = false;
  while (iou__ring_next_cqe(&loop->ring, &cqe)) {
    handle_cqe(loop, &cqe);
    any = true;
  }
  if (any) iou__ring_cq_commit(&loop->ring);
  /* The kernel held CQEs back (its CQ was full, NODROP kept them): the next io_uring_enter hands
   * them over (every engine enters before it waits). Counted, nothing lost. */
  if (iou__ring_cq_overflowed(&loop->ring)) iou__bump(&loop->counters.cq_kernel_overflow, 1);
}

/* ---- cancellation and timeouts -------------------------------------------------------------- */

/* Requests the end of a live waiter with outcome; an in-flight one gets one ASYNC_CANCEL, a parked
 * one ends when the ready queue reaches it. */
void iou__cancel_waiter(struct iou_loop *loop, uint64_t id, uint8_t outcome) {
  bool had_tick = false;
  uint64_t tick = 0;
  if (!iou__waiters_cancel(&loop->waiters, id, outcome, &had_tick, &tick)) return;
  if (had_tick) iou__wheel_remove(&loop->wheel, id, tick);
  if (iou__waiters_is_in_flight(&loop->waiters, id)) push_pending_cancel(loop, id);
}

/* The owner's cancels: in a waiter, still queued in the inbound queue, or already completed. A
 * queued request ends CANCELLED now, even when the waiters are full and it waits behind others
 * (an interrupted fiber must not wait for a free slot); its entry is skipped when taken. */
void iou__take_cancels(struct iou_loop *loop) {
  struct iou__cancel_node *n = iou__cancels_take(&loop->cancels);
  while (n != NULL) {
    struct iou__cancel_node *next = n->next;
    uint64_t id;
    if (iou__waiters_find_tag(&loop->waiters, n->tag, &id))
      iou__cancel_waiter(loop, id, IOU_OUTCOME_CANCELLED);
    else if (iou__inbound_mark_ended(&loop->inbound, n->tag))
      iou__complete_locally(loop, n->tag, 0, IOU_OUTCOME_CANCELLED);
    /* else: not there, it already completed */
    free(n);
    n = next;
  }
}

void iou__advance_timeouts(struct iou_loop *loop) {
  if (!iou__wheel_has_deadlines(&loop->wheel)) return; /* no clock read when nothing has a deadline */
  int n = iou__wheel_advance(&loop->wheel, iou__now_ns());
  IOU_ASSERT_ERRNO(n >= 0, -n, "timeout wheel: advance failed");
  for (int i = 0; i < n; i++) {
    struct iou__wheel_entry e = loop->wheel.due[i];
    struct iou__waiter *w = iou__waiters_get(&loop->waiters, e.id);
    /* A stale entry (the waiter finished, or the slot was reused) is ignored. */
    if (w == NULL || w->state != IOU_WAITER_ACTIVE || !w->has_tick || w->tick != e.tick) continue;
    iou__cancel_waiter(loop, e.id, IOU_OUTCOME_TIMEOUT);
  }
}

static void end_queued_by_deadline(void *ctx, uint64_t tag) {
  iou__complete_locally(ctx, tag, 0, IOU_OUTCOME_TIMEOUT);
}

/* At waiter capacity, requests wait in the inbound queue for a slot; their deadlines still hold.
 * The deadlines of entries that arrived since the last call are folded into the earliest one
 * (each entry is read once); when that passes, one pass ends the expired ones TIMEOUT (their
 * entries are skipped when taken, as a cancel's) and finds the next earliest. Not at capacity,
 * the queue drains by admission, which checks deadlines itself: forget the earliest then, so
 * that a stale one never bounds a wait. */
static void expire_queued(struct iou_loop *loop, enum iou__fill_result fill) {
  if (fill != IOU_FILL_AT_WAITER_CAPACITY) {
    loop->queued_deadline_ns = IOU_NO_DEADLINE;
    /* The next fold starts at the head (we are head's only writer: a relaxed load of our own). */
    loop->queued_scanned = atomic_load_explicit(&loop->inbound.head, memory_order_relaxed);
    return;
  }
  uint64_t earliest = iou__inbound_deadlines(&loop->inbound, &loop->queued_scanned, 0, end_queued_by_deadline, loop);
  if (earliest < loop->queued_deadline_ns) loop->queued_deadline_ns = earliest;
  if (loop->queued_deadline_ns == IOU_NO_DEADLINE) return;
  uint64_t now = iou__now_ns();
  if (now < loop->queued_deadline_ns) return;
  /* The whole queue, from the head (we are head's only writer: a relaxed load of our own). */
  uint32_t from = atomic_load_explicit(&loop->inbound.head, memory_order_relaxed);
  loop->queued_deadline_ns = iou__inbound_deadlines(&loop->inbound, &from, now, end_queued_by_deadline, loop);
  loop->queued_scanned = from; /* folded up to the tail this pass read */
}

/* ---- staging -------------------------------------------------------------------------------- */

static enum iou__fill_result from_fill_state(struct iou_loop *loop) {
  /* closing first (acquire), then the queue: every request submitted before close is visible. */
  if (iou__closing(loop) && iou__inbound_peek(&loop->inbound) == NULL) return IOU_FILL_DISCONNECTED;
  if (iou__waiters_is_full(&loop->waiters)) return IOU_FILL_AT_WAITER_CAPACITY;
  if (iou__ring_sq_space(&loop->ring) == 0) return IOU_FILL_AT_SUBMISSION_QUEUE_CAPACITY;
  return IOU_FILL_DRAINED;
}

/* Stages one waiter (SQ room checked by the caller): its next SQE, or its local end. */
static void stage_request(struct iou_loop *loop, uint64_t id) {
  struct io_uring_sqe sqe;
  memset(&sqe, 0, sizeof(sqe));
  struct iou_completion c;
  if (iou__waiters_stage(&loop->waiters, id, &sqe, &c) == IOU_STAGE_TIMEOUT) {
    iou__complete(loop, &c); /* a timeout or cancel landed while it was parked */
    return;
  }
  if (loop->engine == IOU_ENGINE_INLINE && (sqe.opcode == IORING_OP_READ || sqe.opcode == IORING_OP_WRITE)) {
    /* A large page-cache copy goes to io-wq, not into the owner's enter; so do several at once. */
    if (sqe.len >= IOU_INLINE_ASYNC_BYTES ||
        (sqe.len >= IOU_INLINE_SPREAD_BYTES && !loop->one_cpu && loop->spread_staged++ > 0))
      sqe.flags |= IOSQE_ASYNC;
  }
  struct io_uring_sqe *k = iou__ring_get_sqe(&loop->ring);
  IOU_ASSERT(k != NULL, "stage_request without SQ room");
  *k = sqe;
  iou__bump(&loop->counters.sqes_staged, 1);
}

bool iou__stage_wake_rearm(struct iou_loop *loop) {
  if (!loop->use_wake_poll || !loop->wake_rearm_needed) return true;
  struct io_uring_sqe *sqe = iou__ring_get_sqe(&loop->ring);
  if (sqe == NULL) return false;
  iou__waker_prep_poll(&loop->waker, sqe);
  if (loop->wake_poll_oneshot) sqe->len = 0; /* tests: one CQE, then a re-arm */
  loop->wake_rearm_needed = false;
  iou__bump(&loop->counters.sqes_staged, 1);
  return true;
}

/* Returns false when it stopped for lack of SQ room. */
bool iou__stage_cancellations(struct iou_loop *loop) {
  struct iou__id_queue *q = &loop->pending_cancels;
  while (q->len > 0) {
    uint64_t id = id_queue_front(q);
    if (!iou__waiters_is_in_flight(&loop->waiters, id)) { /* its op CQE already came */
      id_queue_pop(q);
      continue;
    }
    struct io_uring_sqe *sqe = iou__ring_get_sqe(&loop->ring);
    if (sqe == NULL) return false;
    iou__prep_cancel(sqe, id);
    id_queue_pop(q);
    iou__bump(&loop->counters.sqes_staged, 1);
  }
  return true;
}

bool iou__stage_ready_requests(struct iou_loop *loop) {
  struct iou__id_queue *q = &loop->ready_queue;
  while (q->len > 0) {
    if (iou__ring_sq_space(&loop->ring) == 0) return false;
    uint64_t id = id_queue_front(q);
    id_queue_pop(q);
    stage_request(loop, id);
  }
  return true;
}

/* Admits one request taken from the inbound queue: ends it at once when it is invalid or has
 * nothing to transfer, or its deadline already passed; otherwise inserts it into the waiters,
 * schedules its deadline and stages its first SQE. */
static void admit_request(struct iou_loop *loop, const struct iou_request *req) {
  struct iou__request request;
  if (iou__request_init(&request, req, loop->operations)) {
    iou__complete_locally(loop, req->tag, request.result, request.outcome);
    return;
  }
  uint64_t tick = 0;
  if (req->deadline_ns != 0) {
    uint64_t now = iou__now_ns();
    if (req->deadline_ns <= now) { /* already expired: no slot, no SQE */
      iou__request_release(&request);
      iou__complete_locally(loop, req->tag, 0, IOU_OUTCOME_TIMEOUT);
      return;
    }
    /* After an idle period the wheel clock is stale: bring it to now before converting. */
    if (!iou__wheel_has_deadlines(&loop->wheel)) {
      int due = iou__wheel_advance(&loop->wheel, now);
      IOU_ASSERT_ERRNO(due >= 0, -due, "timeout wheel: advance failed");
      IOU_ASSERT(due == 0, "timeout wheel: a deadline came due while it tracked none");
    }
    tick = iou__wheel_target_tick(&loop->wheel, req->deadline_ns);
    IOU_ASSERT(tick != 0, "a future deadline maps to a past tick");
  }
  uint64_t id = iou__waiters_insert(&loop->waiters, &request, tick != 0, tick);
  if (tick != 0) {
    int r = iou__wheel_schedule(&loop->wheel, id, tick);
    IOU_ASSERT_ERRNO(r == 0, -r, "timeout wheel: schedule failed");
  }
  stage_request(loop, id);
}

/* The seed's staging order: wake re-arm -> cancels -> ready queue -> fresh requests. */
static enum iou__fill_result fill_sq(struct iou_loop *loop) {
  if (!iou__stage_wake_rearm(loop)) return IOU_FILL_AT_SUBMISSION_QUEUE_CAPACITY;
  if (!iou__stage_cancellations(loop)) return from_fill_state(loop);
  if (!iou__stage_ready_requests(loop)) return from_fill_state(loop);
  uint32_t taken = 0;
  while (iou__ring_sq_space(&loop->ring) > 0) {
    struct iou__inbound_entry *e = iou__inbound_peek(&loop->inbound);
    if (e == NULL) {
      /* Empty, but if the sequence says more was published, look once more (seed §5.4). */
      if (!iou__waker_pending(&loop->waker, loop->processed_seq)) break;
      e = iou__inbound_peek(&loop->inbound);
      if (e == NULL) break;
    }
    /* A request that ended while queued (take_cancels) needs no waiter: taken even when the slab
     * is full, and nothing more happens to it. */
    if (iou__waiters_is_full(&loop->waiters) && !e->ended) break;
    struct iou_request req = e->request;
    bool ended = e->ended;
    iou__inbound_pop(&loop->inbound);
    taken++;
    loop->processed_seq = (loop->processed_seq + 1) & IOU_WAKER_SUBMISSION_SEQ_MASK;
    iou__bump(&loop->counters.submitted, 1);
    if (!ended) admit_request(loop, &req);
  }
  if (taken > 0 && iou__inbound_took(&loop->inbound)) loop->room_freed = true;
  return from_fill_state(loop);
}

bool iou__staging_left(const struct iou_loop *loop) {
  return loop->pending_cancels.len > 0 || loop->ready_queue.len > 0 || (loop->use_wake_poll && loop->wake_rearm_needed);
}

static void update_gauge(struct iou_loop *loop) {
  atomic_store_explicit(&loop->counters.pending_operations, loop->waiters.len, memory_order_relaxed);
}

enum iou__fill_result iou__fill_submission_queue(struct iou_loop *loop) {
  loop->spread_staged = 0;
  enum iou__fill_result fill = fill_sq(loop);
  expire_queued(loop, fill);
  return fill;
}

/* The gauge first: its relaxed store is sequenced before the completions' release store, so an owner
 * that received a completion (acquire) reads a gauge that no longer counts it. */
void iou__deliver_completions(struct iou_loop *loop) {
  update_gauge(loop);
  publish_completions(loop);
}
