/* A loop with near deadlines and far ones must sleep between deadlines: once the near requests have
 * timed out, 200 ms with only far deadlines left cost a handful of io_uring_enter calls, not a spin.
 * Each far deadline is exactly one wheel revolution (256 ticks of 1 ms) after a near one, so when
 * the loop comes late to a near tick (a busy thread shares its only CPU here) the same advance
 * returns the near entry as due and promotes the far one into its slot: the case where the wheel
 * kept its minimum in the past (wait timeout 0: a spin until the far deadline). The window measured
 * ends before the first far deadline, whenever the near ones finished timing out. */
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

#define PAIRS 24

static atomic_bool stop;

static void *busy(void *arg) {
  (void)arg;
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
  }
  return NULL;
}

int main(void) {
  (void)t_pin_to(sched_getcpu()); /* inherited by the loop and busy threads */
  struct t_loop *t = t_open(64, true, 200 * T_MS, 1 * T_MS);
  pthread_t spinner;
  CHECK(pthread_create(&spinner, NULL, busy, NULL) == 0);
  int sv[2 * PAIRS][2];
  static uint8_t buf[2 * PAIRS][4];
  uint64_t base = t_now_ns();
  for (uint32_t i = 0; i < 2 * PAIRS; i++) {
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv[i]) == 0);
    struct iou_request r = t_req_buf(IOU_OP_RECV, sv[i][0], i, buf[i], sizeof(buf[i]));
    uint64_t near = base + (10 + (i % PAIRS)) * T_MS;
    r.deadline_ns = i < PAIRS ? near : near + 256 * T_MS; /* far: one revolution later, same slot */
    t_submit(t, &r);
  }
  for (uint32_t i = 0; i < PAIRS; i++) CHECK(t_expect(t, i, 5000).outcome == IOU_OUTCOME_TIMEOUT);
  atomic_store(&stop, true);
  pthread_join(spinner, NULL);
  /* The window: from now until just before the first far deadline (a loaded machine may have
   * taken a while to time the near ones out). Sleeping costs an enter per deadline tick at most
   * (none are due in the window); a spin costs thousands. */
  uint64_t now = t_now_ns(), first_far = base + (10 + 256) * T_MS;
  uint64_t window_ms = first_far > now + 10 * T_MS ? (first_far - now) / T_MS - 10 : 0;
  if (window_ms > 200) window_ms = 200;
  struct iou_stats before, after;
  iou_loop_stats(t->loop, &before);
  t_sleep_ms((unsigned)window_ms);
  iou_loop_stats(t->loop, &after);
  uint64_t enters = after.enters - before.enters;
  uint64_t bound = 5 + window_ms / 10;
  if (enters >= bound)
    fprintf(stderr, "%llu enters in %llu ms\n", (unsigned long long)enters, (unsigned long long)window_ms);
  CHECK(enters < bound);
  for (uint32_t i = PAIRS; i < 2 * PAIRS; i++) CHECK(t_expect(t, i, 5000).outcome == IOU_OUTCOME_TIMEOUT);
  for (uint32_t i = 0; i < 2 * PAIRS; i++) {
    close(sv[i][0]);
    close(sv[i][1]);
  }
  t_close(t, -1);
  return T_EXIT_PASS;
}
