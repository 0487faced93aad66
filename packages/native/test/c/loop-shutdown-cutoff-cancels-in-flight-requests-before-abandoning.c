/* At the shutdown cutoff the loop first sends one ASYNC_CANCEL per request still in the kernel and
 * waits (at most a short grace) for their final CQEs. A recv on a silent socket (blocking, and
 * non-blocking: the poll-wait path) and a request parked behind full waiter capacity all end
 * ABANDONED without IOU_COMPLETION_KERNEL_HELD: the cancels landed, the kernel let go of their
 * memory, nothing needs a quarantine. The same holds for close(0) and for destroy without close
 * (what env cleanup does when Node exits or a worker ends). */
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

static void run(int64_t timeout_ns, bool destroy_only) {
  struct t_loop *t = t_open_default(2);
  int sv[2][2];
  static uint8_t buf[3][8];
  for (int i = 0; i < 2; i++) CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv[i]) == 0);
  CHECK(fcntl(sv[1][0], F_SETFL, O_NONBLOCK) == 0);
  for (uint64_t i = 0; i < 3; i++) {
    struct iou_request r = t_req(IOU_OP_RECV, sv[i == 1][0], i); /* 2 waits for a waiter slot */
    r.buf = buf[i];
    r.len = sizeof(buf[i]);
    t_submit(t, &r);
    t_sleep_ms(5);
  }
  t_sleep_ms(20);
  uint64_t start = t_now_ns();
  if (destroy_only) {
    iou_loop_destroy(t->loop);
    t->loop = NULL;
  } else {
    t_close(t, timeout_ns);
  }
  uint64_t took = t_now_ns() - start;
  CHECK(took < 2000 * T_MS);
  if (!destroy_only) {
    CHECK(took >= (uint64_t)timeout_ns);
    CHECK(t->ngot == 3);
    for (uint32_t i = 0; i < 3; i++) {
      CHECK(t->got[i].outcome == IOU_OUTCOME_ABANDONED);
      CHECK(t->got[i].flags == 0); /* the cancel landed: not kernel-held */
      CHECK(t->got[i].result == 0);
    }
  }
  for (int i = 0; i < 2; i++) {
    close(sv[i][0]);
    close(sv[i][1]);
  }
}

int main(void) {
  run(50 * (int64_t)T_MS, false);
  run(0, false);
  run(0, true);
  return T_EXIT_PASS;
}
