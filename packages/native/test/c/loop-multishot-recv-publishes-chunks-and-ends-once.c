/* IOU_OP_RECV_MANY on a socketpair: one SQE, one completion per chunk (IOU_COMPLETION_MORE, the
 * provided buffer it landed in), and exactly one completion without MORE, whatever ends it: the
 * buffers running out (ERROR -ENOBUFS), a cancel (CANCELLED), the deadline of the whole request
 * (TIMEOUT), end of stream (OK 0) or the shutdown cutoff (ABANDONED, not kernel-held). Nothing of a
 * request comes after its last completion. Without provided buffers it ends ERROR -ENOBUFS. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

#define COUNT 8
#define SIZE 64

static uint8_t pool[COUNT * SIZE];

/* The completions of tag, in order: the last one must be the only one without MORE. */
static uint32_t chunks_then_end(struct t_loop *t, uint64_t tag, struct iou_completion *end) {
  uint32_t chunks = 0, ends = 0;
  for (uint32_t i = 0; i < t->ngot; i++) {
    if (t->got[i].tag != tag) continue;
    CHECK(ends == 0); /* nothing after the end */
    if (t->got[i].flags & IOU_COMPLETION_MORE) {
      CHECK(t->got[i].outcome == IOU_OUTCOME_OK && t->got[i].result > 0);
      CHECK(t->got[i].flags & IOU_COMPLETION_BUFFER);
      chunks++;
    } else {
      *end = t->got[i];
      ends++;
    }
  }
  CHECK(ends == 1);
  return chunks;
}

static struct iou_completion next_chunk(struct t_loop *t, uint64_t tag, uint32_t *seen) {
  uint64_t deadline = t_now_ns() + 5000 * T_MS;
  for (;;) {
    for (uint32_t i = *seen; i < t->ngot; i++) {
      if (t->got[i].tag == tag && (t->got[i].flags & IOU_COMPLETION_MORE)) {
        *seen = i + 1;
        return t->got[i];
      }
    }
    CHECK(t_now_ns() < deadline);
    t_sleep_ms(1);
    t_poll(t);
  }
}

/* Waits for tag's completion without MORE (t_expect would take its chunks). */
static struct iou_completion wait_end(struct t_loop *t, uint64_t tag) {
  uint64_t deadline = t_now_ns() + 5000 * T_MS;
  for (;;) {
    for (uint32_t i = 0; i < t->ngot; i++)
      if (t->got[i].tag == tag && !(t->got[i].flags & IOU_COMPLETION_MORE)) return t->got[i];
    CHECK(t_now_ns() < deadline);
    t_sleep_ms(1);
    t_poll(t);
  }
}

static void give(struct t_loop *t, uint16_t id) {
  CHECK(iou_loop_recv_buffers_return(t->loop, &id, 1) == 0);
}

