/* The loop thread names itself "iou-loop" (pthread_setname_np), so it can be told apart in top,
 * perf and gdb: exactly one thread of this process has that name while one loop is open, none
 * once it is destroyed (and the kernel has released the exited thread). */
#include <stdio.h>
#include <string.h>

#include "helpers.h"

int main(void) {
  struct t_loop *t = t_open_default(4);
  CHECK(t_threads_named("iou-loop", NULL) == 1);
  t_close(t, -1);
  /* Joined, but a thread that exited may stay listed in /proc until the kernel has released it
   * (pthread_join returns when it cleared its tid, a little before): wait up to 2 s for that. */
  for (int i = 0; i < 200 && t_threads_named("iou-loop", NULL) != 0; i++) t_sleep_ms(10);
  CHECK(t_threads_named("iou-loop", NULL) == 0);
  return T_EXIT_PASS;
}
