/*
 * iou.h: the C API of the io_uring event loop (`iou_` prefix), used by the Node-API binding and by
 * the C tests. Functions return 0 (or a count) on success and -errno on failure.
 */
#ifndef IOU_H
#define IOU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Preflight ----------------------------------------------------------------------------- */

#define IOU_PROBE_MAX_OPCODES 64

/* What probe() learns about this kernel without keeping anything open. */
struct iou_probe {
  char kernel[65];       /* uname release */
  int io_uring_disabled; /* kernel.io_uring_disabled (0, 1, 2), -1 when the sysctl is absent */
  int setup_errno;       /* 0, or the errno of a plain io_uring_setup (ENOSYS, EPERM, ENOMEM…) */
  bool single_issuer;    /* SINGLE_ISSUER | DEFER_TASKRUN accepted (Linux 6.1+): IOU_INLINE_WAKE_EVENTFD */
  bool coop_taskrun;     /* COOP_TASKRUN | TASKRUN_FLAG accepted (Linux 5.19+): IOU_INLINE_WAKE_RINGFD's ring */
  uint32_t features;     /* io_uring_params.features of the plain ring */
  uint8_t opcode_count;  /* entries of opcodes[] that are valid */
  bool opcode_supported[IOU_PROBE_MAX_OPCODES]; /* IORING_REGISTER_PROBE, indexed by IORING_OP_* */
};

/* Fills `out`; never fails (errors are reported inside `out`). Any thread. */
void iou_probe(struct iou_probe *out);

/* ---- The loop ------------------------------------------------------------------------------
 *
 * One loop = one dedicated thread that creates and owns one ring. Names follow @iou/core and the
 * seed: waiters, timeout wheel, ready queue, pending cancels, waker, drain.
 *
 * Threads: the "owner" is the one JS thread that opened the loop (the Driver's thread). Only the
 * owner calls iou_loop_submit, iou_loop_cancel, iou_loop_publish, iou_loop_publish_early,
 * iou_loop_poll_completions, iou_loop_close, iou_loop_stop and iou_loop_destroy (which join the
 * loop thread) and iou_loop_try_destroy; iou_loop_stats may be called from any thread. The loop
 * thread (named "iou-loop") calls `notify` and, when tracing, `trace`, and nothing else outside itself.
 */

struct iou_loop; /* opaque */

/* ---- Tracing (tests only) --------------------------------------------------------------------
 * One event per op CQE the loop handles (wake-poll and ASYNC_CANCEL CQEs are not traced): what the
 * request looked like before the CQE, the raw result and what the loop decided. The conformance
 * test replays these through @iou/core's Request.onCqe. Off (NULL) by default, and then it costs
 * one predictable branch per CQE. */

#define IOU_TRACE_CANCEL_NONE 0     /* no cancel requested */
#define IOU_TRACE_CANCEL_DEADLINE 1 /* its deadline passed (outcome TIMEOUT) */
#define IOU_TRACE_CANCEL_CALLER 2   /* iou_loop_cancel (outcome CANCELLED) */
#define IOU_TRACE_CANCEL_SHUTDOWN 3 /* the shutdown cutoff (outcome ABANDONED) */

#define IOU_TRACE_COMPLETE 0  /* the request ended: outcome and result below */
#define IOU_TRACE_REQUEUE 1   /* another op SQE (partial progress, -EINTR, or readiness after a poll) */
#define IOU_TRACE_POLL_WAIT 2 /* -EAGAIN: a one-shot POLL_ADD on the fd before the op again */
#define IOU_TRACE_MORE 3      /* a multishot op's CQE with IORING_CQE_F_MORE: a completion with IOU_COMPLETION_MORE */

struct iou_trace_event {
  uint64_t tag;
  uint32_t done;            /* bytes transferred before this CQE */
  uint32_t total;           /* bytes to transfer in all */
  int32_t res;              /* the raw CQE result */
  int32_t result;           /* the completion's result (IOU_TRACE_COMPLETE only) */
  uint32_t iov_count;       /* 0: single buffer */
  uint8_t op;               /* IOU_OP_* */
  uint8_t flags;            /* IOU_FLAG_* */
  uint8_t cancel;           /* IOU_TRACE_CANCEL_* */
  uint8_t poll;             /* 1: the CQE of the readiness POLL_ADD, not of the operation */
  uint8_t decision;         /* IOU_TRACE_* */
  uint8_t outcome;          /* IOU_OUTCOME_* (IOU_TRACE_COMPLETE only) */
  uint8_t more;             /* the CQE carried IORING_CQE_F_MORE */
  uint8_t completion_flags; /* the completion's IOU_COMPLETION_* flags (COMPLETE and MORE only) */
};

