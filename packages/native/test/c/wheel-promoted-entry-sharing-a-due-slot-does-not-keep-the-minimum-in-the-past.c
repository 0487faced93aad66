/* A parked entry promoted into the slot of an entry that advance just returned: removing the due
 * entry must not keep the minimum at its (past) tick because the slot still counts the promoted one.
 * A minimum in the past makes the loop's wait timeout 0 until the promoted deadline: a spin.
 * (@iou/core TimeoutWheel.test.ts: "a parked entry promoted into the slot of a due entry does not
 * keep the minimum in the past") */
#include "helpers.h"
#include "wheel.h"

int main(void) {
  struct iou__wheel w;
  CHECK(iou__wheel_init(&w, 1 * T_MS, 1 * T_MS, 0) == 0);
  CHECK(w.slots == 2);
  CHECK(iou__wheel_schedule(&w, 1, 1) == 0);
  CHECK(iou__wheel_schedule(&w, 2, 37) == 0); /* parked: 37 ticks ahead of 2 slots */
  int n = iou__wheel_advance(&w, 36 * T_MS);
  CHECK(n == 1);
  CHECK(w.due[0].id == 1 && w.due[0].tick == 1);
  iou__wheel_remove(&w, 1, 1); /* 37 now shares slot 1 */
  CHECK(iou__wheel_next_tick(&w) == 37);
  CHECK(iou__wheel_advance(&w, 36 * T_MS + T_MS / 2) == 0);
  n = iou__wheel_advance(&w, 37 * T_MS);
  CHECK(n == 1 && w.due[0].id == 2 && w.due[0].tick == 37);
  iou__wheel_remove(&w, 2, 37);
  CHECK(iou__wheel_next_tick(&w) == IOU_WHEEL_NO_TICK);
  iou__wheel_free(&w);
  return T_EXIT_PASS;
}
