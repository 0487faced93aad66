/*
 * ring.h: one io_uring instance driven through raw syscalls (no liburing): setup and mmap of the
 * SQ, CQ and SQE array, staging SQEs privately and publishing them with one release store of the
 * SQ tail, reading CQEs with an acquire load of the CQ tail, and io_uring_enter with an optional
 * EXT_ARG timeout. Single-threaded: every function is called by the thread that owns the ring (the
 * loop thread with the thread engine, the owner's JS thread with the inline engine), which is what
 * makes IORING_SETUP_SINGLE_ISSUER legal.
 */
#ifndef IOU_RING_H
#define IOU_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compat.h"

struct iou__buf_ring;

struct iou_ring {
  int fd;
  uint32_t setup_flags; /* the IORING_SETUP_* flags the kernel accepted */

  /* Submission queue. The kernel owns the ring memory (mmap of the ring fd) until iou__ring_exit. */
  uint32_t *khead;            /* kernel stores (consumes SQEs); we acquire-load it, pairing with its release */
  uint32_t *ktail;            /* we release-store it to publish staged SQEs; the kernel acquire-loads it */
  uint32_t *karray;           /* index array, filled once with the identity at setup */
  struct io_uring_sqe *ksqes; /* SQE slots: ours to write between our tail and the kernel's head */
  uint32_t sq_mask;
  uint32_t sq_entries;
  uint32_t sqe_tail; /* private: staged tail, published by iou__ring_enter */

  /* Completion queue. */
  uint32_t *kcq_head; /* we release-store it after reading CQEs; the kernel acquire-loads it */
  uint32_t *kcq_tail; /* kernel release-stores it after writing CQEs; we acquire-load it */
  struct io_uring_cqe *kcqes;
  uint32_t cq_mask;
  uint32_t cq_entries;
  uint32_t cq_head; /* private: CQEs read, handed back by iou__ring_cq_commit */

  /* Flag words in the ring memory. The kernel atomically sets IORING_SQ_TASKRUN in *ksq_flags when
   * deferred task work is queued (with TASKRUN_FLAG); we load it. *kcq_flags is ours to write
   * (IORING_CQ_EVENTFD_DISABLED); the kernel reads it before it signals a registered eventfd. */
  uint32_t *ksq_flags;
  uint32_t *kcq_flags;

  void *sq_map;
  size_t sq_map_len;
  void *cq_map; /* == sq_map with IORING_FEAT_SINGLE_MMAP */
  size_t cq_map_len;
  void *sqe_map;
  size_t sqe_map_len;
};

/* Creates the ring with `entries` SQ entries, `cq_entries` CQ entries (IORING_SETUP_CQSIZE, Linux
 * 5.5; 0: the kernel's default, twice the SQ) and setup `flags`. Returns 0 or -errno (nothing left
 * open on failure). Requires IORING_FEAT_EXT_ARG (Linux 5.11): -EOPNOTSUPP without it. */
int iou__ring_init(struct iou_ring *ring, uint32_t entries, uint32_t cq_entries, uint32_t flags);

/* Unmaps and closes the ring. Requests still in the kernel are cancelled by the kernel
 * asynchronously: memory they reference must stay valid (see abandonment). */
void iou__ring_exit(struct iou_ring *ring);

/* Free SQE slots (entries minus staged-or-unconsumed ones). */
uint32_t iou__ring_sq_space(const struct iou_ring *ring);

/* SQEs staged or published but not yet consumed by the kernel. */
uint32_t iou__ring_sq_pending(const struct iou_ring *ring);

/* A zeroed SQE slot to fill, or NULL when the SQ is full. Becomes visible to the kernel at the next
 * iou__ring_enter. */
struct io_uring_sqe *iou__ring_get_sqe(struct iou_ring *ring);

/* Publishes staged SQEs and calls io_uring_enter(to_submit = all unconsumed, min_complete = want,
 * GETEVENTS), with an EXT_ARG timeout when timeout_ns >= 0 (-1 = no
 * timeout; ignored when want is 0). Returns the number submitted, -ETIME when the timeout expired, or -errno. */
int iou__ring_enter(struct iou_ring *ring, uint32_t want, int64_t timeout_ns);

/* Copies the next CQE into *out and returns true, or returns false when the CQ is empty. The slot
 * is released to the kernel by iou__ring_cq_commit. */
bool iou__ring_next_cqe(struct iou_ring *ring, struct io_uring_cqe *out);

/* True when the CQ holds a CQE not taken yet (without taking it). */
bool iou__ring_cq_ready(const struct iou_ring *ring);

/* Releases every CQE taken by iou__ring_next_cqe (one release store of the CQ head). */
void iou__ring_cq_commit(struct iou_ring *ring);

/* True when the kernel holds CQEs back for want of CQ room (IORING_SQ_CQ_OVERFLOW, Linux 5.8; with
 * NODROP, Linux 5.5, they are kept, and handed over by the next io_uring_enter with GETEVENTS). */
