/* helpers.c: shared by the C tests. */
#include "helpers.h"

#include <string.h>

#include "iou.h"

void t_require_io_uring(void) {
  struct iou_probe p;
  iou_probe(&p);
  if (p.setup_errno != 0) {
    printf("io_uring_setup refused: %s\n", strerror(p.setup_errno));
    exit(T_EXIT_SKIP);
  }
}
