/*
 * loop_api.c: the public API of include/iou.h over one struct iou_loop: opening a loop (its memory,
 * then the ring, created by the engine on the thread that will submit: iou__new_ring), submitting,
 * publishing, cancelling, taking completions and buffers back, and the counters. Each call goes to
 * the engine the loop was opened with (engine_thread.c or engine_inline.c); the phases the engines
 * run are loop.c's, the end of a loop shutdown.c's. Owner thread unless a function says otherwise.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "loop.h"
#include "request.h"

/* ---- the ring -------------------------------------------------------------------------------- */

int iou__new_ring(struct iou_loop *loop, uint32_t extra_flags) {
  bool single_issuer = false;
  uint32_t flags = (loop->io_poll ? IORING_SETUP_IOPOLL : 0) | extra_flags;
  /* A single-shot waiter has at most one op CQE and one cancel CQE outstanding: twice the waiters
   * (and never fewer than the kernel's own default, twice the SQ). A multishot one (RECV_MANY,
   * ACCEPT_MANY) may post more than that between two reaps; the kernel then keeps the extra CQEs
   * (NODROP) and the next enter hands them over (counted in cq_kernel_overflow): nothing is lost. */
  uint32_t cq_entries = 2 * (loop->max_in_flight > loop->size ? loop->max_in_flight : loop->size);
  uint8_t opcodes[IOU__MAX_RING_OPCODES];
  unsigned n = iou__request_opcodes(loop->operations, opcodes);
  int r = iou__ring_open(&loop->ring, loop->size, cq_entries, flags, loop->want_single_issuer, &single_issuer, opcodes,
                         n, &loop->recv_buffers);
  if (r == 0) atomic_store_explicit(&loop->counters.single_issuer, single_issuer, memory_order_relaxed);
  return r;
}

/* ---- the API (owner thread unless said otherwise) ------------------------------------------- */

void iou__free_loop(struct iou_loop *loop) {
  iou__ring_exit(&loop->ring); /* the inline engine's (iou__finish left it open); idempotent */
  iou__credentials_free(&loop->credentials);
  iou__waker_destroy(&loop->waker);
  iou__inbound_free(&loop->inbound);
  iou__cancels_free(&loop->cancels);
  iou__completions_free(&loop->completions);
  iou__waiters_free(&loop->waiters);
  iou__wheel_free(&loop->wheel);
  iou__buf_ring_free(&loop->recv_buffers); /* the ring is closed: the kernel keeps what it pinned */
  free(loop->ready_queue.ids);
  free(loop->pending_cancels.ids);
  free(loop);
}

int iou_loop_open(const struct iou_loop_config *config, iou_notify_fn notify, void *notify_ctx, struct iou_loop **out) {
  if (config == NULL || out == NULL) return -EINVAL;
  if (config->size == 0 || config->size > IOU_MAX_RING_SIZE) return -EINVAL;
  if (config->max_in_flight > IOU_MAX_IN_FLIGHT) return -EINVAL;
  if (config->max_request_timeout_ns == 0 || config->timeout_wheel_tick_ns == 0) return -EINVAL;
  if (config->engine != IOU_ENGINE_THREAD && config->engine != IOU_ENGINE_INLINE) return -EINVAL;
  if ((config->operations & ~IOU_CLASS_ALL) != 0) return -EINVAL;
  if (config->inline_wake != IOU_INLINE_WAKE_EVENTFD && config->inline_wake != IOU_INLINE_WAKE_RINGFD) return -EINVAL;
  uint32_t spin_max = config->idle_spin_max_us ? config->idle_spin_max_us : IOU_IDLE_SPIN_MAX_DEFAULT_US;
  uint32_t spin_quick =
      config->idle_spin_quick_wake_us ? config->idle_spin_quick_wake_us : IOU_IDLE_SPIN_QUICK_WAKE_DEFAULT_US;
  if (config->idle_spin_us > spin_max) return -EINVAL;
  uint32_t size = 1;
  while (size < config->size) size <<= 1; /* rounded up to a power of two */

  struct iou_loop *loop = NULL;
  if (posix_memalign((void **)&loop, IOU_CACHE_LINE, sizeof(*loop)) != 0) return -ENOMEM;
  memset(loop, 0, sizeof(*loop));
  loop->size = size;
  loop->max_in_flight = config->max_in_flight != 0 ? config->max_in_flight : size;
  uint32_t waiters = loop->max_in_flight;
  loop->engine = config->engine;
  loop->io_poll = config->io_poll;
  loop->operations = config->operations != 0 ? config->operations : IOU_CLASS_ALL;
  loop->want_single_issuer = config->single_issuer;
  loop->wake_poll_oneshot = config->wake_poll_oneshot;
  loop->inline_wake = config->inline_wake; /* asked for; iou__inline_start settles it */
  loop->idle_spin_us = config->idle_spin_us;
  loop->idle_spin_max_us = spin_max;
  loop->idle_spin_quick_wake_us = spin_quick;
  loop->trace = config->trace;
  loop->trace_ctx = config->trace_ctx;
  loop->notify = notify;
  loop->notify_ctx = notify_ctx;
  loop->waker.eventfd = -1;
  loop->ring.fd = -1; /* no ring yet: iou__free_loop's ring exit closes nothing */
  atomic_init(&loop->closing, false);
  atomic_init(&loop->exited, false);
  atomic_init(&loop->finished, false);
  atomic_init(&loop->owner_in_turn, false);
  atomic_init(&loop->owner_cpu, -1);
  loop->queued_deadline_ns = IOU_NO_DEADLINE;
  atomic_init(&loop->shutdown_deadline_ns, IOU_NO_DEADLINE);
  atomic_init(&loop->cancels.top, NULL);
  int err;
  if ((err = iou__credentials_take(&loop->credentials)) != 0 || (err = iou__waker_init(&loop->waker)) != 0 ||
      (err = iou__inbound_init(&loop->inbound, size)) != 0 ||
      (err = iou__completions_init(&loop->completions, 2 * size)) != 0 ||
      (err = iou__waiters_init(&loop->waiters, waiters)) != 0 ||
      (err = iou__wheel_init(&loop->wheel, config->timeout_wheel_tick_ns, config->max_request_timeout_ns,
                             iou__now_ns())) != 0 ||
      (err = iou__id_queue_init(&loop->ready_queue, waiters < size ? waiters : size, waiters)) != 0 ||
      (err = iou__id_queue_init(&loop->pending_cancels, waiters < size ? waiters : size, 2 * waiters)) != 0 ||
      (err = iou__buf_ring_init(&loop->recv_buffers, config->recv_buffers, config->recv_buffer_count,
                                config->recv_buffer_size)) != 0)
    goto fail;
  cpu_set_t allowed;
  loop->one_cpu = sched_getaffinity(0, sizeof(allowed), &allowed) == 0 && CPU_COUNT(&allowed) == 1;
  err = loop->engine == IOU_ENGINE_INLINE ? iou__inline_start(loop) : iou__thread_start(loop);
  if (err != 0) goto fail;
  *out = loop;
  return 0;

fail:
  iou__free_loop(loop);
  return err;
}

