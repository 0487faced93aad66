/*
 * sizeof.c: prints the sizes of the loop's per-request structures, for the README's "native
 * overhead per in-flight request". Build and run from the repo root:
 *   cc -Ipackages/native/include -Ipackages/native/csrc -o /tmp/iou-sizeof bench/tools/sizeof.c && /tmp/iou-sizeof
 */
#include <stdio.h>

#include "iou.h"
#include "channel.h"
#include "waiter.h"

int main(void) {
  printf("struct iou_request     %zu  (inbound queue entry, one per queue slot)\n", sizeof(struct iou_request));
  printf("struct iou__inbound_entry %zu  (inbound queue slot: size of them)\n", sizeof(struct iou__inbound_entry));
  printf("struct iou_completion  %zu  (completion record)\n", sizeof(struct iou_completion));
  printf("struct iou__request         %zu  (a request's progress, inside its waiter)\n", sizeof(struct iou__request));
  printf("struct iou__waiter     %zu  (one waiter slot per admitted request)\n", sizeof(struct iou__waiter));
  printf("struct iou__tag_slot   %zu  (tag -> waiter table entry)\n", sizeof(struct iou__tag_slot));
  printf("struct io_uring_sqe    %zu\n", sizeof(struct io_uring_sqe));
  printf("struct io_uring_cqe    %zu\n", sizeof(struct io_uring_cqe));
  printf("struct iou__vec        %zu + 16 per iovec  (vectored requests only, heap)\n", sizeof(struct iou__vec));
  /* Allocated once per unit of config.size when the loop opens (csrc/loop.c, waiter.c, channel.c):
   * inbound queue (size), waiters (size), free-id stack (size), tag table (2 * size), completion
   * queue (2 * size), ready queue (size ids), pending cancels (2 * size ids); kernel rings: one SQE and
   * its SQ index, two CQEs. */
  size_t loop = sizeof(struct iou__inbound_entry) + sizeof(struct iou__waiter) + sizeof(uint64_t) +
                2 * sizeof(struct iou__tag_slot) + 2 * sizeof(struct iou_completion) + sizeof(uint64_t) +
                2 * sizeof(uint64_t);
  size_t kernel = sizeof(struct io_uring_sqe) + sizeof(uint32_t) + 2 * sizeof(struct io_uring_cqe);
  printf("per slot of config.size: %zu bytes of loop memory + %zu bytes of kernel ring = %zu bytes\n", loop, kernel,
         loop + kernel);
  return 0;
}