/* Called on the loop thread, synchronously, once per traced CQE; must not block for long. */
typedef void (*iou_trace_fn)(void *ctx, const struct iou_trace_event *event);

#define IOU_IDLE_SPIN_DEFAULT_US 50u
#define IOU_IDLE_SPIN_MAX_DEFAULT_US 300u
#define IOU_IDLE_SPIN_QUICK_WAKE_DEFAULT_US 150u

/* Who runs the loop's phases (iou_loop_config.engine). */
#define IOU_ENGINE_THREAD 0 /* a dedicated loop thread (named "iou-loop") creates the ring and runs them */
#define IOU_ENGINE_INLINE 1 /* the owner runs them on its own event loop: iou_loop_fd, iou_loop_run */

/* How the inline engine learns of work (iou_loop_config.inline_wake); the thread engine ignores it.
 * Either way the owner polls iou_loop_fd and arms a timer for iou_loop_timeout_ns. */
#define IOU_INLINE_WAKE_EVENTFD                                           \
  0 /* SINGLE_ISSUER | DEFER_TASKRUN ring (Linux 6.1); iou_loop_fd is its \
       registered eventfd: work is queued, a pass enters the ring to run it */
#define IOU_INLINE_WAKE_RINGFD                                                 \
  1 /* COOP_TASKRUN ring (Linux 5.19; a plain ring before): iou_loop_fd is the \
       ring fd itself, readable while its completion queue holds entries */

/* Operation classes: each operation belongs to one or both (its row in csrc/request.c's table), and a
 * loop accepts the classes of iou_loop_config.operations: a request of another class ends ERROR
 * -EACCES at admission, and the kernel ring is restricted (IORING_REGISTER_RESTRICTIONS) to the
 * opcodes of the accepted operations only. */
#define IOU_CLASS_FILES 1u   /* operations on files: read_at, write_at, sync */
#define IOU_CLASS_SOCKETS 2u /* operations on sockets: send, recv */
#define IOU_CLASS_ALL 3u

struct iou_loop_config {
  uint8_t engine;     /* IOU_ENGINE_*; 0 (THREAD) by default */
  uint8_t operations; /* IOU_CLASS_* bits the loop accepts; 0: IOU_CLASS_ALL */
  uint32_t size;      /* rounded up to a power of two in [1, 32768]: SQ entries and inbound queue capacity */
  /* Waiter capacity: requests in the loop at once (in the kernel, or parked between two SQEs), in
   * [1, IOU_MAX_IN_FLIGHT]; 0: `size` (the seed's sizing). The CQ gets twice as many entries
   * (IORING_SETUP_CQSIZE), at least twice `size`. Requests beyond it wait in the inbound queue. */
  uint32_t max_in_flight;
  /* Request SINGLE_ISSUER | DEFER_TASKRUN; on EINVAL (or false) a COOP_TASKRUN ring, then a plain one. */
  bool single_issuer;
  bool io_poll;                    /* IORING_SETUP_IOPOLL */
  uint64_t max_request_timeout_ns; /* timeout wheel horizon (> 0) */
  uint64_t timeout_wheel_tick_ns;  /* timeout wheel tick (> 0) */
  /* Adaptive idle spin (µs): with nothing in flight, the loop thread polls for new work before it
   * parks on the futex, starting at idle_spin_us (also the lowest budget; 0 = never spin), growing
   * on hits and on parks shorter than idle_spin_quick_wake_us, up to idle_spin_max_us. A max or
   * quick-wake of 0 takes the default; idle_spin_us > idle_spin_max_us is EINVAL. */
  uint32_t idle_spin_us;            /* IOU_IDLE_SPIN_DEFAULT_US is the seed's default; 0 = off */
  uint32_t idle_spin_max_us;        /* 0: IOU_IDLE_SPIN_MAX_DEFAULT_US */
  uint32_t idle_spin_quick_wake_us; /* 0: IOU_IDLE_SPIN_QUICK_WAKE_DEFAULT_US */
  /* Provided buffers for IOU_OP_RECV_MANY (a buffer ring, IORING_REGISTER_PBUF_RING, Linux 5.19):
   * recv_buffer_count buffers (a power of two in [1, 32768]; 0: none, and RECV_MANY ends ERROR
   * -ENOBUFS) of recv_buffer_size bytes each, buffer i at recv_buffers + i * recv_buffer_size. The
   * memory is the caller's and the kernel writes into it: keep it alive until iou_loop_stop or
   * iou_loop_destroy returns (forever if a RECV_MANY ended with IOU_COMPLETION_KERNEL_HELD). The ring starts empty:
   * the owner hands the buffers to the kernel with iou_loop_recv_buffers_return. */
  uint8_t *recv_buffers;
  uint32_t recv_buffer_count;
  uint32_t recv_buffer_size;
  bool wake_poll_oneshot; /* tests only: arm the wake poll one-shot, so every wake needs a re-arm */
  /* Inline engine: IOU_INLINE_WAKE_* asked for (the Driver asks for RINGFD unless configured
   * otherwise: some kernels signal EVENTFD's eventfd late). EVENTFD needs DEFER_TASKRUN: where the
   * kernel refuses it (before Linux 6.1), or single_issuer is false, the loop opens with RINGFD
   * instead (the fallback; iou_stats.inline_wake says which). Other values: EINVAL. */
  uint8_t inline_wake;
  iou_trace_fn trace; /* tests only: one event per op CQE; NULL (the default) traces nothing */
  void *trace_ctx;    /* passed to trace */
};

