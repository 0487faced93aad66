/*
 * wheel.c: the hashed timing wheel and its parking heap (see wheel.h). Owns the buckets, the
 * bitsets, the heap and the due array. Invariant between calls: every parked entry is at least
 * `slots` ticks after current_tick, every live bucket entry is less than `slots` ticks after it,
 * so all live entries sharing a bucket share a tick. min_tick is exact unless min_dirty: remove
 * only marks it dirty, and advance / next_tick recompute it, because in the middle of removing the
 * entries advance returned, a due entry not yet removed (or a promoted one sharing its slot) would
 * be taken for a live future tick and leave the minimum in the past (the loop then spins).
 */
#include "wheel.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"

int iou__wheel_init(struct iou__wheel *w, uint64_t tick_ns, uint64_t horizon_ns, uint64_t start_ns) {
  memset(w, 0, sizeof(*w));
  if (tick_ns == 0 || horizon_ns == 0) return -EINVAL;
  uint64_t span = horizon_ns / tick_ns + (horizon_ns % tick_ns != 0) + 1;
  uint32_t slots = 2;
  while (slots < span && slots < IOU_WHEEL_MAX_SLOTS) slots <<= 1;
  w->start_ns = start_ns;
  w->tick_ns = tick_ns;
  w->slots = slots;
  w->mask = slots - 1;
  w->min_tick = IOU_WHEEL_NO_TICK;
  uint32_t words = (slots + 63) / 64;
  w->buckets = calloc(slots, sizeof(*w->buckets));
  w->occupied = calloc(words, sizeof(uint64_t));
  w->active_counts = calloc(slots, sizeof(uint32_t));
  w->active_bits = calloc(words, sizeof(uint64_t));
  if (w->buckets == NULL || w->occupied == NULL || w->active_counts == NULL || w->active_bits == NULL) {
    iou__wheel_free(w);
    return -ENOMEM;
  }
  return 0;
}

void iou__wheel_free(struct iou__wheel *w) {
  if (w->buckets != NULL)
    for (uint32_t i = 0; i < w->slots; i++) free(w->buckets[i].entries);
  free(w->buckets);
  free(w->occupied);
  free(w->active_counts);
  free(w->active_bits);
  free(w->parked);
  free(w->due);
  memset(w, 0, sizeof(*w));
}

uint64_t iou__wheel_target_tick(const struct iou__wheel *w, uint64_t deadline_ns) {
  uint64_t since = deadline_ns > w->start_ns ? deadline_ns - w->start_ns : 0;
  uint64_t tick = since / w->tick_ns + (since % w->tick_ns != 0);
  return tick <= w->current_tick ? 0 : tick;
}

static void set_bit(uint64_t *bits, uint32_t i) {
  bits[i / 64] |= 1ull << (i % 64);
}
static void clear_bit(uint64_t *bits, uint32_t i) {
  bits[i / 64] &= ~(1ull << (i % 64));
}
static bool test_bit(const uint64_t *bits, uint32_t i) {
  return (bits[i / 64] >> (i % 64)) & 1;
}

static int grow(struct iou__wheel_entry **entries, uint32_t *cap, uint32_t need) {
  if (need <= *cap) return 0;
  uint32_t n = *cap ? *cap * 2 : 4;
  while (n < need) n *= 2;
  struct iou__wheel_entry *p = realloc(*entries, n * sizeof(*p));
  if (p == NULL) return -ENOMEM;
  *entries = p;
  *cap = n;
  return 0;
}

/* Puts a live entry into its bucket (its tick is less than `slots` ahead, or due in this advance). */
static int place(struct iou__wheel *w, uint64_t id, uint64_t tick) {
  uint32_t slot = (uint32_t)(tick & w->mask);
  struct iou__wheel_bucket *b = &w->buckets[slot];
  if (grow(&b->entries, &b->cap, b->len + 1) != 0) return -ENOMEM;
  if (b->len == 0) {
    IOU_ASSERT(!test_bit(w->occupied, slot), "wheel: occupied bit already set on an empty bucket");
    set_bit(w->occupied, slot);
  }
  b->entries[b->len++] = (struct iou__wheel_entry){.id = id, .tick = tick};
  IOU_ASSERT(w->active_counts[slot] < UINT32_MAX, "wheel: bucket count overflow");
  if (w->active_counts[slot]++ == 0) set_bit(w->active_bits, slot);
  w->active++;
  if (!w->min_dirty && tick < w->min_tick) w->min_tick = tick;
  return 0;
}

