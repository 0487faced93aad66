/*
 * The ceiling of the read comparisons: one thread, one io_uring, raw syscalls on <linux/io_uring.h>
 * (no liburing), keeping `depth` 4 KiB reads in flight over the benchmark's page-cached data file.
 *
 *   raw-read <file> <depth> <ms>
 *
 * It does what the Driver does for a read and nothing more: the ring is set up with the Driver's
 * default flags (SINGLE_ISSUER | DEFER_TASKRUN; on EINVAL COOP_TASKRUN, then a plain ring, as the
 * Driver falls back), 512 entries as the bench opens its Drivers, no registered files or buffers, an
 * IORING_OP_READ per request at a 4 KiB-aligned offset from the bench's fixed-seed xorshift32
 * (src/files.ts, Offsets), and each completion issues the next read of its slot. One
 * io_uring_enter per pass submits what the last pass staged and waits for at least one completion.
 *
 * It prints one JSON line: operations, the seconds of the measured window (from the first submit
 * to the last completion), the user and system CPU seconds of that window (getrusage, this
 * process), and the ring flags it got. Exit 2 with a usage line when called without arguments (the
 * bench's check that the binary runs here), 1 on any failure.
 *
 * Build: cc -O2 -o raw-read raw-read.c (src/raw-read.ts does this on first use, into bench/.build/).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef IORING_SETUP_COOP_TASKRUN
#define IORING_SETUP_COOP_TASKRUN (1U << 8) /* Linux 5.19 */
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

#define BLOCK 4096u
#define ENTRIES 512u
#define MAX_DEPTH 512u

/* The ring: indices shared with the kernel are read with acquire loads and written with release
 * stores, pairing with the kernel's own barriers on the other side. The mappings belong to this
 * process until exit. */
static int ring_fd = -1;
static unsigned *sq_head, *sq_tail, *sq_array, sq_mask, sq_entries;
static unsigned *cq_head, *cq_tail, cq_mask;
static struct io_uring_sqe *sqes;
static struct io_uring_cqe *cqes;
static unsigned sqe_tail; /* staged, not yet published to the kernel */

