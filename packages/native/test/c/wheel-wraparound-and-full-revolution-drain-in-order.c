/* Deadlines across the wheel's wrap point and across bitset words come out in tick order of the
 * walked range; a jump of more than a whole revolution drains every bucket and keeps an entry parked
 * beyond the revolution for its own tick; removing the minimum recomputes it across the wrap. */
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
  /* More than a revolution (170 -> 300, 130 ticks): every bucket is walked (in slot order, not tick
   * order: each is due); 192 and 290 are due; 450, parked when scheduled (beyond 170 + 127), is not,
   * and comes at its tick. */
  CHECK(iou__wheel_schedule(&w, 5, 290) == 0);
  CHECK(iou__wheel_schedule(&w, 8, 450) == 0);
  CHECK(w.parked_len == 1);
  n = iou__wheel_advance(&w, 300);
  CHECK(n == 2 && w.due[0].id + w.due[1].id == 4 + 5 && w.due[0].id != w.due[1].id);
  iou__wheel_remove(&w, 4, 192);
  iou__wheel_remove(&w, 5, 290);
  CHECK(iou__wheel_next_tick(&w) == 450);
  CHECK(iou__wheel_advance(&w, 449) == 0);
  CHECK(iou__wheel_advance(&w, 450) == 1 && w.due[0].id == 8);
  iou__wheel_remove(&w, 8, 450);
  /* A jump far beyond one revolution drains what is left. */
  CHECK(iou__wheel_schedule(&w, 6, 460) == 0);
  CHECK(iou__wheel_schedule(&w, 7, 560) == 0);
  CHECK(w.parked_len == 0);
  n = iou__wheel_advance(&w, 10000);
  CHECK(n == 2);
  iou__wheel_remove(&w, 6, 460);
  iou__wheel_remove(&w, 7, 560);
  CHECK(!iou__wheel_has_deadlines(&w));
  iou__wheel_free(&w);
  return T_EXIT_PASS;
}
