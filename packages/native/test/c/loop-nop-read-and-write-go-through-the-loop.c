/* A NOP, a positioned write and a positioned read of a real file each complete once, OK, with the
 * byte counts, and the counters say so. */
#include <string.h>
#include <unistd.h>

#include "helpers.h"

int main(void) {
  struct t_loop *t = t_open_default(8);
  struct iou_request nop = t_req(IOU_OP_NOP, -1, 1);
  t_submit(t, &nop);
  struct iou_completion c = t_expect(t, 1, 5000);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result == 0);

  int fd = t_temp_file(0);
  uint8_t out[5000], in[5000];
  for (uint32_t i = 0; i < sizeof(out); i++) out[i] = t_pattern(i);
  struct iou_request w = t_req_buf(IOU_OP_WRITE_AT, fd, 2, out, sizeof(out));
  w.position = 100;
  t_submit(t, &w);
  c = t_expect(t, 2, 5000);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result == (int32_t)sizeof(out));

  struct iou_request r = t_req_buf(IOU_OP_READ_AT, fd, 3, in, sizeof(in));
  r.position = 100;
  r.flags = IOU_FLAG_EXACT;
  t_submit(t, &r);
  c = t_expect(t, 3, 5000);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result == (int32_t)sizeof(in));
  CHECK(memcmp(in, out, sizeof(in)) == 0);

  struct iou_request s = t_req(IOU_OP_SYNC, fd, 4);
  s.flags = IOU_FLAG_DATA_ONLY;
  t_submit(t, &s);
  c = t_expect(t, 4, 5000);
  CHECK(c.outcome == IOU_OUTCOME_OK && c.result == 0);

  struct iou_stats st;
  iou_loop_stats(t->loop, &st);
  CHECK(st.submitted == 4 && st.completed == 4 && st.failed == 0);
  CHECK(st.sqes_staged >= 4 && st.enters >= 1);
  t_close(t, -1);
  CHECK(t->ngot == 4);
  close(fd);
  return T_EXIT_PASS;
}
