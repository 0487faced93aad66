/* A write_at with nothing to write (len 0, or a vector whose entries are all empty) ends OK 0 at
 * admission: no SQE is staged, so the kernel never sees it, even with an fd it would refuse, and the
 * file is untouched. */
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "helpers.h"

int main(void) {
  struct t_loop *t = t_open_default(8);
  int fd = t_temp_file(16);
  uint8_t byte = 0x5a;
  struct iovec empty[2] = {{.iov_base = &byte, .iov_len = 0}, {.iov_base = &byte, .iov_len = 0}};
  struct iou_request reqs[3] = {
      t_req_buf(IOU_OP_WRITE_AT, fd, 1, &byte, 0),
      t_req_buf(IOU_OP_WRITE_AT, -1, 2, &byte, 0), /* the kernel would say EBADF */
      t_req(IOU_OP_WRITE_AT, fd, 3),
  };
  reqs[0].position = 4;
  reqs[2].iov = empty;
  reqs[2].iov_count = 2;
  struct iou_request nop = t_req(IOU_OP_NOP, -1, 99);
  t_submit(t, &nop); /* once it is back, the loop's own first SQE (the wake poll) is staged */
  CHECK(t_expect(t, 99, 5000).outcome == IOU_OUTCOME_OK);
  struct iou_stats before, after;
  iou_loop_stats(t->loop, &before);
  for (int i = 0; i < 3; i++) t_submit(t, &reqs[i]);
  for (uint64_t tag = 1; tag <= 3; tag++) {
    struct iou_completion c = t_expect(t, tag, 5000);
    CHECK(c.outcome == IOU_OUTCOME_OK && c.result == 0);
  }
  iou_loop_stats(t->loop, &after);
  CHECK(after.sqes_staged == before.sqes_staged); /* none of them reached the ring */
  CHECK(after.completed - before.completed == 3 && after.failed == before.failed);
  struct stat st;
  CHECK(fstat(fd, &st) == 0 && st.st_size == 16);
  for (uint32_t i = 0; i < 16; i++) {
    uint8_t b;
    CHECK(pread(fd, &b, 1, i) == 1 && b == t_pattern(i));
  }
  t_close(t, -1);
  close(fd);
  return T_EXIT_PASS;
}