int iou_loop_submit(struct iou_loop *loop, const struct iou_request *requests, uint32_t n) {
  if (atomic_load_explicit(&loop->closing, memory_order_relaxed)) return -ESHUTDOWN; /* our own store */
  if (loop->engine == IOU_ENGINE_INLINE) return iou__inline_submit(loop, requests, n);
  uint32_t taken = iou__inbound_push(&loop->inbound, requests, n);
  loop->unpublished += taken;
  return (int)taken;
}

void iou_loop_publish_early(struct iou_loop *loop) {
  if (loop->engine == IOU_ENGINE_INLINE) return; /* the owner runs the loop at publish */
  iou__thread_publish(loop, true);
}

void iou_loop_publish(struct iou_loop *loop) {
  if (loop->engine == IOU_ENGINE_INLINE)
    iou__inline_publish(loop);
  else
    iou__thread_publish(loop, false);
}

int iou_loop_cancel(struct iou_loop *loop, uint64_t tag) {
  /* Acquire pairs with iou__finish's release (shutdown.c): an exited loop takes no cancel. */
  if (atomic_load_explicit(&loop->exited, memory_order_acquire)) return -ESHUTDOWN;
  return loop->engine == IOU_ENGINE_INLINE ? iou__inline_cancel(loop, tag) : iou__thread_cancel(loop, tag);
}

bool iou_loop_inbound_room(struct iou_loop *loop) {
  /* Acquire pairs with iou__inbound_took's release. */
  return atomic_exchange_explicit(&loop->inbound.room_freed, false, memory_order_acquire);
}

int iou_loop_recv_buffers_return(struct iou_loop *loop, const uint16_t *ids, uint32_t n) {
  return iou__buf_ring_give(&loop->recv_buffers, ids, n);
}

uint32_t iou_loop_poll_completions(struct iou_loop *loop, struct iou_completion *out, uint32_t max) {
  /* Acquire pairs with the loop's last release: after it, the overflow list is ours. */
  bool exited = atomic_load_explicit(&loop->exited, memory_order_acquire);
  bool wake = false;
  uint32_t n = iou__completions_poll(&loop->completions, out, max, exited, &wake);
  for (uint32_t i = 0; i < n; i++) /* the kernel took these buffers out of the ring: the owner's now */
    if (out[i].flags & IOU_COMPLETION_BUFFER) iou__buf_ring_taken(&loop->recv_buffers, out[i].buffer);
  if (wake && !exited) { /* the loop waits for room */
    if (loop->engine == IOU_ENGINE_INLINE)
      iou__inline_wake(loop);
    else
      iou__waker_wake(&loop->waker);
  }
  return n;
}

/* What iou_loop_open allocates (or its queues grow to) per waiter slot: the waiters, the ready
 * queue (one id) and the pending cancels (two ids). Any thread. */
size_t iou_loop_bytes_per_slot(void) {
  return iou__waiters_bytes_per_slot() + sizeof(uint64_t) + 2 * sizeof(uint64_t);
}

/* Per entry of config.size: the inbound queue (one entry) and the completion queue (two). */
size_t iou_loop_bytes_per_entry(void) {
  return sizeof(struct iou__inbound_entry) + 2 * sizeof(struct iou_completion);
}

/* Any thread. */
void iou_loop_stats(struct iou_loop *loop, struct iou_stats *out) {
  const struct iou__counters *k = &loop->counters;
  memset(out, 0, sizeof(*out));
#define LOAD(f) out->f = atomic_load_explicit(&k->f, memory_order_relaxed)
  LOAD(submitted);
  LOAD(completed);
  LOAD(failed);
  LOAD(timed_out);
  LOAD(cancelled);
  LOAD(requeued);
  LOAD(sqes_staged);
  LOAD(enters);
  LOAD(cq_overflow);
  LOAD(cq_kernel_overflow);
  LOAD(abandoned);
  LOAD(pending_operations);
  LOAD(single_issuer);
#undef LOAD
  out->wakes = atomic_load_explicit(&loop->waker.wakes, memory_order_relaxed);
  out->engine = loop->engine;
  out->inline_wake = loop->engine == IOU_ENGINE_INLINE ? loop->inline_wake : 0; /* fixed once open returned */
  out->recv_buffers = loop->recv_buffers.entries; /* fixed once the ring is open (before open returned) */
}
