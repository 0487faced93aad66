/* A loop that always has a live deadline pending (a recv waiting 30 s) and runs many short requests
 * with deadlines that all complete in time: each leaves a stale entry in the timeout wheel, which
 * the clock's passing sweeps although no deadline comes due, so the wheel does not hold one entry
 * per request ever made. Read after every completion was published and the loop is idle (the
 * loop's writes come before the completions' release). */
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"
#include "loop.h"

int main(void) {
  struct t_loop *t = t_open_default(64);
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  uint8_t buf[8];
  struct iou_request r = t_req_buf(IOU_OP_RECV, sv[0], 1, buf, sizeof(buf));
  r.deadline_ns = t_now_ns() + 30000 * T_MS;
  t_submit(t, &r);
  const uint32_t N = 50000, B = 32;
  uint64_t tag = 100;
  for (uint32_t i = 0; i < N; i += B) {
    struct iou_request reqs[32];
    for (uint32_t k = 0; k < B; k++) {
      reqs[k] = t_req(IOU_OP_NOP, -1, tag + k);
      reqs[k].deadline_ns = t_now_ns() + 50 * T_MS;
    }
    CHECK(iou_loop_submit(t->loop, reqs, B) == (int)B);
    iou_loop_publish(t->loop);
    for (uint32_t k = 0; k < B; k++) {
      struct iou_completion c = t_expect(t, tag + k, 5000);
      CHECK(c.outcome == IOU_OUTCOME_OK);
    }
    for (uint32_t k = 0; k < t->ngot; k++) t->taken[k] = false;
    t->ngot = 0; /* keep the harness's record small */
    tag += B;
  }
  /* Every deadline of those requests has passed; one more request makes the loop advance the wheel. */
  t_sleep_ms(100);
  struct iou_request last = t_req(IOU_OP_NOP, -1, 2);
  last.deadline_ns = t_now_ns() + 10000 * T_MS;
  t_submit(t, &last);
  CHECK(t_expect(t, 2, 5000).outcome == IOU_OUTCOME_OK);
  uint64_t entries = 0, cap = 0;
  for (uint32_t i = 0; i < t->loop->wheel.slots; i++) {
    for (uint32_t k = 0; k < t->loop->wheel.buckets[i].len; k++)
      entries += t->loop->wheel.buckets[i].entries[k].tick <= t->loop->wheel.current_tick;
    cap += t->loop->wheel.buckets[i].cap;
  }
  fprintf(stderr, "wheel: %u slots, %llu entries past their tick still in buckets after %u requests, %llu bytes reserved\n",
          t->loop->wheel.slots, (unsigned long long)entries, N,
          (unsigned long long)(cap * sizeof(struct iou__wheel_entry)));
  CHECK(entries == 0); /* each was stale: swept once its tick passed */
  CHECK(iou_loop_cancel(t->loop, 1) == 0);
  CHECK(t_expect(t, 1, 5000).outcome == IOU_OUTCOME_CANCELLED);
  t_close(t, -1);
  close(sv[0]);
  close(sv[1]);
  return T_EXIT_PASS;
}
