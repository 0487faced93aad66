/* The raw ring alone: a staged NOP comes back as one CQE with its user_data; a wait with an
 * EXT_ARG timeout and nothing in flight returns -ETIME after about that long; a full SQ hands out
 * no SQE; an enter on a closed ring fd is an error that is not -ETIME. */
#include <errno.h>
#include <unistd.h>

#include "helpers.h"
#include "ring.h"

int main(void) {
  t_require_io_uring();
  struct iou_ring ring;
  CHECK(iou__ring_init(&ring, 4, 0, 0) == 0);
  CHECK(ring.sq_entries == 4 && ring.cq_entries == 8);
  for (int i = 0; i < 4; i++) {
    struct io_uring_sqe *sqe = iou__ring_get_sqe(&ring);
    CHECK(sqe != NULL);
    sqe->opcode = IORING_OP_NOP;
    sqe->user_data = 10 + i;
  }
  CHECK(iou__ring_get_sqe(&ring) == NULL);
  CHECK(iou__ring_sq_space(&ring) == 0);
  CHECK(iou__ring_enter(&ring, 4, -1) == 4);
  CHECK(iou__ring_sq_space(&ring) == 4);
  struct io_uring_cqe cqe;
  for (int i = 0; i < 4; i++) {
    CHECK(iou__ring_next_cqe(&ring, &cqe));
    CHECK(cqe.user_data == (uint64_t)(10 + i) && cqe.res == 0);
  }
  CHECK(!iou__ring_next_cqe(&ring, &cqe));
  iou__ring_cq_commit(&ring);

  uint64_t t0 = t_now_ns();
  CHECK(iou__ring_enter(&ring, 1, 30 * (int64_t)T_MS) == -ETIME);
  uint64_t took = t_now_ns() - t0;
  CHECK(took >= 29 * T_MS && took < 2000 * T_MS);

  close(ring.fd);
  int r = iou__ring_enter(&ring, 1, 10 * (int64_t)T_MS);
  CHECK(r < 0 && r != -ETIME);
  ring.fd = -1;
  iou__ring_exit(&ring);

  /* Single issuer + deferred task run, when this kernel has them (Linux 6.1). */
  struct iou_probe p;
  iou_probe(&p);
  if (p.single_issuer) {
    CHECK(iou__ring_init(&ring, 2, 0, IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN) == 0);
    struct io_uring_sqe *sqe = iou__ring_get_sqe(&ring);
    sqe->opcode = IORING_OP_NOP;
    sqe->user_data = 5;
    CHECK(iou__ring_enter(&ring, 1, -1) == 1);
    CHECK(iou__ring_next_cqe(&ring, &cqe) && cqe.user_data == 5);
    iou__ring_cq_commit(&ring);
    iou__ring_exit(&ring);
  }
  return T_EXIT_PASS;
}