/* The largest iou_loop_config.max_in_flight: twice it is the kernel's largest CQ (IORING_MAX_CQ_ENTRIES). */
#define IOU_MAX_IN_FLIGHT 32768u

/* Called on the loop thread, at most once per loop iteration, after it has published one or more
 * completions (and once more when the thread is about to exit). Must not block; the binding
 * implements it with uv_async_send. */
typedef void (*iou_notify_fn)(void *ctx);

/* The most iovec entries one vectored request may carry (the kernel's limit for one call): the one
 * spelling of the limit, exported to the Driver by the addon. */
#define IOU_MAX_IOV 1024u

/* Operations (IOU_OP_*), as in @iou/core's Request and Operations. Each has one row in the table of
 * csrc/request.c (how its SQE is built, what a 0 result means, whether it moves data, its poll mask
 * on -EAGAIN, its syscall name); IOU_OP_COUNT is the number of rows. */
#define IOU_OP_NOP 0
#define IOU_OP_READ_AT 1  /* read / readv(fd, buf, len or iov, position) until everything is read or EOF */
#define IOU_OP_WRITE_AT 2 /* write / writev at position until everything is written */
#define IOU_OP_SEND 3     /* send / sendmsg with MSG_NOSIGNAL until everything is sent */
#define IOU_OP_RECV 4     /* recv into [buf, buf + len) */
#define IOU_OP_SYNC 5     /* fsync, or fdatasync with IOU_FLAG_DATA_ONLY */
/* socket(arg = domain, arg2 = type, extent = protocol); fd unused. Result: the new socket's fd. The
 * caller adds SOCK_CLOEXEC to the type (the Driver always does). */
#define IOU_OP_SOCKET 6
/* connect(fd, buf = the sockaddr, len = its size). Result 0. */
#define IOU_OP_CONNECT 7
/* accept4(fd, NULL, NULL, arg = SOCK_* flags; the Driver passes SOCK_CLOEXEC). Result: the new
 * connection's fd (the peer's address is asked with getpeername afterwards). */
#define IOU_OP_ACCEPT 8
/* shutdown(fd, arg = SHUT_RD / SHUT_WR / SHUT_RDWR). Result 0. */
#define IOU_OP_SHUTDOWN 9
/* bind(fd, buf = the sockaddr, len = its size). Result 0. IORING_OP_BIND is Linux 6.11: on older
 * kernels the Driver calls bind(2) itself (it does not block) and never submits this. */
