/*
 * probe.c: preflight. Tells, without keeping anything open, whether io_uring can be used here and
 * why not: kernel release, kernel.io_uring_disabled, the errno of io_uring_setup, whether
 * SINGLE_ISSUER | DEFER_TASKRUN and COOP_TASKRUN | TASKRUN_FLAG are accepted, and which opcodes IORING_REGISTER_PROBE
 * reports. Every ring it creates is closed before it returns. Callable from any thread.
 */
#include "iou.h"

#include "compat.h"

#include <errno.h>
#include <linux/io_uring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

static int setup(unsigned entries, unsigned flags, struct io_uring_params *params) {
  memset(params, 0, sizeof(*params));
  params->flags = flags;
  int fd = (int)syscall(__NR_io_uring_setup, entries, params);
  return fd < 0 ? -errno : fd;
}

static int read_disabled_sysctl(void) {
  FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "r"); /* Linux 6.6+ */
  if (f == NULL) return -1;
  int value = -1;
  if (fscanf(f, "%d", &value) != 1) value = -1;
  fclose(f);
  return value;
}

static void probe_opcodes(int ring_fd, struct iou_probe *out) {
  size_t len = sizeof(struct io_uring_probe) + IOU_PROBE_MAX_OPCODES * sizeof(struct io_uring_probe_op);
  struct io_uring_probe *p = calloc(1, len);
  if (p == NULL) return;
  /* IORING_REGISTER_PROBE: Linux 5.6. */
  if (syscall(__NR_io_uring_register, ring_fd, IORING_REGISTER_PROBE, p, IOU_PROBE_MAX_OPCODES) == 0) {
    unsigned n = p->ops_len < IOU_PROBE_MAX_OPCODES ? p->ops_len : IOU_PROBE_MAX_OPCODES;
    out->opcode_count = (uint8_t)n;
    for (unsigned i = 0; i < n; i++) out->opcode_supported[i] = (p->ops[i].flags & IO_URING_OP_SUPPORTED) != 0;
  }
  free(p);
}

void iou_probe(struct iou_probe *out) {
  memset(out, 0, sizeof(*out));
  struct utsname u;
  if (uname(&u) == 0) snprintf(out->kernel, sizeof(out->kernel), "%s", u.release);
  out->io_uring_disabled = read_disabled_sysctl();

  struct io_uring_params params;
  int fd = setup(4, 0, &params);
  if (fd < 0) {
    out->setup_errno = -fd;
    return;
  }
  out->features = params.features;
  probe_opcodes(fd, out);
  close(fd);

  fd = setup(4, IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, &params);
  if (fd >= 0) {
    out->single_issuer = true;
    close(fd);
  }
  fd = setup(4, IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG, &params);
  if (fd >= 0) {
    out->coop_taskrun = true;
    close(fd);
  }
}