static void heap_swap(struct iou__wheel_entry *h, uint32_t a, uint32_t b) {
  struct iou__wheel_entry t = h[a];
  h[a] = h[b];
  h[b] = t;
}

static void heap_up(struct iou__wheel_entry *h, uint32_t i) {
  while (i > 0 && h[(i - 1) / 2].tick > h[i].tick) {
    heap_swap(h, i, (i - 1) / 2);
    i = (i - 1) / 2;
  }
}

static void heap_down(struct iou__wheel_entry *h, uint32_t len, uint32_t i) {
  for (;;) {
    uint32_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < len && h[l].tick < h[m].tick) m = l;
    if (r < len && h[r].tick < h[m].tick) m = r;
    if (m == i) return;
    heap_swap(h, i, m);
    i = m;
  }
}

static void heap_remove_at(struct iou__wheel *w, uint32_t i) {
  w->parked[i] = w->parked[--w->parked_len];
  if (i < w->parked_len) {
    heap_down(w->parked, w->parked_len, i);
    heap_up(w->parked, i);
  }
}

static bool is_parked_tick(const struct iou__wheel *w, uint64_t tick) {
  return tick > w->current_tick && tick - w->current_tick >= w->slots;
}

int iou__wheel_schedule(struct iou__wheel *w, uint64_t id, uint64_t tick) {
  IOU_ASSERT(tick > w->current_tick, "wheel: schedule of a tick that is not in the future");
  if (!is_parked_tick(w, tick)) return place(w, id, tick);
  if (grow(&w->parked, &w->parked_cap, w->parked_len + 1) != 0) return -ENOMEM;
  w->parked[w->parked_len] = (struct iou__wheel_entry){.id = id, .tick = tick};
  heap_up(w->parked, w->parked_len++);
  return 0;
}

/* Earliest live tick after a bucket emptied: first active bit from current + 1, wrapping once. */
static uint64_t compute_min(const struct iou__wheel *w) {
  if (w->active == 0) return IOU_WHEEL_NO_TICK;
  uint32_t from = (uint32_t)((w->current_tick + 1) & w->mask);
  for (uint32_t d = 0; d < w->slots;) {
    uint32_t slot = (from + d) & w->mask;
    uint32_t avail = 64 - slot % 64;                      /* bits left in this word */
    if (avail > w->slots - slot) avail = w->slots - slot; /* not past the ring's end */
    if (avail > w->slots - d) avail = w->slots - d;       /* not past one revolution */
    uint64_t word = w->active_bits[slot / 64] >> (slot % 64);
    if (avail < 64) word &= (1ull << avail) - 1;
    if (word != 0) return w->current_tick + 1 + d + (uint32_t)__builtin_ctzll(word);
    d += avail;
  }
  return IOU_WHEEL_NO_TICK;
}

void iou__wheel_remove(struct iou__wheel *w, uint64_t id, uint64_t tick) {
  if (is_parked_tick(w, tick)) {
    for (uint32_t i = 0; i < w->parked_len; i++) {
      if (w->parked[i].id == id && w->parked[i].tick == tick) {
        heap_remove_at(w, i);
        return;
      }
    }
    IOU_ASSERT(0, "wheel: remove of a parked deadline that is not parked");
  }
  uint32_t slot = (uint32_t)(tick & w->mask);
  IOU_ASSERT(w->active > 0 && w->active_counts[slot] > 0, "wheel: remove of a deadline that is not tracked");
  w->active--;
  if (--w->active_counts[slot] == 0) clear_bit(w->active_bits, slot);
  if (w->active == 0) {
    w->min_tick = IOU_WHEEL_NO_TICK;
    w->min_dirty = false;
  } else if (tick == w->min_tick) {
    /* Not recomputed here: the caller may still be removing entries advance returned (see the
     * file comment). Other live entries may share the slot, so the tick is not enough to know. */
    w->min_dirty = true;
  }
}

/* The exact earliest bucketed tick. Contract: every live entry the last advance returned has been
 * removed (the loop removes or ignores each one before it next waits or advances). */
