/* When a waiter finishes early its wheel entry goes stale; advance still returns it, but with its
 * own tick, so the caller can tell it from the live entry of the slot's next occupant (same
 * WaiterId in this wheel-level test) and only the live one is acted on. */
#include "helpers.h"
#include "wheel.h"

int main(void) {
  struct iou__wheel w;
  CHECK(iou__wheel_init(&w, 1 * T_MS, 100 * T_MS, 0) == 0);
  CHECK(iou__wheel_schedule(&w, 7, 2) == 0);
  iou__wheel_remove(&w, 7, 2);               /* finished before its deadline */
  CHECK(iou__wheel_schedule(&w, 7, 3) == 0); /* the next occupant */
  CHECK(iou__wheel_next_tick(&w) == 3);
  CHECK(iou__wheel_advance(&w, 1 * T_MS) == 0); /* nothing live is due: no drain */
  int n = iou__wheel_advance(&w, 3 * T_MS);
  CHECK(n == 2);
  CHECK(w.due[0].id == 7 && w.due[0].tick == 2); /* stale: its tick is not the live one */
  CHECK(w.due[1].id == 7 && w.due[1].tick == 3);
  iou__wheel_remove(&w, 7, 3);
  CHECK(!iou__wheel_has_deadlines(&w));
  /* With no live deadline left, advance purges stale entries. */
  CHECK(iou__wheel_schedule(&w, 8, 50) == 0);
  iou__wheel_remove(&w, 8, 50);
  CHECK(iou__wheel_advance(&w, 10 * T_MS) == 0);
  CHECK(w.occupied[0] == 0 && w.occupied[1] == 0);
  iou__wheel_free(&w);
  return T_EXIT_PASS;
}