#define IOU_OP_BIND 10
/* listen(fd, arg = backlog). Result 0. IORING_OP_LISTEN is Linux 6.11; as BIND, listen(2) before. */
#define IOU_OP_LISTEN 11
/* The file operations. A path is NUL-terminated caller memory (IOU_MEMORY_ARGS); `fd` is the
 * directory a relative path starts from (AT_FDCWD: the process's working directory). The result of
 * each is 0, except OPEN's (the new fd). */
#define IOU_OP_OPEN 12  /* openat(fd, buf = path, arg = O_* flags, arg2 = mode): the result is the new fd */
#define IOU_OP_CLOSE 13 /* close(fd) */
#define IOU_OP_STAT                                                                                                   \
  14 /* statx(fd, buf = path ("" with AT_EMPTY_PATH for fd itself), arg = AT_* flags, arg2 = STATX_* mask, buf2 = the \
       struct statx the kernel fills) */
#define IOU_OP_TRUNCATE 15 /* ftruncate(fd, extent = length); Linux 6.9 */
#define IOU_OP_ALLOCATE 16 /* fallocate(fd, arg = FALLOC_FL_* mode, position = offset, extent = length) */
#define IOU_OP_UNLINK 17   /* unlinkat(fd, buf = path, arg = 0 or AT_REMOVEDIR) */
#define IOU_OP_RENAME 18   /* renameat2(fd, buf = from, fd, buf2 = to, arg = RENAME_* flags) */
#define IOU_OP_MKDIR 19    /* mkdirat(fd, buf = path, arg2 = mode) */
#define IOU_OP_SYMLINK 20  /* symlinkat(buf = target, fd, buf2 = path) */
#define IOU_OP_LINK 21     /* linkat(fd, buf = existing, fd, buf2 = path, arg = AT_* flags) */
/* Multishot recv (IORING_RECV_MULTISHOT, Linux 6.0) on fd into the loop's provided buffers
 * (iou_loop_config.recv_buffers); reads no other field. Each chunk is a completion with
 * IOU_COMPLETION_MORE | IOU_COMPLETION_BUFFER: result = bytes, buffer = the buffer holding them,
 * which is the owner's until it gives it back (iou_loop_recv_buffers_return). The request ends
 * once, as any other: OK 0 at end of stream, OK n with a last chunk (and its buffer) when the kernel
 * stopped the multishot, ERROR -ENOBUFS when no buffer was left, the cancel's outcome. */
#define IOU_OP_RECV_MANY 22
/* Multishot accept4(fd, NULL, NULL, arg = SOCK_* flags) (IORING_ACCEPT_MULTISHOT, Linux 5.19):
 * each connection is a completion with IOU_COMPLETION_MORE whose result is its fd (the owner's from
 * then on). Ends once, as ACCEPT: an error, the cancel's outcome, or OK fd with a last connection
 * when the kernel stopped the multishot. */
#define IOU_OP_ACCEPT_MANY 23
#define IOU_OP_COUNT 24 /* one past the last IOU_OP_*; any other op ends ERROR -EINVAL at admission */

/* Which caller memory an operation's request points at (the table's `memory` column). Every byte of
 * it must stay alive until the request's completion (see struct iou_request). */
#define IOU_MEMORY_NONE 0 /* none: buf, buf2 and iov are not read */
#define IOU_MEMORY_DATA 1 /* the bytes it transfers: [buf, buf + len) or the iovecs */
#define IOU_MEMORY_ARGS 2 /* its arguments: buf (a path, a socket address…) and buf2 where it names one */
/* What each argument of an IOU_MEMORY_ARGS operation is (the table's `args` column), for the
 * caller to check its memory against before it submits: the kernel reads a path up to its NUL and
 * writes a whole struct statx, whatever the caller's buffer holds. */
#define IOU_ARG_NONE 0     /* not read */
#define IOU_ARG_SOCKADDR 1 /* a socket address of len bytes (buf) */
#define IOU_ARG_PATH 2     /* a NUL-terminated path */
#define IOU_ARG_STATX 3    /* a struct statx the kernel fills (buf2) */
/* From the table: the operation's IOU_MEMORY_*, whether it transfers bytes (IOU_MEMORY_DATA), the
 * name its errors carry ("read", "fsync"…, as @iou/core's Operations spells it), and its argument
 * `i` (0: buf, 1: buf2) as an IOU_ARG_*. IOU_MEMORY_NONE, false, NULL and IOU_ARG_NONE for an op
 * >= IOU_OP_COUNT. Any thread. */
