/*
 * The real waker (csrc/waker.c, compiled into this program with its atomics and its futex calls
 * routed through a model) checked exhaustively: every interleaving of an owner that pushes a
 * request and publishes it, a canceller that pushes a cancel and wakes, and the thread engine's
 * loop (take what is visible, then arm and block on the eventfd, or park on the futex), together
 * with every value each load may return under release/acquire, loses no wake-up and no request.
 * Scenario by scenario (main, at the end): every one of up to two of those threads with the loop,
 * and a request with a cancel against a blocking loop; the request and cancel against a parking loop
 * (the largest) only with IOU_WAKER_CHECK_ALL=1, and the sanitizer builds run the smaller ones.
 *
 * The memory model: each location keeps its stores in modification order, each with the view its
 * writer released (a release store or RMW carries its thread's view; a relaxed one only itself; an
 * RMW also carries what the store it read carried, the release sequence); each thread keeps a view
 * (per location, the oldest store it may still read). A load may read any store not older than its
 * thread's view of that location (a choice point), an acquire load or RMW joins the store's view
 * into its thread's, and a store or RMW joins the end of its location's order (an RMW reads the
 * last store). Every execution this explores is one C11 allows, so a violation it finds is real;
 * it does not explore load buffering or RMWs placed before older stores, which is what a
 * view-based release/acquire model leaves out.
 *
 * The kernel objects: the eventfd is the real one (the waker writes and reads it; the loop's
 * blocking wait, the io_uring_enter the multishot poll would wake, is a scheduling point enabled
 * while the eventfd is readable, asked with poll(2)); FUTEX_WAIT and FUTEX_WAKE are modelled as the
 * kernel defines them (the compare of the word is atomic with going to sleep), since a real futex
 * would block the thread the scheduler needs.
 *
 * The data the waker's orderings must carry are the inbound queue's tail (the owner's release store
 * before publish; the loop's acquire load in peek, as in channel.c) and the cancel (a relaxed store
 * before wake, a relaxed load after disarm: the real cancel stack's exchange is an RMW, which C11
 * may still order before a push it does not happen after, so a relaxed load is the honest stand-in).
 * Violations: the loop sees the sequence ahead but not the entry published before it (publish's
 * release / pending's acquire), the loop asleep for ever with a request or a cancel it has not taken
 * (a lost wake-up), or the loop going round more often than wakes can explain.
 *
 * Each execution runs the threads as real pthreads handing one baton around (only the holder
 * runs), and a depth-first search over the recorded choices (which thread runs at each step, which
 * store each load reads) replays every execution once. IOU_WAKER_CHECK_VERBOSE=1 prints the
 * violating execution; an argument runs only the scenarios whose name contains it.
 *
 * What it can tell apart (each tried by editing waker.c, then restored): publish's release or
 * pending's acquire made relaxed, and the loop sees the sequence ahead of the entry; wake's release
 * or disarm's acquire made relaxed, and a cancel is lost (the loop sleeps after the wake it
 * consumed); arm or park_idle without the sequence recheck, or publish without its wake, and a
 * request is lost. Not needed by what follows them: arm's and park_idle's acquire (made relaxed, it
 * still passes), since the loop reads nothing a snapshot showed before disarm or pending acquires
 * the word again.
 */
#include <errno.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- the model's memory ---- */

enum { LOC_WORD, LOC_TAIL, LOC_CANCEL, NLOCS };
static const char *const loc_names[NLOCS] = {"word", "tail", "cancel"};
#define MAX_STORES 64

struct view {
  uint8_t at[NLOCS];
};
struct store {
  uint64_t value;
  struct view view;
};
static struct {
  struct store stores[MAX_STORES];
  int count;
} locs[NLOCS];

static void join(struct view *into, const struct view *from) {
  for (int l = 0; l < NLOCS; l++)
    if (from->at[l] > into->at[l]) into->at[l] = from->at[l];
}

/* ---- threads, the baton and the search ---- */

