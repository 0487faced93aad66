/*
 * waiter.c: the waiter slab and its tag index (see waiter.h for the id packing and the state
 * table). Owns the slots, the free stack and the tag table; each slot owns its struct
 * iou__request. Loop thread only; no syscalls.
 */
#include "waiter.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint32_t next_pow2(uint32_t v) {
  uint32_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

/* The tag index starts at this many slots (or the full size, if smaller) and doubles at half full. */
#define TAG_SLOTS_INITIAL 64u

int iou__waiters_init(struct iou__waiters *w, uint32_t capacity) {
  memset(w, 0, sizeof(*w));
  IOU_ASSERT(capacity > 0 && capacity <= IOU_MAX_RING_SIZE, "waiters: capacity out of range");
  uint32_t tag_max = next_pow2(capacity * 2);
  uint32_t tag_slots = tag_max < TAG_SLOTS_INITIAL ? tag_max : TAG_SLOTS_INITIAL;
  /* calloc: zeroed memory that is not touched here (a free slot is state FREE, all zero). */
  w->entries = calloc(capacity, sizeof(*w->entries));
  w->free = calloc(capacity, sizeof(*w->free));
  w->tags = calloc(tag_slots, sizeof(*w->tags));
  if (w->entries == NULL || w->free == NULL || w->tags == NULL) {
    iou__waiters_free(w);
    return -ENOMEM;
  }
  w->capacity = capacity;
  w->tag_mask = tag_slots - 1;
  w->tag_max_mask = tag_max - 1;
  return 0;
}

size_t iou__waiters_bytes_per_slot(void) {
  /* What iou__waiters_init allocates per unit of capacity: an entry, a free-stack id and (the tag
   * index is twice the capacity, rounded up to a power of two) two tag slots. */
  return sizeof(struct iou__waiter) + sizeof(uint64_t) + 2 * sizeof(struct iou__tag_slot);
}

void iou__waiters_free(struct iou__waiters *w) {
  free(w->entries);
  free(w->free);
  free(w->tags);
  memset(w, 0, sizeof(*w));
}

static uint32_t tag_hash(const struct iou__waiters *w, uint64_t tag) {
  return (uint32_t)((tag * 0x9E3779B97F4A7C15ull) >> 32) & w->tag_mask;
}

static void tag_place(struct iou__waiters *w, uint64_t tag, uint32_t index) {
  uint32_t i = tag_hash(w, tag);
  while (w->tags[i].index_plus_one != 0) i = (i + 1) & w->tag_mask; /* load factor <= 1/2 */
  w->tags[i].tag = tag;
  w->tags[i].index_plus_one = index + 1;
}

/* Keeps the load factor at most 1/2: doubles the index (up to its size at full capacity) before
 * the insert that would pass it. Out of memory is fatal: a live waiter would be unfindable. */
static void tag_insert(struct iou__waiters *w, uint64_t tag, uint32_t index) {
  if (2 * (w->len + 1) > w->tag_mask + 1 && w->tag_mask < w->tag_max_mask) {
    struct iou__tag_slot *old = w->tags;
    uint32_t old_slots = w->tag_mask + 1;
    w->tags = calloc(2 * (size_t)old_slots, sizeof(*w->tags));
    IOU_ASSERT_ERRNO(w->tags != NULL, errno, "waiters: out of memory growing the tag index");
    w->tag_mask = 2 * old_slots - 1;
    for (uint32_t i = 0; i < old_slots; i++)
      if (old[i].index_plus_one != 0) tag_place(w, old[i].tag, old[i].index_plus_one - 1);
    free(old);
  }
  tag_place(w, tag, index);
}

static void tag_remove(struct iou__waiters *w, uint64_t tag, uint32_t index) {
  uint32_t i = tag_hash(w, tag);
  while (!(w->tags[i].index_plus_one == index + 1 && w->tags[i].tag == tag)) {
    IOU_ASSERT(w->tags[i].index_plus_one != 0, "waiters: a live waiter's tag is missing from the index");
    i = (i + 1) & w->tag_mask;
  }
  /* Backward-shift deletion: move later members of the probe run into the hole. */
  uint32_t hole = i;
  for (uint32_t j = (hole + 1) & w->tag_mask; w->tags[j].index_plus_one != 0; j = (j + 1) & w->tag_mask) {
    uint32_t home = tag_hash(w, w->tags[j].tag);
    /* j may move to hole when its home is not in the cyclic range (hole, j]. */
    bool home_in_range = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
    if (!home_in_range) {
      w->tags[hole] = w->tags[j];
      hole = j;
    }
  }
  w->tags[hole].index_plus_one = 0;
}

