/* Per operation: short reads/writes continue at the right address and offset, vectored writes
 * advance their loop-owned iovec copy without touching the caller's, EAGAIN waits for readiness
 * with a one-shot POLL_ADD, zero means EOF (read/recv) or WRITE_ZERO (write/send), invalid requests
 * end before the kernel, and nothing to transfer ends OK 0. */
#include <errno.h>
#include <poll.h>
#include <string.h>

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
  /* write 0 -> WRITE_ZERO with the count; EAGAIN -> POLLOUT. */
  struct iou_request w1 = t_req_buf(IOU_OP_WRITE_AT, 5, 4, buf, 10);
  CHECK(!iou__request_init(&op, &w1, IOU_CLASS_ALL));
  CHECK(!iou__request_on_cqe(&op, false, 0, -EAGAIN));
  CHECK(build(&op).poll32_events == POLLOUT);
  CHECK(!iou__request_on_cqe(&op, false, 0, POLLOUT));
  CHECK(!iou__request_on_cqe(&op, false, 0, 4));
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
  CHECK(iou__request_on_cqe(&op, false, 0, 0) && op.outcome == IOU_OUTCOME_WRITE_ZERO);
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
  /* Partial progress after a cancel ends with the cancel's outcome and the count. */
  CHECK(iou__request_on_cqe(&op, true, IOU_OUTCOME_TIMEOUT, 0) && op.outcome == IOU_OUTCOME_WRITE_ZERO);
  iou__request_release(&op);

  /* sync: FSYNC, DATASYNC with DATA_ONLY; nop. */
  struct iou_request y = t_req(IOU_OP_SYNC, 7, 6);
  y.flags = IOU_FLAG_DATA_ONLY;
  CHECK(!iou__request_init(&op, &y, IOU_CLASS_ALL));
  sqe = build(&op);
  CHECK(sqe.opcode == IORING_OP_FSYNC && sqe.fsync_flags == IORING_FSYNC_DATASYNC);
  CHECK(!iou__request_on_cqe(&op, false, 0, -EINTR));
  CHECK(iou__request_on_cqe(&op, false, 0, 0) && op.outcome == IOU_OUTCOME_OK);

  /* Invalid or empty requests end here. */
  struct iou_request bad = t_req(9, 1, 7);
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
