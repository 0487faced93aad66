/*
 * spinner.h: the adaptive idle spin (the seed's spinner.rs). Before the loop thread parks on the
 * futex word with nothing in flight, it busy-polls "is work published?" for a budget of
 * iterations, because a futex park and the owner's FUTEX_WAKE cost a cross-CPU wake-up (bench/README.md
 * has its cost) when the next request was only a few µs away.
 *
 * Plain data, no syscalls and no clock: the caller measures time. The budget is kept in
 * iterations of {probe, CPU pause hint}; iou__spinner_calibrate converts µs to iterations once.
 *   hit (the probe said yes):  budget += budget/4, at most max
 *   miss (budget exhausted):   floor -= floor/16; budget = max(budget - budget/8, floor, min)
 *   on_wake(parked ns):        a park shorter than quick_wake means the spin gave up too early:
 *                              budget += budget/2 (at most max); floor moves a quarter of the way
 *                              towards the park's length in iterations (at most max)
 * Invariant (budget > 0): min <= budget <= max. A budget of 0 (min 0) disables spinning for good.
 */
#ifndef IOU_SPINNER_H
#define IOU_SPINNER_H

#include <stdbool.h>
#include <stdint.h>

struct iou__spinner {
  uint64_t iters_per_ms;  /* calibrated cost of one iteration, as iterations per millisecond */
  uint64_t min;           /* iterations: the configured budget, also the lowest */
  uint64_t max;           /* iterations */
  uint64_t budget;        /* iterations the next spin may run; 0 = disabled */
  uint64_t floor;         /* iterations: recent quick parks' length, decays on misses */
  uint64_t quick_wake_ns; /* a park at most this long grows the budget */
  uint64_t hits, misses;  /* statistics (tests, tuning) */
};

/* Any thread: the probe's "true" ends a spin early. */
typedef bool (*iou__spin_probe_fn)(void *ctx);

/* CPU pause hint: tells an x86 core (and its SMT sibling) that this is a spin-wait loop. */
static inline void iou__spin_hint(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield" ::: "memory");
#else
  __asm__ __volatile__("" ::: "memory");
#endif
}

/* Iterations of {probe, pause} per millisecond, measured over `iterations` runs (the seed's
 * calibration; reads CLOCK_MONOTONIC twice). Never 0. */
uint64_t iou__spinner_calibrate(iou__spin_probe_fn probe, void *ctx, uint32_t iterations);

/* budget_us 0 disables. Returns -EINVAL when budget_us > max_budget_us. */
int iou__spinner_init(struct iou__spinner *s, uint32_t budget_us, uint32_t max_budget_us, uint32_t quick_wake_us,
                      uint64_t iters_per_ms);

/* Polls probe up to `budget` times with a pause hint between; adapts; true on a hit. */
bool iou__spinner_spin(struct iou__spinner *s, iou__spin_probe_fn probe, void *ctx);

/* The adaptation steps alone (spin calls the first two). */
void iou__spinner_on_hit(struct iou__spinner *s);
void iou__spinner_on_miss(struct iou__spinner *s);
/* After a park that really slept for parked_ns. */
void iou__spinner_on_wake(struct iou__spinner *s, uint64_t parked_ns);

#endif /* IOU_SPINNER_H */
