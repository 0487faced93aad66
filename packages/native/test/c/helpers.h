/* helpers.h: what every C test shares: the exit codes and a CHECK macro that names the failure. */
#ifndef IOU_TEST_HELPERS_H
#define IOU_TEST_HELPERS_H

#include <stdio.h>
#include <stdlib.h>

#define T_EXIT_PASS 0
#define T_EXIT_FAIL 1
#define T_EXIT_SKIP 77

#define CHECK(cond)                                                                  \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);       \
      exit(T_EXIT_FAIL);                                                             \
    }                                                                                \
  } while (0)

/* Exits 77 with the reason when this kernel refuses io_uring. */
void t_require_io_uring(void);

#endif