uint8_t iou_op_arg(uint32_t op, unsigned i);
uint8_t iou_op_memory(uint32_t op);
bool iou_op_moves_data(uint32_t op);
const char *iou_op_syscall(uint32_t op);

/* From the table: the IOU_CLASS_* bits of op (0 for an op >= IOU_OP_COUNT). Any thread. */
uint8_t iou_op_class(uint32_t op);
/* From the table: whether op's OK result is a new fd (SOCKET, ACCEPT, OPEN, ACCEPT_MANY; false for
 * an op >= IOU_OP_COUNT), which its completion flags with IOU_COMPLETION_FD. Any thread. */
bool iou_op_produces_fd(uint32_t op);

/* iou_request.position for READ_AT / WRITE_AT meaning "the file's current position" (pipes,
 * sockets, O_APPEND files); passed to the kernel unchanged on every continuation. */
#define IOU_POSITION_CURRENT UINT64_MAX

#define IOU_FLAG_EXACT 1u     /* read_at / recv: fill the whole range; EOF first -> IOU_OUTCOME_UNEXPECTED_EOF */
#define IOU_FLAG_DATA_ONLY 2u /* sync: fdatasync */

/* One logical request. Copied into the inbound queue by iou_loop_submit. Memory it points to
 * (buf, iov and every iov_base) is owned by the caller, who must keep it alive and untouched until
 * the request's completion has been delivered by iou_loop_poll_completions (the kernel may write
 * into it until then). For a request abandoned with IOU_COMPLETION_KERNEL_HELD, forever (quarantine). */
struct iou_request {
  uint64_t tag;         /* caller's id, echoed in the completion; unique among the caller's live requests */
  uint64_t position;    /* file offset for READ_AT / WRITE_AT; other operations: see their IOU_OP_* */
  uint64_t extent;      /* a second 64-bit argument, for the operations whose IOU_OP_* names it */
  uint64_t deadline_ns; /* absolute CLOCK_MONOTONIC deadline in ns; 0 = none */
  uint8_t *buf;         /* IOU_MEMORY_DATA: the single buffer [buf, buf + len); IOU_MEMORY_ARGS: the first argument */
  uint8_t *buf2;        /* IOU_MEMORY_ARGS: the second argument, for the operations whose IOU_OP_* names one */
  const struct iovec *iov; /* vectored requests when iov_count > 0 (then buf/len are unused) */
  uint32_t len;            /* bytes at buf */
  uint32_t iov_count;      /* 0: single buffer; at most IOU_MAX_IOV */
  uint32_t arg;            /* the operation's 32-bit arguments, as its IOU_OP_* says; the others ignore them */
  uint32_t arg2;
  int32_t fd;    /* the fd it acts on (an operation on a path: the directory fd, AT_FDCWD) */
  uint8_t op;    /* IOU_OP_* */
  uint8_t flags; /* IOU_FLAG_* */
};

/* How a request ended. `result` in the completion: bytes transferred (READ_AT, RECV: the count
 * filled; WRITE_AT, SEND: the total written), 0 for NOP/SYNC, or -errno with IOU_OUTCOME_ERROR. */
#define IOU_OUTCOME_OK 0
#define IOU_OUTCOME_ERROR 1          /* result = -errno from the kernel (or -EPIPE / -ECONNRESET …) */
#define IOU_OUTCOME_TIMEOUT 2        /* its deadline passed (before or while in the kernel) */
#define IOU_OUTCOME_CANCELLED 3      /* iou_loop_cancel landed before the operation finished */
#define IOU_OUTCOME_UNEXPECTED_EOF 4 /* exact READ_AT/RECV met EOF / peer close first; result = bytes filled */
#define IOU_OUTCOME_ABANDONED 5      /* unfinished at the shutdown cutoff (see IOU_COMPLETION_KERNEL_HELD) */
#define IOU_OUTCOME_WRITE_ZERO 6 /* write/send made no progress: the kernel returned 0 (a gone peer: ERROR -EPIPE) */

