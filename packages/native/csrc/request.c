/*
 * request.c: SQE builders and CQE interpretation per operation. Owns nothing but the iovec copies
 * of vectored requests (struct iou__vec), whose lifetime the waiter drives. Pure: no syscalls, so
 * the waiter tests can feed it synthetic CQE results.
 *
 * Per kind (result = bytes so far unless said otherwise):
 *   NOP, SYNC    any result >= 0 -> OK 0
 *   READ_AT      READ until total or EOF; EOF: exact -> UNEXPECTED_EOF, else OK
 *   WRITE_AT     WRITE / WRITEV at position until everything is written; 0 -> WRITE_ZERO
 *   SEND         SEND / SENDMSG with MSG_NOSIGNAL until everything is sent; 0 -> WRITE_ZERO
 *   RECV         RECV into [buf + done, buf + len); not exact: first non-empty CQE -> OK, 0 -> OK 0;
 *                exact: keep going until full, 0 first -> UNEXPECTED_EOF
 *   -EAGAIN on READ_AT, WRITE_AT, SEND, RECV: a one-shot POLL_ADD (POLLIN or POLLOUT) on the fd,
 *   then the op again, so a non-blocking socket costs no CPU while it waits. -EINTR: again at once.
 *   With a cancel requested: a complete transfer still wins; partial progress, -ECANCELED or a
 *   retry end with the cancel's outcome (TIMEOUT or CANCELLED).
 */
#include "request.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

enum iou__cqe_class iou__cqe_classify(int32_t res, bool cancel_requested) {
  if (res == -EAGAIN || res == -EINTR) return IOU_CQE_RETRY;
  if (res == -ECANCELED && cancel_requested) return IOU_CQE_CANCELLED;
  if (res < 0) return IOU_CQE_ERROR;
  if (res == 0) return IOU_CQE_ZERO;
  return IOU_CQE_POSITIVE;
}

static bool finish(struct iou__request *op, uint8_t outcome, int32_t result) {
  op->outcome = outcome;
  op->result = result;
  return true;
}

static bool transfers(uint8_t kind) {
  return kind == IOU_OP_READ_AT || kind == IOU_OP_WRITE_AT || kind == IOU_OP_SEND || kind == IOU_OP_RECV;
}

bool iou__request_init(struct iou__request *op, const struct iou_request *req) {
  memset(op, 0, sizeof(*op));
  op->req = *req;
  op->req.iov = NULL; /* caller memory is read once, here; the loop works on its copy */
  uint8_t kind = req->op;
  if (kind > IOU_OP_SYNC) return finish(op, IOU_OUTCOME_ERROR, -EINVAL);
  if (req->iov_count > 0) {
    if ((kind != IOU_OP_WRITE_AT && kind != IOU_OP_SEND) || req->iov_count > IOU_MAX_IOV || req->iov == NULL)
      return finish(op, IOU_OUTCOME_ERROR, -EINVAL);
    uint64_t total = 0;
    for (uint32_t i = 0; i < req->iov_count; i++) total += req->iov[i].iov_len;
    if (total > INT32_MAX) return finish(op, IOU_OUTCOME_ERROR, -EINVAL);
    op->total = (uint32_t)total;
    if (op->total == 0) return finish(op, IOU_OUTCOME_OK, 0);
    struct iou__vec *vec = malloc(sizeof(*vec) + req->iov_count * sizeof(struct iovec));
    if (vec == NULL) return finish(op, IOU_OUTCOME_ERROR, -ENOMEM);
    memset(&vec->msg, 0, sizeof(vec->msg));
    vec->first = 0;
    vec->count = req->iov_count;
    memcpy(vec->iov, req->iov, req->iov_count * sizeof(struct iovec));
    while (vec->iov[vec->first].iov_len == 0) vec->first++; /* total > 0: stops inside */
    op->vec = vec;
    return false;
  }
  if (transfers(kind)) {
    if (req->len > INT32_MAX) return finish(op, IOU_OUTCOME_ERROR, -EINVAL);
    op->total = req->len;
    if (op->total == 0) return finish(op, IOU_OUTCOME_OK, 0); /* nothing to move: no SQE */
  }
  return false;
}