enum { RUNNABLE, BLOCKED_EVENTFD, BLOCKED_FUTEX, DONE };
#define MAX_THREADS 3
struct mthread {
  const char *name;
  void *(*body)(void *);
  pthread_t pt;
  sem_t baton; /* posted when this thread may run */
  int state;
  bool futex_woken;
  struct view view;
};
static struct mthread th[MAX_THREADS];
static int nthreads;
static __thread int self = -1;

/* Only the baton's holder runs; handing it over (sem_post, then sem_wait on one's own) orders
 * everything one thread did before everything the next does. */
static sem_t main_baton; /* posted when the run is over */
static bool run_over, abort_all, deadlocked;
static int eventfd_of_run = -1;

#define MAX_DEPTH 400
static struct { uint8_t taken, count; } choices[MAX_DEPTH];
static int depth, recorded;
static bool verbose;
/* What the search met, per scenario: a check that explored no sleep or no stale load proves little. */
static long eventfd_sleeps, futex_sleeps, stale_loads;
static char trace[16384];
static size_t trace_len;

static void note(const char *fmt, ...) {
  if (!verbose || trace_len >= sizeof(trace) - 200) return;
  va_list ap;
  va_start(ap, fmt);
  trace_len += (size_t)vsnprintf(trace + trace_len, sizeof(trace) - trace_len, fmt, ap);
  va_end(ap);
}

static unsigned choose(unsigned count) {
  if (count == 1) return 0;
  if (depth < recorded) {
    if (choices[depth].count != count) {
      fprintf(stderr, "waker check: the replay diverged at choice %d (%u options, recorded %u)\n", depth, count,
              choices[depth].count);
      exit(1);
    }
    return choices[depth++].taken;
  }
  if (depth >= MAX_DEPTH) {
    fprintf(stderr, "waker check: more than %d choices in one execution\n", MAX_DEPTH);
    exit(1);
  }
  choices[depth].taken = 0;
  choices[depth].count = (uint8_t)count;
  recorded = ++depth;
  return 0;
}

/* The next execution's choices: the deepest one with an option left takes it. */
static bool next_execution(void) {
  while (recorded > 0 && choices[recorded - 1].taken + 1 == choices[recorded - 1].count) recorded--;
  if (recorded == 0) return false;
  choices[recorded - 1].taken++;
  depth = 0;
  return true;
}

static bool eventfd_readable(void) {
  struct pollfd p = {.fd = eventfd_of_run, .events = POLLIN};
  return poll(&p, 1, 0) == 1;
}

static bool enabled(int t) {
  switch (th[t].state) {
    case RUNNABLE:
      return true;
    case BLOCKED_EVENTFD:
      return eventfd_readable();
    case BLOCKED_FUTEX:
      return th[t].futex_woken;
    default:
      return false;
  }
}

/* Hands the baton to a thread that can run (maybe this one) and waits for it back; a thread that
 * is done only hands it on. No thread can run: the run is over (a deadlock when some thread is
 * not done). */
static void pass_baton(void) {
  int me = self, cand[MAX_THREADS], k = 0;
  for (int t = 0; t < nthreads; t++)
    if (enabled(t)) cand[k++] = t;
  if (k == 0) {
    for (int t = 0; t < nthreads; t++)
      if (th[t].state != DONE) deadlocked = true;
    run_over = true;
    sem_post(&main_baton);
  } else {
    int next = cand[choose((unsigned)k)];
    if (next == me) {
      th[me].state = RUNNABLE;
      return;
    }
    sem_post(&th[next].baton);
  }
  if (th[me].state == DONE) return;
  while (sem_wait(&th[me].baton) != 0) {
  }
  if (abort_all) pthread_exit(NULL);
  th[me].state = RUNNABLE;
}

/* After every operation another thread can observe (a store, an RMW, a syscall): any thread may
 * run next. A load is seen by no other thread and may read any store its thread's view allows, so
 * it runs in the segment that ends with its thread's next such operation: as late as it can, with
 * every store made before that segment to choose from. Putting it earlier only removes choices. */
