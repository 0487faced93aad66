/* The loop thread blocked in io_uring_enter with a recv in flight is idle, not waiting for disk I/O:
 * where the kernel offers IORING_ENTER_NO_IOWAIT (Linux 6.15), that wait is not counted as iowait.
 * The machine's iowait (/proc/stat, USER_HZ ticks) is measured over 500 ms windows in which the loop
 * blocks, alternately with the flag (as the loop sets it) and without it (cleared for the window by
 * the test): the windows with the flag must gather at most half of what those without it do (other
 * processes' I/O lands in both kinds of window).
 * A CPU that never goes idle counts no iowait at all (it is charged as busy time instead): then there
 * is nothing to compare, and the test skips saying so; so does a kernel without the flag. */
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"
#include "loop.h"

static unsigned long long iowait_ticks(void) {
  FILE *f = fopen("/proc/stat", "r");
  CHECK(f != NULL);
  unsigned long long user, nice, sys, idle, iowait;
  CHECK(fscanf(f, "cpu %llu %llu %llu %llu %llu", &user, &nice, &sys, &idle, &iowait) == 5);
  fclose(f);
  return iowait;
}

int main(void) {
  struct t_loop *t = t_open_engine(IOU_ENGINE_THREAD, 8);
  t_sleep_ms(20); /* the loop thread has created its ring */
  const uint32_t flag = __atomic_load_n(&t->loop->ring.wait_flags, __ATOMIC_RELAXED);
  if (flag == 0) {
    printf("this kernel has no IORING_ENTER_NO_IOWAIT (Linux 6.15)\n");
    t_close(t, 0);
    return T_EXIT_SKIP;
  }
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  static uint8_t buf[8];
  struct iou_request r = t_req_buf(IOU_OP_RECV, sv[0], 1, buf, sizeof(buf));
  t_submit(t, &r);
  unsigned long long with = 0, without = 0;
  for (uint64_t round = 0; round < 6; round++) {
    /* Read by the loop thread at its next enter; the nop makes it enter again, then it blocks. The
     * nop's completion orders the store before that enter (the completion queue's release/acquire). */
    __atomic_store_n(&t->loop->ring.wait_flags, round % 2 == 0 ? flag : 0, __ATOMIC_RELAXED);
    struct iou_request nop = t_req(IOU_OP_NOP, -1, 100 + round);
    t_submit(t, &nop);
    t_expect(t, 100 + round, 5000);
    t_sleep_ms(30);
    unsigned long long before = iowait_ticks();
    t_sleep_ms(500);
    unsigned long long grew = iowait_ticks() - before;
    if (round % 2 == 0)
      with += grew;
    else
      without += grew;
  }
  __atomic_store_n(&t->loop->ring.wait_flags, flag, __ATOMIC_RELAXED);
  fprintf(stderr, "iowait over 3 x 500 ms: %llu ticks with the flag, %llu without\n", with, without);
  CHECK(write(sv[1], "12345678", 8) == 8);
  struct iou_completion c = t_expect(t, 1, 5000);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result == 8);
  t_close(t, -1);
  close(sv[0]);
  close(sv[1]);
  if (without < 3) {
    printf("no iowait was counted even without the flag (the CPUs were busy): nothing to compare\n");
    return T_EXIT_SKIP;
  }
  CHECK(with * 2 <= without);
  return T_EXIT_PASS;
}
