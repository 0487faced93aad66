/* iou_loop_credentials_changed compares the process's credentials with those it had when the loop
 * opened: unchanged after open, changed once the supplementary groups or the effective uid differ,
 * unchanged again once they are restored (it compares, it does not remember). Needs CAP_SETGID and
 * CAP_SETUID (skips without them). */
#include <errno.h>
#include <grp.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

int main(void) {
  gid_t saved[256];
  int nsaved = getgroups(256, saved);
  CHECK(nsaved >= 0);
  gid_t other = 54321;
  if (setgroups(1, &other) != 0) {
    printf("setgroups refused (%s): needs CAP_SETGID\n", strerror(errno));
    return T_EXIT_SKIP;
  }
  CHECK(setgroups((size_t)nsaved, saved) == 0);

  struct t_loop *t = t_open_default(8);
  CHECK(!iou_loop_credentials_changed(t->loop));
  CHECK(setgroups(1, &other) == 0);
  CHECK(iou_loop_credentials_changed(t->loop));
  CHECK(setgroups((size_t)nsaved, saved) == 0);
  CHECK(!iou_loop_credentials_changed(t->loop));
  if (seteuid(65534) == 0) {
    CHECK(iou_loop_credentials_changed(t->loop));
    CHECK(seteuid(0) == 0);
    CHECK(!iou_loop_credentials_changed(t->loop));
  }
  t_close(t, -1);
  return T_EXIT_PASS;
}
