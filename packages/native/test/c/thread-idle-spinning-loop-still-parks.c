/* With the idle spin at its largest (300 µs, growing up to 300 µs), a loop that has just served a
 * burst of requests (hits that grow the budget) and then gets nothing for 300 ms spends at most a
 * few ms of CPU in that time: it spins once, misses and parks on the futex. A request after the
 * idle period still completes (the park is woken). The loop thread's CPU time is read from its
 * per-thread CPU clock (found by the thread name, "iou-loop"). A spin longer than its ceiling is
 * refused at open. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "helpers.h"

/* The kernel's per-thread CPU clock id for a thread of this process (CPUCLOCK_SCHED, per thread). */
static uint64_t thread_cpu_ns(pid_t tid) {
  clockid_t id = (clockid_t)((~(unsigned)tid << 3) | 6);
  struct timespec ts;
  CHECK(clock_gettime(id, &ts) == 0);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(void) {
  struct iou_loop_config cfg = {
      .size = 8,
      .single_issuer = true,
      .max_request_timeout_ns = 60000 * T_MS,
      .timeout_wheel_tick_ns = 5 * T_MS,
      .idle_spin_us = 300,
      .idle_spin_max_us = 300,
  };
  struct iou_loop *refused = NULL;
  struct iou_loop_config too_long = cfg;
  too_long.idle_spin_us = 301; /* above its ceiling */
  CHECK(iou_loop_open(&too_long, NULL, NULL, &refused) == -EINVAL && refused == NULL);
  struct t_loop *t = t_open_config(&cfg);
  uint64_t tag = 1;
  for (int i = 0; i < 2000; i++, tag++) {
    struct iou_request r = t_req(IOU_OP_NOP, -1, tag);
    t_submit(t, &r);
    CHECK(t_expect(t, tag, 5000).outcome == IOU_OUTCOME_OK);
  }
  t_sleep_ms(20); /* let the last spin end */
  int tid = 0;
  CHECK(t_threads_named("iou-loop", &tid) == 1 && tid > 0); /* else the clock below would be another thread's */
  uint64_t before = thread_cpu_ns(tid);
  t_sleep_ms(300);
  uint64_t used = thread_cpu_ns(tid) - before;
  if (used >= 15 * T_MS)
    fprintf(stderr, "loop thread used %llu µs of CPU in 300 ms idle\n", (unsigned long long)(used / 1000));
  CHECK(used < 15 * T_MS);

  struct iou_request r = t_req(IOU_OP_NOP, -1, tag);
  t_submit(t, &r);
  CHECK(t_expect(t, tag, 5000).outcome == IOU_OUTCOME_OK);
  t_close(t, -1);
  return T_EXIT_PASS;
}
