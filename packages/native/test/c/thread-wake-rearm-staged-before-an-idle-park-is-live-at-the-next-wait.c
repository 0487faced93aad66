/* A wake re-arm staged just before an idle futex park is in the kernel by the time the loop next
 * blocks in io_uring_enter, so a publish then still wakes it. The set-up: the wake poll is one-shot
 * (a test knob), and the loop reaps, in one batch, the last request's CQE and the wake CQE that
 * ends the poll; it stages the re-arm and, with nothing in flight, parks on the futex word without
 * entering the ring (the re-arm stays staged). Then a recv with no data and no deadline puts the
 * loop in io_uring_enter; a NOP published behind it completes only if that enter submitted the
 * re-arm. To get both CQEs into one batch, the loop thread shares the test's CPU at SCHED_IDLE, so
 * that it does not run between the two events that cause them, and the ring is the COOP_TASKRUN one
 * (single_issuer off): a DEFER_TASKRUN wait for one CQE runs one completion's task work and leaves
 * the other for the next enter. The set-up is checked (one SQE staged, no enter) and retried when
 * the scheduler got in the way. */
#include <dirent.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

/* The thread id of the loop thread, named iou-loop. */
static pid_t loop_tid(void) {
  DIR *d = opendir("/proc/self/task");
  CHECK(d != NULL);
  pid_t tid = -1;
  struct dirent *e;
  while ((e = readdir(d)) != NULL && tid < 0) {
    if (e->d_name[0] == '.') continue;
    char path[300], comm[32] = {0};
    snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
    FILE *f = fopen(path, "r");
    if (f == NULL) continue;
    if (fgets(comm, sizeof(comm), f) != NULL && strncmp(comm, "iou-loop", 8) == 0) tid = atoi(e->d_name);
    fclose(f);
  }
  closedir(d);
  CHECK(tid > 0);
  return tid;
}

int main(void) {
  struct iou_loop_config cfg = {
      .size = 8,
      .single_issuer = false,
      .max_request_timeout_ns = 60000 * T_MS,
      .timeout_wheel_tick_ns = 5 * T_MS,
      .wake_poll_oneshot = true,
  };
  struct t_loop *t = t_open_config(&cfg);
  int cpu = sched_getcpu();
  CHECK(cpu >= 0);
  (void)t_pin_to(cpu);
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  pid_t tid = loop_tid();
  (void)sched_setaffinity(tid, sizeof(one), &one); /* best effort: the set-up is checked below */
  struct sched_param idle = {.sched_priority = 0};
  (void)sched_setscheduler(tid, SCHED_IDLE, &idle);

  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  uint8_t buf[2][4];
  uint64_t tag = 0;
  bool set_up = false;
  uint64_t staged = 0, entered = 0;
  for (int attempt = 0; attempt < 20 && !set_up; attempt++) {
    struct iou_request last = t_req_buf(IOU_OP_RECV, sv[0], ++tag, buf[0], 1);
    t_submit(t, &last);
    t_sleep_ms(30); /* the loop blocks in io_uring_enter, the wake poll armed */
    struct iou_stats before, after;
    iou_loop_stats(t->loop, &before);
    CHECK(write(sv[1], "x", 1) == 1);                 /* the recv's CQE */
    CHECK(iou_loop_cancel(t->loop, 1ull << 40) == 0); /* an unknown tag: only a wake, through the eventfd */
    CHECK(t_expect(t, tag, 5000).outcome == IOU_OUTCOME_OK);
    t_sleep_ms(30); /* parked */
    iou_loop_stats(t->loop, &after);
    staged = after.sqes_staged - before.sqes_staged;
    entered = after.enters - before.enters;
    set_up = staged == 1 && entered == 0;
  }
  /* No SQE staged at all: the eventfd write brought no wake CQE, so no wake poll was armed (the
   * very first re-arm is also staged before an idle park). One SQE and an enter: the loop ran
   * between the two events each time. */
  if (!set_up)
    fprintf(stderr, "no batch of the recv's CQE and the wake CQE: last attempt staged %llu SQEs, entered %llu times\n",
            (unsigned long long)staged, (unsigned long long)entered);
  CHECK(set_up);

  struct iou_request blocked = t_req_buf(IOU_OP_RECV, sv[0], ++tag, buf[1], 1);
  t_submit(t, &blocked); /* the futex wake; the loop enters the ring with the recv and the re-arm */
  t_sleep_ms(30);
  struct iou_stats st;
  iou_loop_stats(t->loop, &st);
  CHECK(st.pending_operations == 1);
  struct iou_request nop = t_req(IOU_OP_NOP, -1, ++tag);
  t_submit(t, &nop); /* an eventfd write: the re-armed poll wakes the loop */
  CHECK(t_expect(t, tag, 2000).outcome == IOU_OUTCOME_OK);
  CHECK(!t_has(t, tag - 1));
  CHECK(iou_loop_cancel(t->loop, tag - 1) == 0);
  CHECK(t_expect(t, tag - 1, 5000).outcome == IOU_OUTCOME_CANCELLED);
  t_close(t, -1);
  close(sv[0]);
  close(sv[1]);
  return T_EXIT_PASS;
}
