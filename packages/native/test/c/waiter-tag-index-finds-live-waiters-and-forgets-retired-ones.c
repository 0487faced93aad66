/* The tag index maps every live waiter's tag to its current WaiterId, survives many collisions
 * and deletions (backward shift), and forgets a tag once its waiter is retired. */
#include <string.h>

#include "helpers.h"
#include "waiter.h"

#define CAP 64

int main(void) {
  struct iou__waiters w;
  CHECK(iou__waiters_init(&w, CAP) == 0);
  uint64_t ids[CAP];
  bool live[CAP];
  uint64_t tags[CAP];
  memset(live, 0, sizeof(live));
  uint32_t seed = 12345;
  for (int round = 0; round < 20000; round++) {
    seed = seed * 1103515245u + 12345u;
    int k = (int)((seed >> 8) % CAP);
    uint64_t id;
    if (!live[k]) {
      /* Tags chosen to collide: multiples of a large power of two. */
      tags[k] = ((uint64_t)k << 40) | ((uint64_t)(round & 3) << 52);
      struct iou_request r = t_req(IOU_OP_NOP, -1, tags[k]);
      struct iou__request op;
      CHECK(!iou__request_init(&op, &r, IOU_CLASS_ALL));
      ids[k] = iou__waiters_insert(&w, &op, false, 0);
      live[k] = true;
    } else {
      struct io_uring_sqe sqe;
      struct iou_completion c;
      bool had;
      uint64_t tick;
      CHECK(iou__waiters_stage(&w, ids[k], &sqe, &c) == IOU_STAGE_SUBMIT);
      CHECK(iou__waiters_on_completion(&w, ids[k], 0, 0, &c, &had, &tick) == IOU_CQE_OUTCOME_COMPLETE);
      CHECK(c.tag == tags[k]);
      live[k] = false;
      CHECK(!iou__waiters_find_tag(&w, tags[k], &id));
    }
    for (int j = 0; j < CAP; j++) {
      if (!live[j]) continue;
      CHECK(iou__waiters_find_tag(&w, tags[j], &id));
      CHECK(id == ids[j]);
    }
  }
  iou__waiters_free(&w);
  return T_EXIT_PASS;
}
