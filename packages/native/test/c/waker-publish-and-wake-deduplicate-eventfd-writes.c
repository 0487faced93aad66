/* Publishing while the loop is not armed is one atomic and no syscall; once armed, the first
 * publish of the epoch writes the eventfd and later ones (and wakes) coalesce; disarm keeps
 * the sequence and clears the bits; an unarmed wake stays latched and makes the next arm skip
 * sleeping; a publish before the arm makes the arm report work ahead. */
#include <errno.h>
#include <unistd.h>

#include "helpers.h"
#include "waker.h"

static uint64_t eventfd_count(struct iou__waker *w) {
  uint64_t v = 0;
  if (read(w->eventfd, &v, sizeof(v)) < 0) CHECK(errno == EAGAIN);
  return v;
}

int main(void) {
  struct iou__waker w;
  CHECK(iou__waker_init(&w) == 0);
  uint32_t processed = 0;

  iou__waker_publish(&w, 1);
  CHECK(eventfd_count(&w) == 0 && atomic_load(&w.wakes) == 0);
  CHECK(iou__waker_pending(&w, processed));
  struct iou__waker_arm a = iou__waker_arm(&w, processed);
  CHECK(!a.wake_latched && !a.still_idle); /* work published ahead */
  iou__waker_disarm(&w);
  processed = 1;
  CHECK(!iou__waker_pending(&w, processed));

  a = iou__waker_arm(&w, processed);
  CHECK(a.still_idle && !a.wake_latched);
  for (int i = 0; i < 4; i++) iou__waker_publish(&w, 1);
  iou__waker_wake(&w);
  CHECK(eventfd_count(&w) == 1 && atomic_load(&w.wakes) == 1);
  iou__waker_disarm(&w);
  CHECK((atomic_load(&w.state) & 7u) == 0);
  CHECK(atomic_load(&w.state) >> 3 == 5); /* the sequence survives */
  processed = 5;

  /* Unarmed wake: no syscall, latched for the next arm, which then does not sleep. */
  iou__waker_wake(&w);
  iou__waker_wake(&w);
  CHECK(eventfd_count(&w) == 0 && atomic_load(&w.wakes) == 1);
  CHECK(atomic_load(&w.state) >> 3 == 5);
  a = iou__waker_arm(&w, processed);
  CHECK(a.wake_latched && !a.still_idle);
  iou__waker_disarm(&w);
  a = iou__waker_arm(&w, processed);
  CHECK(!a.wake_latched && a.still_idle); /* consumed by one arm */
  iou__waker_disarm(&w);

  /* park_idle returns at once when a wake is latched or work is ahead. */
  iou__waker_wake(&w);
  CHECK(!iou__waker_park_idle(&w, processed));
  iou__waker_publish(&w, 2);
  CHECK(!iou__waker_park_idle(&w, processed));
  CHECK((atomic_load(&w.state) & 7u) == 0);
  /* A lagging sequence (the loop took entries before their publish) is idle, not pending. */
  CHECK(!iou__waker_pending(&w, processed + 3));
  iou__waker_acknowledge(&w); /* empty eventfd: harmless */
  iou__waker_destroy(&w);
  return T_EXIT_PASS;
}
