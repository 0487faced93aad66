/*
 * compat.h: what every loop source shares: io_uring constants newer than the build machine's
 * <linux/io_uring.h> (each gate names the kernel that introduced it), and the loop's assertion.
 * An assertion failure is an invariant violation inside the loop: it prints what broke and aborts.
 */
#ifndef IOU_COMPAT_H
#define IOU_COMPAT_H

#include <linux/io_uring.h>
#include <stdint.h>

#ifndef IORING_SETUP_COOP_TASKRUN
#define IORING_SETUP_COOP_TASKRUN (1U << 8) /* Linux 5.19 */
#endif
#ifndef IORING_SETUP_TASKRUN_FLAG
#define IORING_SETUP_TASKRUN_FLAG (1U << 9) /* Linux 5.19 */
#endif
#ifndef IORING_SQ_TASKRUN
#define IORING_SQ_TASKRUN (1U << 2) /* Linux 5.19 */
#endif
#ifndef IORING_CQ_EVENTFD_DISABLED
#define IORING_CQ_EVENTFD_DISABLED (1U << 0) /* Linux 5.8 */
#endif
#ifndef IORING_SETUP_SINGLE_ISSUER
#define IORING_SETUP_SINGLE_ISSUER (1U << 12) /* Linux 6.0 */
#endif
#ifndef IORING_SETUP_DEFER_TASKRUN
#define IORING_SETUP_DEFER_TASKRUN (1U << 13) /* Linux 6.1 */
#endif
#ifndef IORING_FEAT_SINGLE_MMAP
#define IORING_FEAT_SINGLE_MMAP (1U << 0) /* Linux 5.4 */
#endif
#ifndef IORING_FEAT_EXT_ARG
#define IORING_FEAT_EXT_ARG (1U << 8) /* Linux 5.11 */
#endif
#ifndef IORING_ENTER_EXT_ARG
#define IORING_ENTER_EXT_ARG (1U << 3) /* Linux 5.11 */
#endif
#ifndef IORING_POLL_ADD_MULTI
#define IORING_POLL_ADD_MULTI (1U << 0) /* Linux 5.13 */
#endif
#ifndef IORING_ACCEPT_MULTISHOT
#define IORING_ACCEPT_MULTISHOT (1U << 0) /* Linux 5.19 */
#endif
#ifndef IORING_SQ_CQ_OVERFLOW
#define IORING_SQ_CQ_OVERFLOW (1U << 1) /* Linux 5.8 */
#endif
#ifndef IORING_CQE_F_MORE
#define IORING_CQE_F_MORE (1U << 1) /* Linux 5.13 */
#endif

/* Opcodes newer than some build machines' headers. They are enum io_uring_op values there, not
 * macros, so no #ifndef can see them: spelled by their number in that enum. */
#define IOU_IORING_OP_FTRUNCATE 55 /* Linux 6.9 */
#define IOU_IORING_OP_BIND 56      /* Linux 6.11 */
#define IOU_IORING_OP_LISTEN 57    /* Linux 6.11 */

/* The user_data of the eventfd wake poll; never a WaiterId (slot indices stay below 2^15). */
#define IOU_WAKE_USER_DATA UINT64_MAX

/* Kernel limit on ring entries without IORING_SETUP_CLAMP (IORING_MAX_ENTRIES). */
#define IOU_MAX_RING_SIZE 32768u

_Noreturn void iou__fatal(const char *file, int line, const char *what);
/* The same for a failed call: also prints the errno it got (err > 0, e.g. -r of a -errno return). */
_Noreturn void iou__fatal_errno(const char *file, int line, const char *what, int err);

/* cond must have no side effect: call first, then assert on the result. */
#define IOU_ASSERT(cond, what)                                              \
  do {                                                                      \
    if (__builtin_expect(!(cond), 0)) iou__fatal(__FILE__, __LINE__, what); \
  } while (0)

/* IOU_ASSERT for a call's result; err (evaluated only on failure) is the errno to print. */
#define IOU_ASSERT_ERRNO(cond, err, what)                                              \
  do {                                                                                 \
    if (__builtin_expect(!(cond), 0)) iou__fatal_errno(__FILE__, __LINE__, what, err); \
  } while (0)

/* CLOCK_MONOTONIC in nanoseconds (the clock of iou_request.deadline_ns). */
uint64_t iou__now_ns(void);

#endif /* IOU_COMPAT_H */
