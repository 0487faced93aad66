/* Inline engine, both wake modes: the publishes between two host-loop callbacks run at most
 * IOU_INLINE_PUBLISH_PASSES passes. Up to that many, a NOP is complete when the publish that ends
 * its turn returns (its pass ran and delivered it), as when each completion's callback publishes the
 * next request at once; the publish after them runs no pass: its NOP waits, and the host loop is
 * told to call (the eventfd readable, or with the ring fd a pass due at once), so that its timers
 * and other I/O run first. That call completes the NOP and gives publishes their passes back. */
#include <poll.h>
#include <unistd.h>

#include "helpers.h"
#include "loop.h"

static bool readable(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  return poll(&p, 1, 0) > 0 && (p.revents & POLLIN) != 0;
}

static void check_mode(uint8_t mode) {
  struct t_loop *t = t_open_inline(mode, true, 8);
  CHECK(iou_loop_inline_wake(t->loop) == mode);
  uint64_t tag = 1;
  for (int round = 0; round < 2; round++) {
    for (uint32_t i = 0; i < IOU_INLINE_PUBLISH_PASSES; i++, tag++) {
      struct iou_request r = t_req(IOU_OP_NOP, -1, tag);
      t_submit(t, &r); /* iou_loop_submit + iou_loop_publish */
      CHECK(t_has(t, tag));
    }
    struct iou_request r = t_req(IOU_OP_NOP, -1, tag);
    t_submit(t, &r);
    CHECK(!t_has(t, tag)); /* no pass: it waits for the host loop */
    if (mode == IOU_INLINE_WAKE_RINGFD)
      CHECK(iou_loop_timeout_ns(t->loop) == 0);
    else
      CHECK(readable(iou_loop_fd(t->loop)));
    struct iou_completion c = t_expect(t, tag, 5000); /* the host loop's callback runs the pass */
    CHECK(c.outcome == IOU_OUTCOME_OK);
    tag++;
  }
  t_close(t, -1);
}

int main(void) {
  check_mode(IOU_INLINE_WAKE_EVENTFD);
  check_mode(IOU_INLINE_WAKE_RINGFD);
  return T_EXIT_PASS;
}
