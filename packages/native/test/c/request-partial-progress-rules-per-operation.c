/* Per operation: short reads/writes continue at the right address and offset, vectored reads and
 * writes advance their loop-owned iovec copy without touching the caller's, the file operations put
 * their arguments where their opcode reads them and end with the kernel's result (an open's fd), EAGAIN waits for
 * readiness with a one-shot POLL_ADD, zero means EOF (read/recv) or WRITE_ZERO (write/send), invalid requests end
 * before the kernel, and nothing to transfer ends OK 0. */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <poll.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "helpers.h"
#include "request.h"

static struct io_uring_sqe build(struct iou__request *op) {
  struct io_uring_sqe sqe;
  memset(&sqe, 0, sizeof(sqe));
  iou__request_build_sqe(op, &sqe, 77);
  CHECK(sqe.user_data == 77);
  return sqe;
}

int main(void) {
  static uint8_t buf[100];
  struct iou__request op;
  struct io_uring_sqe sqe;

  /* read_at: 2 + 3 of 5, then done; the second SQE starts after the first two bytes. */
  struct iou_request r = t_req_buf(IOU_OP_READ_AT, 3, 1, buf, 5);
  r.position = 1000;
  CHECK(!iou__request_init(&op, &r, IOU_CLASS_ALL));
  sqe = build(&op);
  CHECK(sqe.opcode == IORING_OP_READ && sqe.addr == (uintptr_t)buf && sqe.len == 5 && sqe.off == 1000);
  CHECK(!iou__request_on_cqe(&op, false, 0, 2));
  sqe = build(&op);
  CHECK(sqe.addr == (uintptr_t)(buf + 2) && sqe.len == 3 && sqe.off == 1002);
  CHECK(iou__request_on_cqe(&op, false, 0, 3) && op.outcome == IOU_OUTCOME_OK && op.result == 5);
  /* read_at EOF: exact -> UNEXPECTED_EOF with the count, else OK with the count. */
  r.flags = IOU_FLAG_EXACT;
  CHECK(!iou__request_init(&op, &r, IOU_CLASS_ALL));
  CHECK(!iou__request_on_cqe(&op, false, 0, 2));
  CHECK(iou__request_on_cqe(&op, false, 0, 0) && op.outcome == IOU_OUTCOME_UNEXPECTED_EOF && op.result == 2);
  r.flags = 0;
  CHECK(!iou__request_init(&op, &r, IOU_CLASS_ALL));
  CHECK(!iou__request_on_cqe(&op, false, 0, 2));
  CHECK(iou__request_on_cqe(&op, false, 0, 0) && op.outcome == IOU_OUTCOME_OK && op.result == 2);
  /* EAGAIN: a POLLIN poll on the fd, then the read again; EINTR: the read again at once. */
  CHECK(!iou__request_init(&op, &r, IOU_CLASS_ALL));
  CHECK(!iou__request_on_cqe(&op, false, 0, -EAGAIN));
  sqe = build(&op);
  CHECK(sqe.opcode == IORING_OP_POLL_ADD && sqe.fd == 3 && sqe.poll32_events == POLLIN && sqe.len == 0);
  CHECK(!iou__request_on_cqe(&op, false, 0, POLLIN));
  sqe = build(&op);
  CHECK(sqe.opcode == IORING_OP_READ);
  CHECK(!iou__request_on_cqe(&op, false, 0, -EINTR));
  CHECK(build(&op).opcode == IORING_OP_READ);
  /* A poll ended by a cancel ends with the cancel's outcome. */
  CHECK(!iou__request_on_cqe(&op, false, 0, -EAGAIN));
  CHECK(iou__request_on_cqe(&op, true, IOU_OUTCOME_TIMEOUT, -ECANCELED) && op.outcome == IOU_OUTCOME_TIMEOUT);
  /* Errors carry -errno. */
  CHECK(!iou__request_init(&op, &r, IOU_CLASS_ALL));
  CHECK(iou__request_on_cqe(&op, false, 0, -EIO) && op.outcome == IOU_OUTCOME_ERROR && op.result == -EIO);

  /* recv: not exact -> the first non-empty CQE; 0 -> OK 0; exact -> fill, 0 first -> UNEXPECTED_EOF. */
  struct iou_request rv = t_req_buf(IOU_OP_RECV, 4, 2, buf, 5);
  CHECK(!iou__request_init(&op, &rv, IOU_CLASS_ALL));
  sqe = build(&op);
  CHECK(sqe.opcode == IORING_OP_RECV && sqe.len == 5 && sqe.msg_flags == 0);
  CHECK(iou__request_on_cqe(&op, false, 0, 3) && op.outcome == IOU_OUTCOME_OK && op.result == 3);
  CHECK(!iou__request_init(&op, &rv, IOU_CLASS_ALL));
  CHECK(iou__request_on_cqe(&op, false, 0, 0) && op.outcome == IOU_OUTCOME_OK && op.result == 0);
  rv.flags = IOU_FLAG_EXACT;
  CHECK(!iou__request_init(&op, &rv, IOU_CLASS_ALL));
  CHECK(!iou__request_on_cqe(&op, false, 0, 2));
  CHECK(build(&op).addr == (uintptr_t)(buf + 2));
  CHECK(iou__request_on_cqe(&op, false, 0, 0) && op.outcome == IOU_OUTCOME_UNEXPECTED_EOF && op.result == 2);
  CHECK(!iou__request_init(&op, &rv, IOU_CLASS_ALL));
  CHECK(!iou__request_on_cqe(&op, false, 0, 2));
  CHECK(iou__request_on_cqe(&op, true, IOU_OUTCOME_CANCELLED, 3) && op.outcome == IOU_OUTCOME_OK && op.result == 5);

  /* write_at vectored 4 + 1 (+ an empty iovec): WRITEV from the loop's copy, advanced in place. */
  static uint8_t a[4], b[1];
  struct iovec iov[3] = {{a, 4}, {NULL, 0}, {b, 1}};
  struct iou_request w = t_req(IOU_OP_WRITE_AT, 5, 3);
  w.iov = iov;
  w.iov_count = 3;
  w.position = 10;
  CHECK(!iou__request_init(&op, &w, IOU_CLASS_ALL));
  CHECK(op.total == 5 && op.vec != NULL && op.vec != (void *)iov);
  sqe = build(&op);
  CHECK(sqe.opcode == IORING_OP_WRITEV && sqe.len == 3 && sqe.off == 10);
  CHECK(!iou__request_on_cqe(&op, false, 0, 3));
  sqe = build(&op);
  const struct iovec *k = (const struct iovec *)(uintptr_t)sqe.addr;
  CHECK(sqe.len == 3 && k[0].iov_base == a + 3 && k[0].iov_len == 1 && sqe.off == 13);
  CHECK(iov[0].iov_base == a && iov[0].iov_len == 4); /* the caller's array is untouched */
  CHECK(!iou__request_on_cqe(&op, false, 0, 1));
  sqe = build(&op);
  k = (const struct iovec *)(uintptr_t)sqe.addr;
  CHECK(sqe.len == 1 && k[0].iov_base == b && sqe.off == 14);
  CHECK(iou__request_on_cqe(&op, false, 0, 1) && op.outcome == IOU_OUTCOME_OK && op.result == 5);
  iou__request_release(&op);
  /* iovec lengths whose sum wraps a 64-bit total below INT32_MAX: refused, not a 4-byte write. */
  struct iovec wrap[2] = {{a, (size_t)UINT64_MAX - 1}, {b, 6}};
  w.iov = wrap;
  w.iov_count = 2;
  CHECK(iou__request_init(&op, &w, IOU_CLASS_ALL) && op.outcome == IOU_OUTCOME_ERROR && op.result == -EINVAL);
  iou__request_release(&op);
  /* write 0 -> WRITE_ZERO with the count; EAGAIN -> POLLOUT. */
  struct iou_request w1 = t_req_buf(IOU_OP_WRITE_AT, 5, 4, buf, 10);
  CHECK(!iou__request_init(&op, &w1, IOU_CLASS_ALL));
  CHECK(!iou__request_on_cqe(&op, false, 0, -EAGAIN));
  CHECK(build(&op).poll32_events == POLLOUT);
  CHECK(!iou__request_on_cqe(&op, false, 0, POLLOUT));
  CHECK(!iou__request_on_cqe(&op, false, 0, 4));
  sqe = build(&op); /* the rest: after the 4 bytes written, at the position 4 bytes on */
  CHECK(sqe.opcode == IORING_OP_WRITE && sqe.addr == (uintptr_t)(buf + 4) && sqe.len == 6 &&
        sqe.off == w1.position + 4);
  CHECK(iou__request_on_cqe(&op, false, 0, 0) && op.outcome == IOU_OUTCOME_WRITE_ZERO && op.result == 4);
  /* Position UINT64_MAX (the current file position) is passed through unchanged. */
  w1.position = UINT64_MAX;
  CHECK(!iou__request_init(&op, &w1, IOU_CLASS_ALL));
  CHECK(!iou__request_on_cqe(&op, false, 0, 4));
  CHECK(build(&op).off == UINT64_MAX);

  /* send: SEND with MSG_NOSIGNAL; vectored: SENDMSG with the loop's msghdr. */
  struct iou_request s = t_req_buf(IOU_OP_SEND, 6, 5, buf, 8);
  CHECK(!iou__request_init(&op, &s, IOU_CLASS_ALL));
  sqe = build(&op);
  CHECK(sqe.opcode == IORING_OP_SEND && (sqe.msg_flags & MSG_NOSIGNAL));
  CHECK(!iou__request_on_cqe(&op, false, 0, 3));
  sqe = build(&op); /* the rest of a short send: the 5 bytes after the first 3 */
  CHECK(sqe.opcode == IORING_OP_SEND && sqe.addr == (uintptr_t)(buf + 3) && sqe.len == 5);
  CHECK(iou__request_on_cqe(&op, false, 0, 0) && op.outcome == IOU_OUTCOME_WRITE_ZERO && op.result == 3);
  s.iov = iov;
  s.iov_count = 3;
  CHECK(!iou__request_init(&op, &s, IOU_CLASS_ALL));
  sqe = build(&op);
  const struct msghdr *m = (const struct msghdr *)(uintptr_t)sqe.addr;
  CHECK(sqe.opcode == IORING_OP_SENDMSG && (sqe.msg_flags & MSG_NOSIGNAL) && m->msg_iovlen == 3);
  CHECK(!iou__request_on_cqe(&op, false, 0, 4));
  sqe = build(&op);
  m = (const struct msghdr *)(uintptr_t)sqe.addr;
  CHECK(m->msg_iovlen == 1 && m->msg_iov[0].iov_base == b);
  /* A zero after partial progress is WRITE_ZERO, a cancel requested or not (the zero rule first). */
  CHECK(iou__request_on_cqe(&op, true, IOU_OUTCOME_TIMEOUT, 0) && op.outcome == IOU_OUTCOME_WRITE_ZERO);
  iou__request_release(&op);
  /* Partial progress with a cancel requested ends with the cancel's outcome and the count. */
  CHECK(!iou__request_init(&op, &s, IOU_CLASS_ALL));
  CHECK(!iou__request_on_cqe(&op, false, 0, 2));
  CHECK(iou__request_on_cqe(&op, true, IOU_OUTCOME_TIMEOUT, 1) && op.outcome == IOU_OUTCOME_TIMEOUT && op.result == 3);
  iou__request_release(&op);

  /* sync: FSYNC, DATASYNC with DATA_ONLY; nop. */
  struct iou_request y = t_req(IOU_OP_SYNC, 7, 6);
  y.flags = IOU_FLAG_DATA_ONLY;
  CHECK(!iou__request_init(&op, &y, IOU_CLASS_ALL));
  sqe = build(&op);
  CHECK(sqe.opcode == IORING_OP_FSYNC && sqe.fsync_flags == IORING_FSYNC_DATASYNC);
  CHECK(!iou__request_on_cqe(&op, false, 0, -EINTR));
  CHECK(iou__request_on_cqe(&op, false, 0, 0) && op.outcome == IOU_OUTCOME_OK);

  /* Sockets: one SQE each, whose positive result (a new fd) or 0 ends the request OK with it. */
  struct iou_request so = t_req(IOU_OP_SOCKET, -1, 11);
  so.arg = AF_INET6;
  so.arg2 = SOCK_STREAM | SOCK_CLOEXEC;
  so.extent = IPPROTO_TCP;
  CHECK(!iou__request_init(&op, &so, IOU_CLASS_ALL));
  sqe = build(&op);
  CHECK(sqe.opcode == IORING_OP_SOCKET && sqe.fd == AF_INET6 && sqe.off == (SOCK_STREAM | SOCK_CLOEXEC) &&
        sqe.len == IPPROTO_TCP);
  CHECK(!iou__request_on_cqe(&op, false, 0, -EINTR));
  CHECK(iou__request_on_cqe(&op, false, 0, 12) && op.outcome == IOU_OUTCOME_OK && op.result == 12);
  /* A blocking op that its cancel interrupted on an io-wq worker may end with the kernel's restart
   * code (ERESTARTSYS, 512): the cancel's outcome, as -ECANCELED; without a cancel, again. */
  CHECK(!iou__request_init(&op, &so, IOU_CLASS_ALL));
  CHECK(iou__request_on_cqe(&op, true, IOU_OUTCOME_CANCELLED, -512) && op.outcome == IOU_OUTCOME_CANCELLED);
  CHECK(!iou__request_init(&op, &so, IOU_CLASS_ALL));
  CHECK(!iou__request_on_cqe(&op, false, 0, -512));
  /* A cancel that lost the race: the fd is still the result (the Driver closes it). */
  CHECK(!iou__request_init(&op, &so, IOU_CLASS_ALL));
  CHECK(iou__request_on_cqe(&op, true, IOU_OUTCOME_CANCELLED, 13) && op.outcome == IOU_OUTCOME_OK && op.result == 13);
  uint8_t sa[28] = {0};
  struct iou_request co = t_req_buf(IOU_OP_CONNECT, 5, 12, sa, sizeof(sa));
  CHECK(!iou__request_init(&op, &co, IOU_CLASS_ALL));
  sqe = build(&op);
  CHECK(sqe.opcode == IORING_OP_CONNECT && sqe.fd == 5 && sqe.addr == (uintptr_t)sa && sqe.off == sizeof(sa));
  CHECK(iou__request_on_cqe(&op, false, 0, -ECONNREFUSED) && op.outcome == IOU_OUTCOME_ERROR &&
        op.result == -ECONNREFUSED);
  CHECK(!iou__request_init(&op, &co, IOU_CLASS_ALL));
  CHECK(!iou__request_on_cqe(&op, false, 0, -EAGAIN));
  sqe = build(&op);
  CHECK(sqe.opcode == IORING_OP_POLL_ADD && sqe.poll32_events == POLLOUT);
  CHECK(iou__request_on_cqe(&op, true, IOU_OUTCOME_TIMEOUT, -ECANCELED) && op.outcome == IOU_OUTCOME_TIMEOUT);
  struct iou_request ac = t_req(IOU_OP_ACCEPT, 5, 13);
  ac.arg = SOCK_CLOEXEC;
  CHECK(!iou__request_init(&op, &ac, IOU_CLASS_ALL));
  sqe = build(&op);
  CHECK(sqe.opcode == IORING_OP_ACCEPT && sqe.fd == 5 && sqe.addr == 0 && sqe.addr2 == 0 &&
        sqe.accept_flags == SOCK_CLOEXEC);
  CHECK(!iou__request_on_cqe(&op, false, 0, -EAGAIN));
  sqe = build(&op);
  CHECK(sqe.opcode == IORING_OP_POLL_ADD && sqe.poll32_events == POLLIN);
  CHECK(!iou__request_on_cqe(&op, false, 0, POLLIN));
  CHECK(build(&op).opcode == IORING_OP_ACCEPT);
  CHECK(iou__request_on_cqe(&op, false, 0, 9) && op.outcome == IOU_OUTCOME_OK && op.result == 9);
  struct iou_request sh = t_req(IOU_OP_SHUTDOWN, 5, 14);
  sh.arg = SHUT_WR;
  CHECK(!iou__request_init(&op, &sh, IOU_CLASS_ALL));
  sqe = build(&op);
  CHECK(sqe.opcode == IORING_OP_SHUTDOWN && sqe.fd == 5 && sqe.len == SHUT_WR);
  CHECK(iou__request_on_cqe(&op, false, 0, 0) && op.outcome == IOU_OUTCOME_OK && op.result == 0);
  struct iou_request bi = t_req_buf(IOU_OP_BIND, 5, 15, sa, 16);
  CHECK(!iou__request_init(&op, &bi, IOU_CLASS_ALL));
  sqe = build(&op);
  CHECK(sqe.opcode == IOU_IORING_OP_BIND && sqe.fd == 5 && sqe.addr == (uintptr_t)sa && sqe.addr2 == 16 &&
        sqe.len == 0);
  CHECK(iou__request_on_cqe(&op, false, 0, -EADDRINUSE) && op.result == -EADDRINUSE);
  struct iou_request li = t_req(IOU_OP_LISTEN, 5, 16);
  li.arg = 511;
  CHECK(!iou__request_init(&op, &li, IOU_CLASS_ALL));
  sqe = build(&op);
  CHECK(sqe.opcode == IOU_IORING_OP_LISTEN && sqe.fd == 5 && sqe.len == 511 && sqe.addr == 0);
  CHECK(iou__request_on_cqe(&op, false, 0, 0) && op.outcome == IOU_OUTCOME_OK);

  /* read_at vectored 3 + 2: READV from the loop's copy; a short read continues in the second
   * iovec at the right offset; EOF first with exact -> UNEXPECTED_EOF with the count. */
  static uint8_t ra[3], rb[2];
  struct iovec riov[2] = {{ra, 3}, {rb, 2}};
  struct iou_request rvv = t_req(IOU_OP_READ_AT, 8, 11);
  rvv.iov = riov;
  rvv.iov_count = 2;
  rvv.position = 50;
  CHECK(!iou__request_init(&op, &rvv, IOU_CLASS_ALL));
  sqe = build(&op);
  CHECK(sqe.opcode == IORING_OP_READV && sqe.len == 2 && sqe.off == 50);
  CHECK(!iou__request_on_cqe(&op, false, 0, 4));
  sqe = build(&op);
  k = (const struct iovec *)(uintptr_t)sqe.addr;
  CHECK(sqe.opcode == IORING_OP_READV && sqe.len == 1 && k[0].iov_base == rb + 1 && k[0].iov_len == 1);
  CHECK(sqe.off == 54 && riov[1].iov_base == rb && riov[1].iov_len == 2);
  CHECK(iou__request_on_cqe(&op, false, 0, 1) && op.outcome == IOU_OUTCOME_OK && op.result == 5);
  iou__request_release(&op);
  rvv.flags = IOU_FLAG_EXACT;
  CHECK(!iou__request_init(&op, &rvv, IOU_CLASS_ALL));
  CHECK(!iou__request_on_cqe(&op, false, 0, 2));
  CHECK(iou__request_on_cqe(&op, false, 0, 0) && op.outcome == IOU_OUTCOME_UNEXPECTED_EOF && op.result == 2);
  iou__request_release(&op);

  /* open: OPENAT with its path, flags and mode; the result is the fd (0 too), even when a cancel
   * was requested (success wins); an error is -errno; a cancel that lands is the cancel's outcome. */
  static uint8_t path[] = "some/file", path2[] = "other", statx_buf[256];
  struct iou_request o = t_req(IOU_OP_OPEN, AT_FDCWD, 12);
  o.buf = path;
  o.len = sizeof(path);
  o.arg = O_RDWR | O_CREAT | O_CLOEXEC;
  o.arg2 = 0640;
  CHECK(!iou__request_init(&op, &o, IOU_CLASS_ALL));
  sqe = build(&op);
  CHECK(sqe.opcode == IORING_OP_OPENAT && sqe.fd == AT_FDCWD && sqe.addr == (uintptr_t)path);
  CHECK(sqe.open_flags == (O_RDWR | O_CREAT | O_CLOEXEC) && sqe.len == 0640);
  CHECK(iou__request_on_cqe(&op, false, 0, 7) && op.outcome == IOU_OUTCOME_OK && op.result == 7);
  CHECK(!iou__request_init(&op, &o, IOU_CLASS_ALL));
  CHECK(iou__request_on_cqe(&op, false, 0, 0) && op.outcome == IOU_OUTCOME_OK && op.result == 0);
  CHECK(!iou__request_init(&op, &o, IOU_CLASS_ALL));
  CHECK(iou__request_on_cqe(&op, true, IOU_OUTCOME_CANCELLED, 9) && op.outcome == IOU_OUTCOME_OK && op.result == 9);
  CHECK(!iou__request_init(&op, &o, IOU_CLASS_ALL));
  CHECK(iou__request_on_cqe(&op, false, 0, -ENOENT) && op.outcome == IOU_OUTCOME_ERROR && op.result == -ENOENT);
  CHECK(!iou__request_init(&op, &o, IOU_CLASS_ALL));
  CHECK(iou__request_on_cqe(&op, true, IOU_OUTCOME_TIMEOUT, -ECANCELED) && op.outcome == IOU_OUTCOME_TIMEOUT);
  CHECK(!iou__request_init(&op, &o, IOU_CLASS_ALL));
  CHECK(!iou__request_on_cqe(&op, false, 0, -EAGAIN));
  CHECK(build(&op).opcode == IORING_OP_OPENAT); /* again at once: no readiness to wait for */

  /* close, statx (path and buffer), ftruncate, fallocate, unlinkat, renameat, mkdirat, symlinkat,
   * linkat: each one SQE with its arguments, 0 is success. */
  struct iou_request cl = t_req(IOU_OP_CLOSE, 5, 13);
  CHECK(!iou__request_init(&op, &cl, IOU_CLASS_ALL));
  sqe = build(&op);
  CHECK(sqe.opcode == IORING_OP_CLOSE && sqe.fd == 5);
  CHECK(iou__request_on_cqe(&op, false, 0, 0) && op.outcome == IOU_OUTCOME_OK && op.result == 0);
  /* A close is never retried (the fd left the table before the error): EINTR, even EAGAIN, end it. */
  CHECK(!iou__request_init(&op, &cl, IOU_CLASS_ALL));
  CHECK(iou__request_on_cqe(&op, false, 0, -EINTR) && op.outcome == IOU_OUTCOME_ERROR && op.result == -EINTR);
  CHECK(!iou__request_init(&op, &cl, IOU_CLASS_ALL));
  CHECK(iou__request_on_cqe(&op, false, 0, -EAGAIN) && op.outcome == IOU_OUTCOME_ERROR && op.result == -EAGAIN);

  struct iou_request st = t_req(IOU_OP_STAT, 6, 14);
  st.buf = path2;
  st.buf2 = statx_buf;
  st.arg = AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW;
  st.arg2 = 0xfff;
  CHECK(!iou__request_init(&op, &st, IOU_CLASS_ALL));
  sqe = build(&op);
  CHECK(sqe.opcode == IORING_OP_STATX && sqe.fd == 6 && sqe.addr == (uintptr_t)path2);
  CHECK(sqe.off == (uintptr_t)statx_buf && sqe.len == 0xfff &&
        sqe.statx_flags == (AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW));
  CHECK(iou__request_on_cqe(&op, false, 0, 0) && op.outcome == IOU_OUTCOME_OK);

  struct iou_request tr = t_req(IOU_OP_TRUNCATE, 6, 15);
  tr.extent = 1ull << 40;
  CHECK(!iou__request_init(&op, &tr, IOU_CLASS_ALL));
  sqe = build(&op);
  CHECK(sqe.opcode == 55 /* IORING_OP_FTRUNCATE */ && sqe.fd == 6 && sqe.off == 1ull << 40);

  struct iou_request al = t_req(IOU_OP_ALLOCATE, 6, 16);
  al.position = 4096;
  al.extent = 1ull << 33;
  al.arg = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE;
  CHECK(!iou__request_init(&op, &al, IOU_CLASS_ALL));
  sqe = build(&op);
  CHECK(sqe.opcode == IORING_OP_FALLOCATE && sqe.off == 4096 && sqe.addr == 1ull << 33);
  CHECK(sqe.len == (FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE));

  struct iou_request un = t_req(IOU_OP_UNLINK, AT_FDCWD, 17);
  un.buf = path;
  un.arg = AT_REMOVEDIR;
  CHECK(!iou__request_init(&op, &un, IOU_CLASS_ALL));
  sqe = build(&op);
  CHECK(sqe.opcode == IORING_OP_UNLINKAT && sqe.fd == AT_FDCWD && sqe.addr == (uintptr_t)path);
  CHECK(sqe.unlink_flags == AT_REMOVEDIR);
  CHECK(iou__request_on_cqe(&op, false, 0, -EISDIR) && op.outcome == IOU_OUTCOME_ERROR && op.result == -EISDIR);

  struct iou_request rn = t_req(IOU_OP_RENAME, AT_FDCWD, 18);
  rn.buf = path;
  rn.buf2 = path2;
  rn.arg = 1; /* RENAME_NOREPLACE */
  CHECK(!iou__request_init(&op, &rn, IOU_CLASS_ALL));
  sqe = build(&op);
  CHECK(sqe.opcode == IORING_OP_RENAMEAT && sqe.fd == AT_FDCWD && sqe.len == (uint32_t)AT_FDCWD);
  CHECK(sqe.addr == (uintptr_t)path && sqe.off == (uintptr_t)path2 && sqe.rename_flags == 1);

  struct iou_request mk = t_req(IOU_OP_MKDIR, AT_FDCWD, 19);
  mk.buf = path;
  mk.arg2 = 0755;
  CHECK(!iou__request_init(&op, &mk, IOU_CLASS_ALL));
  sqe = build(&op);
  CHECK(sqe.opcode == IORING_OP_MKDIRAT && sqe.addr == (uintptr_t)path && sqe.len == 0755);

  struct iou_request sy = t_req(IOU_OP_SYMLINK, AT_FDCWD, 20);
  sy.buf = path;
  sy.buf2 = path2;
  CHECK(!iou__request_init(&op, &sy, IOU_CLASS_ALL));
  sqe = build(&op);
  CHECK(sqe.opcode == IORING_OP_SYMLINKAT && sqe.fd == AT_FDCWD);
  CHECK(sqe.addr == (uintptr_t)path && sqe.off == (uintptr_t)path2);

  struct iou_request ln = t_req(IOU_OP_LINK, AT_FDCWD, 21);
  ln.buf = path;
  ln.buf2 = path2;
  CHECK(!iou__request_init(&op, &ln, IOU_CLASS_ALL));
  sqe = build(&op);
  CHECK(sqe.opcode == IORING_OP_LINKAT && sqe.fd == AT_FDCWD && sqe.len == (uint32_t)AT_FDCWD);
  CHECK(sqe.addr == (uintptr_t)path && sqe.off == (uintptr_t)path2 && sqe.hardlink_flags == 0);

  /* Invalid or empty requests end here. */
  struct iou_request bad = t_req(IOU_OP_COUNT, 1, 7);
  CHECK(iou__request_init(&op, &bad, IOU_CLASS_ALL) && op.outcome == IOU_OUTCOME_ERROR && op.result == -EINVAL);
  struct iou_request many = t_req(IOU_OP_SEND, 1, 8);
  many.iov = iov;
  many.iov_count = 1025;
  CHECK(iou__request_init(&op, &many, IOU_CLASS_ALL) && op.result == -EINVAL);
  struct iou_request rdv = t_req(IOU_OP_RECV, 1, 9);
  rdv.iov = iov;
  rdv.iov_count = 1;
  CHECK(iou__request_init(&op, &rdv, IOU_CLASS_ALL) && op.result == -EINVAL);
  struct iou_request empty = t_req(IOU_OP_RECV, 1, 10);
  CHECK(iou__request_init(&op, &empty, IOU_CLASS_ALL) && op.outcome == IOU_OUTCOME_OK && op.result == 0);
  return T_EXIT_PASS;
}
