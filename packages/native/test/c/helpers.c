/* helpers.c: shared by the C tests. */
#include "helpers.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

void t_require_io_uring(void) {
  struct iou_probe p;
  iou_probe(&p);
  if (p.setup_errno != 0) {
    printf("io_uring_setup refused: %s\n", strerror(p.setup_errno));
    exit(T_EXIT_SKIP);
  }
}

uint64_t t_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Every harness, so that it can be freed at exit: a test reads t->got after t_close, so t_close
 * cannot free it. A harness whose loop is still open at exit (a test that failed half-way) is not
 * freed, since its loop thread may still notify it; it stays reachable from here. The array must be
 * read somewhere: a write-only one is optimised away, and leak checkers then report every harness
 * as definitely lost. */
static struct t_loop *all_loops[64];
static unsigned n_loops;

bool t_inline(void) {
  const char *e = getenv("IOU_TEST_ENGINE");
  return e != NULL && strcmp(e, "inline") == 0;
}

/* IOU_TEST_INLINE_WAKE=ringfd: inline loops open with IOU_INLINE_WAKE_RINGFD (the Makefile runs
 * the loop tests once per inline wake mode). */
static uint8_t inline_wake(void) {
  const char *e = getenv("IOU_TEST_INLINE_WAKE");
  return e != NULL && strcmp(e, "ringfd") == 0 ? IOU_INLINE_WAKE_RINGFD : IOU_INLINE_WAKE_EVENTFD;
}

/* The inline engine runs only when its owner calls in, and the harness calls in exactly when the
 * binding's libuv callbacks would: the loop's fd turned readable (its counter is read, then a pass
 * runs), or its next deadline (iou_loop_timeout_ns) came. Waiting max_ms with neither runs no pass:
 * work the loop left unannounced then stays undone, and the test fails instead of a blind pass
 * covering it. The thread engine: waits for a notify. */
static void pump(struct t_loop *t, int max_ms) {
  if (t->inline_engine) {
    int64_t next = iou_loop_timeout_ns(t->loop);
    int ms = max_ms;
    bool timer = next >= 0 && (int64_t)(next / T_MS) + 1 <= ms;
    if (timer) ms = (int)(next / T_MS) + 1;
    struct pollfd p = {.fd = iou_loop_fd(t->loop), .events = POLLIN};
    if (poll(&p, 1, ms) > 0) {
      if (iou_loop_inline_wake(t->loop) == IOU_INLINE_WAKE_EVENTFD) {
        uint64_t v; /* the eventfd's counter (the ring fd has none) */
        ssize_t r = read(p.fd, &v, sizeof(v));
        (void)r;
      }
      iou_loop_run(t->loop);
    } else if (timer) {
      iou_loop_run(t->loop);
    }
    return;
  }
  struct pollfd p = {.fd = t->notify_fd, .events = POLLIN};
  if (poll(&p, 1, max_ms) > 0) {
    uint64_t v;
    ssize_t r = read(t->notify_fd, &v, sizeof(v));
    (void)r;
  }
}