static void step(void) {
  pass_baton();
}

/* Blocks the calling thread in `state` until it is enabled and chosen. */
static void block(int state) {
  th[self].state = state;
  pass_baton();
}

static uint64_t m_load(int l, memory_order mo) {
  struct mthread *t = &th[self];
  int from = t->view.at[l];
  int i = from + (int)choose((unsigned)(locs[l].count - from));
  t->view.at[l] = (uint8_t)i;
  if (i < locs[l].count - 1) stale_loads++;
  if (mo == memory_order_acquire || mo == memory_order_acq_rel || mo == memory_order_seq_cst)
    join(&t->view, &locs[l].stores[i].view);
  note("  %s: load %s -> %llu (store %d of %d)\n", t->name, loc_names[l], (unsigned long long)locs[l].stores[i].value,
       i, locs[l].count - 1);
  return locs[l].stores[i].value;
}

static void append(int l, uint64_t value, const struct view *carried) {
  if (locs[l].count == MAX_STORES) {
    fprintf(stderr, "waker check: more than %d stores to %s\n", MAX_STORES, loc_names[l]);
    exit(1);
  }
  int i = locs[l].count++;
  locs[l].stores[i].value = value;
  locs[l].stores[i].view = *carried;
  locs[l].stores[i].view.at[l] = (uint8_t)i;
  th[self].view.at[l] = (uint8_t)i;
}

static bool releases(memory_order mo) {
  return mo == memory_order_release || mo == memory_order_acq_rel || mo == memory_order_seq_cst;
}

static void m_store(int l, uint64_t value, memory_order mo) {
  struct view carried = {{0}};
  if (releases(mo)) carried = th[self].view;
  append(l, value, &carried);
  note("  %s: store %s = %llu\n", th[self].name, loc_names[l], (unsigned long long)value);
  step();
}

enum rmw_op { RMW_OR, RMW_AND, RMW_ADD };
static uint64_t m_rmw(int l, enum rmw_op op, uint64_t operand, memory_order mo) {
  struct mthread *t = &th[self];
  const struct store *last = &locs[l].stores[locs[l].count - 1];
  uint64_t prev = last->value;
  if (mo != memory_order_relaxed && mo != memory_order_release) join(&t->view, &last->view);
  struct view carried = last->view; /* the release sequence goes on through an RMW */
  if (releases(mo)) join(&carried, &t->view);
  uint64_t next = op == RMW_OR ? prev | operand : op == RMW_AND ? prev & operand : prev + operand;
  append(l, (uint32_t)next, &carried);
  note("  %s: rmw %s %llx -> %llx\n", t->name, loc_names[l], (unsigned long long)prev,
       (unsigned long long)(uint32_t)next);
  step();
  return prev;
}

/* ---- waker.c, with its atomics and syscalls routed through the model ---- */

static uint64_t m_atomic_rmw(volatile void *obj, enum rmw_op op, uint64_t operand, memory_order mo);
static uint64_t m_atomic_load(volatile void *obj, memory_order mo);
static void m_atomic_init(volatile void *obj, uint64_t value);
static long m_syscall(long nr, ...);
static ssize_t m_write(int fd, const void *buf, size_t n);
static ssize_t m_read(int fd, void *buf, size_t n);