bool iou__ring_cq_overflowed(const struct iou_ring *ring);

/* Creates the loop's ring on the calling thread (which becomes SINGLE_ISSUER's issuer): with
 * SINGLE_ISSUER | DEFER_TASKRUN when wanted and accepted (Linux 6.1; *single_issuer says so), else
 * COOP_TASKRUN (Linux 5.19), else a plain ring (`flags` holding COOP_TASKRUN: SINGLE_ISSUER |
 * COOP_TASKRUN when wanted, Linux 6.0, never DEFER_TASKRUN); created disabled, restricted to `opcodes` (the
 * only IORING_OP_* its SQEs may carry), the eventfd's registration, IOSQE_ASYNC and
 * IOSQE_BUFFER_SELECT, then enabled. `buffers` (when it has entries) is registered before the
 * restrictions; a kernel without buffer rings (before Linux 5.19: EINVAL) leaves it unregistered,
 * with no entries, and the ring opens without it. 0 or -errno. */
int iou__ring_open(struct iou_ring *ring, uint32_t entries, uint32_t cq_entries, uint32_t flags,
                   bool want_single_issuer, bool *single_issuer, const uint8_t *opcodes, unsigned n_opcodes,
                   struct iou__buf_ring *buffers);

/* A provided-buffer ring (IORING_REGISTER_PBUF_RING, Linux 5.19) of group IOU_BUF_GROUP: the
 * entries the kernel takes buffers from for IOSQE_BUFFER_SELECT. Its memory (kring) is ours,
 * mapped by iou__buf_ring_init, registered with the ring and unmapped by iou__buf_ring_free after
 * the ring is closed (the kernel keeps its own reference to the pages it pinned). One producer of
 * the tail (the loop's owner: iou_loop_recv_buffers_return), one consumer (the kernel). */
#define IOU_BUF_GROUP 0
struct iou__buf_ring {
  struct io_uring_buf_ring *kring; /* entries and tail read by the kernel; we release-store tail */
  size_t map_len;
  uint32_t entries; /* power of two; 0: none */
  uint16_t tail;    /* producer's private tail, published by iou__buf_ring_give */
  uint8_t *base;    /* the caller's buffers */
  uint32_t size;    /* bytes per buffer */
  uint8_t *held;    /* one bit per id: given to the kernel and not yet named by a completion (owner's) */
};

/* Maps an empty ring for `entries` buffers of `size` bytes at base. 0 or -errno. */
int iou__buf_ring_init(struct iou__buf_ring *b, uint8_t *base, uint32_t entries, uint32_t size);
void iou__buf_ring_free(struct iou__buf_ring *b);
/* Appends buffers and publishes them to the kernel (one release store of the tail). 0, or -EINVAL
 * with nothing given when an id is out of range, named twice, or in the ring already (given and
 * not yet named by a completion: the kernel could write two chunks into it). */
int iou__buf_ring_give(struct iou__buf_ring *b, const uint16_t *ids, uint32_t n);
/* A completion named buffer `id`: the kernel took it out of the ring, it is the owner's again. */
void iou__buf_ring_taken(struct iou__buf_ring *b, uint16_t id);

/* Restricts a ring created with IORING_SETUP_R_DISABLED (Linux 5.10) to these SQE opcodes, these
 * io_uring_register operations and these SQE flags (IORING_REGISTER_RESTRICTIONS), then enables it
 * (IORING_REGISTER_ENABLE_RINGS; with SINGLE_ISSUER the calling thread becomes the issuer). Anything
 * else is refused by the kernel with -EACCES, for the life of the ring. 0 or -errno. */
int iou__ring_restrict(struct iou_ring *ring, const uint8_t *sqe_ops, unsigned n_sqe_ops, const uint8_t *register_ops,
                       unsigned n_register_ops, uint8_t sqe_flags);

/* Registers `fd` as the ring's eventfd (IORING_REGISTER_EVENTFD, Linux 5.2): the kernel signals it
 * when it posts CQEs or, with DEFER_TASKRUN, queues task work that entering the ring would run.
 * 0 or -errno. */
int iou__ring_register_eventfd(struct iou_ring *ring, int fd);

/* True when the kernel queued task work for the ring's owner (IORING_SQ_TASKRUN; only set on rings
 * created with IORING_SETUP_TASKRUN_FLAG): with DEFER_TASKRUN only an io_uring_enter runs it; with
 * COOP_TASKRUN an enter or the owner's next return from any syscall. */
bool iou__ring_taskrun(const struct iou_ring *ring);

/* Turns the registered eventfd's signals off (while the owner itself enters and reaps) or on. On:
 * a full fence follows, so that a caller's next look at the CQ and at iou__ring_taskrun cannot miss
 * work whose signal the kernel skipped while they were off (the kernel sets the flag, then reads
 * ours). */
void iou__ring_eventfd_signals(struct iou_ring *ring, bool on);

#endif /* IOU_RING_H */