void t_sleep_ms(unsigned ms) {
  /* An open inline loop keeps running while the test waits, as its host event loop would. */
  uint64_t end = t_now_ns() + (uint64_t)ms * T_MS;
  for (unsigned i = 0; i < n_loops; i++) {
    struct t_loop *t = all_loops[i];
    if (t == NULL || t->loop == NULL || !t->inline_engine || !pthread_equal(t->owner, pthread_self())) continue;
    for (uint64_t now = t_now_ns(); now < end; now = t_now_ns()) pump(t, (int)((end - now) / T_MS) + 1);
    return;
  }
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static void on_notify(void *ctx) {
  struct t_loop *t = ctx;
  atomic_fetch_add(&t->notifies, 1);
  uint64_t one = 1;
  ssize_t r = write(t->notify_fd, &one, sizeof(one));
  (void)r;
}

static void free_closed_loops(void) {
  for (unsigned i = 0; i < n_loops; i++) {
    if (all_loops[i] == NULL || all_loops[i]->loop != NULL) continue;
    free(all_loops[i]);
    all_loops[i] = NULL;
  }
}

struct t_loop *t_open(uint32_t size, bool single_issuer, uint64_t horizon_ns, uint64_t tick_ns) {
  struct iou_loop_config cfg = {
      .size = size,
      .single_issuer = single_issuer,
      .io_poll = false,
      .max_request_timeout_ns = horizon_ns,
      .timeout_wheel_tick_ns = tick_ns,
  };
  return t_open_config(&cfg);
}

/* Opens the harness around a loop with exactly this config. */
static struct t_loop *open_harness(const struct iou_loop_config *cfg) {
  t_require_io_uring();
  struct t_loop *t = calloc(1, sizeof(*t));
  CHECK(t != NULL);
  CHECK(n_loops < 64);
  if (n_loops == 0) CHECK(atexit(free_closed_loops) == 0);
  all_loops[n_loops++] = t;
  t->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  CHECK(t->notify_fd >= 0);
  t->inline_engine = cfg->engine == IOU_ENGINE_INLINE;
  t->owner = pthread_self();
  int r = iou_loop_open(cfg, on_notify, t, &t->loop);
  if (r == -ENOMEM || r == -EPERM) {
    printf("iou_loop_open refused: %s\n", strerror(-r));
    exit(T_EXIT_SKIP);
  }
  CHECK(r == 0);
  return t;
}

struct t_loop *t_open_config(const struct iou_loop_config *config) {
  struct iou_loop_config cfg = *config;
  if (t_inline()) cfg.engine = IOU_ENGINE_INLINE; /* IOU_TEST_ENGINE=inline: the same test, inline */
  if (cfg.engine == IOU_ENGINE_INLINE) cfg.inline_wake = inline_wake();
  return open_harness(&cfg);
}

struct t_loop *t_open_engine(uint8_t engine, uint32_t size) {
  struct iou_loop_config cfg = {.engine = engine,
                                .size = size,
                                .single_issuer = true,
                                .max_request_timeout_ns = 60000 * T_MS,
                                .timeout_wheel_tick_ns = 5 * T_MS};
  return open_harness(&cfg);
}

struct t_loop *t_open_inline(uint8_t wake, bool single_issuer, uint32_t size) {
  struct iou_loop_config cfg = {.engine = IOU_ENGINE_INLINE,
                                .inline_wake = wake,
                                .size = size,
                                .single_issuer = single_issuer,
                                .max_request_timeout_ns = 60000 * T_MS,
                                .timeout_wheel_tick_ns = 5 * T_MS};
  return open_harness(&cfg);
}

int t_threads_named(const char *prefix, int *first) {
  DIR *d = opendir("/proc/self/task");
  CHECK(d != NULL);
  int n = 0;
  if (first != NULL) *first = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char path[300], comm[32] = {0};
    snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
    FILE *f = fopen(path, "r");
    if (f == NULL) continue; /* the thread ended meanwhile */
    if (fgets(comm, sizeof(comm), f) != NULL && strncmp(comm, prefix, strlen(prefix)) == 0) {
      if (n++ == 0 && first != NULL) *first = atoi(e->d_name);
    }
    fclose(f);
  }
  closedir(d);
  return n;
}

struct t_loop *t_open_default(uint32_t size) {
  return t_open(size, true, 60000 * T_MS, 5 * T_MS);
}

struct t_loop *t_open_spinning(uint32_t spin_us) {
  struct iou_loop_config cfg = {
      .size = 8,
      .single_issuer = true,
      .max_request_timeout_ns = 60000 * T_MS,
      .timeout_wheel_tick_ns = 5 * T_MS,
      .idle_spin_us = spin_us,
      .idle_spin_max_us = spin_us,
  };
  return t_open_config(&cfg);
}

void t_first_cpus(int *a, int *b) {
  cpu_set_t set;
  CHECK(sched_getaffinity(0, sizeof set, &set) == 0);
  *a = *b = -1;
  for (int i = 0; i < CPU_SETSIZE && *b < 0; i++) {
    if (!CPU_ISSET(i, &set)) continue;
    if (*a < 0)
      *a = i;
    else
      *b = i;
  }
  CHECK(*a >= 0);
}

bool t_pin_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  CHECK(sched_setaffinity(0, sizeof set, &set) == 0);
  return sched_getcpu() == cpu;
}

struct iou_request t_req(uint8_t op, int fd, uint64_t tag) {
  struct iou_request r;
  memset(&r, 0, sizeof(r));
  r.op = op;
  r.fd = fd;
  r.tag = tag;
  return r;
}

struct iou_request t_req_buf(uint8_t op, int fd, uint64_t tag, void *buf, uint32_t len) {
  struct iou_request r = t_req(op, fd, tag);
  r.buf = buf;
  r.len = len;
  return r;
}

void t_submit(struct t_loop *t, const struct iou_request *req) {
  CHECK(iou_loop_submit(t->loop, req, 1) == 1);
  iou_loop_publish(t->loop);
}

uint32_t t_poll(struct t_loop *t) {
  uint32_t before = t->ngot;
  /* Inline: no pass here; completions are published by the passes pump runs when the host loop
   * would (and by publish), so a test sees only what the loop announced. */
  for (;;) {
    CHECK(t->ngot < T_MAX_GOT);
    uint32_t n =
        iou_loop_poll_completions(t->loop, &t->got[t->ngot], T_MAX_GOT - t->ngot < 256 ? T_MAX_GOT - t->ngot : 256);
    if (n == 0) break;
    t->ngot += n;
  }
  return t->ngot - before;
}

