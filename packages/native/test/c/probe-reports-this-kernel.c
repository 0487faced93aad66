/* probe() reports the kernel release and, where io_uring works, the opcodes the loop needs. */
#include <linux/io_uring.h>
#include <string.h>

#include "helpers.h"
#include "iou.h"

int main(void) {
  struct iou_probe p;
  iou_probe(&p);
  CHECK(strlen(p.kernel) > 0);
  t_require_io_uring();
  CHECK(p.opcode_count > IORING_OP_RECV);
  CHECK(p.opcode_supported[IORING_OP_NOP]);
  CHECK(p.opcode_supported[IORING_OP_READ]);
  CHECK(p.opcode_supported[IORING_OP_ASYNC_CANCEL]);
  return T_EXIT_PASS;
}