static void fail(const char *what, int err) {
  fprintf(stderr, "raw-read: %s: %s\n", what, strerror(err));
  exit(1);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double tv_s(struct timeval tv) {
  return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* io_uring_setup with `flags`: the fd, or -errno. */
static int setup(unsigned flags, struct io_uring_params *p) {
  memset(p, 0, sizeof(*p));
  p->flags = flags;
  int fd = (int)syscall(__NR_io_uring_setup, ENTRIES, p);
  return fd < 0 ? -errno : fd;
}

/* The Driver's order: SINGLE_ISSUER | DEFER_TASKRUN, else COOP_TASKRUN, else a plain ring. */
static const char *open_ring(void) {
  struct io_uring_params p;
  const char *name = "SINGLE_ISSUER|DEFER_TASKRUN";
  int fd = setup(IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, &p);
  if (fd == -EINVAL) {
    name = "COOP_TASKRUN";
    fd = setup(IORING_SETUP_COOP_TASKRUN, &p);
  }
  if (fd == -EINVAL) {
    name = "plain";
    fd = setup(0, &p);
  }
  if (fd < 0) fail("io_uring_setup", -fd);
  ring_fd = fd;

  size_t sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  int single = (p.features & IORING_FEAT_SINGLE_MMAP) != 0;
  if (single && cq_len > sq_len) sq_len = cq_len;
  char *sq = mmap(NULL, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
  if (sq == MAP_FAILED) fail("mmap SQ ring", errno);
  char *cq = sq;
  if (!single) {
    cq = mmap(NULL, cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_CQ_RING);
    if (cq == MAP_FAILED) fail("mmap CQ ring", errno);
  }
  sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
              IORING_OFF_SQES);
  if (sqes == MAP_FAILED) fail("mmap SQEs", errno);

  sq_head = (unsigned *)(sq + p.sq_off.head);
  sq_tail = (unsigned *)(sq + p.sq_off.tail);
  sq_array = (unsigned *)(sq + p.sq_off.array);
  sq_mask = *(unsigned *)(sq + p.sq_off.ring_mask);
  sq_entries = *(unsigned *)(sq + p.sq_off.ring_entries);
  cq_head = (unsigned *)(cq + p.cq_off.head);
  cq_tail = (unsigned *)(cq + p.cq_off.tail);
  cq_mask = *(unsigned *)(cq + p.cq_off.ring_mask);
  cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
  for (unsigned i = 0; i < sq_entries; i++) sq_array[i] = i; /* SQE i goes through array slot i */
  sqe_tail = __atomic_load_n(sq_tail, __ATOMIC_RELAXED);
  return name;
}

/* The bench's Offsets (src/files.ts): xorshift32 from a fixed seed, 4 KiB-aligned in the file. */
static uint32_t xs = 0x2545f491u;
static uint64_t blocks;

static uint64_t next_offset(void) {
  uint32_t x = xs;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  xs = x;
  return (uint64_t)(x % blocks) * BLOCK;
}

static int file_fd;
static unsigned char
    *buffers; /* one BLOCK per slot, owned here; the kernel writes a slot while its read is in flight */

static void stage_read(unsigned slot) {
  /* Never full: at most `depth` <= ENTRIES reads are staged or in flight. */
  struct io_uring_sqe *sqe = &sqes[sqe_tail & sq_mask];
  sqe_tail++;
  memset(sqe, 0, sizeof(*sqe));
  sqe->opcode = IORING_OP_READ;
  sqe->fd = file_fd;
  sqe->off = next_offset();
  sqe->addr = (uint64_t)(uintptr_t)(buffers + (size_t)slot * BLOCK);
  sqe->len = BLOCK;
  sqe->user_data = slot;
}

/* Publishes the staged SQEs and waits for at least one completion. */
static void enter(void) {
  /* Release pairs with the kernel's acquire of the SQ tail: the SQE contents are visible first. */
  __atomic_store_n(sq_tail, sqe_tail, __ATOMIC_RELEASE);
  /* Acquire pairs with the kernel's release of the SQ head after it consumed SQEs. */
  unsigned to_submit = sqe_tail - __atomic_load_n(sq_head, __ATOMIC_ACQUIRE);
  for (;;) {
    long r = syscall(__NR_io_uring_enter, ring_fd, to_submit, 1u, IORING_ENTER_GETEVENTS, NULL, 0);
    if (r >= 0) return;
    if (errno != EINTR && errno != EAGAIN && errno != EBUSY) fail("io_uring_enter", errno);
  }
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: raw-read <file> <depth 1..%u> <ms>\n", MAX_DEPTH);
    return 2;
  }
  long depth_arg = strtol(argv[2], NULL, 10);
  long ms = strtol(argv[3], NULL, 10);
  if (depth_arg < 1 || depth_arg > (long)MAX_DEPTH || ms < 1) {
    fprintf(stderr, "usage: raw-read <file> <depth 1..%u> <ms>\n", MAX_DEPTH);
    return 2;
  }
  unsigned depth = (unsigned)depth_arg;
  file_fd = open(argv[1], O_RDONLY | O_CLOEXEC);
  if (file_fd < 0) fail(argv[1], errno);
  struct stat st;
  if (fstat(file_fd, &st) != 0) fail("fstat", errno);
  blocks = (uint64_t)st.st_size / BLOCK;
  if (blocks == 0) fail("the file is shorter than one block", EINVAL);
  if (posix_memalign((void **)&buffers, BLOCK, (size_t)depth * BLOCK) != 0) fail("posix_memalign", ENOMEM);
  memset(buffers, 0, (size_t)depth * BLOCK);
  const char *flags = open_ring();

  struct rusage ru0, ru1;
  getrusage(RUSAGE_SELF, &ru0);
  double t0 = now_s();
  double end = t0 + (double)ms / 1000.0;
  uint64_t ops = 0;
  unsigned in_flight = depth;
  int stop = 0;
  for (unsigned s = 0; s < depth; s++) stage_read(s);
  while (in_flight > 0) {
    enter();
    /* Acquire pairs with the kernel's release of the CQ tail: the CQEs before it are written. */
    unsigned tail = __atomic_load_n(cq_tail, __ATOMIC_ACQUIRE);
    unsigned head = *cq_head;
    for (; head != tail; head++) {
      struct io_uring_cqe *cqe = &cqes[head & cq_mask];
      if (cqe->res != (int)BLOCK) {
        if (cqe->res < 0) fail("read", -cqe->res);
        fprintf(stderr, "raw-read: short read: %d bytes\n", cqe->res);
        return 1;
      }
      /* The clock is read every 64 completions, as the bench's loops do. */
      if ((++ops & 63) == 0 && now_s() >= end) stop = 1;
      if (stop)
        in_flight--;
      else
        stage_read((unsigned)cqe->user_data);
    }
    /* Release pairs with the kernel's acquire of the CQ head: the CQEs are read before it reuses them. */
    __atomic_store_n(cq_head, head, __ATOMIC_RELEASE);
  }
  double seconds = now_s() - t0;
  getrusage(RUSAGE_SELF, &ru1);
  printf("{\"ops\":%llu,\"seconds\":%.6f,\"user\":%.6f,\"sys\":%.6f,\"ring\":\"%s\"}\n", (unsigned long long)ops,
         seconds, tv_s(ru1.ru_utime) - tv_s(ru0.ru_utime), tv_s(ru1.ru_stime) - tv_s(ru0.ru_stime), flags);
  return 0;
}
