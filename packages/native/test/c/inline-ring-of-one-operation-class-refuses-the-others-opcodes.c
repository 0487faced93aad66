/* The kernel ring of a loop opened for one class of operations is restricted to that class's
 * opcodes (and the loop's polls and cancel): raw SQEs of the other class complete with -EACCES from
 * the kernel itself, those of its own class reach their file or socket. A files ring refuses SEND,
 * SENDMSG and RECV and runs READ; a sockets ring refuses READ, WRITE, WRITEV and FSYNC and runs
 * RECV. Driven on the inline engine, whose ring belongs to this thread. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"
#include "loop.h"

static uint8_t buf[8];

/* Stages one raw SQE of `opcode` on `fd` on the loop's ring, submits it and returns its CQE's result. */
static int32_t raw(struct iou_loop *loop, uint8_t opcode, int fd) {
  struct io_uring_sqe *sqe = iou__ring_get_sqe(&loop->ring);
  CHECK(sqe != NULL);
  sqe->opcode = opcode;
  sqe->fd = fd;
  sqe->addr = (uint64_t)(uintptr_t)buf;
  sqe->len = opcode == IORING_OP_SENDMSG || opcode == IORING_OP_WRITEV ? 0 : sizeof(buf);
  sqe->user_data = 0x1234;
  CHECK(iou__ring_enter(&loop->ring, 1, 1000 * T_MS) >= 0);
  struct io_uring_cqe cqe;
  CHECK(iou__ring_next_cqe(&loop->ring, &cqe));
  iou__ring_cq_commit(&loop->ring);
  CHECK(cqe.user_data == 0x1234);
  return cqe.res;
}

static struct t_loop *open_for(uint8_t classes) {
  struct iou_loop_config cfg = {.engine = IOU_ENGINE_INLINE,
                                .size = 8,
                                .single_issuer = true,
                                .max_request_timeout_ns = 60000 * T_MS,
                                .timeout_wheel_tick_ns = 5 * T_MS,
                                .operations = classes};
  return t_open_config(&cfg);
}

int main(void) {
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  int file = t_temp_file(sizeof(buf));

  struct t_loop *files = open_for(IOU_CLASS_FILES);
  CHECK(raw(files->loop, IORING_OP_SEND, sv[0]) == -EACCES);
  CHECK(raw(files->loop, IORING_OP_SENDMSG, sv[0]) == -EACCES);
  CHECK(raw(files->loop, IORING_OP_RECV, sv[0]) == -EACCES);
  CHECK(raw(files->loop, IORING_OP_READ, file) == (int32_t)sizeof(buf) && buf[2] == t_pattern(2));
  t_close(files, -1);

  struct t_loop *sockets = open_for(IOU_CLASS_SOCKETS);
  CHECK(raw(sockets->loop, IORING_OP_READ, file) == -EACCES);
  CHECK(raw(sockets->loop, IORING_OP_WRITE, file) == -EACCES);
  CHECK(raw(sockets->loop, IORING_OP_WRITEV, file) == -EACCES);
  CHECK(raw(sockets->loop, IORING_OP_FSYNC, file) == -EACCES);
  CHECK(write(sv[1], "pong", 4) == 4);
  CHECK(raw(sockets->loop, IORING_OP_RECV, sv[0]) == 4 && memcmp(buf, "pong", 4) == 0);
  t_close(sockets, -1);

  close(file);
  close(sv[0]);
  close(sv[1]);
  return T_EXIT_PASS;
}
