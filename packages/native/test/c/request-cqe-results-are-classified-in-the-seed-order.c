/* EAGAIN and EINTR retry in any state; ECANCELED is a cancel only after one was requested; other
 * negatives are errors; then zero; then positive. */
#include <errno.h>

#include "helpers.h"
#include "request.h"

int main(void) {
  /* Both states for each (EWOULDBLOCK is EAGAIN on Linux). */
  CHECK(iou__cqe_classify(-EAGAIN, false) == IOU_CQE_RETRY);
  CHECK(iou__cqe_classify(-EAGAIN, true) == IOU_CQE_RETRY);
  CHECK(iou__cqe_classify(-EWOULDBLOCK, true) == IOU_CQE_RETRY);
  CHECK(iou__cqe_classify(-EINTR, false) == IOU_CQE_RETRY);
  CHECK(iou__cqe_classify(-EINTR, true) == IOU_CQE_RETRY);
  CHECK(iou__cqe_classify(-ECANCELED, true) == IOU_CQE_CANCELLED);
  CHECK(iou__cqe_classify(-ECANCELED, false) == IOU_CQE_ERROR);
  CHECK(iou__cqe_classify(-EINVAL, false) == IOU_CQE_ERROR);
  CHECK(iou__cqe_classify(-ETIMEDOUT, true) == IOU_CQE_ERROR);
  CHECK(iou__cqe_classify(0, false) == IOU_CQE_ZERO);
  CHECK(iou__cqe_classify(1, false) == IOU_CQE_POSITIVE);
  return T_EXIT_PASS;
}
