/*
 * wheel.h: the userspace hashed timing wheel (the seed's timeout.rs): per-request deadlines in
 * ticks since the loop's start, O(1) schedule and remove, and advance(now) returning the entries
 * that came due. Deadlines are never shortened: one further away than the wheel's horizon is
 * PARKED in a min-heap and moved into the wheel when it comes into range (the seed clamps it to
 * the horizon and fires it early). A deadline fires when floor(now / tick) >= ceil(deadline / tick):
 * never early, late by at most about one tick plus loop latency. Plain data, used only by the thread
 * that runs the loop's phases.
 *
 * Entries stay in their bucket after remove (stale); advance empties every bucket the clock passed
 * (a live deadline due or not, so stale entries never pile up) and returns their stale and live
 * entries alike; the caller filters them with the waiter's generation and tick, then calls remove
 * for each live one it acts on (advance does not touch the active counts).
 */
#ifndef IOU_WHEEL_H
#define IOU_WHEEL_H

#include <stdbool.h>
#include <stdint.h>

#define IOU_WHEEL_MAX_SLOTS 65536u
#define IOU_WHEEL_NO_TICK UINT64_MAX

struct iou__wheel_entry {
  uint64_t id;   /* WaiterId */
  uint64_t tick; /* target tick */
};

struct iou__wheel_bucket {
  struct iou__wheel_entry *entries;
  uint32_t len;
  uint32_t cap;
};

struct iou__wheel {
  uint64_t start_ns; /* epoch: tick 0 */
  uint64_t tick_ns;
  uint32_t slots; /* power of two: next_pow2(ceil(horizon / tick) + 1), at most IOU_WHEEL_MAX_SLOTS */
  uint32_t mask;
  struct iou__wheel_bucket *buckets;
  uint64_t *occupied;      /* bit per bucket holding entries (live or stale) */
  uint32_t *active_counts; /* live deadlines per bucket */
  uint64_t *active_bits;   /* bit per bucket with active_counts > 0 */
  uint64_t active;         /* live deadlines in buckets */
  uint64_t current_tick;   /* last tick advanced to */
  uint64_t min_tick;       /* earliest live tick in buckets, IOU_WHEEL_NO_TICK when none; exact unless min_dirty */
  bool min_dirty;          /* the minimum was removed: recomputed by the next advance or next_tick */
  struct iou__wheel_entry *parked; /* min-heap by tick: deadlines at least `slots` ticks ahead */
  uint32_t parked_len;
  uint32_t parked_cap;
  struct iou__wheel_entry *due; /* advance's output, valid until the next advance */
  uint32_t due_len;
  uint32_t due_cap;
};

/* tick_ns > 0, horizon_ns > 0. Returns 0 or -ENOMEM / -EINVAL. */
int iou__wheel_init(struct iou__wheel *w, uint64_t tick_ns, uint64_t horizon_ns, uint64_t start_ns);
void iou__wheel_free(struct iou__wheel *w);

/* ceil((deadline - start) / tick), or 0 when it is not after the current tick (already expired). */
uint64_t iou__wheel_target_tick(const struct iou__wheel *w, uint64_t deadline_ns);

/* Tracks id until tick (> current tick; any distance). Returns 0 or -ENOMEM. */
int iou__wheel_schedule(struct iou__wheel *w, uint64_t id, uint64_t tick);

/* Stops tracking the live deadline (id, tick); exactly once per scheduled deadline. O(1): a
 * removed minimum is recomputed lazily (see iou__wheel_next_tick). */
void iou__wheel_remove(struct iou__wheel *w, uint64_t id, uint64_t tick);

/* Moves the clock to now and returns how many entries came due (in w->due). Returns -ENOMEM if a
 * parked deadline could not be moved into the wheel. */
int iou__wheel_advance(struct iou__wheel *w, uint64_t now_ns);

/* The earliest live tick (in the wheel or parked), or IOU_WHEEL_NO_TICK. Call it (like advance)
 * only after removing every live entry the last advance returned: it recomputes a removed minimum. */
uint64_t iou__wheel_next_tick(struct iou__wheel *w);

/* The absolute CLOCK_MONOTONIC time at which tick begins, or UINT64_MAX when that is past the end
 * of the 64-bit clock (the tick of a deadline within one tick of 2^64 ns): saturated, never
 * wrapped, since a wrapped time is in the past and would make every wait a zero timeout. */
static inline uint64_t iou__wheel_tick_ns(const struct iou__wheel *w, uint64_t tick) {
  uint64_t ns;
  if (__builtin_mul_overflow(tick, w->tick_ns, &ns) || __builtin_add_overflow(ns, w->start_ns, &ns)) return UINT64_MAX;
  return ns;
}

static inline bool iou__wheel_has_deadlines(const struct iou__wheel *w) {
  return w->active > 0 || w->parked_len > 0;
}

#endif /* IOU_WHEEL_H */
