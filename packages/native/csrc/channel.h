/*
 * channel.h: the three queues between the owner (the JS thread) and the loop, the thread that runs
 * the phases (the loop thread; with the inline engine the owner itself, so both ends are one thread
 * and the queues only keep the phases' order):
 *   inbound queue  owner -> loop  SPSC ring of requests, capacity = size (the seed's bounded channel)
 *   cancel queue   owner -> loop  unbounded lock-free stack of tags, taken whole by the loop
 *   completion queue loop -> owner SPSC ring of completions (capacity 2 * size) plus the loop's own
 *                  overflow list, so the loop never blocks on JS and never drops a completion.
 * Each function says which side may call it: "Owner" or "Loop".
 */
#ifndef IOU_CHANNEL_H
#define IOU_CHANNEL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "iou.h"

/* The cache line size the layouts here and in loop.h assume (x86-64 and most arm64 cores).
 * iou_loop_open allocates the loop, which holds these queues, aligned to it. */
#define IOU_CACHE_LINE 64

struct iou__inbound_entry {
  struct iou_request request; /* written by the owner before it publishes the tail */
  /* The loop already completed this request while it was queued (a cancel, or its deadline
   * passed): taking it later ends nothing. Between head and tail only the loop reads and writes it;
   * the owner clears it when it fills a free slot, ordered before the loop's reads by the tail's
   * release/acquire. */
  bool ended;
};

struct iou__inbound {
  struct iou__inbound_entry *entries;
  uint32_t capacity; /* power of two */
  uint32_t mask;
  /* The owner's line. Taking requests, the loop reads tail only when it has taken every request up
   * to the tail it saw last (mark_ended and deadlines read it each time, per cancel and per
   * iteration at waiter capacity), so while requests are queued the owner's per-request store does
   * not take a line away from the loop on every request (nor the loop's per-request head store, on
   * its own line, the owner's). A thread-engine loop that polls for work with everything taken
   * (engine_thread.c's work_waiting) reads it on every probe: then each push moves the line. */
  _Alignas(IOU_CACHE_LINE) _Atomic uint32_t tail; /* owner release-stores after writing entries; loop acquire-loads */
  uint32_t head_seen; /* owner only: the head it last acquire-loaded (the room it knows of) */
  /* The loop's line. */
  _Alignas(IOU_CACHE_LINE) _Atomic uint32_t head; /* loop release-stores after taking an entry; owner acquire-loads */
  uint32_t tail_seen; /* loop only: the tail it last acquire-loaded (the entries it knows of) */
  /* The owner found the queue full and keeps requests back. Owner stores true, then a seq_cst fence,
   * then rereads head; the loop stores head, then a seq_cst fence, then reads this (the fences pair:
   * either the owner sees the room or the loop sees the flag) and clears it. */
  _Alignas(IOU_CACHE_LINE) _Atomic bool want_room;
  /* The loop took requests after want_room was set. Loop release-stores true; owner exchanges it
   * (acquire) in iou_loop_inbound_room. */
  _Atomic bool room_freed;
};

/* Owner, before the loop starts. */
int iou__inbound_init(struct iou__inbound *q, uint32_t capacity);
/* Owner, after the loop exited. */
void iou__inbound_free(struct iou__inbound *q);
/* Owner: copies up to n requests; returns how many fit. When not all fit, asks the loop to say
 * when it takes some (want_room) and looks once more. */
uint32_t iou__inbound_push(struct iou__inbound *q, const struct iou_request *requests, uint32_t n);
/* Loop: the oldest entry not yet taken, or NULL. */
struct iou__inbound_entry *iou__inbound_peek(struct iou__inbound *q);
/* Loop: hands the peeked entry's slot back to the owner. */
void iou__inbound_pop(struct iou__inbound *q);
/* Loop, after taking requests: true (once) when the owner wants to hear about room; room_freed is
 * then set for it. */
