/* An exact recv that got some of its bytes and then nothing ends TIMEOUT with the bytes so far, and
 * not before its deadline: the completion is never seen while the clock is still before the
 * deadline (strict), and it comes within three times the timeout plus one tick (generous: the
 * machine is shared and noisy). */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

#define TIMEOUT_MS 150
#define TICK_MS 5

int main(void) {
  struct t_loop *t = t_open(8, true, 60000 * T_MS, TICK_MS * T_MS);
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  uint8_t buf[16];
  struct iou_request r = t_req_buf(IOU_OP_RECV, sv[0], 1, buf, sizeof(buf));
  r.flags = IOU_FLAG_EXACT;
  uint64_t start = t_now_ns();
  uint64_t deadline = start + TIMEOUT_MS * T_MS;
  r.deadline_ns = deadline;
  t_submit(t, &r);
  CHECK(write(sv[1], "abcde", 5) == 5);
  /* Watch it until the deadline: a completion seen before then came early. */
  for (;;) {
    bool seen = t_has(t, 1);
    uint64_t now = t_now_ns(); /* read after the look: seen means it arrived before now */
    if (seen) {
      fprintf(stderr, "completed %lld ms before its deadline\n", (long long)(deadline - now) / (long long)T_MS);
      CHECK(now >= deadline);
    }
    if (now >= deadline) break;
    t_sleep_ms(1);
  }
  struct iou_completion c = t_expect(t, 1, 5000);
  uint64_t took = t_now_ns() - start;
  CHECK(c.outcome == IOU_OUTCOME_TIMEOUT && c.result == 5);
  CHECK(memcmp(buf, "abcde", 5) == 0);
  if (took > (3 * TIMEOUT_MS + TICK_MS) * T_MS) fprintf(stderr, "took %llu ms\n", (unsigned long long)(took / T_MS));
  CHECK(took <= (3 * TIMEOUT_MS + TICK_MS) * T_MS);
  t_close(t, -1);
  close(sv[0]);
  close(sv[1]);
  return T_EXIT_PASS;
}