static uint64_t offset_of(const struct iou__request *op) {
  return op->req.position == IOU_POSITION_CURRENT ? IOU_POSITION_CURRENT : op->req.position + op->done;
}

void iou__request_build_sqe(struct iou__request *op, struct io_uring_sqe *sqe, uint64_t user_data) {
  const struct iou_request *r = &op->req;
  sqe->fd = r->fd;
  sqe->user_data = user_data;
  if (op->poll_events != 0) {
    sqe->opcode = IORING_OP_POLL_ADD; /* one-shot: len 0 */
    sqe->poll32_events = op->poll_events;
    return;
  }
  struct iou__vec *vec = op->vec;
  switch (r->op) {
    case IOU_OP_NOP:
      sqe->opcode = IORING_OP_NOP;
      sqe->fd = -1;
      break;
    case IOU_OP_READ_AT:
      sqe->opcode = IORING_OP_READ;
      sqe->addr = (uint64_t)(uintptr_t)(r->buf + op->done);
      sqe->len = op->total - op->done;
      sqe->off = offset_of(op);
      break;
    case IOU_OP_WRITE_AT:
      if (vec != NULL) {
        sqe->opcode = IORING_OP_WRITEV;
        sqe->addr = (uint64_t)(uintptr_t)&vec->iov[vec->first];
        sqe->len = vec->count - vec->first;
      } else {
        sqe->opcode = IORING_OP_WRITE;
        sqe->addr = (uint64_t)(uintptr_t)(r->buf + op->done);
        sqe->len = op->total - op->done;
      }
      sqe->off = offset_of(op);
      break;
    case IOU_OP_SEND:
      if (vec != NULL) {
        vec->msg.msg_iov = &vec->iov[vec->first];
        vec->msg.msg_iovlen = vec->count - vec->first;
        sqe->opcode = IORING_OP_SENDMSG;
        sqe->addr = (uint64_t)(uintptr_t)&vec->msg;
        sqe->len = 1;
      } else {
        sqe->opcode = IORING_OP_SEND;
        sqe->addr = (uint64_t)(uintptr_t)(r->buf + op->done);
        sqe->len = op->total - op->done;
      }
      sqe->msg_flags = MSG_NOSIGNAL; /* a peer that went away is -EPIPE, never SIGPIPE */
      break;
    case IOU_OP_RECV:
      sqe->opcode = IORING_OP_RECV;
      sqe->addr = (uint64_t)(uintptr_t)(r->buf + op->done);
      sqe->len = op->total - op->done;
      break;
    case IOU_OP_SYNC:
      sqe->opcode = IORING_OP_FSYNC;
      sqe->fsync_flags = (r->flags & IOU_FLAG_DATA_ONLY) ? IORING_FSYNC_DATASYNC : 0;
      break;
    default:
      IOU_ASSERT(0, "build_sqe: unknown op (iou__request_init rejects it)");
  }
}

/* Moves the iovec cursor past n transferred bytes. */
static void advance_vec(struct iou__vec *vec, uint32_t n) {
  while (n > 0) {
    IOU_ASSERT(vec->first < vec->count, "advance_vec: more bytes than the iovecs hold");
    struct iovec *v = &vec->iov[vec->first];
    if (n < v->iov_len) {
      v->iov_base = (char *)v->iov_base + n;
      v->iov_len -= n;
      return;
    }
    n -= (uint32_t)v->iov_len;
    v->iov_len = 0;
    vec->first++;
  }
  while (vec->first < vec->count && vec->iov[vec->first].iov_len == 0) vec->first++;
}

void iou__request_end(struct iou__request *op, uint8_t outcome) {
  finish(op, outcome, (int32_t)op->done);
}

