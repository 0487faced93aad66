/* The ring is created disabled and restricted (IORING_REGISTER_RESTRICTIONS) to what the loop uses:
 * an opcode the loop never submits (MADVISE) and an SQE flag it never sets (IO_LINK) complete with
 * -EACCES, and a register operation other than the eventfd (PROBE) is refused, while the loop's own
 * operations still run. Driven on the inline engine, whose ring belongs to this thread. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "helpers.h"
#include "loop.h"

/* Stages one raw SQE on the loop's ring, submits it and returns its CQE's result. */
static int32_t raw(struct iou_loop *loop, uint8_t opcode, uint8_t flags) {
  static uint8_t page[4096] __attribute__((aligned(4096)));
  struct io_uring_sqe *sqe = iou__ring_get_sqe(&loop->ring);
  CHECK(sqe != NULL);
  sqe->opcode = opcode;
  sqe->flags = flags;
  sqe->fd = -1;
  sqe->addr = (uint64_t)(uintptr_t)page;
  sqe->len = sizeof(page);
  sqe->user_data = 0x1234;
  CHECK(iou__ring_enter(&loop->ring, 1, 1000 * T_MS) >= 0);
  struct io_uring_cqe cqe;
  CHECK(iou__ring_next_cqe(&loop->ring, &cqe));
  iou__ring_cq_commit(&loop->ring);
  CHECK(cqe.user_data == 0x1234);
  return cqe.res;
}

int main(void) {
  struct t_loop *t = t_open_engine(IOU_ENGINE_INLINE, 8);
  struct iou_loop *loop = t->loop;
  CHECK(raw(loop, IORING_OP_MADVISE, 0) == -EACCES);
  CHECK(raw(loop, IORING_OP_NOP, IOSQE_IO_LINK) == -EACCES);
  CHECK(raw(loop, IORING_OP_NOP, 0) == 0); /* allowed, and the ring still works */
  uint8_t probe[4096];
  memset(probe, 0, sizeof(probe));
  CHECK(syscall(__NR_io_uring_register, loop->ring.fd, IORING_REGISTER_PROBE, probe, 16) < 0 && errno == EACCES);
  struct iou_request nop = t_req(IOU_OP_NOP, -1, 1);
  t_submit(t, &nop);
  struct iou_completion c = t_expect(t, 1, 5000);
  CHECK(c.outcome == IOU_OUTCOME_OK);
  t_close(t, -1);
  return T_EXIT_PASS;
}
