/* The seed's adaptation, step by step, at a calibration of one iteration per µs (50 / 300 / 150):
 * a hit grows the budget by a quarter, a quick wake (a park shorter than quick_wake) by a half and
 * pulls the near-miss floor towards the park's length, a slow wake changes nothing, a miss lets
 * the floor decay by 1/16 and the budget by 1/8 down to max(floor, min). A spin that hits on the
 * k-th probe evaluates the probe exactly k times; a miss evaluates it `budget` times. */
#include "helpers.h"
#include "spinner.h"

struct probe {
  unsigned calls;
  unsigned hit_at; /* 0: never */
};

static bool count_probe(void *ctx) {
  struct probe *p = ctx;
  return ++p->calls == p->hit_at;
}

int main(void) {
  struct iou__spinner s;
  CHECK(iou__spinner_init(&s, 50, 300, 150, 1000) == 0);
  CHECK(s.min == 50 && s.max == 300 && s.budget == 50 && s.floor == 50);

  /* A hit on the 50th probe: exactly 50 evaluations, budget 50 -> 62. */
  struct probe p = {0, 50};
  CHECK(iou__spinner_spin(&s, count_probe, &p));
  CHECK(p.calls == 50);
  CHECK(s.budget == 62 && s.hits == 1);

  /* An immediate hit: one evaluation, 62 -> 77. */
  p = (struct probe){0, 1};
  CHECK(iou__spinner_spin(&s, count_probe, &p));
  CHECK(p.calls == 1 && s.budget == 77);

  /* A miss: the whole budget is probed; floor 50 -> 47, budget 77 -> 68 (above the floor). */
  p = (struct probe){0, 0};
  CHECK(!iou__spinner_spin(&s, count_probe, &p));
  CHECK(p.calls == 77);
  CHECK(s.misses == 1 && s.floor == 47 && s.budget == 68);

  /* A quick wake (30 µs park): budget 68 -> 102; floor (3*47 + 30) / 4 = 42. */
  iou__spinner_on_wake(&s, 30000);
  CHECK(s.budget == 102 && s.floor == 42);

  /* A quick wake of 140 µs raises the floor: (3*42 + 140) / 4 = 66. */
  iou__spinner_on_wake(&s, 140000);
  CHECK(s.budget == 153 && s.floor == 66);

  /* A slow wake (longer than quick_wake) changes nothing. */
  iou__spinner_on_wake(&s, 151000);
  CHECK(s.budget == 153 && s.floor == 66);

  /* Misses shrink the budget towards max(floor, min), and the floor decays with them. */
  uint64_t before = s.budget;
  iou__spinner_on_miss(&s);
  CHECK(s.budget < before && s.floor == 62);

  /* Calibration measures something and never returns 0. */
  p = (struct probe){0, 0};
  uint64_t per_ms = iou__spinner_calibrate(count_probe, &p, 1000);
  CHECK(per_ms > 0 && p.calls == 1000);
  return T_EXIT_PASS;
}