/* iou_completion.flags. KERNEL_HELD: only with IOU_OUTCOME_ABANDONED. At the shutdown cutoff the
 * loop sends one ASYNC_CANCEL for every request still in the kernel and waits a short grace for
 * their final CQEs: those that come back end ABANDONED without this flag (the kernel let go of their
 * memory, which the caller may reuse or free). A request whose final CQE did not arrive within the
 * grace carries the flag: the kernel may still read or write its memory, which must therefore be
 * kept alive forever (quarantined). */
#define IOU_COMPLETION_KERNEL_HELD 1u
/* With IOU_OUTCOME_OK only: a cancel (the deadline, iou_loop_cancel or the shutdown cutoff) was
 * requested but the operation had already succeeded (success wins). The owner decides what a result
 * nobody waits for any more means: an fd an OPEN made is closed by the Driver. */
#define IOU_COMPLETION_CANCEL_LOST 2u
/* With CANCEL_LOST: the outcome the lost cancel asked for (IOU_OUTCOME_TIMEOUT, CANCELLED or
 * ABANDONED) in the bits from this shift up, so that the owner ends a result nobody waits for with
 * the reason the loop cancelled it, as it would have ended had the cancel won. */
#define IOU_COMPLETION_CANCEL_OUTCOME_SHIFT 4u
#define IOU_COMPLETION_CANCEL_OUTCOME_MASK (7u << IOU_COMPLETION_CANCEL_OUTCOME_SHIFT)
/* MORE: not the request's end but one result of a multishot operation (its outcome says OK or
 * ERROR); the request goes on and ends with exactly one completion without MORE. */
#define IOU_COMPLETION_MORE 4u
/* BUFFER: `buffer` names the provided buffer the result's bytes are in (IOU_OP_RECV_MANY). */
#define IOU_COMPLETION_BUFFER 8u
/* FD: with IOU_OUTCOME_OK, the result is an fd the request made (iou_op_produces_fd), open in this
 * process: whoever polls the completion owns it and must close it if nobody else takes it. */
#define IOU_COMPLETION_FD 128u

struct iou_completion {
  uint64_t tag;
  int32_t result;
  uint8_t outcome; /* IOU_OUTCOME_* */
  uint8_t flags;   /* IOU_COMPLETION_* */
  uint16_t buffer; /* with IOU_COMPLETION_BUFFER: the provided buffer's id */
  /* The bytes an operation that moves data (READ_AT, WRITE_AT, SEND, RECV) moved before it ended:
   * `result` itself for every outcome but ERROR, where it is what moved before the error (the
   * errno is `result`). 0 for the other operations and for MORE completions. */
  uint32_t done;
  uint32_t reserved; /* 0 */
};

struct iou_stats {
  uint64_t submitted; /* requests taken from the inbound queue */
  uint64_t completed; /* requests that ended (any outcome) */
  uint64_t failed;    /* ended with ERROR, UNEXPECTED_EOF or WRITE_ZERO */
  uint64_t timed_out;
  uint64_t cancelled;
  uint64_t requeued; /* SQEs re-staged for partial progress or EAGAIN/EINTR */
  uint64_t sqes_staged;
  uint64_t enters;      /* io_uring_enter calls */
  uint64_t wakes;       /* eventfd writes by producers (the slow path of publish) */
  uint64_t cq_overflow; /* completions that waited in the loop's overflow list */
  /* Times the loop found the kernel holding CQEs back because its CQ was full (IORING_SQ_CQ_OVERFLOW;
   * NODROP keeps them and the next io_uring_enter hands them over: nothing is lost). */
  uint64_t cq_kernel_overflow;
  uint64_t abandoned;
  uint32_t pending_operations; /* the seed's gauge: occupied waiter slots */
  uint32_t
      recv_buffers; /* provided buffers registered for IOU_OP_RECV_MANY (0: none, or the kernel has no buffer rings) */
  bool single_issuer;  /* SINGLE_ISSUER accepted for this ring (with DEFER_TASKRUN, but for IOU_INLINE_WAKE_RINGFD) */
  uint8_t engine;      /* IOU_ENGINE_* */
  uint8_t inline_wake; /* IOU_INLINE_WAKE_* the inline engine opened with (0 for the thread engine) */
};

/* Starts the loop thread, which creates the ring; waits until the ring exists. Returns 0 and sets
 * *out, or -errno of io_uring_setup (nothing left running). Owner thread. */
