/*
 * waiter.h: the waiter slab (the seed's waiter.rs): a fixed-capacity table of admitted requests,
 * one slot per request from admission to its final CQE, named by a WaiterId (slot index plus a
 * generation bumped when the slot is freed, so an id of an earlier occupant is detected as stale
 * and never acted on). It also keeps tag -> WaiterId in a small open-addressing table so an
 * owner's cancel finds its waiter in O(1). Plain data: no syscalls, no locks; the loop thread only.
 *
 * WaiterId / user_data packing (exactly the seed's):
 *   bit 63      cancel tag: 0 in op SQEs/CQEs, 1 in ASYNC_CANCEL SQEs/CQEs
 *   bits 32..62 generation (31 bits, wraps)
 *   bits 0..31  slot index
 *   UINT64_MAX  the eventfd wake poll (checked before decoding)
 *
 * | slot situation                 | is_in_flight | cancel | stage          | op CQE           | cancel CQE |
 * | stale / empty / out of range   | false        | false  | abort          | abort            | CANCEL     |
 * | Active, not in flight          | false        | true   | SUBMIT         | abort            | CANCEL     |
 * | Active, in flight              | true         | true   | abort          | COMPLETE/REQUEUE | CANCEL     |
 * | CancelRequested, in flight     | true         | false  | abort          | COMPLETE/REQUEUE | CANCEL     |
 * | CancelRequested, not in flight | false        | false  | TIMEOUT        | abort            | CANCEL     |
 */
#ifndef IOU_WAITER_H
#define IOU_WAITER_H

#include <stdbool.h>
#include <stdint.h>

#include "request.h"

#define IOU_WAITER_CANCEL_TAG (1ull << 63)
#define IOU_WAITER_GENERATION_MASK 0x7fffffffu

static inline uint64_t iou__waiter_id(uint32_t index, uint32_t generation) {
  return ((uint64_t)(generation & IOU_WAITER_GENERATION_MASK) << 32) | index;
}
static inline uint32_t iou__waiter_index(uint64_t id) {
  return (uint32_t)id;
}
static inline uint32_t iou__waiter_generation(uint64_t id) {
  return (uint32_t)(id >> 32) & IOU_WAITER_GENERATION_MASK;
}
static inline uint64_t iou__waiter_cancel_user_data(uint64_t id) {
  return id | IOU_WAITER_CANCEL_TAG;
}
static inline bool iou__user_data_is_cancel(uint64_t user_data) {
  return (user_data & IOU_WAITER_CANCEL_TAG) != 0;
}
static inline uint64_t iou__user_data_id(uint64_t user_data) {
  return user_data & ~IOU_WAITER_CANCEL_TAG;
}

enum iou__waiter_state {
  IOU_WAITER_FREE = 0,
  IOU_WAITER_ACTIVE,
  IOU_WAITER_CANCEL_REQUESTED,
};

struct iou__waiter {
  uint64_t id;                 /* current occupant's WaiterId (for a free slot: the id it will get) */
  uint8_t state;               /* enum iou__waiter_state */
  uint8_t cancel_outcome;      /* IOU_OUTCOME_TIMEOUT or IOU_OUTCOME_CANCELLED once cancel requested */
  bool in_flight;              /* an op SQE was staged and its CQE not yet handled */
  bool has_tick;               /* deadline-tracked by the wheel (Active only) */
  uint64_t tick;               /* its target tick when has_tick */
  struct iou__request request; /* owns the request's loop-side memory until the final CQE */
};

struct iou__tag_slot {
  uint64_t tag;
  uint32_t index_plus_one; /* 0 = empty */
};

/* Memory follows use: the slots are reserved for the capacity (zeroed pages the kernel maps in on
 * first touch), slot i is first used only after slots 0..i-1 (`used`), the free stack is LIFO so the
 * slots in use stay the low ones, and the tag index doubles as it fills. A loop with capacity for
 * thousands that never has more than a few in flight keeps a few slots' memory resident. */