static uint64_t min_tick(struct iou__wheel *w) {
  if (w->min_dirty) {
    w->min_tick = compute_min(w);
    w->min_dirty = false;
  }
  return w->min_tick;
}

/* Moves the due entries of a bucket to w->due; entries not yet due stay (they share the slot
 * only after a jump of a whole revolution or more). */
static int drain_bucket(struct iou__wheel *w, uint32_t slot) {
  struct iou__wheel_bucket *b = &w->buckets[slot];
  IOU_ASSERT(b->len > 0, "wheel: occupied bit on an empty bucket");
  if (grow(&w->due, &w->due_cap, w->due_len + b->len) != 0) return -ENOMEM;
  uint32_t kept = 0;
  for (uint32_t i = 0; i < b->len; i++) {
    if (b->entries[i].tick <= w->current_tick)
      w->due[w->due_len++] = b->entries[i];
    else
      b->entries[kept++] = b->entries[i];
  }
  b->len = kept;
  if (kept == 0) clear_bit(w->occupied, slot);
  return 0;
}

/* The slot of the lowest bit of `word`, word i of the occupied bitset. Bits past the last slot
 * (in the only word of a wheel of fewer than 64 slots) are never set: one would index past the
 * buckets. */
static uint32_t occupied_slot(const struct iou__wheel *w, uint32_t i, uint64_t word) {
  uint32_t slot = i * 64 + (uint32_t)__builtin_ctzll(word);
  IOU_ASSERT(slot < w->slots, "wheel: occupied bit past the last slot");
  return slot;
}

int iou__wheel_advance(struct iou__wheel *w, uint64_t now_ns) {
  w->due_len = 0;
  uint64_t now_tick = now_ns > w->start_ns ? (now_ns - w->start_ns) / w->tick_ns : 0;
  if (now_tick <= w->current_tick) return 0;
  (void)min_tick(w); /* before the clock moves: the scan starts after the current tick */
  uint64_t previous = w->current_tick;
  w->current_tick = now_tick;
  if (w->active == 0 && w->parked_len == 0) {
    /* Only stale entries can remain: purge them so they never cost a wake-up. */
    for (uint32_t i = 0; i < (w->slots + 63) / 64; i++) {
      for (uint64_t word = w->occupied[i]; word != 0; word &= word - 1) w->buckets[occupied_slot(w, i, word)].len = 0;
      w->occupied[i] = 0;
    }
    return 0;
  }
  /* 1. Parked deadlines that are now due go into their bucket, which step 2 drains: their tick is
   *    in (previous, now], and any live entry sharing that bucket is due as well. */
  while (w->parked_len > 0 && w->parked[0].tick <= now_tick) {
    struct iou__wheel_entry e = w->parked[0];
    heap_remove_at(w, 0);
    if (place(w, e.id, e.tick) != 0) return -ENOMEM;
  }
  /* 2. Drain the buckets of (previous, now]: the live entries that came due and the stale ones of
   *    requests that ended early, swept even when no live deadline is due (else they would pile up
   *    while one deadline stays pending and none comes due); the caller skips the stale ones. */
  {
    if (now_tick - previous >= w->slots) {
      for (uint32_t i = 0; i < (w->slots + 63) / 64; i++)
        for (uint64_t word = w->occupied[i]; word != 0; word &= word - 1)
          if (drain_bucket(w, occupied_slot(w, i, word)) != 0) return -ENOMEM;
    } else {
      for (uint64_t t = previous + 1; t <= now_tick; t++) {
        uint32_t slot = (uint32_t)(t & w->mask);
        if (test_bit(w->occupied, slot) && drain_bucket(w, slot) != 0) return -ENOMEM;
      }
    }
  }
  /* 3. Parked deadlines that came into range move into the wheel. */
  while (w->parked_len > 0 && !is_parked_tick(w, w->parked[0].tick)) {
    struct iou__wheel_entry e = w->parked[0];
    heap_remove_at(w, 0);
    if (place(w, e.id, e.tick) != 0) return -ENOMEM;
  }
  return (int)w->due_len;
}

uint64_t iou__wheel_next_tick(struct iou__wheel *w) {
  uint64_t t = min_tick(w);
  if (w->parked_len > 0 && w->parked[0].tick < t) t = w->parked[0].tick;
  return t;
}
