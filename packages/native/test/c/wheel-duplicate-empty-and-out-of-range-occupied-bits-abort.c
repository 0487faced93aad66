/* The wheel's occupied bitset says which buckets hold entries. Three corruptions of it are
 * invariant violations that abort with a message instead of acting on them (the seed's
 * test_invariant_assertion_paths): a bit already set when an entry goes into an empty bucket
 * (duplicate), a bit on a bucket that is empty when drained, and a bit past the last slot of a
 * wheel of fewer than 64 slots (it would index past the buckets: in the purge of stale entries
 * and in the drain of a whole revolution). Each case runs in a child that must die of SIGABRT
 * with the message on stderr. */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "wheel.h"

enum corruption { DUPLICATE, EMPTY_DRAINED, PAST_THE_END_PURGE, PAST_THE_END_DRAIN };

static void corrupt_and_run(enum corruption which) {
  struct iou__wheel w;
  CHECK(iou__wheel_init(&w, T_MS, 10 * T_MS, 0) == 0);
  CHECK(w.slots == 16);
  switch (which) {
    case DUPLICATE:
      w.occupied[0] |= 1ull << 5; /* bucket 5 is empty */
      (void)iou__wheel_schedule(&w, 1, 5);
      break;
    case EMPTY_DRAINED:
      CHECK(iou__wheel_schedule(&w, 1, 4) == 0);
      w.occupied[0] |= 1ull << 3; /* bucket 3 is empty */
      (void)iou__wheel_advance(&w, 5 * T_MS);
      break;
    case PAST_THE_END_PURGE:
      w.occupied[0] |= 1ull << 40; /* no live deadline: advance purges every occupied bucket */
      (void)iou__wheel_advance(&w, 5 * T_MS);
      break;
    case PAST_THE_END_DRAIN:
      CHECK(iou__wheel_schedule(&w, 1, 4) == 0);
      w.occupied[0] |= 1ull << 40; /* a jump of a whole revolution drains every occupied bucket */
      (void)iou__wheel_advance(&w, 100 * T_MS);
      break;
  }
  _exit(0); /* not reached when the invariant is checked */
}

static void expect_abort(enum corruption which, const char *message) {
  int err[2];
  CHECK(pipe(err) == 0);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    close(err[0]);
    dup2(err[1], 2);
    corrupt_and_run(which);
  }
  close(err[1]);
  char out[1024];
  size_t len = 0;
  ssize_t n;
  while (len < sizeof(out) - 1 && (n = read(err[0], out + len, sizeof(out) - 1 - len)) > 0) len += (size_t)n;
  out[len] = '\0';
  close(err[0]);
  int status;
  CHECK(waitpid(pid, &status, 0) == pid);
  if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT) || strstr(out, message) == NULL)
    fprintf(stderr, "case %d: status %#x, stderr:\n%s\n", which, status, out);
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
  CHECK(strstr(out, message) != NULL);
}

int main(void) {
  expect_abort(DUPLICATE, "wheel: occupied bit already set on an empty bucket");
  expect_abort(EMPTY_DRAINED, "wheel: occupied bit on an empty bucket");
  expect_abort(PAST_THE_END_PURGE, "wheel: occupied bit past the last slot");
  expect_abort(PAST_THE_END_DRAIN, "wheel: occupied bit past the last slot");
  return T_EXIT_PASS;
}
