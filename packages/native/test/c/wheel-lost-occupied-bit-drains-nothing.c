/* The other corruption of the occupied bitset, a lost bit (a bucket holding a live entry whose bit
 * is clear), is not detected: advance walks the occupied bits only, so that bucket is skipped and
 * its entry is not returned, without touching memory outside the wheel (the seed's
 * test_advance_returns_none_when_due_scan_finds_no_occupied_slots). The entry stays tracked: once
 * the bit is back, the next advance past its slot returns it. */
#include "helpers.h"
#include "wheel.h"

int main(void) {
  struct iou__wheel w;
  CHECK(iou__wheel_init(&w, T_MS, 10 * T_MS, 0) == 0);
  CHECK(w.slots == 16);
  CHECK(iou__wheel_schedule(&w, 1, 3) == 0);
  CHECK(w.occupied[0] == 1ull << 3);
  w.occupied[0] = 0;                            /* the bit is lost */
  CHECK(iou__wheel_advance(&w, 4 * T_MS) == 0); /* the range walk skips bucket 3 */
  CHECK(w.buckets[3].len == 1 && w.active == 1);
  w.occupied[0] = 0;
  CHECK(iou__wheel_advance(&w, 100 * T_MS) == 0); /* so does the drain of a whole revolution */
  CHECK(w.buckets[3].len == 1 && w.active == 1);
  w.occupied[0] = 1ull << 3;                      /* restored */
  CHECK(iou__wheel_advance(&w, 101 * T_MS) == 0); /* bucket 3 is not in (100, 101] */
  CHECK(iou__wheel_advance(&w, 200 * T_MS) == 1); /* a whole revolution: every occupied bucket */
  CHECK(w.due[0].id == 1 && w.due[0].tick == 3);
  iou__wheel_remove(&w, 1, 3);
  CHECK(!iou__wheel_has_deadlines(&w));
  iou__wheel_free(&w);
  return T_EXIT_PASS;
}
