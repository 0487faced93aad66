/* Staging a stale id and an op CQE for an empty slot are invariant violations: the process aborts
 * with a message rather than acting on the wrong request. */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "waiter.h"

static bool aborts(int which) {
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    int devnull = open("/dev/null", 1);
    if (devnull >= 0) dup2(devnull, 2);
    struct iou__waiters w;
    CHECK(iou__waiters_init(&w, 2) == 0);
    struct io_uring_sqe sqe;
    struct iou_completion c;
    bool had;
    uint64_t tick;
    if (which == 0)
      iou__waiters_stage(&w, iou__waiter_id(1, 3), &sqe, &c);
    else
      iou__waiters_on_completion(&w, iou__waiter_id(0, 0), 0, 0, &c, &had, &tick);
    _exit(0);
  }
  int status;
  CHECK(waitpid(pid, &status, 0) == pid);
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

int main(void) {
  CHECK(aborts(0));
  CHECK(aborts(1));
  return T_EXIT_PASS;
}
