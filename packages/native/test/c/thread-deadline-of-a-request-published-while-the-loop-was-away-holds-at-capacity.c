/* Thread engine, waiter capacity 1: tag 1, a recv that never completes, holds the only waiter; tag 2
 * (deadline 30 ms) waits in the inbound queue and times out. That timeout's notify holds the loop
 * thread (as a thread descheduled there would be) until the owner has submitted and published tag 3
 * (deadline 20 ms): pushed after the loop folded the queued deadlines, published before it armed
 * its wait. The loop must not sleep at capacity on a bound that does not know tag 3: tag 3 ends
 * TIMEOUT soon after its deadline. */
#include <errno.h>
#include <semaphore.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

static sem_t timed_out;
static sem_t published;
static atomic_bool hold_next;

/* The loop thread's notify: the first one after hold_next is set (tag 2's timeout) posts, then
 * keeps the loop thread here until the owner published tag 3 (at most 1 s). */
static void notify(void *ctx) {
  (void)ctx;
  if (atomic_exchange(&hold_next, false)) {
    sem_post(&timed_out);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 1;
    while (sem_timedwait(&published, &until) != 0 && errno == EINTR) {
    }
  }
}

static bool poll_for(struct iou_loop *loop, uint64_t tag, uint64_t until_ns, struct iou_completion *out) {
  while (t_now_ns() < until_ns) {
    struct iou_completion c[8];
    uint32_t n = iou_loop_poll_completions(loop, c, 8);
    for (uint32_t i = 0; i < n; i++) {
      if (c[i].tag == tag) {
        *out = c[i];
        return true;
      }
    }
    t_sleep_ms(1);
  }
  return false;
}

int main(void) {
  t_require_io_uring();
  CHECK(sem_init(&timed_out, 0, 0) == 0);
  CHECK(sem_init(&published, 0, 0) == 0);
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  struct iou_loop_config cfg = {.engine = IOU_ENGINE_THREAD,
                                .size = 4,
                                .max_in_flight = 1,
                                .single_issuer = true,
                                .max_request_timeout_ns = 60000 * T_MS,
                                .timeout_wheel_tick_ns = 1 * T_MS};
  struct iou_loop *loop = NULL;
  int r = iou_loop_open(&cfg, notify, NULL, &loop);
  if (r == -ENOMEM || r == -EPERM) {
    printf("iou_loop_open refused: %s\n", strerror(-r));
    return T_EXIT_SKIP;
  }
  CHECK(r == 0);
  uint8_t buf[3][8];
  struct iou_request held = t_req_buf(IOU_OP_RECV, sv[0], 1, buf[0], sizeof(buf[0]));
  CHECK(iou_loop_submit(loop, &held, 1) == 1);
  iou_loop_publish(loop);
  t_sleep_ms(20); /* tag 1 in flight: the waiters are full */

  struct iou_request queued = t_req_buf(IOU_OP_RECV, sv[0], 2, buf[1], sizeof(buf[1]));
  queued.deadline_ns = t_now_ns() + 30 * T_MS;
  atomic_store(&hold_next, true);
  CHECK(iou_loop_submit(loop, &queued, 1) == 1);
  iou_loop_publish(loop);
  CHECK(sem_wait(&timed_out) == 0); /* tag 2 timed out; the loop thread waits in notify */

  struct iou_request late = t_req_buf(IOU_OP_RECV, sv[0], 3, buf[2], sizeof(buf[2]));
  late.deadline_ns = t_now_ns() + 20 * T_MS;
  CHECK(iou_loop_submit(loop, &late, 1) == 1);
  iou_loop_publish(loop);
  CHECK(sem_post(&published) == 0); /* the loop thread goes on to its wait */

  struct iou_completion c;
  CHECK(poll_for(loop, 3, late.deadline_ns + 2000 * T_MS, &c));
  CHECK(c.outcome == IOU_OUTCOME_TIMEOUT && c.result == 0);
  CHECK(t_now_ns() >= late.deadline_ns);

  CHECK(iou_loop_close(loop, 0) == 0);
  iou_loop_destroy(loop);
  close(sv[0]);
  close(sv[1]);
  sem_destroy(&timed_out);
  sem_destroy(&published);
  return T_EXIT_PASS;
}