int main(void) {
  struct iou_loop_config cfg = {.size = 8,
                                .single_issuer = true,
                                .max_request_timeout_ns = 60000 * T_MS,
                                .timeout_wheel_tick_ns = 1 * T_MS,
                                .recv_buffers = pool,
                                .recv_buffer_count = COUNT,
                                .recv_buffer_size = SIZE};
  struct t_loop *t = t_open_config(&cfg);
  uint16_t all[COUNT];
  for (uint16_t i = 0; i < COUNT; i++) all[i] = i;
  uint16_t twice[2] = {0, 0};
  CHECK(iou_loop_recv_buffers_return(t->loop, twice, 2) == -EINVAL); /* one id named twice: none given */
  uint16_t range[2] = {1, COUNT};
  CHECK(iou_loop_recv_buffers_return(t->loop, range, 2) == -EINVAL); /* one id out of range: none given */
  CHECK(iou_loop_recv_buffers_return(t->loop, all, COUNT) == 0);
  CHECK(iou_loop_recv_buffers_return(t->loop, all, 1) == -EINVAL); /* the ring holds them all */
  CHECK(iou_loop_recv_buffers_return(t->loop, &all[COUNT - 1], 1) == -EINVAL);
  uint16_t bad = COUNT;
  CHECK(iou_loop_recv_buffers_return(t->loop, &bad, 0) == 0);

  /* Chunks, each in a buffer given back after it is read; then the buffers run out: -ENOBUFS. */
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  t_submit(t, &(struct iou_request){.tag = 1, .op = IOU_OP_RECV_MANY, .fd = sv[0]});
  uint32_t seen = 0;
  for (int i = 0; i < 4; i++) {
    char msg[16];
    int len = snprintf(msg, sizeof(msg), "chunk %d", i);
    CHECK(write(sv[1], msg, (size_t)len) == len);
    struct iou_completion c = next_chunk(t, 1, &seen);
    CHECK(c.result == len && c.buffer < COUNT && memcmp(pool + c.buffer * SIZE, msg, (size_t)len) == 0);
    give(t, c.buffer);
    CHECK(iou_loop_recv_buffers_return(t->loop, &c.buffer, 1) == -EINVAL); /* in the ring again */
  }
  for (int i = 0; i < COUNT + 2; i++) { /* never given back: the ring empties */
    CHECK(write(sv[1], "x", 1) == 1);
    if (i < COUNT) (void)next_chunk(t, 1, &seen);
  }
  struct iou_completion end = wait_end(t, 1);
  CHECK(end.outcome == IOU_OUTCOME_ERROR && end.result == -ENOBUFS);
  t_sleep_ms(20);
  t_poll(t);
  struct iou_completion last;
  CHECK(chunks_then_end(t, 1, &last) == 4 + COUNT);
  CHECK(iou_loop_recv_buffers_return(t->loop, all, COUNT) == 0); /* all were handed to the owner */
  char drain[64];
  CHECK(read(sv[0], drain, sizeof(drain)) == 2);

  /* A cancel ends it once, after the chunk that came first. */
  t_submit(t, &(struct iou_request){.tag = 2, .op = IOU_OP_RECV_MANY, .fd = sv[0]});
  CHECK(write(sv[1], "y", 1) == 1);
  seen = 0;
  give(t, next_chunk(t, 2, &seen).buffer);
  CHECK(iou_loop_cancel(t->loop, 2) == 0);
  end = wait_end(t, 2);
  CHECK(end.outcome == IOU_OUTCOME_CANCELLED);

  /* A deadline holds for the whole request, chunks or not. */
  struct iou_request timed = {.tag = 3, .op = IOU_OP_RECV_MANY, .fd = sv[0], .deadline_ns = t_now_ns() + 40 * T_MS};
  t_submit(t, &timed);
  CHECK(write(sv[1], "z", 1) == 1);
  seen = 0;
  give(t, next_chunk(t, 3, &seen).buffer);
  end = wait_end(t, 3);
  CHECK(end.outcome == IOU_OUTCOME_TIMEOUT);
  CHECK(t_now_ns() >= timed.deadline_ns);

  /* End of stream. */
  t_submit(t, &(struct iou_request){.tag = 4, .op = IOU_OP_RECV_MANY, .fd = sv[0]});
  CHECK(write(sv[1], "w", 1) == 1);
  seen = 0;
  give(t, next_chunk(t, 4, &seen).buffer);
  CHECK(shutdown(sv[1], SHUT_WR) == 0);
  end = wait_end(t, 4);
  CHECK(end.outcome == IOU_OUTCOME_OK && end.result == 0 && !(end.flags & IOU_COMPLETION_BUFFER));

  /* The shutdown cutoff abandons one still waiting; its cancel lands, so it is not kernel-held. */
  int sv2[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv2) == 0);
  t_submit(t, &(struct iou_request){.tag = 5, .op = IOU_OP_RECV_MANY, .fd = sv2[0]});
  t_sleep_ms(20);
  t_close(t, 0);
  for (uint64_t tag = 1; tag <= 5; tag++) CHECK(chunks_then_end(t, tag, &last) <= 4 + COUNT);
  CHECK(last.outcome == IOU_OUTCOME_ABANDONED && !(last.flags & IOU_COMPLETION_KERNEL_HELD));

  /* Without provided buffers. */
  struct t_loop *bare = t_open_default(8);
  t_submit(bare, &(struct iou_request){.tag = 9, .op = IOU_OP_RECV_MANY, .fd = sv2[0]});
  CHECK(write(sv2[1], "v", 1) == 1);
  end = wait_end(bare, 9);
  CHECK(end.outcome == IOU_OUTCOME_ERROR && end.result == -ENOBUFS);
  CHECK(iou_loop_recv_buffers_return(bare->loop, all, 1) == -EINVAL);
  t_close(bare, -1);
  close(sv[0]);
  close(sv[1]);
  close(sv2[0]);
  close(sv2[1]);
  return T_EXIT_PASS;
}