int iou_loop_open(const struct iou_loop_config *config, iou_notify_fn notify, void *notify_ctx, struct iou_loop **out);

/* Copies up to n requests into the inbound queue, in order, without waking the loop. Returns how
 * many were taken (fewer than n when the queue is full: the caller keeps the rest and retries once
 * iou_loop_inbound_room says the loop took some, or after completions), or -ESHUTDOWN once
 * iou_loop_close was called. Owner thread. */
int iou_loop_submit(struct iou_loop *loop, const struct iou_request *requests, uint32_t n);

/* Makes everything submitted so far visible to the loop and wakes it if it sleeps (the seed's
 * publish: one atomic, plus an eventfd write only when the loop armed its sleep intent). Owner. */
void iou_loop_publish(struct iou_loop *loop);

/* The same, in the middle of the owner's turn: more requests and an iou_loop_publish that ends the
 * turn follow shortly. The loop starts on what it has and, rather than arm its sleep while requests
 * are in flight (the closing publish would then pay an eventfd write and a cross-CPU wake-up),
 * waits up to idle_spin_us for that publish, new requests, a cancel or a CQE (unless the loop is
 * confined to one CPU and the owner last published from it: then the owner cannot run while the
 * loop polls, and the loop sleeps). A hint only: results
 * and their order are the same either way, and a turn that outlasts the budget is waited for once.
 * Every turn opened this way must be ended by iou_loop_publish (close does too). Owner. */
void iou_loop_publish_early(struct iou_loop *loop);

/* Asks the loop to cancel the live request `tag` (one already taken by iou_loop_submit). Never
 * blocks; a tag that already completed is ignored. In flight: one ASYNC_CANCEL and the op's own CQE
 * decides (success wins); queued or parked: ends locally. The request still gets exactly one
 * completion. Returns 0, -ESHUTDOWN once the loop thread exited, or -ENOMEM when the cancel message
 * (one small allocation) cannot be allocated; then nothing was queued and the caller may retry.
 * Wakes the loop. Owner. */
int iou_loop_cancel(struct iou_loop *loop, uint64_t tag);

/* True once after an iou_loop_submit found the inbound queue full and the loop has since taken
 * requests from it (then the thread engine also notifies, with or without completions): the owner
 * may submit what it kept back. Owner thread. */
bool iou_loop_inbound_room(struct iou_loop *loop);

/* Hands provided buffers (ids below recv_buffer_count) back to the kernel for IOU_OP_RECV_MANY:
 * each once per completion that named it, or once at the start. The owner is the only producer of
 * the buffer ring's tail (one release store per call); the kernel consumes. 0, or -EINVAL with none
 * of them given (no buffers configured, an id out of range or named twice, or one in the ring
 * already: given and not yet named by a polled completion). Owner thread. */
int iou_loop_recv_buffers_return(struct iou_loop *loop, const uint16_t *ids, uint32_t n);

/* Moves up to max completions into out; returns the count. Owner thread. */
uint32_t iou_loop_poll_completions(struct iou_loop *loop, struct iou_completion *out, uint32_t max);

/* Stops admission of new submissions and starts the seed's shutdown: everything already
 * submitted is still admitted, in-flight work drains while deadlines and retries keep running,
 * and when shutdown_timeout_ns (>= 0; -1 = no limit) expires, what is left completes with
 * IOU_OUTCOME_ABANDONED: requests not in the kernel at once; requests in the kernel get one
 * ASYNC_CANCEL each and end as their final CQE comes back (a complete transfer still ends OK, an
 * error ERROR), and those still out after a short grace (about 100 ms) end ABANDONED with
 * IOU_COMPLETION_KERNEL_HELD. Returns at once; the loop thread notifies when it has exited. Owner. */
int iou_loop_close(struct iou_loop *loop, int64_t shutdown_timeout_ns);

/* True once the loop thread has exited (all completions, including abandoned ones, published). */
bool iou_loop_exited(struct iou_loop *loop);