bool iou__waiters_find_tag(const struct iou__waiters *w, uint64_t tag, uint64_t *id) {
  for (uint32_t i = tag_hash(w, tag); w->tags[i].index_plus_one != 0; i = (i + 1) & w->tag_mask) {
    if (w->tags[i].tag == tag) {
      *id = w->entries[w->tags[i].index_plus_one - 1].id;
      return true;
    }
  }
  return false;
}

uint64_t iou__waiters_insert(struct iou__waiters *w, const struct iou__request *request, bool has_tick, uint64_t tick) {
  IOU_ASSERT(w->len < w->capacity, "waiters: insert into a full slab");
  /* A freed slot first (LIFO: the most recently used, its memory warm), else the next never-used. */
  uint64_t id = w->free_len > 0 ? w->free[--w->free_len] : iou__waiter_id(w->used++, 0);
  struct iou__waiter *e = &w->entries[iou__waiter_index(id)];
  IOU_ASSERT(e->state == IOU_WAITER_FREE, "waiters: free stack names an occupied slot");
  e->id = id;
  e->state = IOU_WAITER_ACTIVE;
  e->cancel_outcome = 0;
  e->in_flight = false;
  e->has_tick = has_tick;
  e->tick = has_tick ? tick : 0;
  e->request = *request;
  w->len++;
  tag_insert(w, request->req.tag, iou__waiter_index(id));
  return id;
}

struct iou__waiter *iou__waiters_get(struct iou__waiters *w, uint64_t id) {
  uint32_t index = iou__waiter_index(id);
  if (index >= w->used) return NULL;
  struct iou__waiter *e = &w->entries[index];
  if (e->state == IOU_WAITER_FREE || e->id != id) return NULL;
  return e;
}

bool iou__waiters_is_in_flight(struct iou__waiters *w, uint64_t id) {
  struct iou__waiter *e = iou__waiters_get(w, id);
  return e != NULL && e->in_flight;
}

bool iou__waiters_cancel(struct iou__waiters *w, uint64_t id, uint8_t outcome, bool *had_tick, uint64_t *tick) {
  struct iou__waiter *e = iou__waiters_get(w, id);
  if (e == NULL || e->state != IOU_WAITER_ACTIVE) return false;
  e->state = IOU_WAITER_CANCEL_REQUESTED;
  e->cancel_outcome = outcome;
  *had_tick = e->has_tick;
  *tick = e->tick;
  e->has_tick = false;
  return true;
}

/* Frees the slot (pushing the id with the next generation) and fills the completion. */
static void retire(struct iou__waiters *w, struct iou__waiter *e, struct iou_completion *out) {
  out->tag = e->request.req.tag;
  out->result = e->request.result;
  out->outcome = e->request.outcome;
  out->flags = 0;
  out->buffer = 0;
  out->done = e->request.done;
  out->reserved = 0;
  tag_remove(w, e->request.req.tag, iou__waiter_index(e->id));
  e->state = IOU_WAITER_FREE;
  e->in_flight = false;
  e->has_tick = false;
  e->id = iou__waiter_id(iou__waiter_index(e->id), iou__waiter_generation(e->id) + 1);
  w->free[w->free_len++] = e->id;
  w->len--;
}

enum iou__stage_outcome iou__waiters_stage(struct iou__waiters *w, uint64_t id, struct io_uring_sqe *sqe,
                                           struct iou_completion *out) {
  struct iou__waiter *e = iou__waiters_get(w, id);
  IOU_ASSERT(e != NULL, "waiters: stage of a stale waiter id");
  /* Before the cancel-requested branch: ending a waiter the kernel still holds would release its
   * memory under the kernel (the loop stages only waiters taken from admission or the ready queue). */
  IOU_ASSERT(!e->in_flight, "waiters: stage of a waiter already in flight");
  if (e->state == IOU_WAITER_CANCEL_REQUESTED) {
    iou__request_end(&e->request, e->cancel_outcome);
    iou__request_release(&e->request); /* never reached the kernel since its last CQE */
    retire(w, e, out);
    return IOU_STAGE_TIMEOUT;
  }
  e->in_flight = true;
  iou__request_build_sqe(&e->request, sqe, id);
  return IOU_STAGE_SUBMIT;
}

