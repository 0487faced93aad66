/* helpers.h: what every C test shares: the exit codes, a CHECK macro that names the failure, and a
 * small harness around one loop (open, submit + publish, wait for a tag's completion, close). */
#ifndef IOU_TEST_HELPERS_H
#define IOU_TEST_HELPERS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "iou.h"

#define T_EXIT_PASS 0
#define T_EXIT_FAIL 1
#define T_EXIT_SKIP 77

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      exit(T_EXIT_FAIL);                                                       \
    }                                                                          \
  } while (0)

/* Exits 77 with the reason when this kernel refuses io_uring. */
void t_require_io_uring(void);

#define T_MS 1000000ull
#define T_MAX_GOT 65536

/* One loop under test and everything it completed so far. */
struct t_loop {
  struct iou_loop *loop;
  bool inline_engine;        /* IOU_ENGINE_INLINE: the harness runs its passes */
  pthread_t owner;           /* the thread that opened it: the only one that may run it */
  int notify_fd;             /* eventfd written by notify */
  _Atomic uint64_t notifies; /* notify calls */
  uint32_t ngot;
  struct iou_completion got[T_MAX_GOT];
  bool taken[T_MAX_GOT];
};

uint64_t t_now_ns(void);
/* Sleeps; an open inline loop keeps running meanwhile, as its host event loop would. */
void t_sleep_ms(unsigned ms);
/* True when IOU_TEST_ENGINE=inline: t_open* open inline loops (the Makefile runs the loop tests
 * once per engine). */
bool t_inline(void);

/* Opens a loop (size, single issuer, horizon and tick in ns); exits 77 if io_uring is refused. */
struct t_loop *t_open(uint32_t size, bool single_issuer, uint64_t horizon_ns, uint64_t tick_ns);
/* Same with a whole config (trace hooks, test knobs). */
struct t_loop *t_open_config(const struct iou_loop_config *config);
/* Same with the defaults: 60 s horizon, 5 ms tick, single issuer requested. */
struct t_loop *t_open_default(uint32_t size);
/* The defaults, size 8, and an idle spin of spin_us (budget and ceiling alike; 0 = off). */
struct t_loop *t_open_spinning(uint32_t spin_us);

/* The first two CPUs this process may use (*b = -1 with only one). */
void t_first_cpus(int *a, int *b);
/* Pins the calling thread (and the loops it opens later) to `cpu`; false where that does not take
 * effect (a sandbox that ignores it). */
bool t_pin_to(int cpu);

/* An engine's loop (IOU_ENGINE_*) of `size`, whatever IOU_TEST_ENGINE says: 60 s horizon, 5 ms
 * tick, single issuer requested. For the tests of one engine's own behaviour. */
struct t_loop *t_open_engine(uint8_t engine, uint32_t size);
/* An inline loop asking for the wake mode IOU_INLINE_WAKE_* `wake`, whatever IOU_TEST_INLINE_WAKE
 * says; otherwise as t_open_engine. */
struct t_loop *t_open_inline(uint8_t wake, bool single_issuer, uint32_t size);

/* How many threads of this process have a name (comm) starting with `prefix`; *first (if not NULL)
 * gets the id of one of them (0: none). */
int t_threads_named(const char *prefix, int *first);

/* A request of op on fd with tag. */
struct iou_request t_req(uint8_t op, int fd, uint64_t tag);
/* The same with a single buffer of len bytes. */
struct iou_request t_req_buf(uint8_t op, int fd, uint64_t tag, void *buf, uint32_t len);

/* Submits one request and publishes; CHECKs that it was taken. */
void t_submit(struct t_loop *t, const struct iou_request *req);

/* Moves what is available into t->got and returns how many arrived. */
uint32_t t_poll(struct t_loop *t);

/* Waits up to timeout_ms for the completion of tag; returns false on timeout. */
bool t_wait(struct t_loop *t, uint64_t tag, int timeout_ms, struct iou_completion *out);
/* Same, CHECKing that it arrives. */
struct iou_completion t_expect(struct t_loop *t, uint64_t tag, int timeout_ms);
/* True when tag has completed (without waiting). */
bool t_has(struct t_loop *t, uint64_t tag);

/* Closes with timeout_ns, waits for the thread to exit, collects the rest, destroys. */
void t_close(struct t_loop *t, int64_t timeout_ns);
/* t_close, with the loop's counters as they stand once it exited (before it is destroyed). */
void t_close_stats(struct t_loop *t, int64_t timeout_ns, struct iou_stats *stats);

/* A temporary regular file (unlinked) of `size` bytes filled with pattern(i) = i * 7 + 3. */
int t_temp_file(uint32_t size);
static inline uint8_t t_pattern(uint32_t i) {
  return (uint8_t)(i * 7 + 3);
}

/* A connected TCP loopback pair (fds[0] client, fds[1] accepted). */
void t_tcp_pair(int fds[2]);

/* CPU time (user + system) of this process in ns. */
uint64_t t_cpu_ns(void);

/* A size-2 loop whose two waiters hold recvs (tags 1 and 2) on a socketpair that nothing writes
 * yet, and two more 8-byte recvs (tags 3 and 4) prepared for the caller to submit: they then wait
 * in the inbound queue, tag 4 behind tag 3. */
struct t_full_ring {
  struct t_loop *t;
  int sv[2]; /* sv[0] is read by the recvs, the test writes sv[1] */
  uint8_t buf[4][8];
  struct iou_request reqs[4]; /* tags 1..4 */
};

/* Opens the loop, submits tags 1 and 2, and waits 30 ms: both are in flight, the waiters full. */
void t_full_ring_open(struct t_full_ring *f);
/* Submits and publishes tags 3 and 4: they wait in the inbound queue. */
void t_full_ring_queue(struct t_full_ring *f);
/* Writes three 8-byte messages 20 ms apart, so that tags 1, 2 and then 3 (admitted into a freed
 * slot) each get one and end OK 8; closes the loop and checks that exactly 4 completions came (tag
 * 4's once). */
void t_full_ring_finish(struct t_full_ring *f);

#endif
