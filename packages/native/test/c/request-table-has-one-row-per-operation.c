/* Every IOU_OP_* below IOU_OP_COUNT has its row in request.c's table: a syscall name (the one
 * @iou/core's Operations gives its errors), the caller memory its requests point at (what the
 * binding reads to decide which buffers a request carries), what each argument is (what the binding
 * checks an argument's memory against) and its class (the loops that accept it).
 * The first op past the table has none of them and ends ERROR -EINVAL at admission. */
#include <errno.h>
#include <string.h>

#include "helpers.h"
#include "request.h"

enum { NA = IOU_ARG_NONE, SA = IOU_ARG_SOCKADDR, PA = IOU_ARG_PATH, SX = IOU_ARG_STATX };

int main(void) {
  static const struct {
    uint32_t op;
    const char *syscall;
    uint8_t memory;
    uint8_t args[2];
    uint8_t op_class;
  } expected[] = {
      {IOU_OP_NOP, "nop", IOU_MEMORY_NONE, {NA, NA}, IOU_CLASS_ALL},
      {IOU_OP_READ_AT, "read", IOU_MEMORY_DATA, {NA, NA}, IOU_CLASS_FILES},
      {IOU_OP_WRITE_AT, "write", IOU_MEMORY_DATA, {NA, NA}, IOU_CLASS_FILES},
      {IOU_OP_SEND, "send", IOU_MEMORY_DATA, {NA, NA}, IOU_CLASS_SOCKETS},
      {IOU_OP_RECV, "recv", IOU_MEMORY_DATA, {NA, NA}, IOU_CLASS_SOCKETS},
      {IOU_OP_SYNC, "fsync", IOU_MEMORY_NONE, {NA, NA}, IOU_CLASS_FILES},
      {IOU_OP_SOCKET, "socket", IOU_MEMORY_NONE, {NA, NA}, IOU_CLASS_SOCKETS},
      {IOU_OP_CONNECT, "connect", IOU_MEMORY_ARGS, {SA, NA}, IOU_CLASS_SOCKETS},
      {IOU_OP_ACCEPT, "accept", IOU_MEMORY_NONE, {NA, NA}, IOU_CLASS_SOCKETS},
      {IOU_OP_SHUTDOWN, "shutdown", IOU_MEMORY_NONE, {NA, NA}, IOU_CLASS_SOCKETS},
      {IOU_OP_BIND, "bind", IOU_MEMORY_ARGS, {SA, NA}, IOU_CLASS_SOCKETS},
      {IOU_OP_LISTEN, "listen", IOU_MEMORY_NONE, {NA, NA}, IOU_CLASS_SOCKETS},
      {IOU_OP_OPEN, "open", IOU_MEMORY_ARGS, {PA, NA}, IOU_CLASS_FILES},
      {IOU_OP_CLOSE, "close", IOU_MEMORY_NONE, {NA, NA}, IOU_CLASS_ALL},
      {IOU_OP_STAT, "stat", IOU_MEMORY_ARGS, {PA, SX}, IOU_CLASS_FILES},
      {IOU_OP_TRUNCATE, "ftruncate", IOU_MEMORY_NONE, {NA, NA}, IOU_CLASS_FILES},
      {IOU_OP_ALLOCATE, "fallocate", IOU_MEMORY_NONE, {NA, NA}, IOU_CLASS_FILES},
      {IOU_OP_UNLINK, "unlink", IOU_MEMORY_ARGS, {PA, NA}, IOU_CLASS_FILES},
      {IOU_OP_RENAME, "rename", IOU_MEMORY_ARGS, {PA, PA}, IOU_CLASS_FILES},
      {IOU_OP_MKDIR, "mkdir", IOU_MEMORY_ARGS, {PA, NA}, IOU_CLASS_FILES},
      {IOU_OP_SYMLINK, "symlink", IOU_MEMORY_ARGS, {PA, PA}, IOU_CLASS_FILES},
      {IOU_OP_LINK, "link", IOU_MEMORY_ARGS, {PA, PA}, IOU_CLASS_FILES},
      {IOU_OP_RECV_MANY, "recv", IOU_MEMORY_NONE, {NA, NA}, IOU_CLASS_SOCKETS},
      {IOU_OP_ACCEPT_MANY, "accept", IOU_MEMORY_NONE, {NA, NA}, IOU_CLASS_SOCKETS},
  };
  CHECK(sizeof(expected) / sizeof(expected[0]) == IOU_OP_COUNT);
  for (uint32_t i = 0; i < IOU_OP_COUNT; i++) {
    CHECK(expected[i].op == i);
    CHECK(iou_op_syscall(i) != NULL && strcmp(iou_op_syscall(i), expected[i].syscall) == 0);
    CHECK(iou_op_memory(i) == expected[i].memory);
    CHECK(iou_op_arg(i, 0) == expected[i].args[0] && iou_op_arg(i, 1) == expected[i].args[1]);
    CHECK(iou_op_arg(i, 2) == IOU_ARG_NONE);
    CHECK((expected[i].memory == IOU_MEMORY_ARGS) == (expected[i].args[0] != IOU_ARG_NONE)); /* the table itself */
    CHECK(iou_op_moves_data(i) == (expected[i].memory == IOU_MEMORY_DATA));
    CHECK(iou_op_class(i) == expected[i].op_class);
  }
  CHECK(iou_op_syscall(IOU_OP_COUNT) == NULL && !iou_op_moves_data(IOU_OP_COUNT));
  CHECK(iou_op_memory(IOU_OP_COUNT) == IOU_MEMORY_NONE && iou_op_arg(IOU_OP_COUNT, 0) == IOU_ARG_NONE);
  CHECK(iou_op_syscall(UINT32_MAX) == NULL && !iou_op_moves_data(UINT32_MAX));
  CHECK(iou_op_class(IOU_OP_COUNT) == 0);

  /* Only RECV_MANY and ACCEPT_MANY are multishot. */
  struct iou__request r;
  for (uint32_t i = 0; i < IOU_OP_COUNT; i++) {
    struct iou_request q = t_req((uint8_t)i, 1, 1);
    q.len = 1;
    (void)iou__request_init(&r, &q, IOU_CLASS_ALL);
    CHECK(iou__request_multishot(&r) == (i == IOU_OP_RECV_MANY || i == IOU_OP_ACCEPT_MANY));
    iou__request_release(&r);
  }
  struct iou_request past = t_req(IOU_OP_COUNT, 1, 1);
  CHECK(iou__request_init(&r, &past, IOU_CLASS_ALL) && r.outcome == IOU_OUTCOME_ERROR && r.result == -EINVAL);
  return T_EXIT_PASS;
}
