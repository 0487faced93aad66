/*
 * credentials.c: takes and compares the process's credentials (credentials.h) with getresuid,
 * getresgid and getgroups: three syscalls, so the Driver asks only when src/Credentials.ts says a
 * change may have happened, not per request. Any thread; the struct belongs to its caller.
 */
#include "credentials.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loop.h"

int iou__credentials_take(struct iou__credentials *out) {
  memset(out, 0, sizeof(*out));
  if (getresuid(&out->uid[0], &out->uid[1], &out->uid[2]) != 0) return -errno;
  if (getresgid(&out->gid[0], &out->gid[1], &out->gid[2]) != 0) return -errno;
  /* The list can change between the two calls (another thread's setgroups): try again then. */
  for (;;) {
    int n = getgroups(0, NULL);
    if (n < 0) return -errno;
    gid_t *groups = n > 0 ? malloc((size_t)n * sizeof(gid_t)) : NULL;
    if (n > 0 && groups == NULL) return -ENOMEM;
    int got = n > 0 ? getgroups(n, groups) : 0;
    if (got >= 0) {
      out->ngroups = got;
      out->groups = groups;
      return 0;
    }
    int err = errno;
    free(groups);
    if (err != EINVAL) return -err; /* EINVAL: the list grew meanwhile */
  }
}

bool iou__credentials_changed(const struct iou__credentials *taken) {
  uid_t uid[3];
  gid_t gid[3];
  if (getresuid(&uid[0], &uid[1], &uid[2]) != 0 || getresgid(&gid[0], &gid[1], &gid[2]) != 0) return true;
  if (memcmp(uid, taken->uid, sizeof(uid)) != 0 || memcmp(gid, taken->gid, sizeof(gid)) != 0) return true;
  /* One more entry than expected, so that a longer list shows as a count that differs. */
  gid_t stack[64];
  size_t want = (size_t)taken->ngroups + 1;
  gid_t *groups = want <= sizeof(stack) / sizeof(stack[0]) ? stack : malloc(want * sizeof(gid_t));
  if (groups == NULL) return true;
  int n = getgroups((int)want, groups);
  bool changed = n != taken->ngroups || (n > 0 && memcmp(groups, taken->groups, (size_t)n * sizeof(gid_t)) != 0);
  if (groups != stack) free(groups);
  return changed;
}

void iou__credentials_free(struct iou__credentials *c) {
  free(c->groups);
  c->groups = NULL;
  c->ngroups = 0;
}

/* Owner thread. */
bool iou_loop_credentials_changed(struct iou_loop *loop) {
  return iou__credentials_changed(&loop->credentials);
}
