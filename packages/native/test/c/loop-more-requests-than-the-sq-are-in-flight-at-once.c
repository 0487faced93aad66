/* Capacity apart from the SQ (packages/native/README.md, The loop: the waiter capacity,
 * max_in_flight, is a setting of its own, since a request that waits in the kernel holds a waiter,
 * not an SQ entry): 1,000 receives that block, on a loop whose SQ (and inbound queue) has 128
 * entries and whose waiter capacity is 2,048, are all in the kernel at once; the owner submits
 * past the full inbound queue as iou_loop_inbound_room says it may, and every receive completes
 * once its peer writes. A waiter capacity above IOU_MAX_IN_FLIGHT is refused. */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

#define N 1000

int main(void) {
  struct iou_loop_config bad = {.size = 8,
                                .max_in_flight = IOU_MAX_IN_FLIGHT + 1,
                                .max_request_timeout_ns = 60000 * T_MS,
                                .timeout_wheel_tick_ns = 5 * T_MS};
  struct iou_loop *refused = NULL;
  CHECK(iou_loop_open(&bad, NULL, NULL, &refused) == -EINVAL);

  struct iou_loop_config cfg = {.size = 128,
                                .max_in_flight = 2048,
                                .single_issuer = true,
                                .max_request_timeout_ns = 60000 * T_MS,
                                .timeout_wheel_tick_ns = 5 * T_MS};
  struct t_loop *t = t_open_config(&cfg);
  static int sv[N][2];
  static uint8_t buf[N][4];
  for (int i = 0; i < N; i++) CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv[i]) == 0);

  uint32_t sent = 0, short_pushes = 0;
  uint64_t deadline = t_now_ns() + 10000 * T_MS;
  while (sent < N) {
    CHECK(t_now_ns() < deadline);
    struct iou_request r = t_req_buf(IOU_OP_RECV, sv[sent][0], 1 + sent, buf[sent], sizeof(buf[sent]));
    int n = iou_loop_submit(t->loop, &r, 1);
    CHECK(n >= 0);
    if (n == 1) {
      sent++;
      continue;
    }
    short_pushes++;
    iou_loop_publish(t->loop);
    /* Nothing completes: only the room signal can say when to go on. */
    while (!iou_loop_inbound_room(t->loop)) {
      CHECK(t_now_ns() < deadline);
      t_sleep_ms(1);
      t_poll(t);
    }
  }
  iou_loop_publish(t->loop);
  CHECK(short_pushes > 0); /* the inbound queue (128) was full along the way */

  struct iou_stats st;
  for (;;) {
    iou_loop_stats(t->loop, &st);
    if (st.pending_operations == N) break;
    CHECK(t_now_ns() < deadline);
    t_sleep_ms(1);
  }
  CHECK(t->ngot == 0);
  for (int i = 0; i < N; i++) CHECK(write(sv[i][1], "ab", 2) == 2);
  for (int i = 0; i < N; i++) {
    struct iou_completion c = t_expect(t, 1 + i, 10000);
    CHECK(c.outcome == IOU_OUTCOME_OK && c.result == 2);
  }
#ifndef IOU_FAULT_INJECTION /* the fault-injection build gives rings the smallest CQ instead */
  iou_loop_stats(t->loop, &st);
  CHECK(st.cq_kernel_overflow == 0); /* the CQ is sized for the waiters */
#endif
  t_close(t, -1);
  for (int i = 0; i < N; i++) {
    close(sv[i][0]);
    close(sv[i][1]);
  }
  return T_EXIT_PASS;
}
