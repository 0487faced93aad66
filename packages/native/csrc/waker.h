/*
 * waker.h: the producer -> loop wake protocol (the seed's waker.rs). One 32-bit word, which is also
 * the futex word:
 *   bit 0      WAITING_ON_FUTEX    the loop is (about to be) parked in FUTEX_WAIT on this word
 *   bit 1      WAITING_ON_EVENTFD  the loop is (about to be) blocked in io_uring_enter
 *   bit 2      WAKE_SIGNALLED      a wake was claimed for this epoch (latched until disarm)
 *   bits 3..31 submission sequence (29 bits, wraps): requests published by the owner
 * plus an eventfd watched by a multishot POLL_ADD on the ring (user_data UINT64_MAX). Publishing
 * costs one atomic add; only the first publisher or waker of an armed epoch makes a syscall.
 */
#ifndef IOU_WAKER_H
#define IOU_WAKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "compat.h"

#define IOU_WAKER_WAITING_ON_FUTEX 1u
#define IOU_WAKER_WAITING_ON_EVENTFD 2u
#define IOU_WAKER_WAKE_SIGNALLED 4u
#define IOU_WAKER_WAIT_BITS 3u
#define IOU_WAKER_SUBMISSION_SHIFT 3
#define IOU_WAKER_SUBMISSION_SEQ_MASK ((1u << 29) - 1)
#define IOU_WAKER_HALF_SUBMISSION_DOMAIN (1u << 28)

struct iou__waker {
  _Atomic uint32_t state; /* the word above; its pairs are named at each use in waker.c */
  int eventfd;            /* EFD_NONBLOCK | EFD_CLOEXEC, non-semaphore */
  _Atomic uint64_t wakes; /* syscalls made by wake(): eventfd writes and futex wakes */
};

struct iou__waker_arm {
  bool wake_latched; /* a wake was claimed before the arm: do not sleep */
  bool still_idle;   /* no latched wake and nothing published ahead of `processed`: may sleep */
};

/* Any thread, before the loop thread starts. Returns 0 or -errno. */
int iou__waker_init(struct iou__waker *w);
/* Any thread, after the loop thread exited. */
void iou__waker_destroy(struct iou__waker *w);

/* Producer (the owner): n more requests are visible in the inbound queue. */
void iou__waker_publish(struct iou__waker *w, uint32_t n);
/* Any thread: an out-of-band wake (close, cancel, completion-queue room); the sequence is kept. */
void iou__waker_wake(struct iou__waker *w);

/* Loop thread: is the published sequence ahead of `processed` (by less than half the domain)? */
bool iou__waker_pending(struct iou__waker *w, uint32_t processed);
/* Loop thread: announce a blocking io_uring_enter and recheck (arm-and-recheck). */
struct iou__waker_arm iou__waker_arm(struct iou__waker *w, uint32_t processed);
/* Loop thread: clear the wait bits and the latch after waking. */
void iou__waker_disarm(struct iou__waker *w);
/* Loop thread, nothing in flight: FUTEX_WAIT on the word unless work or a wake is already there.
 * Returns true when it really slept. */
bool iou__waker_park_idle(struct iou__waker *w, uint32_t processed);
/* Loop thread: drain the eventfd counter after a wake-poll CQE. */
void iou__waker_acknowledge(struct iou__waker *w);
/* Loop thread: the multishot POLL_ADD(eventfd, POLLIN) SQE, user_data IOU_WAKE_USER_DATA (Linux
 * 5.13 for IORING_POLL_ADD_MULTI). */
void iou__waker_prep_poll(struct iou__waker *w, struct io_uring_sqe *sqe);

/* (seq - processed) mod 2^29 in (0, 2^28): the half-range rule. */
static inline bool iou__waker_seq_ahead(uint32_t seq, uint32_t processed) {
  uint32_t delta = (seq - processed) & IOU_WAKER_SUBMISSION_SEQ_MASK;
  return delta != 0 && delta < IOU_WAKER_HALF_SUBMISSION_DOMAIN;
}

#endif /* IOU_WAKER_H */
