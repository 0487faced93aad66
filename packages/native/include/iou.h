/*
 * iou.h: the C API of the io_uring event loop (`iou_` prefix), used by the Node-API binding and by
 * the C tests. Functions return 0 (or a count) on success and -errno on failure.
 */
#ifndef IOU_H
#define IOU_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Preflight ----------------------------------------------------------------------------- */

#define IOU_PROBE_MAX_OPCODES 64

/* What probe() learns about this kernel without keeping anything open. */
struct iou_probe {
  char kernel[65];          /* uname release */
  int io_uring_disabled;    /* kernel.io_uring_disabled (0, 1, 2), -1 when the sysctl is absent */
  int setup_errno;          /* 0, or the errno of a plain io_uring_setup (ENOSYS, EPERM, ENOMEM…) */
  bool single_issuer;       /* SINGLE_ISSUER | DEFER_TASKRUN accepted (Linux 6.1+) */
  uint32_t features;        /* io_uring_params.features of the plain ring */
  uint8_t opcode_count;     /* entries of opcodes[] that are valid */
  bool opcode_supported[IOU_PROBE_MAX_OPCODES]; /* IORING_REGISTER_PROBE, indexed by IORING_OP_* */
};

/* Fills `out`; never fails (errors are reported inside `out`). Any thread. */
void iou_probe(struct iou_probe *out);

#ifdef __cplusplus
}
#endif

#endif /* IOU_H */