#undef atomic_init
#undef atomic_fetch_or_explicit
#undef atomic_fetch_and_explicit
#undef atomic_fetch_add_explicit
#undef atomic_load_explicit
#define atomic_init(obj, v) m_atomic_init((obj), (v))
#define atomic_fetch_or_explicit(obj, v, mo) m_atomic_rmw((obj), RMW_OR, (v), (mo))
#define atomic_fetch_and_explicit(obj, v, mo) m_atomic_rmw((obj), RMW_AND, (v), (mo))
#define atomic_fetch_add_explicit(obj, v, mo) m_atomic_rmw((obj), RMW_ADD, (v), (mo))
#define atomic_load_explicit(obj, mo) m_atomic_load((obj), (mo))
#define syscall m_syscall
#define write m_write
#define read m_read
/* Renamed, so that the real objects linked into every test keep their names. */
#define iou__waker_init checked_waker_init
#define iou__waker_destroy checked_waker_destroy
#define iou__waker_publish checked_waker_publish
#define iou__waker_wake checked_waker_wake
#define iou__waker_pending checked_waker_pending
#define iou__waker_arm checked_waker_arm
#define iou__waker_disarm checked_waker_disarm
#define iou__waker_park_idle checked_waker_park_idle
#define iou__waker_acknowledge checked_waker_acknowledge
#define iou__waker_prep_poll checked_waker_prep_poll
#include "../../csrc/waker.c"
#undef syscall
#undef write
#undef read

#include "helpers.h"

static struct iou__waker w;

/* The word is the model's; the wakes counter (relaxed, read by nobody here) stays a plain atomic. */
static uint64_t m_atomic_rmw(volatile void *obj, enum rmw_op op, uint64_t operand, memory_order mo) {
  if (obj == (volatile void *)&w.wakes) return __atomic_fetch_add((uint64_t *)&w.wakes, operand, __ATOMIC_RELAXED);
  CHECK(obj == (volatile void *)&w.state);
  return m_rmw(LOC_WORD, op, operand, mo);
}
static uint64_t m_atomic_load(volatile void *obj, memory_order mo) {
  CHECK(obj == (volatile void *)&w.state);
  return m_load(LOC_WORD, mo);
}
static void m_atomic_init(volatile void *obj, uint64_t value) {
  if (obj == (volatile void *)&w.state) locs[LOC_WORD].stores[0].value = value;
}

/* FUTEX_WAIT compares against the last store (the kernel reads the word under its bucket lock);
 * FUTEX_WAKE wakes one waiter. */
static long m_syscall(long nr, ...) {
  va_list ap;
  va_start(ap, nr);
  uint32_t *addr = va_arg(ap, uint32_t *);
  int op = va_arg(ap, int);
  uint32_t val = va_arg(ap, uint32_t);
  va_end(ap);
  CHECK(nr == SYS_futex && addr == (uint32_t *)&w.state);
  if (op == FUTEX_WAIT_PRIVATE) {
    uint32_t now = (uint32_t)locs[LOC_WORD].stores[locs[LOC_WORD].count - 1].value;
    if (now != val) {
      note("  %s: FUTEX_WAIT -> EAGAIN\n", th[self].name);
      step();
      errno = EAGAIN;
      return -1;
    }
    note("  %s: FUTEX_WAIT sleeps\n", th[self].name);
    th[self].futex_woken = false;
    futex_sleeps++;
    block(BLOCKED_FUTEX);
    note("  %s: FUTEX_WAIT woken\n", th[self].name);
    return 0;
  }
  CHECK(op == FUTEX_WAKE_PRIVATE);
  long woken = 0;
  for (int t = 0; t < nthreads && woken == 0; t++) {
    if (th[t].state == BLOCKED_FUTEX && !th[t].futex_woken) {
      th[t].futex_woken = true;
      woken = 1;
    }
  }
  note("  %s: FUTEX_WAKE -> %ld\n", th[self].name, woken);
  step();
  return woken;
}

static ssize_t m_write(int fd, const void *buf, size_t n) {
  ssize_t r = write(fd, buf, n);
  int e = errno;
  note("  %s: eventfd write\n", th[self].name);
  step();
  errno = e;
  return r;
}
static ssize_t m_read(int fd, void *buf, size_t n) {
  ssize_t r = read(fd, buf, n);
  int e = errno;
  note("  %s: eventfd read\n", th[self].name);
  step();
  errno = e;
  return r;
}

/* ---- the scenario ---- */

