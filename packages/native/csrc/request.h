/*
 * request.h: one logical request's progress (struct iou__request: the seed's and @iou/core's
 * Request), the SQE it needs next and what a CQE means for it (the seed's request.rs), driven by
 * request.c's per-operation table. One logical request may need many SQEs: short reads and writes
 * continue where they stopped, exact receives keep filling, EAGAIN on a non-blocking fd waits for
 * readiness with a one-shot POLL_ADD before re-issuing. No syscalls here.
 */
#ifndef IOU_REQUEST_H
#define IOU_REQUEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "compat.h"
#include "iou.h"

/* Loop-owned copy of a vectored request's iovec array (and, for SEND, its msghdr). Kernel-visible:
 * owned by the waiter from admission until the request's final CQE; freed then, or LEAKED when
 * the request is abandoned at shutdown (the kernel may still read it after the ring is closed). */
struct iou__vec {
  struct iou__vec *quarantine_next; /* on the process-wide quarantine list once abandoned */
  struct msghdr msg;                /* SENDMSG only: msg_iov points into iov[] */
  uint32_t first;                   /* first iovec not fully transferred */
  uint32_t count;
  struct iovec iov[]; /* advanced in place as bytes are transferred */
};

struct iou__request {
  struct iou_request req; /* the caller's request; buf / iov_base are caller memory (see iou.h) */
  uint32_t total;         /* bytes to transfer: len, or the sum of the iovec lengths */
  uint32_t done;          /* bytes transferred so far */
  struct iou__vec *vec;   /* vectored requests only; see struct iou__vec for ownership */
  uint32_t poll_events;   /* non-zero: the next SQE is a one-shot POLL_ADD for these events */
  int32_t result;         /* terminal result (valid once outcome is set) */
  uint8_t outcome;        /* terminal IOU_OUTCOME_* */
};

/* How a CQE result is classified, in this order (seed §2.2). */
enum iou__cqe_class {
  IOU_CQE_RETRY,     /* -EAGAIN / -EINTR */
  IOU_CQE_CANCELLED, /* -ECANCELED after a cancel was requested */
  IOU_CQE_ERROR,     /* any other negative result */
  IOU_CQE_ZERO,
  IOU_CQE_POSITIVE,
};

enum iou__cqe_class iou__cqe_classify(int32_t res, bool cancel_requested);

/* Copies the request (and its iovec array) into r. Returns false when the request still needs the
 * kernel; true when it already ended here (invalid: ERROR -EINVAL / -ENOMEM; of a class outside
 * `classes` (IOU_CLASS_* bits): ERROR -EACCES; nothing to transfer: OK 0), with r->outcome and
 * r->result set and nothing left to release. */
bool iou__request_init(struct iou__request *r, const struct iou_request *req, uint8_t classes);

/* The most opcodes iou__request_opcodes returns. */
#define IOU__MAX_RING_OPCODES 64

/* Fills out with every IORING_OP_* a loop accepting `classes` may stage (the rows of those classes,
 * the polls and the cancel), each once; returns how many. What the ring is restricted to. */
unsigned iou__request_opcodes(uint8_t classes, uint8_t out[IOU__MAX_RING_OPCODES]);

/* Fills the SQE for the request's next step and stamps user_data. */
void iou__request_build_sqe(struct iou__request *r, struct io_uring_sqe *sqe, uint64_t user_data);

/* Applies one CQE of this request. cancel_requested: a timeout or cancel was requested, whose outcome
 * is cancel_outcome (IOU_OUTCOME_TIMEOUT or IOU_OUTCOME_CANCELLED). Returns true when terminal
 * (outcome and result set), false when another SQE is needed. Success wins over a cancel. */
bool iou__request_on_cqe(struct iou__request *r, bool cancel_requested, uint8_t cancel_outcome, int32_t res);

/* The request's operation is multishot: one SQE, CQEs with IORING_CQE_F_MORE, then a last one. */
bool iou__request_multishot(const struct iou__request *r);

/* Ends the request without a CQE (local timeout or cancel, abandonment): result = bytes so far. */
void iou__request_end(struct iou__request *r, uint8_t outcome);

/* Frees loop-owned memory after the final CQE. */
void iou__request_release(struct iou__request *r);

/* Moves loop-owned memory to the process-wide quarantine, never freed: the request was abandoned and
 * the kernel may still read it. (Kept reachable so leak checkers see a quarantine, not a leak.) */
void iou__request_leak(struct iou__request *r);

/* An IORING_OP_ASYNC_CANCEL of the op SQE whose user_data is target (first match only, Linux
 * 5.5); its own user_data is target with the cancel tag (bit 63). */
void iou__prep_cancel(struct io_uring_sqe *sqe, uint64_t target);

#endif /* IOU_REQUEST_H */
