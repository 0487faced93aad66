/* Staging a stale id (its slot reused by a newer waiter, one generation on), an op CQE for an empty
 * slot, and staging a waiter in flight whose cancel was requested (ending it would release memory
 * the kernel holds) are invariant violations: the process aborts with a message that says which,
 * rather than acting on the wrong request. */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "waiter.h"

static struct iou__request nop(uint64_t tag) {
  struct iou_request r = t_req(IOU_OP_NOP, -1, tag);
  struct iou__request op;
  CHECK(!iou__request_init(&op, &r, IOU_CLASS_ALL));
  return op;
}

/* Runs case `which` in a child; true when it aborted with `message` on stderr. */
static bool aborts_with(int which, const char *message) {
  int err[2];
  CHECK(pipe(err) == 0);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    close(err[0]);
    dup2(err[1], 2);
    struct iou__waiters w;
    CHECK(iou__waiters_init(&w, 2) == 0);
    struct io_uring_sqe sqe;
    struct iou_completion c;
    bool had;
    uint64_t tick;
    if (which == 0) {
      /* The old occupant of slot 0 completes; its slot goes to a new waiter, one generation on. */
      struct iou__request a = nop(1), b = nop(2);
      uint64_t old = iou__waiters_insert(&w, &a, false, 0);
      CHECK(iou__waiters_stage(&w, old, &sqe, &c) == IOU_STAGE_SUBMIT);
      CHECK(iou__waiters_on_completion(&w, old, 0, 0, &c, &had, &tick) == IOU_CQE_OUTCOME_COMPLETE);
      uint64_t now = iou__waiters_insert(&w, &b, false, 0);
      CHECK(iou__waiter_index(now) == iou__waiter_index(old) && now != old);
      iou__waiters_stage(&w, old, &sqe, &c);
    } else if (which == 1) {
      iou__waiters_on_completion(&w, iou__waiter_id(0, 0), 0, 0, &c, &had, &tick);
    } else {
      struct iou__request a = nop(3);
      uint64_t id = iou__waiters_insert(&w, &a, false, 0);
      CHECK(iou__waiters_stage(&w, id, &sqe, &c) == IOU_STAGE_SUBMIT);
      CHECK(iou__waiters_cancel(&w, id, IOU_OUTCOME_TIMEOUT, &had, &tick));
      iou__waiters_stage(&w, id, &sqe, &c);
    }
    _exit(0);
  }
  close(err[1]);
  char text[512];
  size_t got = 0;
  ssize_t n;
  while (got < sizeof(text) - 1 && (n = read(err[0], text + got, sizeof(text) - 1 - got)) > 0) got += (size_t)n;
  text[got] = '\0';
  close(err[0]);
  int status;
  CHECK(waitpid(pid, &status, 0) == pid);
  if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT) || strstr(text, message) == NULL)
    fprintf(stderr, "case %d: status %d, stderr: %s\n", which, status, text);
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT && strstr(text, message) != NULL;
}

int main(void) {
  CHECK(aborts_with(0, "waiters: stage of a stale waiter id"));
  CHECK(aborts_with(1, "waiters: op CQE for a stale or empty waiter"));
  CHECK(aborts_with(2, "waiters: stage of a waiter already in flight"));
  return T_EXIT_PASS;
}