static struct {
  int requests; /* the owner pushes and publishes this many, one at a time */
  int cancels;  /* the canceller pushes and wakes this many times */
  int waits;    /* how the loop waits: 0 block (arm), 1 park, 2 either (a choice each time) */
} scenario;
static const char *violation;

static void *owner(void *arg) {
  (void)arg;
  for (int i = 1; i <= scenario.requests; i++) {
    /* channel.c's push: entries written, then the tail with release. */
    m_store(LOC_TAIL, (uint64_t)i, memory_order_release);
    checked_waker_publish(&w, 1);
  }
  return NULL;
}

static void *canceller(void *arg) {
  (void)arg;
  for (int i = 1; i <= scenario.cancels; i++) {
    m_store(LOC_CANCEL, (uint64_t)i, memory_order_relaxed);
    checked_waker_wake(&w);
  }
  return NULL;
}

static void *loop(void *arg) {
  (void)arg;
  uint32_t processed = 0;
  uint64_t head = 0, cancels_seen = 0;
  /* Each round either takes something or follows a wake; more rounds than that is a spin. */
  int rounds_left = 2 * (scenario.requests + scenario.cancels) + 2;
  for (;;) {
    /* The loop's order (loop.c): take the cancels, then fill_sq's take of new requests. */
    uint64_t c = m_load(LOC_CANCEL, memory_order_relaxed);
    if (c > cancels_seen) cancels_seen = c;
    /* fill_sq: peek; when empty, look once more if the sequence says more was published. */
    for (;;) {
      bool entry = m_load(LOC_TAIL, memory_order_acquire) > head;
      if (!entry) {
        if (!checked_waker_pending(&w, processed)) break;
        entry = m_load(LOC_TAIL, memory_order_acquire) > head;
        if (!entry) {
          violation = "the loop saw the sequence ahead but not the request published before it";
          return NULL;
        }
      }
      head++;
      processed = (processed + 1) & IOU_WAKER_SUBMISSION_SEQ_MASK;
    }
    if (head == (uint64_t)scenario.requests && cancels_seen == (uint64_t)scenario.cancels) return NULL;
    if (rounds_left-- == 0) {
      violation = "the loop went round more often than requests and wakes explain";
      return NULL;
    }
    int how = scenario.waits == 2 ? (int)choose(2) : scenario.waits;
    if (how == 0) {
      /* engine_thread.c's block(): arm, block in io_uring_enter unless idle says no, disarm. */
      struct iou__waker_arm a = checked_waker_arm(&w, processed);
      if (a.still_idle) {
        note("  loop: blocks on the eventfd\n");
        eventfd_sleeps++;
        block(BLOCKED_EVENTFD);
        note("  loop: eventfd readable\n");
        checked_waker_acknowledge(&w);
      }
      checked_waker_disarm(&w);
    } else {
      checked_waker_park_idle(&w, processed);
    }
  }
}

static void *start(void *arg) {
  int me = (int)(intptr_t)arg;
  self = me;
  while (sem_wait(&th[me].baton) != 0) {
  }
  if (abort_all) return NULL;
  th[me].body(NULL);
  th[me].state = DONE;
  pass_baton();
  return NULL;
}

/* One execution, following the recorded choices and recording new ones. Returns false on a
 * violation (printed). */
