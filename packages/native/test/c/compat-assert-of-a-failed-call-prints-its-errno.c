/* An invariant violation on a failed call (IOU_ASSERT_ERRNO, as the loop uses for io_uring_enter)
 * aborts with its message and the errno it got, by number and by name; on success the errno
 * expression is not evaluated. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compat.h"
#include "helpers.h"

static int evaluated;

static int errno_of_a_call(void) {
  evaluated++;
  return EEXIST;
}

int main(void) {
  IOU_ASSERT_ERRNO(true, errno_of_a_call(), "never printed");
  CHECK(evaluated == 0);

  int fds[2];
  CHECK(pipe(fds) == 0);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    dup2(fds[1], 2);
    IOU_ASSERT_ERRNO(false, errno_of_a_call(), "io_uring_enter failed");
    _exit(0);
  }
  close(fds[1]);
  char out[1024];
  size_t len = 0;
  ssize_t n;
  while (len < sizeof(out) - 1 && (n = read(fds[0], out + len, sizeof(out) - 1 - len)) > 0) len += (size_t)n;
  out[len] = '\0';
  int status;
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
  CHECK(strstr(out, "io_uring_enter failed: errno 17") != NULL);
  CHECK(strstr(out, strerror(EEXIST)) != NULL);
  return T_EXIT_PASS;
}
