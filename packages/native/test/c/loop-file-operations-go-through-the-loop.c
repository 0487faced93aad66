/* The file operations through the loop on a real directory: mkdir, open (O_CREAT, and ENOENT),
 * statx by path and by fd (AT_EMPTY_PATH) against stat(2), a vectored read, fallocate, ftruncate
 * (where the kernel has it: Linux 6.9), symlink, link, rename with RENAME_NOREPLACE (EEXIST) and
 * without, unlink of files and of the directory (AT_REMOVEDIR), close, and close again (EBADF). Only
 * open's successful completion carries IOU_COMPLETION_FD. */
#include <errno.h>
#include <fcntl.h>
#include <linux/stat.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"

static uint64_t next_tag = 1;

/* Runs one request to its completion and returns the result (-errno on ERROR). */
static int32_t run(struct t_loop *t, struct iou_request *req) {
  req->tag = next_tag++;
  t_submit(t, req);
  struct iou_completion c = t_expect(t, req->tag, 5000);
  CHECK(c.outcome == IOU_OUTCOME_OK || c.outcome == IOU_OUTCOME_ERROR);
  CHECK((c.outcome == IOU_OUTCOME_ERROR) == (c.result < 0));
  /* An fd made (open's) is flagged as one; no other result is. */
  CHECK(((c.flags & IOU_COMPLETION_FD) != 0) == (c.outcome == IOU_OUTCOME_OK && req->op == IOU_OP_OPEN));
  return c.result;
}

static struct iou_request path_req(uint8_t op, char *path, char *path2) {
  struct iou_request r = t_req(op, AT_FDCWD, 0);
  r.buf = (uint8_t *)path;
  r.len = (uint32_t)strlen(path) + 1;
  r.buf2 = (uint8_t *)path2;
  return r;
}