static bool find(struct t_loop *t, uint64_t tag, struct iou_completion *out) {
  for (uint32_t i = 0; i < t->ngot; i++) {
    if (!t->taken[i] && t->got[i].tag == tag) {
      t->taken[i] = true;
      if (out) *out = t->got[i];
      return true;
    }
  }
  return false;
}

bool t_has(struct t_loop *t, uint64_t tag) {
  t_poll(t);
  for (uint32_t i = 0; i < t->ngot; i++)
    if (t->got[i].tag == tag) return true;
  return false;
}

bool t_wait(struct t_loop *t, uint64_t tag, int timeout_ms, struct iou_completion *out) {
  uint64_t end = t_now_ns() + (uint64_t)timeout_ms * T_MS;
  for (;;) {
    t_poll(t);
    if (find(t, tag, out)) return true;
    uint64_t now = t_now_ns();
    if (now >= end) return false;
    pump(t, (int)((end - now) / T_MS) + 1);
  }
}

struct iou_completion t_expect(struct t_loop *t, uint64_t tag, int timeout_ms) {
  struct iou_completion c;
  if (!t_wait(t, tag, timeout_ms, &c)) {
    fprintf(stderr, "no completion for tag %llu within %d ms\n", (unsigned long long)tag, timeout_ms);
    exit(T_EXIT_FAIL);
  }
  return c;
}

void t_close(struct t_loop *t, int64_t timeout_ns) {
  t_close_stats(t, timeout_ns, NULL);
}

void t_close_stats(struct t_loop *t, int64_t timeout_ns, struct iou_stats *stats) {
  CHECK(iou_loop_close(t->loop, timeout_ns) == 0);
  uint64_t end = t_now_ns() + 30000 * T_MS;
  while (!iou_loop_exited(t->loop)) {
    CHECK(t_now_ns() < end);
    pump(t, 10);
    t_poll(t);
  }
  t_poll(t);
  if (stats != NULL) iou_loop_stats(t->loop, stats);
  iou_loop_destroy(t->loop);
  t->loop = NULL;
  close(t->notify_fd);
}

int t_temp_file(uint32_t size) {
  char path[] = "/tmp/iou-test-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  unlink(path);
  uint8_t *buf = malloc(size ? size : 1);
  CHECK(buf != NULL);
  for (uint32_t i = 0; i < size; i++) buf[i] = t_pattern(i);
  CHECK(pwrite(fd, buf, size, 0) == (ssize_t)size);
  free(buf);
  return fd;
}

void t_tcp_pair(int fds[2]) {
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(l >= 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(bind(l, (struct sockaddr *)&a, sizeof(a)) == 0);
  CHECK(listen(l, 1) == 0);
  socklen_t len = sizeof(a);
  CHECK(getsockname(l, (struct sockaddr *)&a, &len) == 0);
  fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(fds[0] >= 0);
  CHECK(connect(fds[0], (struct sockaddr *)&a, sizeof(a)) == 0);
  fds[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
  CHECK(fds[1] >= 0);
  int one = 1;
  setsockopt(fds[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  setsockopt(fds[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  close(l);
}

uint64_t t_cpu_ns(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return ((uint64_t)u.ru_utime.tv_sec + (uint64_t)u.ru_stime.tv_sec) * 1000000000ull +
         ((uint64_t)u.ru_utime.tv_usec + (uint64_t)u.ru_stime.tv_usec) * 1000ull;
}

void t_full_ring_open(struct t_full_ring *f) {
  f->t = t_open_default(2);
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, f->sv) == 0);
  for (int i = 0; i < 4; i++) {
    f->reqs[i] = t_req_buf(IOU_OP_RECV, f->sv[0], 1 + (uint64_t)i, f->buf[i], 8);
  }
  CHECK(iou_loop_submit(f->t->loop, f->reqs, 2) == 2);
  iou_loop_publish(f->t->loop);
  t_sleep_ms(30);
}

void t_full_ring_queue(struct t_full_ring *f) {
  CHECK(iou_loop_submit(f->t->loop, f->reqs + 2, 2) == 2);
  iou_loop_publish(f->t->loop);
}

void t_full_ring_finish(struct t_full_ring *f) {
  CHECK(write(f->sv[1], "abcdefgh", 8) == 8);
  t_sleep_ms(20);
  CHECK(write(f->sv[1], "ijklmnop", 8) == 8);
  t_sleep_ms(20);
  CHECK(write(f->sv[1], "qrstuvwx", 8) == 8);
  for (uint64_t tag = 1; tag <= 3; tag++) {
    struct iou_completion c = t_expect(f->t, tag, 5000);
    CHECK(c.outcome == IOU_OUTCOME_OK && c.result == 8);
  }
  t_close(f->t, -1);
  CHECK(f->t->ngot == 4);
  close(f->sv[0]);
  close(f->sv[1]);
}
