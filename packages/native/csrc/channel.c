/*
 * channel.c: the inbound queue, the cancel queue and the completion queue (see channel.h). Owns
 * their memory. Lock-free: every index is written by exactly one side with a release store and
 * read by the other with an acquire load.
 */
#include "channel.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"

/* Owner, before the loop starts. */
int iou__inbound_init(struct iou__inbound *q, uint32_t capacity) {
  q->entries = calloc(capacity, sizeof(*q->entries));
  if (q->entries == NULL) return -ENOMEM;
  q->capacity = capacity;
  q->mask = capacity - 1;
  atomic_init(&q->head, 0);
  atomic_init(&q->tail, 0);
  q->head_seen = 0;
  q->tail_seen = 0;
  atomic_init(&q->want_room, false);
  atomic_init(&q->room_freed, false);
  return 0;
}

/* Owner, after the loop exited. */
void iou__inbound_free(struct iou__inbound *q) {
  free(q->entries);
  q->entries = NULL;
}

/* Owner: copies up to n requests into the room there is; returns how many. */
static uint32_t push_some(struct iou__inbound *q, const struct iou_request *requests, uint32_t n) {
  uint32_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed); /* only we store it */
  uint32_t room = q->capacity - (tail - q->head_seen);
  if (n > room) {
    /* Acquire pairs with the loop's release of head: the slots it handed back are no longer read. */
    q->head_seen = atomic_load_explicit(&q->head, memory_order_acquire);
    room = q->capacity - (tail - q->head_seen);
    if (n > room) n = room;
  }
  for (uint32_t i = 0; i < n; i++) {
    struct iou__inbound_entry *e = &q->entries[(tail + i) & q->mask];
    e->request = requests[i];
    e->ended = false;
  }
  /* Release pairs with the loop's acquire of tail in peek, mark_ended and deadlines. */
  atomic_store_explicit(&q->tail, tail + n, memory_order_release);
  return n;
}

/* Owner. */
uint32_t iou__inbound_push(struct iou__inbound *q, const struct iou_request *requests, uint32_t n) {
  uint32_t taken = push_some(q, requests, n);
  if (taken == n) return n;
  /* Full: ask to hear about room, then look again (the fence pairs with iou__inbound_took's). */
  atomic_store_explicit(&q->want_room, true, memory_order_relaxed);
  atomic_thread_fence(memory_order_seq_cst);
  return taken + push_some(q, requests + taken, n - taken);
}

/* Loop. */
bool iou__inbound_took(struct iou__inbound *q) {
  /* The fence pairs with push's: our head stores come before this read of want_room. */
  atomic_thread_fence(memory_order_seq_cst);
  if (!atomic_load_explicit(&q->want_room, memory_order_relaxed)) return false;
  atomic_store_explicit(&q->want_room, false, memory_order_relaxed);
  /* Release pairs with iou_loop_inbound_room's acquire exchange. */
  atomic_store_explicit(&q->room_freed, true, memory_order_release);
  return true;
}

/* Loop. */
struct iou__inbound_entry *iou__inbound_peek(struct iou__inbound *q) {
  uint32_t head = atomic_load_explicit(&q->head, memory_order_relaxed); /* only we store it */
  if (head == q->tail_seen) {
    q->tail_seen = atomic_load_explicit(&q->tail, memory_order_acquire); /* pairs with push */
    if (head == q->tail_seen) return NULL;
  }
  return &q->entries[head & q->mask];
}

/* Loop. */
void iou__inbound_pop(struct iou__inbound *q) {
  uint32_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
  /* Release pairs with push's acquire of head: we are done reading the slot. */
  atomic_store_explicit(&q->head, head + 1, memory_order_release);
}

/* Loop. */
bool iou__inbound_mark_ended(struct iou__inbound *q, uint64_t tag) {
  uint32_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
  uint32_t tail = atomic_load_explicit(&q->tail, memory_order_acquire); /* pairs with push */
  for (uint32_t i = head; i != tail; i++) {
    struct iou__inbound_entry *e = &q->entries[i & q->mask];
    if (e->request.tag == tag && !e->ended) {
      e->ended = true;
      return true;
    }
  }
  return false;
}

/* Loop. */
uint64_t iou__inbound_deadlines(struct iou__inbound *q, uint32_t *from, uint64_t now,
                                void (*on_end)(void *ctx, uint64_t tag), void *ctx) {
  uint32_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
  uint32_t tail = atomic_load_explicit(&q->tail, memory_order_acquire); /* pairs with push */
  uint32_t i = (int32_t)(*from - head) < 0 ? head : *from;              /* positions wrap: compare by distance */
  uint64_t earliest = UINT64_MAX;
  for (; i != tail; i++) {
    struct iou__inbound_entry *e = &q->entries[i & q->mask];
    if (e->ended || e->request.deadline_ns == 0) continue;
    if (e->request.deadline_ns <= now) {
      e->ended = true;
      on_end(ctx, e->request.tag);
    } else if (e->request.deadline_ns < earliest) {
      earliest = e->request.deadline_ns;
    }
  }
  *from = tail;
  return earliest;
}

/* Owner. */
int iou__cancels_push(struct iou__cancels *c, uint64_t tag) {
  struct iou__cancel_node *node = malloc(sizeof(*node));
  if (node == NULL) return -ENOMEM;
  node->tag = tag;
  node->next = atomic_load_explicit(&c->top, memory_order_relaxed);
  /* Release pairs with take's acquire exchange: the node (and every request the owner submitted
   * before this cancel) is visible to the loop. */
  while (
      !atomic_compare_exchange_weak_explicit(&c->top, &node->next, node, memory_order_release, memory_order_relaxed)) {
  }
  return 0;
}

