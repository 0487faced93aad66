/* Positions far past the end of a real file reach the kernel as they are, and the loop reports the
 * kernel's own answer (the same one pread/pwrite give on the same file): at 2^62, a read is EOF (OK
 * 0; exact: UNEXPECTED_EOF 0) and a write is whatever the file system says (EFBIG past its largest
 * file); at 2^63 + 1, a negative loff_t to the kernel, both are refused (EINVAL). Nothing crashes and
 * the file is unchanged. */
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"

/* What the kernel says to a plain pread / pwrite of len bytes at pos: the count or -errno. */
static int32_t kernel_says(bool write_it, int fd, uint8_t *buf, uint32_t len, uint64_t pos) {
  ssize_t r = write_it ? pwrite(fd, buf, len, (off_t)pos) : pread(fd, buf, len, (off_t)pos);
  return r < 0 ? -errno : (int32_t)r;
}

static struct iou_completion run(struct t_loop *t, uint8_t op, uint8_t flags, int fd, uint8_t *buf, uint32_t len,
                                 uint64_t pos) {
  static uint64_t tag;
  struct iou_request r = t_req_buf(op, fd, ++tag, buf, len);
  r.flags = flags;
  r.position = pos;
  t_submit(t, &r);
  return t_expect(t, tag, 5000);
}

int main(void) {
  struct t_loop *t = t_open_default(8);
  int fd = t_temp_file(64);
  uint8_t buf[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  const uint64_t positions[2] = {1ull << 62, (1ull << 63) + 1};
  for (int i = 0; i < 2; i++) {
    uint64_t pos = positions[i];
    int32_t read_res = kernel_says(false, fd, buf, sizeof(buf), pos);
    int32_t write_res = kernel_says(true, fd, buf, 4, pos);
    if (write_res >= 0) CHECK(ftruncate(fd, 64) == 0); /* a file system that takes it: undo */
    if (i == 0) CHECK(read_res == 0);
    if (i == 1) CHECK(read_res == -EINVAL && write_res == -EINVAL);

    struct iou_completion c = run(t, IOU_OP_READ_AT, 0, fd, buf, sizeof(buf), pos);
    if (read_res == 0)
      CHECK(c.outcome == IOU_OUTCOME_OK && c.result == 0);
    else
      CHECK(c.outcome == IOU_OUTCOME_ERROR && c.result == read_res);
    c = run(t, IOU_OP_READ_AT, IOU_FLAG_EXACT, fd, buf, sizeof(buf), pos);
    if (read_res == 0)
      CHECK(c.outcome == IOU_OUTCOME_UNEXPECTED_EOF && c.result == 0);
    else
      CHECK(c.outcome == IOU_OUTCOME_ERROR && c.result == read_res);
    c = run(t, IOU_OP_WRITE_AT, 0, fd, buf, 4, pos);
    if (write_res < 0) {
      if (c.outcome != IOU_OUTCOME_ERROR || c.result != write_res)
        fprintf(stderr, "write at %#llx: outcome %u result %d, pwrite said %d\n", (unsigned long long)pos, c.outcome,
                c.result, write_res);
      CHECK(c.outcome == IOU_OUTCOME_ERROR && c.result == write_res);
    } else {
      CHECK(c.outcome == IOU_OUTCOME_OK && c.result == 4);
      CHECK(ftruncate(fd, 64) == 0);
    }
  }
  struct stat st;
  CHECK(fstat(fd, &st) == 0 && st.st_size == 64);
  for (uint32_t i = 0; i < 64; i++) {
    uint8_t b;
    CHECK(pread(fd, &b, 1, i) == 1 && b == t_pattern(i));
  }
  t_close(t, -1);
  close(fd);
  return T_EXIT_PASS;
}
