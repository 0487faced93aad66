/* The loop thread names itself "iou-loop" (pthread_setname_np), so it can be told apart in top,
 * perf and gdb: exactly one thread of this process has that name while one loop is open, none
 * after it is destroyed. */
#include <stdio.h>
#include <string.h>

#include "helpers.h"

int main(void) {
  struct t_loop *t = t_open_default(4);
  CHECK(t_threads_named("iou-loop", NULL) == 1);
  t_close(t, -1);
  CHECK(t_threads_named("iou-loop", NULL) == 0);
  return T_EXIT_PASS;
}
