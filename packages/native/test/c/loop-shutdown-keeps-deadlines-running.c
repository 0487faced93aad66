/* During shutdown deadlines keep working: with no cutoff, a timed recv ends TIMEOUT; with a cutoff
 * later than the deadline, TIMEOUT as well; with a cutoff earlier than the deadline, ABANDONED.
 * (seed: test_shutdown_no_timeout_continues_deadline_processing,
 * test_shutdown_timeout_preserves_deadline_result, test_shutdown_timeout_abandons_timed_op_after_cutoff) */
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

static uint8_t case_outcome(int64_t cutoff_ms, uint64_t deadline_ms) {
  struct t_loop *t = t_open_default(8);
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  static uint8_t buf[8];
  struct iou_request r = t_req_buf(IOU_OP_RECV, sv[0], 1, buf, sizeof(buf));
  r.deadline_ns = t_now_ns() + deadline_ms * T_MS;
  t_submit(t, &r);
  t_sleep_ms(10);
  uint64_t start = t_now_ns();
  t_close(t, cutoff_ms < 0 ? -1 : cutoff_ms * (int64_t)T_MS);
  uint64_t took = t_now_ns() - start;
  CHECK(t->ngot == 1 && t->got[0].tag == 1);
  CHECK(took < 3000 * T_MS);
  close(sv[0]);
  close(sv[1]);
  return t->got[0].outcome;
}

int main(void) {
  CHECK(case_outcome(-1, 60) == IOU_OUTCOME_TIMEOUT);
  CHECK(case_outcome(500, 50) == IOU_OUTCOME_TIMEOUT);
  CHECK(case_outcome(50, 500) == IOU_OUTCOME_ABANDONED);
  return T_EXIT_PASS;
}