struct iou__waiters {
  struct iou__waiter *entries;
  uint32_t capacity;
  uint32_t len;   /* occupied slots: the pending_operations gauge */
  uint32_t used;  /* slots [0, used) have been occupied at least once; the others never were */
  uint64_t *free; /* LIFO stack of freed WaiterIds, taken before a never-used slot */
  uint32_t free_len;
  struct iou__tag_slot *tags; /* tag -> slot, linear probing, backward-shift deletion */
  uint32_t tag_mask;
  uint32_t tag_max_mask;              /* the index's size at full capacity, minus one */
  uint64_t unexpected_cancel_results; /* cancel CQEs other than 0, -EALREADY, -ENOENT, -EINVAL */
};

enum iou__stage_outcome {
  IOU_STAGE_SUBMIT,  /* now in flight: the SQE was filled */
  IOU_STAGE_TIMEOUT, /* a cancel was requested while it was parked: ended locally (completion filled) */
};

/* What handling one CQE did to its waiter: @iou/core's CompletionOutcome (Complete, Requeue,
 * Cancel). Spelled IOU_CQE_OUTCOME_* apart from iou_completion.flags (IOU_COMPLETION_*). */
enum iou__completion_outcome {
  IOU_CQE_OUTCOME_COMPLETE, /* ended: completion filled, slot freed; remove *tick from the wheel if *had_tick */
  IOU_CQE_OUTCOME_REQUEUE,  /* needs another SQE: push the id on the ready queue */
  IOU_CQE_OUTCOME_CANCEL,   /* a cancel CQE (live or stale): nothing to do */
  IOU_CQE_OUTCOME_MORE, /* a multishot op's CQE with F_MORE: publish the completion (flag MORE); it stays in flight */
};

/* Bytes iou__waiters_init allocates per unit of capacity (the tag index rounded down to 2 slots). */
size_t iou__waiters_bytes_per_slot(void);

int iou__waiters_init(struct iou__waiters *w, uint32_t capacity);
void iou__waiters_free(struct iou__waiters *w);

static inline bool iou__waiters_is_full(const struct iou__waiters *w) {
  return w->len == w->capacity;
}
static inline bool iou__waiters_is_empty(const struct iou__waiters *w) {
  return w->len == 0;
}

/* Takes a free slot for request (moved in), Active, not in flight. Aborts when full. */
uint64_t iou__waiters_insert(struct iou__waiters *w, const struct iou__request *request, bool has_tick, uint64_t tick);

/* The live waiter named exactly by id (index and generation), or NULL. */
struct iou__waiter *iou__waiters_get(struct iou__waiters *w, uint64_t id);

bool iou__waiters_is_in_flight(struct iou__waiters *w, uint64_t id);

/* The live waiter whose request has this tag. */
bool iou__waiters_find_tag(const struct iou__waiters *w, uint64_t tag, uint64_t *id);

/* Active -> CancelRequested with outcome (TIMEOUT or CANCELLED); returns true and reports the tick
 * it no longer tracks. Stale, empty or already cancel requested: false. */
bool iou__waiters_cancel(struct iou__waiters *w, uint64_t id, uint8_t outcome, bool *had_tick, uint64_t *tick);

/* Stages a waiter taken from admission or the ready queue. Aborts for a stale id. */
enum iou__stage_outcome iou__waiters_stage(struct iou__waiters *w, uint64_t id, struct io_uring_sqe *sqe,
                                           struct iou_completion *out);

/* Handles one CQE (not the wake poll's). */
enum iou__completion_outcome iou__waiters_on_completion(struct iou__waiters *w, uint64_t user_data, int32_t res,
                                                        uint32_t cqe_flags, struct iou_completion *out, bool *had_tick,
                                                        uint64_t *tick);

/* Ends a live waiter with IOU_OUTCOME_ABANDONED once the abandonment grace is over. When it is in
 * flight its loop-owned memory is leaked, not freed, and the completion carries
 * IOU_COMPLETION_KERNEL_HELD (the kernel may still use the request's memory). */
void iou__waiters_abandon(struct iou__waiters *w, uint64_t id, struct iou_completion *out);

#endif /* IOU_WAITER_H */
