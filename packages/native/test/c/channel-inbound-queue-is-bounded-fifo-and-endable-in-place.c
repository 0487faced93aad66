/* The inbound queue takes at most its capacity, hands entries out in order, reuses slots the
 * consumer gave back, and lets the consumer mark a queued tag ended in place; the cancel
 * queue gives tags back oldest first; the completion queue spills into its overflow list and
 * moves it back in order as the owner frees room, asking for a wake when it waits for room. */
#include "channel.h"
#include "helpers.h"

int main(void) {
  struct iou__inbound q;
  CHECK(iou__inbound_init(&q, 4) == 0);
  struct iou_request reqs[6];
  for (int i = 0; i < 6; i++) reqs[i] = t_req(IOU_OP_NOP, -1, 10 + (uint64_t)i);
  CHECK(iou__inbound_push(&q, reqs, 6) == 4);
  CHECK(iou__inbound_push(&q, reqs, 1) == 0);
  CHECK(iou__inbound_mark_ended(&q, 12));
  CHECK(!iou__inbound_mark_ended(&q, 12)); /* once */
  CHECK(!iou__inbound_mark_ended(&q, 99));
  for (int i = 0; i < 2; i++) {
    struct iou__inbound_entry *e = iou__inbound_peek(&q);
    CHECK(e != NULL && e->request.tag == 10 + (uint64_t)i && !e->ended);
    iou__inbound_pop(&q);
  }
  CHECK(iou__inbound_push(&q, reqs + 4, 2) == 2);
  uint64_t want[] = {12, 13, 14, 15};
  for (int i = 0; i < 4; i++) {
    struct iou__inbound_entry *e = iou__inbound_peek(&q);
    CHECK(e != NULL && e->request.tag == want[i] && e->ended == (i == 0));
    iou__inbound_pop(&q);
  }
  CHECK(iou__inbound_peek(&q) == NULL);
  iou__inbound_free(&q);

  struct iou__cancels cq;
  atomic_init(&cq.top, NULL);
  for (uint64_t i = 0; i < 5; i++) CHECK(iou__cancels_push(&cq, i) == 0);
  struct iou__cancel_node *n = iou__cancels_take(&cq);
  for (uint64_t i = 0; i < 5; i++) {
    CHECK(n != NULL && n->tag == i);
    struct iou__cancel_node *next = n->next;
    free(n);
    n = next;
  }
  CHECK(n == NULL && iou__cancels_take(&cq) == NULL);
  CHECK(iou__cancels_push(&cq, 7) == 0);
  iou__cancels_free(&cq);

  struct iou__completions c;
  CHECK(iou__completions_init(&c, 4) == 0);
  int overflowed = 0;
  for (uint64_t i = 0; i < 10; i++) {
    struct iou_completion x = {.tag = i, .result = (int32_t)i, .outcome = IOU_OUTCOME_OK};
    overflowed += iou__completions_add(&c, &x);
  }
  CHECK(overflowed == 6);
  CHECK(iou__completions_flush(&c) == 4);
  CHECK(iou__completions_overflowing(&c) == 6 && atomic_load(&c.want_room));
  struct iou_completion out[10];
  bool wake = false;
  uint32_t got = iou__completions_poll(&c, out, 3, false, &wake);
  CHECK(got == 3 && wake);
  CHECK(iou__completions_flush(&c) == 3);
  got += iou__completions_poll(&c, out + got, 10, false, &wake);
  CHECK(got == 7 && wake); /* the flush asked again: 3 still overflowed */
  CHECK(iou__completions_flush(&c) == 3 && iou__completions_overflowing(&c) == 0);
  CHECK(!atomic_load(&c.want_room));
  got += iou__completions_poll(&c, out + got, 10, false, &wake);
  CHECK(got == 10 && !wake); /* nothing overflows: no wake asked for */
  for (uint64_t i = 0; i < 10; i++) CHECK(out[i].tag == i);
  /* After the loop exited, the owner takes the overflow list directly. */
  for (uint64_t i = 0; i < 6; i++) {
    struct iou_completion x = {.tag = 100 + i};
    iou__completions_add(&c, &x);
  }
  iou__completions_flush(&c);
  got = iou__completions_poll(&c, out, 10, true, &wake);
  CHECK(got == 6);
  for (uint64_t i = 0; i < 6; i++) CHECK(out[i].tag == 100 + i);
  iou__completions_free(&c);
  return T_EXIT_PASS;
}
