/* Deadlines across the wheel's wrap point and across bitset words come out in tick order of the
 * walked range; a jump of a whole revolution drains every due bucket but keeps entries that are
 * not yet due; removing the minimum recomputes it across the wrap. */
#include "helpers.h"
#include "wheel.h"

int main(void) {
  struct iou__wheel w;
  CHECK(iou__wheel_init(&w, 1, 127, 0) == 0); /* 128 slots: two bitset words */
  CHECK(w.slots == 128);
  CHECK(iou__wheel_advance(&w, 100) == 0);
  CHECK(iou__wheel_schedule(&w, 1, 127) == 0); /* slot 127 */
  CHECK(iou__wheel_schedule(&w, 2, 129) == 0); /* slot 1 (wrapped) */
  CHECK(iou__wheel_schedule(&w, 3, 163) == 0); /* slot 35 */
  CHECK(iou__wheel_schedule(&w, 4, 192) == 0); /* slot 64: second word */
  CHECK(iou__wheel_next_tick(&w) == 127);
  iou__wheel_remove(&w, 1, 127);
  CHECK(iou__wheel_next_tick(&w) == 129);
  iou__wheel_remove(&w, 2, 129);
  CHECK(iou__wheel_next_tick(&w) == 163);
  CHECK(iou__wheel_schedule(&w, 2, 130) == 0);
  int n = iou__wheel_advance(&w, 170);
  CHECK(n == 4); /* stale 127, stale 129, live 130, live 163 in walk order */
  CHECK(w.due[0].tick == 127 && w.due[1].tick == 129 && w.due[2].tick == 130 && w.due[3].tick == 163);
  iou__wheel_remove(&w, 2, 130);
  iou__wheel_remove(&w, 3, 163);
  CHECK(iou__wheel_next_tick(&w) == 192);
  /* Full revolution: 192 is due, 300 (scheduled after) is not. */
  CHECK(iou__wheel_schedule(&w, 5, 290) == 0);
  n = iou__wheel_advance(&w, 289);
  CHECK(n == 1 && w.due[0].id == 4);
  iou__wheel_remove(&w, 4, 192);
  CHECK(iou__wheel_next_tick(&w) == 290);
  CHECK(iou__wheel_advance(&w, 290) == 1 && w.due[0].id == 5);
  iou__wheel_remove(&w, 5, 290);
  /* A jump far beyond one revolution with an entry still in the future of the jump. */
  CHECK(iou__wheel_schedule(&w, 6, 300) == 0);
  CHECK(iou__wheel_schedule(&w, 7, 400) == 0);
  CHECK(w.parked_len == 0);
  n = iou__wheel_advance(&w, 10000);
  CHECK(n == 2);
  iou__wheel_remove(&w, 6, 300);
  iou__wheel_remove(&w, 7, 400);
  CHECK(!iou__wheel_has_deadlines(&w));
  iou__wheel_free(&w);
  return T_EXIT_PASS;
}
