/*
 * waker.c: owns the wake word and the eventfd (see waker.h). Why no wake-up is lost: the loop arms
 * and reads the sequence in one atomic RMW on the word; a publish or wake ordered before it shows
 * up in the snapshot (no sleep), one ordered after it sees the wait bit and makes the syscall
 * (FUTEX_WAKE, or an eventfd write that the multishot poll turns into a CQE). FUTEX_WAIT compares
 * the word in the kernel, so a change between the arm and the wait fails the wait with EAGAIN.
 * Visibility: publish (release) pairs with pending/arm (acquire); wake (release) pairs with
 * disarm (acquire).
 */
#include "waker.h"

#include <errno.h>
#include <linux/futex.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Any thread, before the loop thread starts. */
int iou__waker_init(struct iou__waker *w) {
  atomic_init(&w->state, 0);
  atomic_init(&w->wakes, 0);
  w->eventfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  return w->eventfd < 0 ? -errno : 0;
}

/* Any thread, once nothing else uses the waker. */
void iou__waker_destroy(struct iou__waker *w) {
  if (w->eventfd >= 0) close(w->eventfd);
  w->eventfd = -1;
}

static uint32_t seq_of(uint32_t word) {
  return word >> IOU_WAKER_SUBMISSION_SHIFT;
}

/* Any thread. */
void iou__waker_wake(struct iou__waker *w) {
  /* Release pairs with disarm's acquire: what the caller wrote before waking (closing, a
   * cancel, consumed completions) is visible to the loop once it resumes. */
  uint32_t prev = atomic_fetch_or_explicit(&w->state, IOU_WAKER_WAKE_SIGNALLED, memory_order_release);
  if (prev & IOU_WAKER_WAKE_SIGNALLED) return; /* coalesced: someone else claimed this epoch */
  if (prev & IOU_WAKER_WAITING_ON_FUTEX) {
    for (;;) {
      long r = syscall(SYS_futex, (uint32_t *)&w->state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
      if (r >= 0) break;
      IOU_ASSERT_ERRNO(errno == EINTR, errno,
                       "waker: FUTEX_WAKE failed; the latch is consumed, the wake would be lost");
    }
    atomic_fetch_add_explicit(&w->wakes, 1, memory_order_relaxed); /* a counter: pairs with nothing */
  } else if (prev & IOU_WAKER_WAITING_ON_EVENTFD) {
    uint64_t one = 1;
    while (write(w->eventfd, &one, sizeof(one)) < 0 && errno == EINTR) {
    }
    /* EAGAIN: the counter is saturated, the fd is readable anyway. */
    atomic_fetch_add_explicit(&w->wakes, 1, memory_order_relaxed);
  }
  /* Neither wait bit: the latch stays set, so the next arm or park skips sleeping once. */
}

/* Producer (the owner thread). */
void iou__waker_publish(struct iou__waker *w, uint32_t n) {
  if (n == 0) return;
  /* Release pairs with the acquire in pending / arm / park_idle: once the loop sees the sequence
   * ahead, the inbound queue entries written before it are visible. */
  uint32_t prev = atomic_fetch_add_explicit(&w->state, n << IOU_WAKER_SUBMISSION_SHIFT, memory_order_release);
  if (!(prev & IOU_WAKER_WAIT_BITS) || (prev & IOU_WAKER_WAKE_SIGNALLED)) return;
  iou__waker_wake(w);
}

/* Loop thread. */
bool iou__waker_pending(struct iou__waker *w, uint32_t processed) {
  /* Acquire pairs with publish's release. */
  uint32_t word = atomic_load_explicit(&w->state, memory_order_acquire);
  return iou__waker_seq_ahead(seq_of(word), processed);
}

/* Loop thread. */
struct iou__waker_arm iou__waker_arm(struct iou__waker *w, uint32_t processed) {
  /* Acquire pairs with publish's release (the snapshot may show work published ahead). */
  uint32_t prev = atomic_fetch_or_explicit(&w->state, IOU_WAKER_WAITING_ON_EVENTFD, memory_order_acquire);
  IOU_ASSERT(!(prev & IOU_WAKER_WAIT_BITS), "waker: arm while a wait bit is already set");
  struct iou__waker_arm a;
  a.wake_latched = (prev & IOU_WAKER_WAKE_SIGNALLED) != 0;
  /* A sequence that lags `processed` (the loop took an entry before its publish) is idle too: the
   * late publish will see the wait bit and wake us. */
  a.still_idle = !a.wake_latched && !iou__waker_seq_ahead(seq_of(prev), processed);
  return a;
}

/* Loop thread. */
void iou__waker_disarm(struct iou__waker *w) {
  /* Acquire pairs with wake's release (see iou__waker_wake). */
  atomic_fetch_and_explicit(&w->state, ~(IOU_WAKER_WAIT_BITS | IOU_WAKER_WAKE_SIGNALLED), memory_order_acquire);
}

/* Loop thread. */
bool iou__waker_park_idle(struct iou__waker *w, uint32_t processed) {
  /* Acquire pairs with publish's release, as in arm. */
  uint32_t prev = atomic_fetch_or_explicit(&w->state, IOU_WAKER_WAITING_ON_FUTEX, memory_order_acquire);
  IOU_ASSERT(!(prev & IOU_WAKER_WAIT_BITS), "waker: park while a wait bit is already set");
  uint32_t snapshot = prev | IOU_WAKER_WAITING_ON_FUTEX;
  bool slept = false;
  if (!(snapshot & IOU_WAKER_WAKE_SIGNALLED) && !iou__waker_seq_ahead(seq_of(snapshot), processed)) {
    for (;;) {
      if (atomic_load_explicit(&w->state, memory_order_relaxed) != snapshot) break;
      long r = syscall(SYS_futex, (uint32_t *)&w->state, FUTEX_WAIT_PRIVATE, snapshot, NULL, NULL, 0);
      if (r == 0) {
        slept = true;
        break;
      }
      if (errno == EINTR) continue;
      break; /* EAGAIN: the word changed before the kernel compared it */
    }
  }
  iou__waker_disarm(w);
  return slept;
}

/* Loop thread. */
void iou__waker_acknowledge(struct iou__waker *w) {
  uint64_t value;
  while (read(w->eventfd, &value, sizeof(value)) < 0 && errno == EINTR) {
  }
  /* EAGAIN: nothing to drain (a spurious wake); any other error leaves the fd readable, which only
   * costs another wake CQE. */
}

/* Loop thread. */
void iou__waker_prep_poll(struct iou__waker *w, struct io_uring_sqe *sqe) {
  sqe->opcode = IORING_OP_POLL_ADD;
  sqe->fd = w->eventfd;
  sqe->poll32_events = POLLIN;
  sqe->len = IORING_POLL_ADD_MULTI;
  sqe->user_data = IOU_WAKE_USER_DATA;
}