/* The provided buffer a CQE names, if any, into the completion. */
static void buffer_of(uint32_t cqe_flags, struct iou_completion *out) {
  if (!(cqe_flags & IORING_CQE_F_BUFFER)) return;
  out->flags |= IOU_COMPLETION_BUFFER;
  out->buffer = (uint16_t)(cqe_flags >> IORING_CQE_BUFFER_SHIFT);
}

enum iou__completion_outcome iou__waiters_on_completion(struct iou__waiters *w, uint64_t user_data, int32_t res,
                                                        uint32_t cqe_flags, struct iou_completion *out, bool *had_tick,
                                                        uint64_t *tick) {
  uint64_t id = iou__user_data_id(user_data);
  struct iou__waiter *e = iou__waiters_get(w, id);
  if (iou__user_data_is_cancel(user_data)) {
    if (e != NULL) {
      IOU_ASSERT(res != -EINVAL, "waiters: the kernel rejected our ASYNC_CANCEL (EINVAL)");
      if (res != 0 && res != -EALREADY && res != -ENOENT) w->unexpected_cancel_results++;
    }
    return IOU_CQE_OUTCOME_CANCEL;
  }
  IOU_ASSERT(e != NULL, "waiters: op CQE for a stale or empty waiter");
  IOU_ASSERT(e->in_flight, "waiters: op CQE for a waiter that is not in flight");
  if (cqe_flags & IORING_CQE_F_MORE) {
    /* One result of a multishot op; the op stays in the kernel, the waiter as it is (a cancel or a
     * deadline still ends it through the op's last CQE). */
    IOU_ASSERT(iou__request_multishot(&e->request), "waiters: IORING_CQE_F_MORE on a single-shot op");
    memset(out, 0, sizeof(*out));
    out->tag = e->request.req.tag;
    out->result = res;
    out->outcome = res < 0 ? IOU_OUTCOME_ERROR : IOU_OUTCOME_OK;
    out->flags = IOU_COMPLETION_MORE;
    if (res >= 0 && iou_op_produces_fd(e->request.req.op)) out->flags |= IOU_COMPLETION_FD;
    buffer_of(cqe_flags, out);
    return IOU_CQE_OUTCOME_MORE;
  }
  e->in_flight = false;
  bool cancel_requested = e->state == IOU_WAITER_CANCEL_REQUESTED;
  if (!iou__request_on_cqe(&e->request, cancel_requested, e->cancel_outcome, res)) return IOU_CQE_OUTCOME_REQUEUE;
  *had_tick = e->has_tick;
  *tick = e->tick;
  const bool produces_fd = iou_op_produces_fd(e->request.req.op);
  iou__request_release(&e->request);
  retire(w, e, out);
  if (cancel_requested && out->outcome == IOU_OUTCOME_OK)
    out->flags = (uint8_t)(IOU_COMPLETION_CANCEL_LOST | (e->cancel_outcome << IOU_COMPLETION_CANCEL_OUTCOME_SHIFT));
  if (produces_fd && out->outcome == IOU_OUTCOME_OK) out->flags |= IOU_COMPLETION_FD;
  buffer_of(cqe_flags, out); /* a multishot's last CQE may still carry a chunk */
  return IOU_CQE_OUTCOME_COMPLETE;
}

void iou__waiters_abandon(struct iou__waiters *w, uint64_t id, struct iou_completion *out) {
  struct iou__waiter *e = iou__waiters_get(w, id);
  IOU_ASSERT(e != NULL, "waiters: abandon of a stale waiter id");
  iou__request_end(&e->request, IOU_OUTCOME_ABANDONED);
  bool held = e->in_flight;
  if (held)
    iou__request_leak(&e->request); /* the kernel may still read its iovec copy */
  else
    iou__request_release(&e->request);
  retire(w, e, out);
  if (held) out->flags = IOU_COMPLETION_KERNEL_HELD;
}