/* The CQE of the readiness poll that follows an -EAGAIN. */
static bool on_poll_cqe(struct iou__request *op, bool cancel_requested, uint8_t cancel_outcome, int32_t res) {
  switch (iou__cqe_classify(res, cancel_requested)) {
    case IOU_CQE_RETRY:
      if (cancel_requested) return finish(op, cancel_outcome, (int32_t)op->done);
      return false; /* poll again */
    case IOU_CQE_CANCELLED:
      return finish(op, cancel_outcome, (int32_t)op->done);
    case IOU_CQE_ERROR:
      return finish(op, IOU_OUTCOME_ERROR, res);
    default: /* ready (a mask), or 0 */
      op->poll_events = 0;
      if (cancel_requested) return finish(op, cancel_outcome, (int32_t)op->done);
      return false; /* re-issue the operation */
  }
}

bool iou__request_on_cqe(struct iou__request *op, bool cancel_requested, uint8_t cancel_outcome, int32_t res) {
  if (op->poll_events != 0) return on_poll_cqe(op, cancel_requested, cancel_outcome, res);
  uint8_t kind = op->req.op;
  bool exact = (op->req.flags & IOU_FLAG_EXACT) != 0;
  switch (iou__cqe_classify(res, cancel_requested)) {
    case IOU_CQE_RETRY:
      if (cancel_requested) return finish(op, cancel_outcome, (int32_t)op->done);
      if (res == -EAGAIN && transfers(kind)) {
        /* A non-blocking fd: wait for readiness instead of spinning on re-submission. */
        op->poll_events = (kind == IOU_OP_READ_AT || kind == IOU_OP_RECV) ? POLLIN : POLLOUT;
      }
      return false;
    case IOU_CQE_CANCELLED:
      return finish(op, cancel_outcome, (int32_t)op->done);
    case IOU_CQE_ERROR:
      return finish(op, IOU_OUTCOME_ERROR, res);
    case IOU_CQE_ZERO:
      switch (kind) {
        case IOU_OP_READ_AT:
        case IOU_OP_RECV:
          return finish(op, exact ? IOU_OUTCOME_UNEXPECTED_EOF : IOU_OUTCOME_OK, (int32_t)op->done);
        case IOU_OP_WRITE_AT:
        case IOU_OP_SEND:
          return finish(op, IOU_OUTCOME_WRITE_ZERO, (int32_t)op->done);
        default:
          return finish(op, IOU_OUTCOME_OK, 0);
      }
    case IOU_CQE_POSITIVE:
      break;
  }
  if (!transfers(kind)) return finish(op, IOU_OUTCOME_OK, 0);
  IOU_ASSERT((uint32_t)res <= op->total - op->done, "on_cqe: the kernel moved more bytes than asked");
  op->done += (uint32_t)res;
  if (op->vec != NULL) advance_vec(op->vec, (uint32_t)res);
  if (op->done == op->total) return finish(op, IOU_OUTCOME_OK, (int32_t)op->done);
  if (kind == IOU_OP_RECV && !exact) return finish(op, IOU_OUTCOME_OK, (int32_t)op->done);
  if (cancel_requested) return finish(op, cancel_outcome, (int32_t)op->done);
  return false; /* partial progress: continue from where it stopped */
}

void iou__request_release(struct iou__request *op) {
  free(op->vec);
  op->vec = NULL;
}

/* Abandoned iovec copies, from every loop of the process. Pushed by loop threads (release CAS),
 * never popped: nothing reads the list, it only keeps the memory reachable. */
static _Atomic(struct iou__vec *) quarantine;

void iou__request_leak(struct iou__request *op) {
  struct iou__vec *vec = op->vec;
  op->vec = NULL;
  if (vec == NULL) return;
  vec->quarantine_next = atomic_load_explicit(&quarantine, memory_order_relaxed);
  while (!atomic_compare_exchange_weak_explicit(&quarantine, &vec->quarantine_next, vec, memory_order_release,
                                                memory_order_relaxed)) {
  }
}

void iou__prep_cancel(struct io_uring_sqe *sqe, uint64_t target) {
  sqe->opcode = IORING_OP_ASYNC_CANCEL;
  sqe->fd = -1;
  sqe->addr = target;
  sqe->user_data = target | (1ull << 63);
}
