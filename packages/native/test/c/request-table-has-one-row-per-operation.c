/* Every IOU_OP_* below IOU_OP_COUNT has its row in request.c's table: a syscall name (the one
 * @iou/core's Operations gives its errors), whether it moves data (what the binding reads to
 * decide whether a request carries buffers) and its class (the loops that accept it). The first op past the table has
 * neither and ends ERROR -EINVAL at admission. */
#include <errno.h>
#include <string.h>

#include "helpers.h"
#include "request.h"

int main(void) {
  static const struct {
    uint32_t op;
    const char *syscall;
    bool moves_data;
    uint8_t op_class;
  } expected[] = {
      {IOU_OP_NOP, "nop", false, IOU_CLASS_ALL},         {IOU_OP_READ_AT, "read", true, IOU_CLASS_FILES},
      {IOU_OP_WRITE_AT, "write", true, IOU_CLASS_FILES}, {IOU_OP_SEND, "send", true, IOU_CLASS_SOCKETS},
      {IOU_OP_RECV, "recv", true, IOU_CLASS_SOCKETS},    {IOU_OP_SYNC, "fsync", false, IOU_CLASS_FILES},
  };
  CHECK(sizeof(expected) / sizeof(expected[0]) == IOU_OP_COUNT);
  for (uint32_t i = 0; i < IOU_OP_COUNT; i++) {
    CHECK(expected[i].op == i);
    CHECK(iou_op_syscall(i) != NULL && strcmp(iou_op_syscall(i), expected[i].syscall) == 0);
    CHECK(iou_op_moves_data(i) == expected[i].moves_data);
    CHECK(iou_op_class(i) == expected[i].op_class);
  }
  CHECK(iou_op_syscall(IOU_OP_COUNT) == NULL && !iou_op_moves_data(IOU_OP_COUNT));
  CHECK(iou_op_syscall(UINT32_MAX) == NULL && !iou_op_moves_data(UINT32_MAX));
  CHECK(iou_op_class(IOU_OP_COUNT) == 0);

  struct iou__request r;
  struct iou_request past = t_req(IOU_OP_COUNT, 1, 1);
  CHECK(iou__request_init(&r, &past, IOU_CLASS_ALL) && r.outcome == IOU_OUTCOME_ERROR && r.result == -EINVAL);
  return T_EXIT_PASS;
}
