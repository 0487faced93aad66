/*
 * spinner.c: the adaptive idle spin; see spinner.h for the rules. Loop thread only (one spinner
 * per loop, never shared), so nothing here is atomic; the probe does its own synchronisation.
 */
#include "spinner.h"

#include <errno.h>

#include "compat.h"

static uint64_t min_u64(uint64_t a, uint64_t b) {
  return a < b ? a : b;
}
static uint64_t max_u64(uint64_t a, uint64_t b) {
  return a > b ? a : b;
}

uint64_t iou__spinner_calibrate(iou__spin_probe_fn probe, void *ctx, uint32_t iterations) {
  uint64_t start = iou__now_ns();
  for (uint32_t i = 0; i < iterations; i++) {
    (void)probe(ctx); /* an indirect call: the compiler cannot drop it */
    iou__spin_hint();
  }
  uint64_t elapsed = max_u64(iou__now_ns() - start, 1);
  uint64_t per_ms = (uint64_t)iterations * 1000000u / elapsed;
  return max_u64(per_ms, 1);
}

int iou__spinner_init(struct iou__spinner *s, uint32_t budget_us, uint32_t max_budget_us, uint32_t quick_wake_us,
                      uint64_t iters_per_ms) {
  if (budget_us > max_budget_us || iters_per_ms == 0) return -EINVAL;
  s->iters_per_ms = iters_per_ms;
  s->min = (uint64_t)budget_us * iters_per_ms / 1000u;
  if (budget_us > 0 && s->min == 0) s->min = 1; /* a very slow probe still spins once */
  s->max = max_u64((uint64_t)max_budget_us * iters_per_ms / 1000u, s->min);
  s->budget = s->min;
  s->floor = s->min;
  s->quick_wake_ns = (uint64_t)quick_wake_us * 1000u;
  s->hits = 0;
  s->misses = 0;
  return 0;
}

void iou__spinner_on_hit(struct iou__spinner *s) {
  s->hits++;
  s->budget = min_u64(s->budget + s->budget / 4, s->max);
}

void iou__spinner_on_miss(struct iou__spinner *s) {
  s->misses++;
  s->floor -= s->floor / 16;
  s->budget = max_u64(s->budget - s->budget / 8, max_u64(s->floor, s->min));
}

void iou__spinner_on_wake(struct iou__spinner *s, uint64_t parked_ns) {
  if (s->budget == 0 || parked_ns > s->quick_wake_ns) return; /* disabled, or a real idle period */
  s->budget = min_u64(s->budget + s->budget / 2, s->max);
  uint64_t park_iters = parked_ns * s->iters_per_ms / 1000000u;
  s->floor = min_u64((3 * s->floor + park_iters) / 4, s->max);
}

bool iou__spinner_spin(struct iou__spinner *s, iou__spin_probe_fn probe, void *ctx) {
  if (s->budget == 0) return false; /* disabled: no adaptation either */
  for (uint64_t i = 0; i < s->budget; i++) {
    if (probe(ctx)) {
      iou__spinner_on_hit(s);
      return true;
    }
    iou__spin_hint();
  }
  iou__spinner_on_miss(s);
  return false;
}