/* Closes with timeout 0 (shortening any longer cutoff of an earlier iou_loop_close) and waits until
 * the loop exited: the thread engine's thread is joined, the inline engine's last passes run here.
 * At most the abandonment grace once the in-flight requests' cancels land, never a wait on I/O.
 * Every request then has its completion published, for iou_loop_poll_completions: the memory of
 * those that ended is the caller's again, except where IOU_COMPLETION_KERNEL_HELD says the kernel
 * may keep it (the caller quarantines that). Frees nothing; iou_loop_destroy frees. Idempotent.
 * Owner. */
void iou_loop_stop(struct iou_loop *loop);

/* iou_loop_stop unless it ran, then frees the loop (and every completion not polled: the fds such
 * completions made, IOU_COMPLETION_FD, stay open; poll them first to close them). Owner. */
void iou_loop_destroy(struct iou_loop *loop);

/* iou_loop_destroy for a loop whose thread has exited (iou_loop_exited), without waiting for the
 * thread to end: the kernel holds an exiting thread until io-wq workers have finished the requests
 * it abandoned with IOU_COMPLETION_KERNEL_HELD, which can take as long as those requests do. Returns
 * true when the thread had already ended: it was joined and the loop freed. Returns false, and frees
 * nothing, when the thread has not exited, or has exited but not ended yet; call it again later, or
 * iou_loop_destroy, which waits. After it returns on an exited loop, `notify` is never called again
 * (it waits for the thread's last notify to return). Owner. */
bool iou_loop_try_destroy(struct iou_loop *loop);

/* True when the process's credentials (real, effective or saved uid or gid, or its supplementary
 * groups) are no longer those it had when the loop opened: the ring may still act with the old ones
 * (work queued by the thread that created it, io-wq workers created before), so the caller should
 * refuse new work. Three syscalls; nothing is cached. Owner. */
bool iou_loop_credentials_changed(struct iou_loop *loop);

/* ---- The inline engine (owner only) ----------------------------------------------------------
 * With IOU_ENGINE_INLINE, nothing runs unless the owner calls in: iou_loop_publish and iou_loop_run
 * run one bounded pass of the phases (never blocking; publishes run a bounded number of passes
 * between two calls of iou_loop_run, then leave their requests to the next one, which they announce
 * as below, so that the owner's event loop gets control back); the owner's event loop polls iou_loop_fd
 * for readability (then, with IOU_INLINE_WAKE_EVENTFD, reads its 8-byte counter, and calls
 * iou_loop_run) and arms a timer for iou_loop_timeout_ns after every call into the loop, a cancel
 * and a poll of completions included (then calls iou_loop_run). Completions are delivered by the
 * pass itself (iou_loop_poll_completions after it); `notify` is not called. */

/* The fd to poll for readability (the ring's registered eventfd, or the ring fd with
 * IOU_INLINE_WAKE_RINGFD); -EINVAL for the thread engine. It stays open until iou_loop_destroy
 * (also once the loop exited): stop polling it before that call. */
int iou_loop_fd(struct iou_loop *loop);

/* IOU_INLINE_WAKE_* the inline loop opened with (the asked mode or its fallback); -EINVAL for the
 * thread engine. */
int iou_loop_inline_wake(struct iou_loop *loop);

/* Nanoseconds until the next deadline or shutdown cutoff needs a pass; 0: a pass is due now (with
 * IOU_INLINE_WAKE_RINGFD, work the kernel does not announce on the ring fd: a cancel, SQEs left to
 * submit); -1: none. */
int64_t iou_loop_timeout_ns(struct iou_loop *loop);

/* One pass of the phases; a no-op for the thread engine and once the loop exited. */
void iou_loop_run(struct iou_loop *loop);

/* The loop's own memory, for sizing; the kernel's rings come on top (one SQE and its index per
 * entry of `size`, two CQEs per waiter slot). Per waiter slot (max_in_flight): the waiter, its
 * free-id and tag-index entries, its ready-queue and pending-cancel ids. Reserved at open but
 * touched, and so resident, only up to the most requests that were in the loop at once (the
 * id queues and the tag index grow to that). Per entry of `size`: the inbound queue and the
 * completion queue (resident from the first use). Any thread. */
size_t iou_loop_bytes_per_slot(void);
size_t iou_loop_bytes_per_entry(void);

/* A snapshot of the counters (each read with a relaxed atomic load). Any thread. */
void iou_loop_stats(struct iou_loop *loop, struct iou_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* IOU_H */