int main(void) {
  struct t_loop *t = t_open_default(8);
  char dir[] = "/tmp/iou-file-ops-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char sub[128], file[128], other[128], sym[128], hard[128];
  snprintf(sub, sizeof(sub), "%s/sub", dir);
  snprintf(file, sizeof(file), "%s/sub/file", dir);
  snprintf(other, sizeof(other), "%s/sub/other", dir);
  snprintf(sym, sizeof(sym), "%s/sub/sym", dir);
  snprintf(hard, sizeof(hard), "%s/sub/hard", dir);

  struct iou_request mk = path_req(IOU_OP_MKDIR, sub, NULL);
  mk.arg2 = 0750;
  CHECK(run(t, &mk) == 0);
  CHECK(run(t, &mk) == -EEXIST);
  struct stat st;
  CHECK(stat(sub, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == (0750 & ~umask(022)));
  umask(022);

  struct iou_request op = path_req(IOU_OP_OPEN, file, NULL);
  op.arg = O_RDONLY | O_CLOEXEC;
  CHECK(run(t, &op) == -ENOENT);
  op.arg = O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC;
  op.arg2 = 0600;
  int fd = run(t, &op);
  CHECK(fd >= 0 && fcntl(fd, F_GETFD) == FD_CLOEXEC);
  CHECK(write(fd, "hello, ring", 11) == 11);

  /* statx by path, then by the fd itself. */
  struct statx sx;
  memset(&sx, 0, sizeof(sx));
  struct iou_request sp = path_req(IOU_OP_STAT, file, NULL);
  sp.buf2 = (uint8_t *)&sx;
  sp.arg2 = STATX_BASIC_STATS | STATX_BTIME;
  CHECK(run(t, &sp) == 0);
  CHECK(stat(file, &st) == 0);
  CHECK(sx.stx_size == 11 && sx.stx_ino == st.st_ino && sx.stx_mode == st.st_mode && sx.stx_nlink == 1);
  memset(&sx, 0, sizeof(sx));
  struct iou_request sf = path_req(IOU_OP_STAT, "", NULL);
  sf.fd = fd;
  sf.buf2 = (uint8_t *)&sx;
  sf.arg = AT_EMPTY_PATH;
  sf.arg2 = STATX_BASIC_STATS;
  CHECK(run(t, &sf) == 0 && sx.stx_ino == st.st_ino && sx.stx_size == 11);

  /* A vectored read: 5 + 6 bytes from position 0. */
  char a[5], b[6];
  struct iovec iov[2] = {{a, 5}, {b, 6}};
  struct iou_request rv = t_req(IOU_OP_READ_AT, fd, 0);
  rv.iov = iov;
  rv.iov_count = 2;
  rv.flags = IOU_FLAG_EXACT;
  CHECK(run(t, &rv) == 11 && memcmp(a, "hello", 5) == 0 && memcmp(b, ", ring", 6) == 0);

  /* fallocate 1 MiB without changing the size, then (Linux 6.9+) ftruncate to 5 bytes. */
  struct iou_request al = t_req(IOU_OP_ALLOCATE, fd, 0);
  al.extent = 1 << 20;
  al.arg = 0x01; /* FALLOC_FL_KEEP_SIZE */
  int32_t r = run(t, &al);
  CHECK(r == 0 || r == -EOPNOTSUPP);
  CHECK(fstat(fd, &st) == 0 && st.st_size == 11);
  if (r == 0) CHECK(st.st_blocks * 512 >= (1 << 20));
  struct iou_request tr = t_req(IOU_OP_TRUNCATE, fd, 0);
  tr.extent = 5;
  r = run(t, &tr);
  if (r != -EACCES && r != -EINVAL) { /* refused by the ring's restrictions, or unknown: before Linux 6.9 */
    CHECK(r == 0);
    CHECK(fstat(fd, &st) == 0 && st.st_size == 5);
  }

  /* symlink, link; rename onto an existing name with NOREPLACE fails, without succeeds. */
  struct iou_request sy = path_req(IOU_OP_SYMLINK, "file", sym);
  CHECK(run(t, &sy) == 0);
  char target[16] = {0};
  CHECK(readlink(sym, target, sizeof(target) - 1) == 4 && strcmp(target, "file") == 0);
  struct iou_request ln = path_req(IOU_OP_LINK, file, hard);
  CHECK(run(t, &ln) == 0);
  CHECK(stat(hard, &st) == 0 && st.st_nlink == 2);
  CHECK(run(t, &ln) == -EEXIST);
  struct iou_request rn = path_req(IOU_OP_RENAME, hard, file);
  rn.arg = 1; /* RENAME_NOREPLACE */
  CHECK(run(t, &rn) == -EEXIST);
  rn = path_req(IOU_OP_RENAME, hard, other);
  rn.arg = 1;
  CHECK(run(t, &rn) == 0);
  CHECK(access(hard, F_OK) != 0 && access(other, F_OK) == 0);

  /* unlink: files, then the directory (EISDIR without AT_REMOVEDIR, ENOTEMPTY while it has files). */
  struct iou_request rd = path_req(IOU_OP_UNLINK, sub, NULL);
  rd.arg = AT_REMOVEDIR;
  CHECK(run(t, &rd) == -ENOTEMPTY);
  struct iou_request ud = path_req(IOU_OP_UNLINK, sub, NULL);
  r = run(t, &ud);
  CHECK(r == -EISDIR || r == -EPERM);
  char *names[] = {file, other, sym};
  for (int i = 0; i < 3; i++) {
    struct iou_request un = path_req(IOU_OP_UNLINK, names[i], NULL);
    CHECK(run(t, &un) == 0);
    CHECK(run(t, &un) == -ENOENT);
  }
  CHECK(run(t, &rd) == 0);
  CHECK(access(sub, F_OK) != 0);

  struct iou_request cl = t_req(IOU_OP_CLOSE, fd, 0);
  CHECK(run(t, &cl) == 0);
  CHECK(fcntl(fd, F_GETFD) < 0 && errno == EBADF);
  CHECK(run(t, &cl) == -EBADF);

  t_close(t, -1);
  CHECK(rmdir(dir) == 0);
  return T_EXIT_PASS;
}