static bool run_once(void) {
  memset(locs, 0, sizeof(locs));
  for (int l = 0; l < NLOCS; l++) locs[l].count = 1;
  CHECK(checked_waker_init(&w) == 0);
  eventfd_of_run = w.eventfd;
  run_over = abort_all = deadlocked = false;
  violation = NULL;
  trace_len = 0;
  trace[0] = '\0';
  for (int t = 0; t < nthreads; t++) {
    th[t].state = RUNNABLE;
    th[t].futex_woken = false;
    memset(&th[t].view, 0, sizeof(th[t].view));
    CHECK(sem_init(&th[t].baton, 0, 0) == 0);
    CHECK(pthread_create(&th[t].pt, NULL, start, (void *)(intptr_t)t) == 0);
  }
  sem_post(&th[choose((unsigned)nthreads)].baton);
  while (sem_wait(&main_baton) != 0) {
  }
  /* The run is over: the threads still blocked end where they wait. */
  abort_all = true;
  for (int t = 0; t < nthreads; t++)
    if (th[t].state != DONE) sem_post(&th[t].baton);
  for (int t = 0; t < nthreads; t++) {
    pthread_join(th[t].pt, NULL);
    sem_destroy(&th[t].baton);
  }
  checked_waker_destroy(&w);
  if (violation == NULL && deadlocked)
    violation = "the loop sleeps for ever with work it has not taken (a lost wake-up)";
  if (violation == NULL) return true;
  fprintf(stderr, "violation: %s\n", violation);
  if (verbose) fprintf(stderr, "the execution:\n%s", trace);
  return false;
}

static const char *only;

static void check(const char *name, int requests, int cancels, int waits) {
  if (only != NULL && strstr(name, only) == NULL) return;
  scenario.requests = requests;
  scenario.cancels = cancels;
  scenario.waits = waits;
  nthreads = 0;
  if (requests > 0) th[nthreads++] = (struct mthread){.name = "owner", .body = owner};
  if (cancels > 0) th[nthreads++] = (struct mthread){.name = "canceller", .body = canceller};
  th[nthreads++] = (struct mthread){.name = "loop", .body = loop};
  recorded = depth = 0;
  eventfd_sleeps = futex_sleeps = stale_loads = 0;
  long executions = 0;
  do {
    executions++;
    if (!run_once()) {
      fprintf(stderr, "in: %s (execution %ld)\n", name, executions);
      exit(T_EXIT_FAIL);
    }
  } while (next_execution());
  printf(
      "%s: %ld executions (the loop slept on the eventfd in %ld, on the futex in %ld; %ld loads read an older store), "
      "no lost wake-up\n",
      name, executions, eventfd_sleeps, futex_sleeps, stale_loads);
  CHECK(stale_loads > 0);
  CHECK(waits == 1 || eventfd_sleeps > 0);
  CHECK(waits == 0 || futex_sleeps > 0);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define INSTRUMENTED 1 /* gcc's spelling */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define INSTRUMENTED 1 /* clang's */
#endif
#endif
#ifndef INSTRUMENTED
#define INSTRUMENTED 0
#endif

/* Every scenario runs in the plain build. The sanitizer builds, where each baton hand-over costs
 * many times more, run those of at most a few thousand executions: they check waker.c's memory
 * safety, which the bigger ones do not add to. IOU_WAKER_CHECK_ALL=1 adds the largest (three
 * threads against a parking loop: over half a million executions, minutes). */
int main(int argc, char **argv) {
  only = argc > 1 ? argv[1] : NULL; /* a part of a scenario's name: only those */
  const char *v = getenv("IOU_WAKER_CHECK_VERBOSE");
  verbose = v != NULL && v[0] == '1';
  const char *all = getenv("IOU_WAKER_CHECK_ALL");
  setvbuf(stdout, NULL, _IOLBF, 0);
  CHECK(sem_init(&main_baton, 0, 0) == 0);
  check("one request published against a blocking loop", 1, 0, 0);
  check("one request published against a parking loop", 1, 0, 1);
  check("one cancel and wake against a blocking loop", 0, 1, 0);
  check("one cancel and wake against a parking loop", 0, 1, 1);
  check("two cancels and wakes against a loop that blocks or parks", 0, 2, 2);
  if (!INSTRUMENTED) {
    check("two requests published against a loop that blocks or parks", 2, 0, 2);
    check("a request and a cancel against a blocking loop", 1, 1, 0);
  }
  if (all != NULL && all[0] == '1') check("a request and a cancel against a parking loop", 1, 1, 1);
  return T_EXIT_PASS;
}
