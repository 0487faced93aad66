/* The trace hook (tests only) reports one event per op CQE with the request's state before it and
 * the loop's decision: a 100-byte read of a 10-byte file is REQUEUE after 10 bytes, then COMPLETE OK
 * 10 on the 0 (end of file); a recv cancelled by its deadline is COMPLETE TIMEOUT with the cancel
 * attributed to the deadline. Wake-poll and ASYNC_CANCEL CQEs are not traced. With no hook set
 * (every other test) nothing is reported. */
#include <errno.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct iou_trace_event events[64];
static uint32_t nevents;

static void on_trace(void *ctx, const struct iou_trace_event *e) {
  CHECK(ctx == &mu);
  pthread_mutex_lock(&mu);
  if (nevents < 64) events[nevents++] = *e;
  pthread_mutex_unlock(&mu);
}

int main(void) {
  struct iou_loop_config cfg = {.size = 4,
                                .single_issuer = true,
                                .max_request_timeout_ns = 60000 * T_MS,
                                .timeout_wheel_tick_ns = T_MS,
                                .trace = on_trace,
                                .trace_ctx = &mu};
  struct t_loop *t = t_open_config(&cfg);
  int fd = t_temp_file(10);
  static uint8_t buf[100];
  struct iou_request r = t_req_buf(IOU_OP_READ_AT, fd, 1, buf, sizeof(buf));
  t_submit(t, &r);
  struct iou_completion c = t_expect(t, 1, 5000);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result == 10);
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  struct iou_request s = t_req_buf(IOU_OP_RECV, sv[0], 2, buf, 8);
  s.deadline_ns = t_now_ns() + 10 * T_MS;
  t_submit(t, &s);
  c = t_expect(t, 2, 5000);
  CHECK(c.outcome == IOU_OUTCOME_TIMEOUT);
  t_close(t, -1);

  pthread_mutex_lock(&mu);
  CHECK(nevents == 3);
  CHECK(events[0].tag == 1 && events[0].op == IOU_OP_READ_AT && events[0].done == 0 && events[0].total == 100);
  CHECK(events[0].res == 10 && events[0].decision == IOU_TRACE_REQUEUE && events[0].cancel == IOU_TRACE_CANCEL_NONE);
  CHECK(events[1].tag == 1 && events[1].done == 10 && events[1].res == 0);
  CHECK(events[1].decision == IOU_TRACE_COMPLETE && events[1].outcome == IOU_OUTCOME_OK && events[1].result == 10);
  CHECK(events[2].tag == 2 && events[2].op == IOU_OP_RECV && events[2].cancel == IOU_TRACE_CANCEL_DEADLINE);
  CHECK(events[2].res == -ECANCELED && events[2].decision == IOU_TRACE_COMPLETE);
  CHECK(events[2].outcome == IOU_OUTCOME_TIMEOUT && events[2].result == 0);
  pthread_mutex_unlock(&mu);
  close(fd);
  close(sv[0]);
  close(sv[1]);
  return T_EXIT_PASS;
}
