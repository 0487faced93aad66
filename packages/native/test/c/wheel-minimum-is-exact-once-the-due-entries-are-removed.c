/* Two entries come due in one advance and a third is parked. Recomputing the minimum while the
 * first is removed would scan forward and take the second (due, not yet removed) for a tick almost
 * a revolution ahead; once both are removed the minimum must be the parked tick, exactly.
 * (@iou/core TimeoutWheel.test.ts: "the earliest deadline is exact once the due entries are
 * removed: a due entry is never taken for a future tick") In this C wheel the first case alone
 * came out right even before the fix (`active` does not count parked entries, so the wrong tick was
 * dropped when the last bucketed entry went); the second, where the advance also promotes a parked
 * entry into the first due entry's slot, left the minimum in the past. */
#include "helpers.h"
#include "wheel.h"

int main(void) {
  struct iou__wheel w;
  CHECK(iou__wheel_init(&w, 1 * T_MS, 7 * T_MS, 0) == 0);
  CHECK(w.slots == 8);
  CHECK(iou__wheel_schedule(&w, 1, 5) == 0);
  CHECK(iou__wheel_schedule(&w, 2, 6) == 0);
  CHECK(iou__wheel_schedule(&w, 3, 20) == 0); /* parked */
  int n = iou__wheel_advance(&w, 6 * T_MS);
  CHECK(n == 2);
  CHECK(w.due[0].id == 1 && w.due[0].tick == 5);
  CHECK(w.due[1].id == 2 && w.due[1].tick == 6);
  iou__wheel_remove(&w, 1, 5);
  iou__wheel_remove(&w, 2, 6);
  CHECK(iou__wheel_next_tick(&w) == 20);
  CHECK(iou__wheel_tick_ns(&w, iou__wheel_next_tick(&w)) == 20 * T_MS);
  /* Nothing fires before 20; the parked entry does at 20. */
  CHECK(iou__wheel_advance(&w, 19 * T_MS) == 0);
  n = iou__wheel_advance(&w, 20 * T_MS);
  CHECK(n == 1 && w.due[0].id == 3);
  iou__wheel_remove(&w, 3, 20);
  CHECK(!iou__wheel_has_deadlines(&w));
  iou__wheel_free(&w);

  CHECK(iou__wheel_init(&w, 1 * T_MS, 7 * T_MS, 0) == 0);
  CHECK(iou__wheel_schedule(&w, 1, 5) == 0);
  CHECK(iou__wheel_schedule(&w, 2, 6) == 0);
  CHECK(iou__wheel_schedule(&w, 3, 13) == 0); /* parked; promoted into slot 5 by the advance to 6 */
  CHECK(iou__wheel_advance(&w, 6 * T_MS) == 2);
  iou__wheel_remove(&w, 1, 5);
  iou__wheel_remove(&w, 2, 6);
  CHECK(iou__wheel_next_tick(&w) == 13);
  CHECK(iou__wheel_advance(&w, 12 * T_MS) == 0);
  CHECK(iou__wheel_advance(&w, 13 * T_MS) == 1 && w.due[0].id == 3);
  iou__wheel_remove(&w, 3, 13);
  CHECK(iou__wheel_next_tick(&w) == IOU_WHEEL_NO_TICK);
  iou__wheel_free(&w);
  return T_EXIT_PASS;
}
