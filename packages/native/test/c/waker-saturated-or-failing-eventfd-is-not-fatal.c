/* The eventfd's error branches. A saturated counter (0xfffffffffffffffe, the most it holds) makes
 * the wake's write fail with EAGAIN: not fatal, the wake is counted and the fd is readable anyway,
 * which is all the wake poll needs; acknowledge drains it. A write or read that fails outright
 * (here the fd was closed under the waker: EBADF) is not fatal either: wake and publish return,
 * the sequence and the latch behave as usual, and acknowledge returns. */
#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include "helpers.h"
#include "waker.h"

static bool readable(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

int main(void) {
  struct iou__waker w;
  CHECK(iou__waker_init(&w) == 0);
  const uint64_t most = 0xfffffffffffffffeull;

  /* Saturated: the write of the first wake of an armed epoch gets EAGAIN. */
  CHECK(write(w.eventfd, &most, sizeof(most)) == sizeof(most));
  uint64_t one = 1;
  CHECK(write(w.eventfd, &one, sizeof(one)) < 0 && errno == EAGAIN); /* the kernel's answer */
  struct iou__waker_arm a = iou__waker_arm(&w, 0);
  CHECK(a.still_idle);
  iou__waker_wake(&w);
  CHECK(atomic_load(&w.wakes) == 1);
  CHECK(readable(w.eventfd));
  iou__waker_disarm(&w);
  a = iou__waker_arm(&w, 0); /* again, through publish */
  CHECK(a.still_idle);
  iou__waker_publish(&w, 1);
  CHECK(atomic_load(&w.wakes) == 2);
  iou__waker_disarm(&w);
  CHECK(atomic_load(&w.state) == 1u << IOU_WAKER_SUBMISSION_SHIFT); /* sequence 1, no bits */
  iou__waker_acknowledge(&w);                                       /* drains the whole counter */
  CHECK(!readable(w.eventfd));
  uint64_t v;
  CHECK(read(w.eventfd, &v, sizeof(v)) < 0 && errno == EAGAIN);

  /* Failing outright: the fd is gone (EBADF on every write and read). */
  int fd = w.eventfd;
  CHECK(close(fd) == 0);
  CHECK(write(fd, &one, sizeof(one)) < 0 && errno == EBADF);
  a = iou__waker_arm(&w, 1);
  CHECK(a.still_idle);
  iou__waker_wake(&w);
  CHECK(atomic_load(&w.wakes) == 3); /* the attempt is counted */
  iou__waker_publish(&w, 1);         /* coalesced into the latched wake: no second write */
  CHECK(atomic_load(&w.wakes) == 3);
  iou__waker_disarm(&w);
  CHECK(atomic_load(&w.state) == 2u << IOU_WAKER_SUBMISSION_SHIFT);
  a = iou__waker_arm(&w, 2);
  iou__waker_publish(&w, 1);
  CHECK(atomic_load(&w.wakes) == 4);
  iou__waker_disarm(&w);
  iou__waker_acknowledge(&w); /* read fails with EBADF: returns */
  iou__waker_wake(&w);        /* unarmed: latched, no syscall */
  CHECK(atomic_load(&w.wakes) == 4);
  a = iou__waker_arm(&w, 3);
  CHECK(a.wake_latched && !a.still_idle);
  iou__waker_disarm(&w);
  w.eventfd = -1; /* already closed */
  iou__waker_destroy(&w);
  return T_EXIT_PASS;
}
