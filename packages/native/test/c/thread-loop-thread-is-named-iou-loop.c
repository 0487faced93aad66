/* The loop thread names itself "iou-loop" (pthread_setname_np), so it can be told apart in top,
 * perf and gdb: exactly one thread of this process has that name while one loop is open, none
 * after it is destroyed. */
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "helpers.h"

static int count_named(const char *name) {
  DIR *d = opendir("/proc/self/task");
  CHECK(d != NULL);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char path[300], comm[64] = {0};
    snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
    FILE *f = fopen(path, "r");
    if (f == NULL) continue;
    if (fgets(comm, sizeof(comm), f) != NULL) {
      comm[strcspn(comm, "\n")] = 0;
      if (strcmp(comm, name) == 0) n++;
    }
    fclose(f);
  }
  closedir(d);
  return n;
}

int main(void) {
  struct t_loop *t = t_open_default(4);
  CHECK(count_named("iou-loop") == 1);
  t_close(t, -1);
  CHECK(count_named("iou-loop") == 0);
  return T_EXIT_PASS;
}
