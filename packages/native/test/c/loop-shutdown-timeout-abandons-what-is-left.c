/* close(50 ms) with a never-completing recv (plain and vectored send into a full socket) ends them
 * ABANDONED at the cutoff (their cancels landed: not kernel-held); the loop publishes, notifies and
 * exits; the counters say so. Also a size-1 loop whose only slot is occupied still shuts down.
 * (seed: test_shutdown_timeout, test_shutdown_timeout_when_waiters_full_and_channel_empty) */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

int main(void) {
  struct t_loop *t = t_open_default(8);
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  int bufsize = 4096;
  setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof(bufsize));
  static uint8_t rbuf[8];
  static uint8_t big[1 << 20];
  struct iou_request r = t_req_buf(IOU_OP_RECV, sv[0], 1, rbuf, sizeof(rbuf));
  t_submit(t, &r);
  struct iovec iov[2] = {{big, sizeof(big) / 2}, {big + sizeof(big) / 2, sizeof(big) / 2}};
  struct iou_request s = t_req(IOU_OP_SEND, sv[0], 2);
  s.iov = iov;
  s.iov_count = 2;
  t_submit(t, &s);
  t_sleep_ms(30);
  uint64_t start = t_now_ns();
  struct iou_stats st;
  t_close_stats(t, 50 * (int64_t)T_MS, &st);
  uint64_t took = t_now_ns() - start;
  CHECK(took >= 45 * T_MS && took < 3000 * T_MS);
  CHECK(t->ngot == 2);
  for (int i = 0; i < 2; i++) CHECK(t->got[i].outcome == IOU_OUTCOME_ABANDONED && t->got[i].flags == 0);
  CHECK(st.abandoned == 2 && st.pending_operations == 0);
  CHECK(atomic_load(&t->notifies) >= 1);
  close(sv[0]);
  close(sv[1]);

  /* Size 1, slot occupied, closed while blocked. */
  struct t_loop *u = t_open_default(1);
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  r.fd = sv[0];
  t_submit(u, &r);
  t_sleep_ms(20);
  start = t_now_ns();
  t_close(u, 50 * (int64_t)T_MS);
  CHECK(t_now_ns() - start < 3000 * T_MS);
  CHECK(u->ngot == 1 && u->got[0].outcome == IOU_OUTCOME_ABANDONED);
  close(sv[0]);
  close(sv[1]);
  return T_EXIT_PASS;
}
