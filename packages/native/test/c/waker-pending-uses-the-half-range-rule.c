/* pending(processed) is true iff the 29-bit sequence is ahead by 1 .. 2^28 - 1; lagging or exactly
 * half the domain is not pending; the sequence wraps from 2^29 - 1 to 0. */
#include "helpers.h"
#include "waker.h"

int main(void) {
  const uint32_t mask = IOU_WAKER_SUBMISSION_SEQ_MASK, half = IOU_WAKER_HALF_SUBMISSION_DOMAIN;
  CHECK(iou__waker_seq_ahead(1, 0));
  CHECK(!iou__waker_seq_ahead(0, 0));
  CHECK(!iou__waker_seq_ahead(0, 1)); /* lagging */
  CHECK(iou__waker_seq_ahead(half - 1, 0));
  CHECK(!iou__waker_seq_ahead(half, 0));
  CHECK(iou__waker_seq_ahead(0, mask)); /* wrap by one */
  struct iou__waker w;
  CHECK(iou__waker_init(&w) == 0);
  atomic_store(&w.state, mask << IOU_WAKER_SUBMISSION_SHIFT); /* sequence 2^29 - 1 */
  iou__waker_publish(&w, 1);
  CHECK(atomic_load(&w.state) >> IOU_WAKER_SUBMISSION_SHIFT == 0);
  CHECK(iou__waker_pending(&w, mask));
  iou__waker_publish(&w, 1);
  CHECK(atomic_load(&w.state) >> IOU_WAKER_SUBMISSION_SHIFT == 1);
  CHECK(!iou__waker_pending(&w, 1));
  iou__waker_destroy(&w);
  return T_EXIT_PASS;
}
