/* Requests that finish before their deadline leave stale entries in their buckets. advance sweeps
 * the buckets the clock passed whether or not a live deadline is due, so while at least one live
 * deadline is always pending and none ever comes due (every request finishes before its deadline,
 * the steady state of a server with timeouts), the stale entries still go: memory stays bounded
 * instead of growing by one entry per request. */
#include "helpers.h"
#include "wheel.h"

/* Entries still in buckets whose tick the clock has passed: only stale ones can be there. */
static uint64_t stale_total(const struct iou__wheel *w) {
  uint64_t n = 0;
  for (uint32_t i = 0; i < w->slots; i++)
    for (uint32_t k = 0; k < w->buckets[i].len; k++) n += w->buckets[i].entries[k].tick <= w->current_tick;
  return n;
}

int main(void) {
  struct iou__wheel w;
  CHECK(iou__wheel_init(&w, 1 * T_MS, 100 * T_MS, 0) == 0); /* 128 slots */
  uint64_t live_id = 0, live_tick = 0;
  const uint32_t N = 100000;
  for (uint32_t i = 0; i < N; i++) {
    uint64_t now = (uint64_t)i * T_MS;
    int due = iou__wheel_advance(&w, now);
    CHECK(due >= 0);
    for (int k = 0; k < due; k++) CHECK(w.due[k].id != live_id); /* the live deadline never comes due */
    uint64_t tick = i + 50;                  /* a 50 ms deadline */
    CHECK(iou__wheel_schedule(&w, 1000 + i, tick) == 0);
    if (i > 0) iou__wheel_remove(&w, live_id, live_tick); /* the previous request finished early */
    live_id = 1000 + i;
    live_tick = tick;
  }
  uint64_t stale = stale_total(&w);
  /* Every entry whose tick the clock passed was swept. */
  CHECK(stale == 0);
  iou__wheel_free(&w);
  return T_EXIT_PASS;
}
