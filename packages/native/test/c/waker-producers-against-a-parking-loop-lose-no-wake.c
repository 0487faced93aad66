/* Stress for ThreadSanitizer and for lost wake-ups: producer threads publish counted items and
 * send out-of-band wakes while a consumer thread runs the loop's protocol (take what is visible,
 * then either park on the futex or arm and block on the eventfd). Every published item is seen,
 * and the consumer never sleeps through work: each sleep has a 2 s watchdog that would fail. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include "helpers.h"
#include "waker.h"

#define PRODUCERS 4
#define ITEMS 20000

static struct iou__waker w;
static _Atomic uint64_t produced; /* items made visible before publish (the "queue") */
static _Atomic bool done;

static void *producer(void *arg) {
  (void)arg;
  for (int i = 0; i < ITEMS; i++) {
    atomic_fetch_add_explicit(&produced, 1, memory_order_relaxed);
    iou__waker_publish(&w, 1);
    if (i % 97 == 0) iou__waker_wake(&w);
  }
  return NULL;
}

static void *consumer(void *arg) {
  (void)arg;
  uint64_t taken = 0;
  uint32_t processed = 0;
  unsigned round = 0;
  while (taken < (uint64_t)PRODUCERS * ITEMS) {
    /* "Drain the queue": everything whose publish we can see. */
    uint32_t seq = atomic_load_explicit(&w.state, memory_order_acquire) >> IOU_WAKER_SUBMISSION_SHIFT;
    uint32_t ahead = (seq - processed) & IOU_WAKER_SUBMISSION_SEQ_MASK;
    if (iou__waker_seq_ahead(seq, processed)) {
      taken += ahead;
      processed = seq;
      CHECK(taken <= atomic_load(&produced));
      continue;
    }
    if (round++ % 2 == 0) {
      uint64_t t0 = t_now_ns();
      iou__waker_park_idle(&w, processed); /* returns on any publish or wake */
      CHECK(t_now_ns() - t0 < 2000 * T_MS || atomic_load(&done));
    } else {
      struct iou__waker_arm a = iou__waker_arm(&w, processed);
      if (a.still_idle) {
        struct pollfd p = {.fd = w.eventfd, .events = POLLIN};
        int r = poll(&p, 1, 2000);
        CHECK(r == 1); /* a publish after the arm must write the eventfd */
        iou__waker_acknowledge(&w);
      }
      iou__waker_disarm(&w);
    }
  }
  CHECK(taken == (uint64_t)PRODUCERS * ITEMS);
  return NULL;
}

int main(void) {
  CHECK(iou__waker_init(&w) == 0);
  pthread_t c, p[PRODUCERS];
  CHECK(pthread_create(&c, NULL, consumer, NULL) == 0);
  for (int i = 0; i < PRODUCERS; i++) CHECK(pthread_create(&p[i], NULL, producer, NULL) == 0);
  for (int i = 0; i < PRODUCERS; i++) pthread_join(p[i], NULL);
  atomic_store(&done, true);
  pthread_join(c, NULL);
  CHECK((atomic_load(&w.state) & IOU_WAKER_WAIT_BITS) == 0);
  iou__waker_destroy(&w);
  return T_EXIT_PASS;
}
