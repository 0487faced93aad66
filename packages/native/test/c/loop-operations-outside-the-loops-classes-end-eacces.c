/* A loop opened for one class of operations (iou_loop_config.operations) ends a request of another
 * class at admission with ERROR -EACCES, before any SQE, and runs its own class's and nop: a files
 * loop refuses send and recv and reads a file; a sockets loop refuses read_at, write_at and sync and
 * receives on a socket pair. An operations value with unknown bits is EINVAL. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

static struct t_loop *open_for(uint8_t classes) {
  struct iou_loop_config cfg = {.size = 8,
                                .single_issuer = true,
                                .max_request_timeout_ns = 60000 * T_MS,
                                .timeout_wheel_tick_ns = 5 * T_MS,
                                .operations = classes};
  return t_open_config(&cfg);
}

static uint64_t staged(struct t_loop *t) {
  struct iou_stats st;
  iou_loop_stats(t->loop, &st);
  return st.sqes_staged;
}

/* Ends ERROR -EACCES without an SQE (the kernel's own refusal would have cost one). */
static void expect_refused(struct t_loop *t, struct iou_request req) {
  uint64_t before = staged(t);
  t_submit(t, &req);
  struct iou_completion c = t_expect(t, req.tag, 5000);
  CHECK(c.outcome == IOU_OUTCOME_ERROR && c.result == -EACCES);
  CHECK(staged(t) == before);
}

/* A nop runs on every loop (and, first, leaves the loop's own SQEs staged). */
static void expect_nop(struct t_loop *t, uint64_t tag) {
  struct iou_request nop = t_req(IOU_OP_NOP, -1, tag);
  t_submit(t, &nop);
  CHECK(t_expect(t, tag, 5000).outcome == IOU_OUTCOME_OK);
}

int main(void) {
  uint8_t buf[16];
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  int file = t_temp_file(sizeof(buf));

  struct t_loop *files = open_for(IOU_CLASS_FILES);
  expect_nop(files, 100);
  expect_refused(files, t_req_buf(IOU_OP_SEND, sv[0], 1, buf, 4));
  expect_refused(files, t_req_buf(IOU_OP_RECV, sv[0], 2, buf, 4));
  struct iou_request read = t_req_buf(IOU_OP_READ_AT, file, 3, buf, sizeof(buf));
  t_submit(files, &read);
  struct iou_completion c = t_expect(files, 3, 5000);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result == (int32_t)sizeof(buf) && buf[1] == t_pattern(1));
  t_close(files, -1);

  struct t_loop *sockets = open_for(IOU_CLASS_SOCKETS);
  expect_nop(sockets, 100);
  expect_refused(sockets, t_req_buf(IOU_OP_READ_AT, file, 1, buf, 4));
  expect_refused(sockets, t_req_buf(IOU_OP_WRITE_AT, file, 2, buf, 4));
  expect_refused(sockets, t_req(IOU_OP_SYNC, file, 3));
  CHECK(write(sv[1], "ping", 4) == 4);
  struct iou_request recv = t_req_buf(IOU_OP_RECV, sv[0], 4, buf, sizeof(buf));
  t_submit(sockets, &recv);
  c = t_expect(sockets, 4, 5000);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result == 4 && memcmp(buf, "ping", 4) == 0);
  t_close(sockets, -1);

  struct iou_loop_config bad = {
      .size = 8, .max_request_timeout_ns = 60000 * T_MS, .timeout_wheel_tick_ns = 5 * T_MS, .operations = 4};
  struct iou_loop *loop = NULL;
  CHECK(iou_loop_open(&bad, NULL, NULL, &loop) == -EINVAL && loop == NULL);
  close(file);
  close(sv[0]);
  close(sv[1]);
  return T_EXIT_PASS;
}
