/*
 * ring.c: owns the io_uring file descriptor and its three mappings (SQ ring, CQ ring, SQE array).
 * Raw syscalls on <linux/io_uring.h>; every index shared with the kernel is read with an acquire
 * load and written with a release store, pairing with the kernel's own barriers on the other side.
 * Called only by the thread that runs the loop's phases (the loop thread, or the owner with the
 * inline engine): the ring's single issuer.
 */
#include "ring.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* The loop's clock and assertion live here because every other file links against ring.c's
 * neighbours; nothing in them is specific to the ring. */
static _Noreturn void fatal(const char *file, int line, const char *what, int err) {
  char msg[512];
  int n = err == 0 ? snprintf(msg, sizeof(msg), "iou: invariant violated at %s:%d: %s\n", file, line, what)
                   : snprintf(msg, sizeof(msg), "iou: invariant violated at %s:%d: %s: errno %d (%s)\n", file, line,
                              what, err, strerror(err));
  if (n > 0) {
    ssize_t ignored = write(STDERR_FILENO, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
    (void)ignored;
  }
  abort();
}

_Noreturn void iou__fatal(const char *file, int line, const char *what) {
  fatal(file, line, what, 0);
}

_Noreturn void iou__fatal_errno(const char *file, int line, const char *what, int err) {
  fatal(file, line, what, err);
}

uint64_t iou__now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#define PTR(base, off) ((void *)((char *)(base) + (off)))

#ifdef IOU_FAULT_INJECTION
/* The fault-injection build (make test-faults): every IOU_FAULT_EVERY-th io_uring_enter (default 3)
 * fails before the syscall with EINTR, EAGAIN or EBUSY in turn, as the kernel may answer, and every
 * IOU_FAULT_EVERY-th look at the CQ sees it empty (a CQE the loop meets only later). Rings get the
 * smallest completion queue the kernel allows (as many entries as the SQ), so that it overflows
 * sooner. Counters are per thread: each ring is driven by one thread. */
static _Thread_local unsigned fault_enters, fault_cqes;
static unsigned fault_every(void) {
  const char *v = getenv("IOU_FAULT_EVERY");
  int n = v != NULL ? atoi(v) : 3;
  return n > 1 ? (unsigned)n : 3;
}
#endif

int iou__ring_init(struct iou_ring *ring, uint32_t entries, uint32_t cq_entries, uint32_t flags) {
  memset(ring, 0, sizeof(*ring));
  ring->fd = -1;
  struct io_uring_params p;
  memset(&p, 0, sizeof(p));
  p.flags = flags;
  if (cq_entries != 0) { /* Linux 5.5 */
    p.flags |= IORING_SETUP_CQSIZE;
    p.cq_entries = cq_entries;
  }
#ifdef IOU_FAULT_INJECTION
  p.flags |= IORING_SETUP_CQSIZE;
  p.cq_entries = entries; /* the smallest: overrides the loop's size */
#endif
  int fd = (int)syscall(__NR_io_uring_setup, entries, &p);
  if (fd < 0) return -errno;
  ring->setup_flags = p.flags;
  int err;
  if (!(p.features & IORING_FEAT_EXT_ARG)) { /* bounded waits need Linux 5.11 */
    err = -EOPNOTSUPP;
    goto fail;
  }
  ring->fd = fd;

  ring->sq_map_len = p.sq_off.array + p.sq_entries * sizeof(uint32_t);
  ring->cq_map_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  if (p.features & IORING_FEAT_SINGLE_MMAP) { /* Linux 5.4: one mapping for both rings */
    if (ring->cq_map_len > ring->sq_map_len) ring->sq_map_len = ring->cq_map_len;
    ring->cq_map_len = ring->sq_map_len;
  }
  ring->sq_map =
      mmap(NULL, ring->sq_map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
  if (ring->sq_map == MAP_FAILED) {
    ring->sq_map = NULL;
    err = -errno;
    goto fail;
  }
  if (p.features & IORING_FEAT_SINGLE_MMAP) {
    ring->cq_map = ring->sq_map;
  } else {
    ring->cq_map =
        mmap(NULL, ring->cq_map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_CQ_RING);
    if (ring->cq_map == MAP_FAILED) {
      ring->cq_map = NULL;
      err = -errno;
      goto fail;
    }
  }
  ring->sqe_map_len = p.sq_entries * sizeof(struct io_uring_sqe);
  ring->sqe_map = mmap(NULL, ring->sqe_map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
  if (ring->sqe_map == MAP_FAILED) {
    ring->sqe_map = NULL;
    err = -errno;
    goto fail;
  }

  ring->khead = PTR(ring->sq_map, p.sq_off.head);
  ring->ktail = PTR(ring->sq_map, p.sq_off.tail);
  ring->karray = PTR(ring->sq_map, p.sq_off.array);
  ring->sq_mask = *(uint32_t *)PTR(ring->sq_map, p.sq_off.ring_mask);
  ring->sq_entries = *(uint32_t *)PTR(ring->sq_map, p.sq_off.ring_entries);
  ring->ksqes = ring->sqe_map;
  ring->kcq_head = PTR(ring->cq_map, p.cq_off.head);
  ring->kcq_tail = PTR(ring->cq_map, p.cq_off.tail);
  ring->kcqes = PTR(ring->cq_map, p.cq_off.cqes);
  ring->cq_mask = *(uint32_t *)PTR(ring->cq_map, p.cq_off.ring_mask);
  ring->cq_entries = *(uint32_t *)PTR(ring->cq_map, p.cq_off.ring_entries);
  ring->ksq_flags = PTR(ring->sq_map, p.sq_off.flags);
  ring->kcq_flags = PTR(ring->cq_map, p.cq_off.flags); /* Linux 5.8 */
  /* SQE slot i is always submitted through array index i: fill the indirection once. */
  for (uint32_t i = 0; i < ring->sq_entries; i++) ring->karray[i] = i;
  ring->sqe_tail = __atomic_load_n(ring->ktail, __ATOMIC_RELAXED);
  ring->cq_head = __atomic_load_n(ring->kcq_head, __ATOMIC_RELAXED);
  return 0;

fail:
  ring->fd = fd;
  iou__ring_exit(ring);
  return err;
}

void iou__ring_exit(struct iou_ring *ring) {
  if (ring->sqe_map != NULL) munmap(ring->sqe_map, ring->sqe_map_len);
  if (ring->cq_map != NULL && ring->cq_map != ring->sq_map) munmap(ring->cq_map, ring->cq_map_len);
  if (ring->sq_map != NULL) munmap(ring->sq_map, ring->sq_map_len);
  if (ring->fd >= 0) close(ring->fd);
  memset(ring, 0, sizeof(*ring));
  ring->fd = -1;
}

uint32_t iou__ring_sq_pending(const struct iou_ring *ring) {
  /* Acquire pairs with the kernel's release of the SQ head after it consumed SQEs. */
  return ring->sqe_tail - __atomic_load_n(ring->khead, __ATOMIC_ACQUIRE);
}

uint32_t iou__ring_sq_space(const struct iou_ring *ring) {
  return ring->sq_entries - iou__ring_sq_pending(ring);
}

struct io_uring_sqe *iou__ring_get_sqe(struct iou_ring *ring) {
  if (iou__ring_sq_space(ring) == 0) return NULL;
  struct io_uring_sqe *sqe = &ring->ksqes[ring->sqe_tail & ring->sq_mask];
  ring->sqe_tail++;
  memset(sqe, 0, sizeof(*sqe));
  return sqe;
}

int iou__ring_enter(struct iou_ring *ring, uint32_t want, int64_t timeout_ns) {
  /* Release pairs with the kernel's acquire of the SQ tail: the SQE contents are visible first. */
  __atomic_store_n(ring->ktail, ring->sqe_tail, __ATOMIC_RELEASE);
  uint32_t to_submit = iou__ring_sq_pending(ring);
#ifdef IOU_FAULT_INJECTION
  if (++fault_enters % fault_every() == 0) {
    static const int errs[] = {EINTR, EAGAIN, EBUSY};
    return -errs[(fault_enters / fault_every()) % 3];
  }
#endif
  /* GETEVENTS also runs DEFER_TASKRUN work (Linux 6.1). NO_IOWAIT (Linux 6.15) is left out on
   * purpose: it slowed the thread engine's wake-ups (native README, "The loop"). */
  unsigned flags = IORING_ENTER_GETEVENTS;
  long ret;
  if (want > 0 && timeout_ns >= 0) {
    struct __kernel_timespec ts = {
        .tv_sec = timeout_ns / 1000000000ll,
        .tv_nsec = timeout_ns % 1000000000ll,
    };
    struct io_uring_getevents_arg arg;
    memset(&arg, 0, sizeof(arg));
    arg.sigmask = 0;
    arg.sigmask_sz = _NSIG / 8;
    arg.ts = (uint64_t)(uintptr_t)&ts; /* read by the kernel during this call only */
    ret = syscall(__NR_io_uring_enter, ring->fd, to_submit, want, flags | IORING_ENTER_EXT_ARG, &arg, sizeof(arg));
  } else {
    ret = syscall(__NR_io_uring_enter, ring->fd, to_submit, want, flags, NULL, (size_t)_NSIG / 8);
  }
  return ret < 0 ? -errno : (int)ret;
}

bool iou__ring_next_cqe(struct iou_ring *ring, struct io_uring_cqe *out) {
  /* Acquire pairs with the kernel's release of the CQ tail: the CQE contents are visible. */
  uint32_t tail = __atomic_load_n(ring->kcq_tail, __ATOMIC_ACQUIRE);
  if (ring->cq_head == tail) return false;
#ifdef IOU_FAULT_INJECTION
  if (++fault_cqes % fault_every() == 0) return false;
#endif
  *out = ring->kcqes[ring->cq_head & ring->cq_mask];
  ring->cq_head++;
  return true;
}

bool iou__ring_cq_ready(const struct iou_ring *ring) {
  /* Acquire pairs with the kernel's release of the CQ tail (as in iou__ring_next_cqe). */
  return __atomic_load_n(ring->kcq_tail, __ATOMIC_ACQUIRE) != ring->cq_head;
}

void iou__ring_cq_commit(struct iou_ring *ring) {
  /* Release pairs with the kernel's acquire of the CQ head: our reads of the slots are done. */
  __atomic_store_n(ring->kcq_head, ring->cq_head, __ATOMIC_RELEASE);
}

bool iou__ring_cq_overflowed(const struct iou_ring *ring) {
  /* Relaxed: a hint that the next enter hands over more CQEs; the kernel sets and clears the flag
   * atomically under its completion lock. */
  return (__atomic_load_n(ring->ksq_flags, __ATOMIC_RELAXED) & IORING_SQ_CQ_OVERFLOW) != 0;
}

int iou__ring_restrict(struct iou_ring *ring, const uint8_t *sqe_ops, unsigned n_sqe_ops, const uint8_t *register_ops,
                       unsigned n_register_ops, uint8_t sqe_flags) {
  struct io_uring_restriction r[64];
  unsigned n = 0;
  if (n_sqe_ops + n_register_ops + 1 > sizeof(r) / sizeof(r[0])) return -EINVAL;
  memset(r, 0, sizeof(r));
  for (unsigned i = 0; i < n_sqe_ops; i++) {
    r[n].opcode = IORING_RESTRICTION_SQE_OP;
    r[n++].sqe_op = sqe_ops[i];
  }
  for (unsigned i = 0; i < n_register_ops; i++) {
    r[n].opcode = IORING_RESTRICTION_REGISTER_OP;
    r[n++].register_op = register_ops[i];
  }
  r[n].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
  r[n++].sqe_flags = sqe_flags;
  if (syscall(__NR_io_uring_register, ring->fd, IORING_REGISTER_RESTRICTIONS, r, n) < 0) return -errno;
  if (syscall(__NR_io_uring_register, ring->fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0) return -errno;
  return 0;
}

int iou__ring_register_eventfd(struct iou_ring *ring, int fd) {
  int32_t efd = fd;
  long ret = syscall(__NR_io_uring_register, ring->fd, IORING_REGISTER_EVENTFD, &efd, 1);
  return ret < 0 ? -errno : 0;
}

bool iou__ring_taskrun(const struct iou_ring *ring) {
  /* Relaxed: a hint to enter. What it misses is announced anyway: by the eventfd (see
   * iou__ring_eventfd_signals), or on a COOP_TASKRUN ring by the CQEs the task work posts when the
   * owner next returns from a syscall, which make the ring fd readable (engine_inline.c). */
  return (__atomic_load_n(ring->ksq_flags, __ATOMIC_RELAXED) & IORING_SQ_TASKRUN) != 0;
}

void iou__ring_eventfd_signals(struct iou_ring *ring, bool on) {
  uint32_t flags = __atomic_load_n(ring->kcq_flags, __ATOMIC_RELAXED);
  flags = on ? flags & ~IORING_CQ_EVENTFD_DISABLED : flags | IORING_CQ_EVENTFD_DISABLED;
  /* A sequentially consistent exchange (a full barrier) pairs with the kernel's full barrier between
   * queueing work (the CQ tail, IORING_SQ_TASKRUN) and reading this flag before it signals: either
   * it sees signals on, or our later look at the CQ and the flag sees its work. */
  (void)__atomic_exchange_n(ring->kcq_flags, flags, __ATOMIC_SEQ_CST);
}

/* Creates the ring disabled (Linux 5.10), with the first flag set this kernel accepts. `flags`
 * holding COOP_TASKRUN asks for it instead of DEFER_TASKRUN (the inline engine's ring-fd wake: with
 * DEFER_TASKRUN the ring fd does not turn readable for completions nobody entered the ring for). */
static int init_ring(struct iou_ring *ring, uint32_t entries, uint32_t cq_entries, uint32_t flags,
                     bool want_single_issuer, bool *single_issuer) {
  bool coop = (flags & IORING_SETUP_COOP_TASKRUN) != 0;
  if (want_single_issuer) {
    /* SINGLE_ISSUER: Linux 6.0; DEFER_TASKRUN: Linux 6.1. Older kernels say EINVAL. */
    int r = iou__ring_init(ring, entries, cq_entries,
                           flags | IORING_SETUP_SINGLE_ISSUER | (coop ? 0 : IORING_SETUP_DEFER_TASKRUN));
    if (r == 0) *single_issuer = true;
    if (r != -EINVAL) return r;
  }
  /* Without DEFER_TASKRUN (refused, or single issuer not wanted): COOP_TASKRUN (Linux 5.19) still
   * spares the submitting thread an interrupt per completion's task work, which the kernel then runs
   * when that thread next enters it, as with DEFER_TASKRUN. Older kernels say EINVAL. */
  int r = iou__ring_init(ring, entries, cq_entries, flags | IORING_SETUP_COOP_TASKRUN);
  if (r != -EINVAL) return r;
  /* A plain ring: TASKRUN_FLAG needs COOP_TASKRUN or DEFER_TASKRUN. */
  return iou__ring_init(ring, entries, cq_entries, flags & ~(IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_COOP_TASKRUN));
}

/* What the ring is opened for, and nothing else (IORING_REGISTER_RESTRICTIONS): the opcodes the
 * caller lists (request.c's iou__request_opcodes: the accepted operations' own, the polls and the
 * cancel); registering the inline engine's eventfd; IOSQE_ASYNC and IOSQE_BUFFER_SELECT (recvMany). A
 * compromised JavaScript context holding the ring cannot use it to open, connect or read anything
 * else. */
static const uint8_t RING_REGISTER_OPS[] = {IORING_REGISTER_EVENTFD};

/* Registers the provided-buffer ring with the (still disabled) ring, before the restrictions. */
static int register_buf_ring(struct iou_ring *ring, const struct iou__buf_ring *b) {
  struct io_uring_buf_reg reg;
  memset(&reg, 0, sizeof(reg));
  reg.ring_addr = (uint64_t)(uintptr_t)b->kring; /* ours; the kernel pins its pages until unregistered */
  reg.ring_entries = b->entries;
  reg.bgid = IOU_BUF_GROUP;
  if (syscall(__NR_io_uring_register, ring->fd, IORING_REGISTER_PBUF_RING, &reg, 1) < 0) return -errno;
  return 0;
}

/* `opcodes` without those this kernel lacks (IORING_REGISTER_PROBE, Linux 5.6): a restriction
 * naming an opcode past the kernel's last is refused with EINVAL, and the Driver never submits an
 * opcode the probe says is missing (it uses the syscall instead: socket, bind, listen). */
static unsigned supported_opcodes(struct iou_ring *ring, const uint8_t *opcodes, unsigned n_opcodes, uint8_t *out) {
  enum { MAX_OPS = 256 };
  uint8_t storage[sizeof(struct io_uring_probe) + MAX_OPS * sizeof(struct io_uring_probe_op)];
  struct io_uring_probe *p = (struct io_uring_probe *)(void *)storage;
  memset(storage, 0, sizeof(storage));
  unsigned n = 0;
  bool probed = syscall(__NR_io_uring_register, ring->fd, IORING_REGISTER_PROBE, p, MAX_OPS) == 0;
  for (unsigned i = 0; i < n_opcodes; i++) {
    uint8_t op = opcodes[i];
    if (probed && (op >= p->ops_len || (p->ops[op].flags & IO_URING_OP_SUPPORTED) == 0)) continue;
    out[n++] = op;
  }
  return n;
}

int iou__ring_open(struct iou_ring *ring, uint32_t entries, uint32_t cq_entries, uint32_t flags,
                   bool want_single_issuer, bool *single_issuer, const uint8_t *opcodes, unsigned n_opcodes,
                   struct iou__buf_ring *buffers) {
  *single_issuer = false;
  int r = init_ring(ring, entries, cq_entries, flags | IORING_SETUP_R_DISABLED, want_single_issuer, single_issuer);
  if (r != 0) return r;
  if (buffers != NULL && buffers->entries > 0 && (r = register_buf_ring(ring, buffers)) != 0) {
    if (r != -EINVAL) {
      iou__ring_exit(ring);
      return r;
    }
    iou__buf_ring_free(buffers); /* before Linux 5.19: no buffer rings, RECV_MANY ends -ENOBUFS */
  }
  uint8_t supported[256]; /* one byte per possible opcode: more than any list holds */
  unsigned n_supported = supported_opcodes(ring, opcodes, n_opcodes, supported);
  /* IOSQE_BUFFER_SELECT: IOU_OP_RECV_MANY takes its buffers from the provided-buffer ring. */
  r = iou__ring_restrict(ring, supported, n_supported, RING_REGISTER_OPS, sizeof(RING_REGISTER_OPS),
                         IOSQE_ASYNC | IOSQE_BUFFER_SELECT);
  if (r != 0) iou__ring_exit(ring);
  return r;
}

int iou__buf_ring_init(struct iou__buf_ring *b, uint8_t *base, uint32_t entries, uint32_t size) {
  memset(b, 0, sizeof(*b));
  if (entries == 0) return 0;
  if ((entries & (entries - 1)) != 0 || entries > 32768 || size == 0 || base == NULL) return -EINVAL;
  b->map_len = (size_t)entries * sizeof(struct io_uring_buf);
  b->held = calloc((entries + 7) / 8, 1);
  if (b->held == NULL) return -ENOMEM;
  void *p = mmap(NULL, b->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* page-aligned */
  if (p == MAP_FAILED) {
    int err = -errno;
    free(b->held);
    b->held = NULL;
    return err;
  }
  b->kring = p;
  b->entries = entries;
  b->base = base;
  b->size = size;
  return 0;
}

void iou__buf_ring_free(struct iou__buf_ring *b) {
  if (b->kring != NULL) munmap(b->kring, b->map_len);
  free(b->held);
  memset(b, 0, sizeof(*b));
}

static bool buf_held(const struct iou__buf_ring *b, uint16_t id) {
  return (b->held[id >> 3] >> (id & 7)) & 1;
}

static void buf_mark(struct iou__buf_ring *b, uint16_t id, bool held) {
  if (held)
    b->held[id >> 3] |= (uint8_t)(1u << (id & 7));
  else
    b->held[id >> 3] &= (uint8_t)~(1u << (id & 7));
}

int iou__buf_ring_give(struct iou__buf_ring *b, const uint16_t *ids, uint32_t n) {
  if (b->entries == 0) return -EINVAL;
  if (n == 0) return 0;
  /* Every id is marked before any entry is written; the first bad one unmarks those marked so far
   * (they were clear: the walk stops at the first id already marked). So at most `entries` ids are
   * ever in the ring, and the kernel's ring (as many slots) never overflows. */
  for (uint32_t i = 0; i < n; i++) {
    if (ids[i] >= b->entries || buf_held(b, ids[i])) {
      while (i-- > 0) buf_mark(b, ids[i], false);
      return -EINVAL;
    }
    buf_mark(b, ids[i], true);
  }
  for (uint32_t i = 0; i < n; i++) {
    struct io_uring_buf *e = &b->kring->bufs[(uint16_t)(b->tail + i) & (b->entries - 1)];
    e->addr = (uint64_t)(uintptr_t)(b->base + (size_t)ids[i] * b->size); /* the caller's memory (iou.h) */
    e->len = b->size;
    e->bid = ids[i];
  }
  b->tail = (uint16_t)(b->tail + n);
  /* Release pairs with the kernel's acquire of the tail: the entries are written first. */
  __atomic_store_n(&b->kring->tail, b->tail, __ATOMIC_RELEASE);
  return 0;
}

void iou__buf_ring_taken(struct iou__buf_ring *b, uint16_t id) {
  if (id < b->entries) buf_mark(b, id, false);
}
