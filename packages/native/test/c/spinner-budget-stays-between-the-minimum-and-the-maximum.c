/* However many hits, quick wakes and misses, the budget stays in [min, max] and the near-miss
 * floor never exceeds max; budget_us > max_budget_us is refused; a budget of 0 never spins,
 * never evaluates the probe and never adapts, whatever happens. */
#include <errno.h>

#include "helpers.h"
#include "spinner.h"

static unsigned calls;
static bool never(void *ctx) {
  (void)ctx;
  calls++;
  return false;
}
static bool always(void *ctx) {
  (void)ctx;
  calls++;
  return true;
}

int main(void) {
  struct iou__spinner s;
  CHECK(iou__spinner_init(&s, 301, 300, 150, 1000) == -EINVAL);

  CHECK(iou__spinner_init(&s, 50, 300, 150, 1000) == 0);
  for (int i = 0; i < 100; i++) {
    CHECK(iou__spinner_spin(&s, always, NULL));
    CHECK(s.budget >= s.min && s.budget <= s.max);
  }
  CHECK(s.budget == 300);
  for (int i = 0; i < 100; i++) {
    iou__spinner_on_wake(&s, 1000000ull * 1000); /* a 1 s "park" is slow: ignored */
    iou__spinner_on_wake(&s, 150000);            /* quick: grows, floor towards 150 */
    CHECK(s.budget <= s.max && s.floor <= s.max);
  }
  CHECK(s.floor <= 150 && s.floor >= 140);
  for (int i = 0; i < 200; i++) {
    CHECK(!iou__spinner_spin(&s, never, NULL));
    CHECK(s.budget >= s.min && s.budget <= s.max && s.floor <= s.max);
  }
  CHECK(s.budget == 50); /* the floor decayed below min, so min holds it */

  /* A floor pulled beyond max by quick parks (budget 250 µs, quick wake 1000 µs) is clamped. */
  CHECK(iou__spinner_init(&s, 250, 300, 1000, 1000) == 0);
  for (int i = 0; i < 50; i++) iou__spinner_on_wake(&s, 900000);
  CHECK(s.floor == 300 && s.budget == 300);
  iou__spinner_on_miss(&s);
  CHECK(s.budget >= s.min && s.budget <= s.max);

  /* 0 disables: no probe, no adaptation. */
  CHECK(iou__spinner_init(&s, 0, 300, 150, 1000) == 0);
  calls = 0;
  CHECK(!iou__spinner_spin(&s, always, NULL));
  CHECK(!iou__spinner_spin(&s, never, NULL));
  iou__spinner_on_wake(&s, 1000);
  iou__spinner_on_hit(&s);
  iou__spinner_on_miss(&s);
  CHECK(calls == 0 && s.budget == 0);
  return T_EXIT_PASS;
}