bool iou__inbound_took(struct iou__inbound *q);
/* Loop: marks the queued (not yet taken) request with this tag ended; false when there is none
 * (already taken, or already ended). */
bool iou__inbound_mark_ended(struct iou__inbound *q, uint64_t tag);
/* Loop: over the entries not ended from position *from (or from the head when *from is behind it)
 * to the tail, marks ended each one whose deadline is at or before now, calling on_end with its
 * tag, and returns the earliest deadline among the others (UINT64_MAX: none); sets *from to the
 * tail it read. now = 0 ends nothing (deadlines are never 0). */
uint64_t iou__inbound_deadlines(struct iou__inbound *q, uint32_t *from, uint64_t now,
                                void (*on_end)(void *ctx, uint64_t tag), void *ctx);

struct iou__cancel_node {
  uint64_t tag;
  struct iou__cancel_node *next;
};

struct iou__cancels {
  _Atomic(struct iou__cancel_node *) top; /* owner pushes with release; loop takes with acquire */
};

/* Owner: returns 0 or -ENOMEM. */
int iou__cancels_push(struct iou__cancels *c, uint64_t tag);
/* Loop: takes every queued cancel, oldest first; free each node with free(). */
struct iou__cancel_node *iou__cancels_take(struct iou__cancels *c);
/* Owner, after the loop exited: frees what is left. */
void iou__cancels_free(struct iou__cancels *c);

struct iou__completions {
  struct iou_completion *entries;
  uint32_t capacity; /* power of two */
  uint32_t mask;
  /* The owner's line: the loop reads head only when the room it knows of is used up. */
  _Alignas(IOU_CACHE_LINE) _Atomic uint32_t head; /* owner stores after reading (seq_cst: see want_room); loop loads */
  /* The loop's line. */
  _Alignas(IOU_CACHE_LINE) _Atomic uint32_t tail; /* loop release-stores after writing; owner acquire-loads */
  uint32_t tail_local;                            /* loop: written but not yet published */
  uint32_t head_seen;                             /* loop: the head it last loaded (the room it knows of) */
  /* Overflow list: loop-owned FIFO of completions that did not fit; owner-owned once the loop
   * thread has exited (the owner observed that with an acquire load). */
  struct iou_completion *overflow;
  uint32_t overflow_head;
  uint32_t overflow_len;
  uint32_t overflow_cap;
  /* Set (seq_cst) by the loop while its overflow list is not empty; the owner, after freeing room,
   * loads it (seq_cst) and, when set, exchanges it and wakes the loop. The seq_cst pair on head and
   * want_room is a Dekker handshake: either the loop sees the room or the owner sees the flag. */
  _Alignas(IOU_CACHE_LINE) _Atomic bool want_room;
};

/* Owner, before the loop starts. */
int iou__completions_init(struct iou__completions *c, uint32_t capacity);
/* Owner, after the loop exited. */
void iou__completions_free(struct iou__completions *c);
/* Loop: queues one completion (into the ring's free room, or the overflow list). Returns 1 when
 * it went to the overflow list, 0 otherwise; -ENOMEM is fatal (asserted). */
int iou__completions_add(struct iou__completions *c, const struct iou_completion *completion);
/* Loop: moves overflow into free room and publishes the tail. Returns how many completions became
 * visible to the owner since the last flush. */
uint32_t iou__completions_flush(struct iou__completions *c);
/* Loop: completions not yet moved into the ring. */
static inline uint32_t iou__completions_overflowing(const struct iou__completions *c) {
  return c->overflow_len;
}
/* Owner: moves up to max completions into out; after the loop exited (loop_exited read with
 * acquire by the caller) also from the overflow list. Sets *wake_loop when the loop waits for room. */
uint32_t iou__completions_poll(struct iou__completions *c, struct iou_completion *out, uint32_t max, bool loop_exited,
                               bool *wake_loop);

#endif /* IOU_CHANNEL_H */
