/* A deadline beyond the wheel's horizon is parked, not clamped to the horizon: it is not returned
 * by any advance before its own tick, it moves into the wheel as it comes into range, and it fires
 * at its tick; next_tick reports the real deadline. */
#include "helpers.h"
#include "wheel.h"

int main(void) {
  struct iou__wheel w;
  const uint64_t tick = 5 * T_MS;
  CHECK(iou__wheel_init(&w, tick, 50 * T_MS, 0) == 0); /* 11 ticks -> 16 slots */
  CHECK(w.slots == 16);
  uint64_t far = iou__wheel_target_tick(&w, 1000 * T_MS); /* tick 200, far past 16 slots */
  CHECK(far == 200);
  CHECK(iou__wheel_schedule(&w, 1, far) == 0);
  CHECK(w.parked_len == 1);
  CHECK(iou__wheel_next_tick(&w) == 200);
  /* Walk the clock in small and large steps; nothing fires early. */
  uint64_t steps[] = {3, 17, 60, 150, 185, 190, 199};
  for (unsigned i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
    CHECK(iou__wheel_advance(&w, steps[i] * tick) == 0);
    CHECK(iou__wheel_next_tick(&w) == 200);
  }
  CHECK(w.parked_len == 0); /* moved into the wheel by now */
  CHECK(iou__wheel_advance(&w, 200 * tick + 1) == 1);
  CHECK(w.due[0].id == 1 && w.due[0].tick == 200);
  iou__wheel_remove(&w, 1, 200);
  CHECK(iou__wheel_next_tick(&w) == IOU_WHEEL_NO_TICK);

  /* A parked deadline the clock jumps past fires in that advance. */
  CHECK(iou__wheel_schedule(&w, 2, 400) == 0);
  CHECK(iou__wheel_schedule(&w, 3, 205) == 0);
  CHECK(w.parked_len == 1);
  CHECK(iou__wheel_advance(&w, 1000 * tick) == 2);
  iou__wheel_remove(&w, w.due[0].id, w.due[0].tick);
  iou__wheel_remove(&w, w.due[1].id, w.due[1].tick);
  CHECK(!iou__wheel_has_deadlines(&w));

  /* Removing a parked deadline. */
  CHECK(iou__wheel_schedule(&w, 4, 5000) == 0);
  CHECK(iou__wheel_schedule(&w, 5, 6000) == 0);
  iou__wheel_remove(&w, 4, 5000);
  CHECK(iou__wheel_next_tick(&w) == 6000);
  iou__wheel_remove(&w, 5, 6000);
  CHECK(iou__wheel_next_tick(&w) == IOU_WHEEL_NO_TICK && !iou__wheel_has_deadlines(&w));
  iou__wheel_free(&w);
  return T_EXIT_PASS;
}
