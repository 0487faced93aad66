/* iou_loop_try_destroy: refuses a loop whose thread has not exited (which keeps working and is
 * destroyed as usual later), and frees an exited one once its thread has ended, without joining it
 * before: with a large file write abandoned in io-wq the thread can outlive its exit by as long as the
 * write takes, and every refusal leaves the loop intact for the next try. */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

/* Closes with timeout 0 and waits until the loop thread has exited (everything published). */
static void close_and_wait_exited(struct t_loop *t) {
  CHECK(iou_loop_close(t->loop, 0) == 0);
  uint64_t end = t_now_ns() + 30000 * T_MS;
  while (!iou_loop_exited(t->loop)) {
    CHECK(t_now_ns() < end);
    t_sleep_ms(1);
  }
  t_poll(t);
}

/* Tries until the thread has ended; returns how many tries refused. No try waits for the thread: a
 * join of a thread still in the kernel would make the first try succeed late, after waiting as long
 * as its write. So a first try that destroys the loop fails the test when it took long and the loop
 * thread was still there as it began; a try may be slow for other reasons (preempted, freeing the
 * loop under a sanitizer), and the inline engine has no thread to join. */
static unsigned try_until_destroyed(struct t_loop *t) {
  unsigned refused = 0;
  uint64_t end = t_now_ns() + 60000 * T_MS;
  for (;;) {
    bool thread_there = t_threads_named("iou-loop", NULL) > 0;
    uint64_t start = t_now_ns();
    bool destroyed = iou_loop_try_destroy(t->loop);
    uint64_t took = t_now_ns() - start;
    bool joined_busy = destroyed && refused == 0 && thread_there && took >= 25 * T_MS;
    if (joined_busy)
      fprintf(stderr, "the first try took %llu ms with the loop thread there and destroyed the loop\n",
              (unsigned long long)(took / T_MS));
    CHECK(!joined_busy);
    if (destroyed) break;
    CHECK(t_now_ns() < end);
    refused++;
    t_sleep_ms(1);
  }
  t->loop = NULL;
  close(t->notify_fd);
  return refused;
}

int main(void) {
  /* Not exited: refused, and the loop goes on (a recv still completes). */
  struct t_loop *t = t_open_default(4);
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  static uint8_t buf[8];
  struct iou_request r = t_req_buf(IOU_OP_RECV, sv[0], 1, buf, sizeof(buf));
  t_submit(t, &r);
  CHECK(!iou_loop_try_destroy(t->loop));
  CHECK(write(sv[1], "12345678", 8) == 8);
  struct iou_completion c = t_expect(t, 1, 5000);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result == 8);
  close_and_wait_exited(t);
  uint64_t notifies = atomic_load(&t->notifies);
  (void)try_until_destroyed(t);
  CHECK(atomic_load(&t->notifies) == notifies); /* no notify after it returned */
  close(sv[0]);
  close(sv[1]);

  /* A write large enough to be in io-wq when the cutoff abandons it: whether it came back within
   * the grace or not, the loop is freed once its thread has ended, and only then is its buffer
   * released (the kernel may use it until the thread has ended). */
  const uint32_t size = 64u << 20;
  uint8_t *big = malloc(size);
  CHECK(big != NULL);
  memset(big, 0x5a, size);
  int fd = t_temp_file(0);
  struct t_loop *u = t_open_default(4);
  struct iou_request w = t_req_buf(IOU_OP_WRITE_AT, fd, 2, big, size);
  w.position = 0;
  t_submit(u, &w);
  t_sleep_ms(5);
  close_and_wait_exited(u);
  CHECK(t_has(u, 2));
  unsigned refused = try_until_destroyed(u);
  printf("write: %u refused tries before the thread ended\n", refused);
  free(big);
  close(fd);
  return T_EXIT_PASS;
}
