/*
 * sizeof.c: prints the loop's native memory per waiter slot (config.max_in_flight) and per entry of
 * config.size, for the README's "native overhead per in-flight request", from what the loop itself
 * reports (include/iou.h) and the kernel's ring entries. Build and run from the repo root:
 *   cc -D_GNU_SOURCE -Ipackages/native/include -o /tmp/iou-sizeof bench/tools/sizeof.c \
 *      packages/native/csrc/*.c -pthread && /tmp/iou-sizeof
 */
#include <linux/io_uring.h>
#include <stdio.h>

#include "iou.h"

int main(void) {
  size_t slot = iou_loop_bytes_per_slot();
  size_t slot_kernel = 2 * sizeof(struct io_uring_cqe);
  size_t entry = iou_loop_bytes_per_entry();
  size_t entry_kernel = sizeof(struct io_uring_sqe) + sizeof(uint32_t);
  printf("struct iou_request     %zu  (one request as the owner submits it)\n", sizeof(struct iou_request));
  printf("struct iou_completion  %zu  (completion record)\n", sizeof(struct iou_completion));
  printf("per waiter slot (max_in_flight): %zu bytes of loop memory (resident once used) + %zu bytes of kernel CQ\n",
         slot, slot_kernel);
  printf("per entry of config.size: %zu bytes of loop memory + %zu bytes of kernel SQ\n", entry, entry_kernel);
  return 0;
}
