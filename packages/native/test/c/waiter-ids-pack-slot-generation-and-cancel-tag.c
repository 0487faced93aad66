/* A WaiterId packs the slot in bits 0..31 and a 31-bit generation in bits 32..62; bit 63 marks
 * cancel SQEs; the generation wraps; UINT64_MAX (the wake poll) is no waiter of a real slab. */
#include "helpers.h"
#include "waiter.h"

int main(void) {
  uint64_t id = iou__waiter_id(7, 42);
  CHECK(iou__waiter_index(id) == 7);
  CHECK(iou__waiter_generation(id) == 42);
  CHECK(!iou__user_data_is_cancel(id));
  uint64_t c = iou__waiter_cancel_user_data(id);
  CHECK(iou__user_data_is_cancel(c));
  CHECK(iou__user_data_id(c) == id);
  /* The generation is masked to 31 bits and wraps to 0. */
  CHECK(iou__waiter_generation(iou__waiter_id(1, 0xffffffffu)) == 0x7fffffffu);
  CHECK(iou__waiter_generation(iou__waiter_id(1, 0x7fffffffu + 1)) == 0);
  CHECK(!iou__user_data_is_cancel(iou__waiter_id(IOU_MAX_RING_SIZE - 1, 0xffffffffu)));
  /* The wake poll's user_data decodes to a slot far beyond any slab. */
  CHECK(iou__waiter_index(iou__user_data_id(IOU_WAKE_USER_DATA)) >= IOU_MAX_RING_SIZE);
  return T_EXIT_PASS;
}
