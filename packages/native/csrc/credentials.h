/*
 * credentials.h: the process's credentials as the kernel sees them (real, effective and saved uid
 * and gid, and the supplementary groups), taken when a loop opens and compared later: work the
 * kernel runs for a ring asynchronously may keep the credentials the ring or its workers were
 * created with, so after the process changed its own (setuid, setgroups) the Driver refuses new
 * work instead (CVE-2024-22017's class). No state but what the caller owns.
 */
#ifndef IOU_CREDENTIALS_H
#define IOU_CREDENTIALS_H

#include <stdbool.h>
#include <sys/types.h>

struct iou__credentials {
  uid_t uid[3]; /* real, effective, saved */
  gid_t gid[3];
  int ngroups;
  gid_t *groups; /* ngroups entries (malloc'd; NULL when there are none), as getgroups returns them */
};

/* Takes the calling thread's credentials (which glibc keeps the same on every thread). 0 or -errno. */
int iou__credentials_take(struct iou__credentials *out);

/* True when the calling thread's credentials are no longer `taken` (also when they cannot be read). */
bool iou__credentials_changed(const struct iou__credentials *taken);

void iou__credentials_free(struct iou__credentials *c);

#endif /* IOU_CREDENTIALS_H */
