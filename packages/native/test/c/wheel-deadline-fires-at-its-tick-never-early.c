/* Tick math: the wheel size is next_pow2(ceil(horizon / tick) + 1) (60 s / 5 ms -> 16384, 1 ns ->
 * 2); a deadline's tick is ceil((deadline - start) / tick); a deadline not after the current tick
 * is expired (0); an entry is returned only once floor(now / tick) reaches its tick; next_tick
 * follows schedule, advance and remove. */
#include "helpers.h"
#include "wheel.h"

int main(void) {
  struct iou__wheel w;
  CHECK(iou__wheel_init(&w, 5 * T_MS, 60000 * T_MS, 0) == 0);
  CHECK(w.slots == 16384);
  iou__wheel_free(&w);
  CHECK(iou__wheel_init(&w, 1, 1, 0) == 0);
  CHECK(w.slots == 2);
  iou__wheel_free(&w);
  CHECK(iou__wheel_init(&w, 0, 1, 0) != 0);
  CHECK(iou__wheel_init(&w, 1, 0, 0) != 0);

  const uint64_t start = 1000 * T_MS, tick = 5 * T_MS;
  CHECK(iou__wheel_init(&w, tick, 1000 * T_MS, start) == 0);
  CHECK(iou__wheel_target_tick(&w, start) == 0);     /* now: expired */
  CHECK(iou__wheel_target_tick(&w, start - 1) == 0); /* before the epoch */
  CHECK(iou__wheel_target_tick(&w, start + 1) == 1); /* ceil */
  CHECK(iou__wheel_target_tick(&w, start + 10 * T_MS) == 2);
  CHECK(iou__wheel_target_tick(&w, start + 11 * T_MS) == 3);
  CHECK(iou__wheel_schedule(&w, 1, 3) == 0);
  CHECK(iou__wheel_schedule(&w, 2, 2) == 0);
  CHECK(iou__wheel_next_tick(&w) == 2);
  CHECK(iou__wheel_advance(&w, start + 9 * T_MS) == 0); /* floor 1 */
  CHECK(iou__wheel_advance(&w, start + 10 * T_MS) == 1);
  CHECK(w.due[0].id == 2);
  iou__wheel_remove(&w, 2, 2);
  CHECK(iou__wheel_next_tick(&w) == 3);
  CHECK(iou__wheel_advance(&w, start + 14 * T_MS) == 0);
  CHECK(iou__wheel_advance(&w, start + 15 * T_MS) == 1 && w.due[0].id == 1);
  iou__wheel_remove(&w, 1, 3);
  CHECK(iou__wheel_next_tick(&w) == IOU_WHEEL_NO_TICK);
  /* After advancing to tick 7, a deadline 12 ms later is tick ceil((35 + 12) / 5) = 10. */
  CHECK(iou__wheel_advance(&w, start + 35 * T_MS) == 0);
  CHECK(w.current_tick == 7);
  CHECK(iou__wheel_target_tick(&w, start + 47 * T_MS) == 10);
  CHECK(iou__wheel_target_tick(&w, start + 35 * T_MS) == 0);

  /* Many entries in one bucket come out in insertion order; stale ones come out too. */
  for (uint64_t i = 0; i < 5; i++) CHECK(iou__wheel_schedule(&w, 100 + i, 20) == 0);
  iou__wheel_remove(&w, 102, 20); /* becomes stale, still returned */
  CHECK(iou__wheel_advance(&w, start + 100 * T_MS) == 5);
  for (uint64_t i = 0; i < 5; i++) CHECK(w.due[i].id == 100 + i);
  for (uint64_t i = 0; i < 5; i++)
    if (i != 2) iou__wheel_remove(&w, 100 + i, 20);
  CHECK(!iou__wheel_has_deadlines(&w));
  iou__wheel_free(&w);
  return T_EXIT_PASS;
}