/* Loop. */
struct iou__cancel_node *iou__cancels_take(struct iou__cancels *c) {
  struct iou__cancel_node *list = atomic_exchange_explicit(&c->top, NULL, memory_order_acquire);
  struct iou__cancel_node *fifo = NULL; /* the stack is newest first: reverse it */
  while (list != NULL) {
    struct iou__cancel_node *next = list->next;
    list->next = fifo;
    fifo = list;
    list = next;
  }
  return fifo;
}

/* Owner, after the loop exited. */
void iou__cancels_free(struct iou__cancels *c) {
  struct iou__cancel_node *n = atomic_exchange_explicit(&c->top, NULL, memory_order_acquire);
  while (n != NULL) {
    struct iou__cancel_node *next = n->next;
    free(n);
    n = next;
  }
}

/* Owner, before the loop starts. */
int iou__completions_init(struct iou__completions *c, uint32_t capacity) {
  memset(c, 0, sizeof(*c));
  c->entries = calloc(capacity, sizeof(*c->entries));
  if (c->entries == NULL) return -ENOMEM;
  c->capacity = capacity;
  c->mask = capacity - 1;
  atomic_init(&c->head, 0);
  atomic_init(&c->tail, 0);
  atomic_init(&c->want_room, false);
  return 0; /* tail_local and head_seen: 0 (memset) */
}

/* Owner, after the loop exited. */
void iou__completions_free(struct iou__completions *c) {
  free(c->entries);
  free(c->overflow);
  c->entries = NULL;
  c->overflow = NULL;
}

/* The room the owner left, as last seen (head only grows: the room is at least this). */
static uint32_t room_seen(const struct iou__completions *c) {
  return c->capacity - (c->tail_local - c->head_seen);
}

/* The room the owner left now. */
static uint32_t room(struct iou__completions *c) {
  /* seq_cst load: after flush's store of want_room, the loop's half of the want_room handshake
   * (pairs with poll's head store); elsewhere a plain look at the room. */
  c->head_seen = atomic_load(&c->head);
  return room_seen(c);
}

/* Loop. */
int iou__completions_add(struct iou__completions *c, const struct iou_completion *completion) {
  if (c->overflow_len == 0 && (room_seen(c) > 0 || room(c) > 0)) {
    c->entries[c->tail_local++ & c->mask] = *completion;
    return 0;
  }
  if (c->overflow_head + c->overflow_len == c->overflow_cap) {
    if (c->overflow_head > 0) { /* compact before growing */
      memmove(c->overflow, c->overflow + c->overflow_head, c->overflow_len * sizeof(*c->overflow));
      c->overflow_head = 0;
    }
    if (c->overflow_len == c->overflow_cap) {
      uint32_t cap = c->overflow_cap ? c->overflow_cap * 2 : 64;
      struct iou_completion *p = realloc(c->overflow, cap * sizeof(*p));
      IOU_ASSERT_ERRNO(p != NULL, errno, "completions: out of memory for the overflow list (a completion would be lost)");
      c->overflow = p;
      c->overflow_cap = cap;
    }
  }
  c->overflow[c->overflow_head + c->overflow_len++] = *completion;
  return 1;
}

/* Loop. */
uint32_t iou__completions_flush(struct iou__completions *c) {
  uint32_t before = atomic_load_explicit(&c->tail, memory_order_relaxed); /* only we store it */
  while (c->overflow_len > 0) {
    uint32_t n = room(c);
    if (n > c->overflow_len) n = c->overflow_len;
    for (uint32_t i = 0; i < n; i++) c->entries[c->tail_local++ & c->mask] = c->overflow[c->overflow_head++];
    c->overflow_len -= n;
    if (c->overflow_len == 0) {
      c->overflow_head = 0;
      /* Only the loop sets it: a relaxed load that finds it clear needs no store (and leaves the
       * owner's copy of the line alone). */
      if (atomic_load_explicit(&c->want_room, memory_order_relaxed)) atomic_store(&c->want_room, false);
      break;
    }
    /* Still overflowing: ask the owner to wake us when it frees room, then look again, so a poll
     * that happened just before the flag was set is not missed (seq_cst: see channel.h). */
    atomic_store(&c->want_room, true);
    if (room(c) == 0) break;
  }
  /* Release pairs with poll's acquire of tail: the entries are written. A flush that adds nothing
   * stores nothing (the owner's copy of the line stays). */
  if (c->tail_local != before) atomic_store_explicit(&c->tail, c->tail_local, memory_order_release);
  return c->tail_local - before;
}

/* Owner. */
uint32_t iou__completions_poll(struct iou__completions *c, struct iou_completion *out, uint32_t max, bool loop_exited,
                               bool *wake_loop) {
  *wake_loop = false;
  uint32_t head = atomic_load_explicit(&c->head, memory_order_relaxed); /* only we store it */
  uint32_t tail = atomic_load_explicit(&c->tail, memory_order_acquire); /* pairs with flush */
  uint32_t n = tail - head;
  if (n > max) n = max;
  for (uint32_t i = 0; i < n; i++) out[i] = c->entries[(head + i) & c->mask];
  if (n > 0) {
    atomic_store(&c->head, head + n); /* seq_cst: the owner's half of the want_room handshake */
    /* seq_cst load first: the exchange (a write) only when the loop asked. */
    if (atomic_load(&c->want_room) && atomic_exchange(&c->want_room, false)) *wake_loop = true;
  }
  if (loop_exited) {
    /* The loop has exited (its thread is gone, or the inline owner finished it): its overflow
     * list is ours now. */
    while (n < max && c->overflow_len > 0) {
      out[n++] = c->overflow[c->overflow_head++];
      c->overflow_len--;
    }
  }
  return n;
}
