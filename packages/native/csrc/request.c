/*
 * request.c: the per-operation table and what it drives: admission checks, SQE builders and CQE
 * interpretation. Owns nothing but the iovec copies of vectored requests (struct iou__vec), whose
 * lifetime the waiter drives. Pure: no syscalls, so the waiter tests can feed it synthetic CQE
 * results.
 *
 * Everything that differs from one operation to the next is its row in `operations` below (one
 * per IOU_OP_*, IOU_OP_COUNT rows); the rules that follow are the same for every row (result =
 * bytes so far unless said otherwise):
 *   -EAGAIN      with a poll mask: a one-shot POLL_ADD on the fd for it, then the op again, so a
 *                non-blocking socket costs no CPU while it waits; without one, or -EINTR (or the
 *                kernel's restart codes, 512 to 516, which a cancelled blocking op may end with): again
 *   0            the row's `zero`: SUCCESS (OK 0), EOF (exact -> UNEXPECTED_EOF, else OK) or
 *                WRITE_ZERO (no progress is possible)
 *   positive     moves data: progress; complete -> OK; a `first_data_ends` row without exact ends
 *                OK at its first data; otherwise the op again from where it stopped. Else OK with
 *                the result (the fd an open or accept made)
 *   With a cancel requested: a complete transfer still wins; partial progress, -ECANCELED or a
 *   retry end with the cancel's outcome (TIMEOUT or CANCELLED).
 */
#include "request.h"

#include "ring.h" /* IOU_BUF_GROUP */

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* What a 0 result means for an operation. */
enum iou__zero {
  IOU_ZERO_SUCCESS,    /* it succeeded: OK 0 */
  IOU_ZERO_EOF,        /* end of file / the peer closed: OK with the count, UNEXPECTED_EOF when exact */
  IOU_ZERO_WRITE_ZERO, /* a write that moved nothing: IOU_OUTCOME_WRITE_ZERO with the count */
};

/* One operation's row; the fields are the table's columns, in order. */
struct iou__operation {
  const char *syscall; /* the name its errors carry, as @iou/core's Operations table spells it */
  /* Fills the op SQE for where the request stands (opcode, addr, len, off, flags); fd and user_data
   * are already set. */
  void (*prep)(struct iou__request *r, struct io_uring_sqe *sqe);
  enum iou__zero zero;
  uint8_t memory;       /* IOU_MEMORY_*; DATA: bytes are transferred, progress is counted, 0 bytes end at admission */
  uint8_t args[2];      /* IOU_MEMORY_ARGS: what buf and buf2 are (IOU_ARG_*); IOU_ARG_NONE otherwise */
  bool vectored;        /* accepts iov_count > 0 */
  bool first_data_ends; /* without IOU_FLAG_EXACT, the first non-empty result ends it */
  uint32_t eagain_poll; /* -EAGAIN: the POLL_ADD mask to wait for before the op again; 0: again at once */
  uint8_t op_class;     /* IOU_CLASS_* bits: the loops that accept it (iou_loop_config.operations) */
  uint8_t opcodes[2];   /* every IORING_OP_* its prep may stage, for the ring's restrictions; an unused
                           entry is 0 (IORING_OP_NOP, which only the nop row stages, first) */
  bool multishot; /* one SQE yields CQEs with IORING_CQE_F_MORE (published as IOU_COMPLETION_MORE), then its last */
  bool produces_fd; /* its OK result is a new fd (published with IOU_COMPLETION_FD) */
};

static uint64_t offset_of(const struct iou__request *r) {
  return r->req.position == IOU_POSITION_CURRENT ? IOU_POSITION_CURRENT : r->req.position + r->done;
}

/* The single buffer from where the transfer stopped. */
static void prep_rest(const struct iou__request *r, struct io_uring_sqe *sqe) {
  sqe->addr = (uint64_t)(uintptr_t)(r->req.buf + r->done);
  sqe->len = r->total - r->done;
}

static void prep_nop(struct iou__request *r, struct io_uring_sqe *sqe) {
  (void)r;
  sqe->opcode = IORING_OP_NOP;
  sqe->fd = -1;
}

/* The iovecs from the first one not yet transferred (the loop's copy, advanced in place). */
static void prep_vec(const struct iou__request *r, struct io_uring_sqe *sqe) {
  sqe->addr = (uint64_t)(uintptr_t)&r->vec->iov[r->vec->first];
  sqe->len = r->vec->count - r->vec->first;
}

static void prep_read_at(struct iou__request *r, struct io_uring_sqe *sqe) {
  if (r->vec != NULL) {
    sqe->opcode = IORING_OP_READV;
    prep_vec(r, sqe);
  } else {
    sqe->opcode = IORING_OP_READ;
    prep_rest(r, sqe);
  }
  sqe->off = offset_of(r);
}

static void prep_write_at(struct iou__request *r, struct io_uring_sqe *sqe) {
  if (r->vec != NULL) {
    sqe->opcode = IORING_OP_WRITEV;
    prep_vec(r, sqe);
  } else {
    sqe->opcode = IORING_OP_WRITE;
    prep_rest(r, sqe);
  }
  sqe->off = offset_of(r);
}

static void prep_send(struct iou__request *r, struct io_uring_sqe *sqe) {
  struct iou__vec *vec = r->vec;
  if (vec != NULL) {
    vec->msg.msg_iov = &vec->iov[vec->first];
    vec->msg.msg_iovlen = vec->count - vec->first;
    sqe->opcode = IORING_OP_SENDMSG;
    sqe->addr = (uint64_t)(uintptr_t)&vec->msg;
    sqe->len = 1;
  } else {
    sqe->opcode = IORING_OP_SEND;
    prep_rest(r, sqe);
  }
  sqe->msg_flags = MSG_NOSIGNAL; /* a peer that went away is -EPIPE, never SIGPIPE */
}

static void prep_recv(struct iou__request *r, struct io_uring_sqe *sqe) {
  sqe->opcode = IORING_OP_RECV;
  prep_rest(r, sqe);
}

/* Multishot recv into the provided buffers (Linux 6.0): the kernel picks a buffer per chunk. */
static void prep_recv_many(struct iou__request *r, struct io_uring_sqe *sqe) {
  (void)r;
  sqe->opcode = IORING_OP_RECV;
  sqe->ioprio = IORING_RECV_MULTISHOT;
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = IOU_BUF_GROUP;
}

static void prep_sync(struct iou__request *r, struct io_uring_sqe *sqe) {
  sqe->opcode = IORING_OP_FSYNC;
  sqe->fsync_flags = (r->req.flags & IOU_FLAG_DATA_ONLY) ? IORING_FSYNC_DATASYNC : 0;
}

/* Sockets. Each is one SQE whose CQE is the whole answer (a new fd, or 0), so none of them moves
 * data; the sockaddr of connect and bind is the caller's (IOU_MEMORY_ARGS) until the completion. */
static void prep_socket(struct iou__request *r, struct io_uring_sqe *sqe) {
  sqe->opcode = IORING_OP_SOCKET; /* Linux 5.19 */
  sqe->fd = (int32_t)r->req.arg;  /* the domain */
  sqe->off = r->req.arg2;         /* the type, with SOCK_CLOEXEC */
  sqe->len = (uint32_t)r->req.extent;
}

static void prep_connect(struct iou__request *r, struct io_uring_sqe *sqe) {
  sqe->opcode = IORING_OP_CONNECT;
  sqe->addr = (uint64_t)(uintptr_t)r->req.buf;
  sqe->off = r->req.len; /* the kernel reads addrlen from off */
}

static void prep_accept(struct iou__request *r, struct io_uring_sqe *sqe) {
  sqe->opcode = IORING_OP_ACCEPT;
  sqe->accept_flags = r->req.arg;
}

/* Multishot accept (Linux 5.19): one CQE, with F_MORE, per connection. */
static void prep_accept_many(struct iou__request *r, struct io_uring_sqe *sqe) {
  sqe->opcode = IORING_OP_ACCEPT;
  sqe->accept_flags = r->req.arg;
  sqe->ioprio = IORING_ACCEPT_MULTISHOT;
}

static void prep_shutdown(struct iou__request *r, struct io_uring_sqe *sqe) {
  sqe->opcode = IORING_OP_SHUTDOWN; /* Linux 5.11 */
  sqe->len = r->req.arg;
}

static void prep_bind(struct iou__request *r, struct io_uring_sqe *sqe) {
  sqe->opcode = IOU_IORING_OP_BIND;
  sqe->addr = (uint64_t)(uintptr_t)r->req.buf;
  sqe->addr2 = r->req.len;
}

static void prep_listen(struct iou__request *r, struct io_uring_sqe *sqe) {
  sqe->opcode = IOU_IORING_OP_LISTEN;
  sqe->len = r->req.arg;
}

/* The file operations: their arguments, as include/iou.h's IOU_OP_* says, straight into the SQE
 * (no progress to resume: one SQE, one result). Paths (buf, buf2) and the statx buffer (buf2) are
 * caller memory the binding keeps alive until the completion. */
static uint64_t addr_of(const uint8_t *p) {
  return (uint64_t)(uintptr_t)p;
}

static void prep_open(struct iou__request *r, struct io_uring_sqe *sqe) {
  sqe->opcode = IORING_OP_OPENAT;
  sqe->addr = addr_of(r->req.buf);
  sqe->open_flags = r->req.arg;
  sqe->len = r->req.arg2; /* mode */
}

static void prep_close(struct iou__request *r, struct io_uring_sqe *sqe) {
  (void)r;
  sqe->opcode = IORING_OP_CLOSE;
}

static void prep_stat(struct iou__request *r, struct io_uring_sqe *sqe) {
  sqe->opcode = IORING_OP_STATX;
  sqe->addr = addr_of(r->req.buf);
  sqe->statx_flags = r->req.arg;
  sqe->len = r->req.arg2;          /* STATX_* mask */
  sqe->off = addr_of(r->req.buf2); /* addr2: the struct statx */
}

static void prep_truncate(struct iou__request *r, struct io_uring_sqe *sqe) {
  sqe->opcode = IOU_IORING_OP_FTRUNCATE;
  sqe->off = r->req.extent;
}

static void prep_allocate(struct iou__request *r, struct io_uring_sqe *sqe) {
  sqe->opcode = IORING_OP_FALLOCATE;
  sqe->off = r->req.position;
  sqe->addr = r->req.extent; /* the length */
  sqe->len = r->req.arg;     /* FALLOC_FL_* */
}

static void prep_unlink(struct iou__request *r, struct io_uring_sqe *sqe) {
  sqe->opcode = IORING_OP_UNLINKAT;
  sqe->addr = addr_of(r->req.buf);
  sqe->unlink_flags = r->req.arg;
}

static void prep_rename(struct iou__request *r, struct io_uring_sqe *sqe) {
  sqe->opcode = IORING_OP_RENAMEAT;
  sqe->addr = addr_of(r->req.buf);
  sqe->len = (uint32_t)r->req.fd; /* the target's directory: the same as the source's */
  sqe->off = addr_of(r->req.buf2);
  sqe->rename_flags = r->req.arg;
}

static void prep_mkdir(struct iou__request *r, struct io_uring_sqe *sqe) {
  sqe->opcode = IORING_OP_MKDIRAT;
  sqe->addr = addr_of(r->req.buf);
  sqe->len = r->req.arg2; /* mode */
}

static void prep_symlink(struct iou__request *r, struct io_uring_sqe *sqe) {
  sqe->opcode = IORING_OP_SYMLINKAT;
  sqe->addr = addr_of(r->req.buf); /* the target, stored as it is */
  sqe->off = addr_of(r->req.buf2);
}

static void prep_link(struct iou__request *r, struct io_uring_sqe *sqe) {
  sqe->opcode = IORING_OP_LINKAT;
  sqe->addr = addr_of(r->req.buf);
  sqe->len = (uint32_t)r->req.fd; /* the new name's directory: the same as the existing one's */
  sqe->off = addr_of(r->req.buf2);
  sqe->hardlink_flags = r->req.arg;
}

/* The table, one line per operation, in the columns of struct iou__operation. Adding an operation:
 * its IOU_OP_* (and IOU_OP_COUNT) in include/iou.h, its prep function and its line here (its class
 * decides which loops accept it, its opcodes what their rings allow);
 * packages/native/README.md "Adding an operation" lists the rest. */
/* The args column. */
#define NO_ARGS {IOU_ARG_NONE, IOU_ARG_NONE}
#define ARG1(a) {IOU_ARG_##a, IOU_ARG_NONE}
#define ARG2(a, b) {IOU_ARG_##a, IOU_ARG_##b}
/* clang-format off */
static const struct iou__operation operations[] = {
  /*                   syscall      prep           zero                 memory           args                vectored first_data_ends eagain_poll op_class                             opcodes                              multishot produces_fd */
  [IOU_OP_NOP]      = {"nop",       prep_nop,      IOU_ZERO_SUCCESS,    IOU_MEMORY_NONE, NO_ARGS,            false,   false,          0,          IOU_CLASS_FILES | IOU_CLASS_SOCKETS, {IORING_OP_NOP}, false, false},
  [IOU_OP_READ_AT]  = {"read",      prep_read_at,  IOU_ZERO_EOF,        IOU_MEMORY_DATA, NO_ARGS,            true,    false,          POLLIN,     IOU_CLASS_FILES,                     {IORING_OP_READ, IORING_OP_READV}, false, false},
  [IOU_OP_WRITE_AT] = {"write",     prep_write_at, IOU_ZERO_WRITE_ZERO, IOU_MEMORY_DATA, NO_ARGS,            true,    false,          POLLOUT,    IOU_CLASS_FILES,                     {IORING_OP_WRITE, IORING_OP_WRITEV}, false, false},
  [IOU_OP_SEND]     = {"send",      prep_send,     IOU_ZERO_WRITE_ZERO, IOU_MEMORY_DATA, NO_ARGS,            true,    false,          POLLOUT,    IOU_CLASS_SOCKETS,                   {IORING_OP_SEND, IORING_OP_SENDMSG}, false, false},
  [IOU_OP_RECV]     = {"recv",      prep_recv,     IOU_ZERO_EOF,        IOU_MEMORY_DATA, NO_ARGS,            false,   true,           POLLIN,     IOU_CLASS_SOCKETS,                   {IORING_OP_RECV}, false, false},
  [IOU_OP_SYNC]     = {"fsync",     prep_sync,     IOU_ZERO_SUCCESS,    IOU_MEMORY_NONE, NO_ARGS,            false,   false,          0,          IOU_CLASS_FILES,                     {IORING_OP_FSYNC}, false, false},
  [IOU_OP_SOCKET]   = {"socket",    prep_socket,   IOU_ZERO_SUCCESS,    IOU_MEMORY_NONE, NO_ARGS,            false,   false,          0,          IOU_CLASS_SOCKETS,                   {IORING_OP_SOCKET}, false, true},
  [IOU_OP_CONNECT]  = {"connect",   prep_connect,  IOU_ZERO_SUCCESS,    IOU_MEMORY_ARGS, ARG1(SOCKADDR),     false,   false,          POLLOUT,    IOU_CLASS_SOCKETS,                   {IORING_OP_CONNECT}, false, false},
  [IOU_OP_ACCEPT]   = {"accept",    prep_accept,   IOU_ZERO_SUCCESS,    IOU_MEMORY_NONE, NO_ARGS,            false,   false,          POLLIN,     IOU_CLASS_SOCKETS,                   {IORING_OP_ACCEPT}, false, true},
  [IOU_OP_SHUTDOWN] = {"shutdown",  prep_shutdown, IOU_ZERO_SUCCESS,    IOU_MEMORY_NONE, NO_ARGS,            false,   false,          0,          IOU_CLASS_SOCKETS,                   {IORING_OP_SHUTDOWN}, false, false},
  [IOU_OP_BIND]     = {"bind",      prep_bind,     IOU_ZERO_SUCCESS,    IOU_MEMORY_ARGS, ARG1(SOCKADDR),     false,   false,          0,          IOU_CLASS_SOCKETS,                   {IOU_IORING_OP_BIND}, false, false},
  [IOU_OP_LISTEN]   = {"listen",    prep_listen,   IOU_ZERO_SUCCESS,    IOU_MEMORY_NONE, NO_ARGS,            false,   false,          0,          IOU_CLASS_SOCKETS,                   {IOU_IORING_OP_LISTEN}, false, false},
  [IOU_OP_OPEN]     = {"open",      prep_open,     IOU_ZERO_SUCCESS,    IOU_MEMORY_ARGS, ARG1(PATH),         false,   false,          0,          IOU_CLASS_FILES,                     {IORING_OP_OPENAT}, false, true},
  [IOU_OP_CLOSE]    = {"close",     prep_close,    IOU_ZERO_SUCCESS,    IOU_MEMORY_NONE, NO_ARGS,            false,   false,          0,          IOU_CLASS_FILES | IOU_CLASS_SOCKETS, {IORING_OP_CLOSE}, false, false},
  [IOU_OP_STAT]     = {"stat",      prep_stat,     IOU_ZERO_SUCCESS,    IOU_MEMORY_ARGS, ARG2(PATH, STATX),  false,   false,          0,          IOU_CLASS_FILES,                     {IORING_OP_STATX}, false, false},
  [IOU_OP_TRUNCATE] = {"ftruncate", prep_truncate, IOU_ZERO_SUCCESS,    IOU_MEMORY_NONE, NO_ARGS,            false,   false,          0,          IOU_CLASS_FILES,                     {IOU_IORING_OP_FTRUNCATE}, false, false},
  [IOU_OP_ALLOCATE] = {"fallocate", prep_allocate, IOU_ZERO_SUCCESS,    IOU_MEMORY_NONE, NO_ARGS,            false,   false,          0,          IOU_CLASS_FILES,                     {IORING_OP_FALLOCATE}, false, false},
  [IOU_OP_UNLINK]   = {"unlink",    prep_unlink,   IOU_ZERO_SUCCESS,    IOU_MEMORY_ARGS, ARG1(PATH),         false,   false,          0,          IOU_CLASS_FILES,                     {IORING_OP_UNLINKAT}, false, false},
  [IOU_OP_RENAME]   = {"rename",    prep_rename,   IOU_ZERO_SUCCESS,    IOU_MEMORY_ARGS, ARG2(PATH, PATH),   false,   false,          0,          IOU_CLASS_FILES,                     {IORING_OP_RENAMEAT}, false, false},
  [IOU_OP_MKDIR]    = {"mkdir",     prep_mkdir,    IOU_ZERO_SUCCESS,    IOU_MEMORY_ARGS, ARG1(PATH),         false,   false,          0,          IOU_CLASS_FILES,                     {IORING_OP_MKDIRAT}, false, false},
  [IOU_OP_SYMLINK]  = {"symlink",   prep_symlink,  IOU_ZERO_SUCCESS,    IOU_MEMORY_ARGS, ARG2(PATH, PATH),   false,   false,          0,          IOU_CLASS_FILES,                     {IORING_OP_SYMLINKAT}, false, false},
  [IOU_OP_LINK]     = {"link",      prep_link,     IOU_ZERO_SUCCESS,    IOU_MEMORY_ARGS, ARG2(PATH, PATH),   false,   false,          0,          IOU_CLASS_FILES,                     {IORING_OP_LINKAT}, false, false},
  [IOU_OP_RECV_MANY] = {"recv",    prep_recv_many, IOU_ZERO_SUCCESS,   IOU_MEMORY_NONE, NO_ARGS,            false,   false,          POLLIN,     IOU_CLASS_SOCKETS,                   {IORING_OP_RECV}, true, false},
  [IOU_OP_ACCEPT_MANY] = {"accept", prep_accept_many, IOU_ZERO_SUCCESS, IOU_MEMORY_NONE, NO_ARGS,            false,   false,          POLLIN,     IOU_CLASS_SOCKETS,                   {IORING_OP_ACCEPT}, true, true},
};
/* clang-format on */
_Static_assert(sizeof(operations) / sizeof(operations[0]) == IOU_OP_COUNT, "one row per IOU_OP_* (iou.h)");

/* The row of an admitted request (iou__request_init rejected every other kind). */
static const struct iou__operation *row_of(const struct iou__request *r) {
  const struct iou__operation *row = &operations[r->req.op];
  IOU_ASSERT(row->prep != NULL, "an IOU_OP_* below IOU_OP_COUNT without its row in request.c");
  return row;
}

uint8_t iou_op_arg(uint32_t op, unsigned i) {
  return op < IOU_OP_COUNT && i < 2 ? operations[op].args[i] : IOU_ARG_NONE;
}

uint8_t iou_op_memory(uint32_t op) {
  return op < IOU_OP_COUNT ? operations[op].memory : IOU_MEMORY_NONE;
}

bool iou_op_moves_data(uint32_t op) {
  return iou_op_memory(op) == IOU_MEMORY_DATA;
}

const char *iou_op_syscall(uint32_t op) {
  return op < IOU_OP_COUNT ? operations[op].syscall : NULL;
}

bool iou__request_multishot(const struct iou__request *r) {
  return row_of(r)->multishot;
}

uint8_t iou_op_class(uint32_t op) {
  return op < IOU_OP_COUNT ? operations[op].op_class : 0;
}

bool iou_op_produces_fd(uint32_t op) {
  return op < IOU_OP_COUNT && operations[op].produces_fd;
}

static unsigned add_opcode(uint8_t *out, unsigned n, uint8_t opcode) {
  for (unsigned i = 0; i < n; i++)
    if (out[i] == opcode) return n;
  out[n] = opcode;
  return n + 1;
}

unsigned iou__request_opcodes(uint8_t classes, uint8_t out[IOU__MAX_RING_OPCODES]) {
  /* The loop's own: the wake poll and the readiness polls, and the cancels of deadlines, cancellation
   * and the shutdown drain. */
  unsigned n = 0;
  n = add_opcode(out, n, IORING_OP_POLL_ADD);
  n = add_opcode(out, n, IORING_OP_ASYNC_CANCEL);
  for (uint32_t op = 0; op < IOU_OP_COUNT; op++) {
    const struct iou__operation *row = &operations[op];
    if ((row->op_class & classes) == 0) continue;
    for (unsigned i = 0; i < sizeof(row->opcodes); i++) {
      if (i > 0 && row->opcodes[i] == 0) break; /* IORING_OP_NOP (0) is only ever a row's first */
      n = add_opcode(out, n, row->opcodes[i]);
    }
  }
  return n;
}

/* The kernel's own restart codes (ERESTARTSYS 512 … ERESTART_RESTARTBLOCK 516): a blocking
 * operation on an io-wq worker interrupted by its cancel can end with one; they mean -EINTR. */
static bool interrupted(int32_t res) {
  return res == -EINTR || (res <= -512 && res >= -516);
}

enum iou__cqe_class iou__cqe_classify(int32_t res, bool cancel_requested) {
  if (res == -EAGAIN || interrupted(res)) return IOU_CQE_RETRY;
  if (res == -ECANCELED && cancel_requested) return IOU_CQE_CANCELLED;
  if (res < 0) return IOU_CQE_ERROR;
  if (res == 0) return IOU_CQE_ZERO;
  return IOU_CQE_POSITIVE;
}

static bool finish(struct iou__request *r, uint8_t outcome, int32_t result) {
  r->outcome = outcome;
  r->result = result;
  return true;
}

bool iou__request_init(struct iou__request *r, const struct iou_request *req, uint8_t classes) {
  memset(r, 0, sizeof(*r));
  r->req = *req;
  r->req.iov = NULL; /* caller memory is read once, here; the loop works on its copy */
  if (req->op >= IOU_OP_COUNT) return finish(r, IOU_OUTCOME_ERROR, -EINVAL);
  const struct iou__operation *row = row_of(r);
  /* Not an operation this loop was opened for: the kernel would refuse its opcode the same way. */
  if ((row->op_class & classes) == 0) return finish(r, IOU_OUTCOME_ERROR, -EACCES);
  if (req->iov_count > 0) {
    if (!row->vectored || req->iov_count > IOU_MAX_IOV || req->iov == NULL)
      return finish(r, IOU_OUTCOME_ERROR, -EINVAL);
    /* Each length bounded first: at most IOU_MAX_IOV of them, so the sum cannot wrap. */
    uint64_t total = 0;
    for (uint32_t i = 0; i < req->iov_count; i++) {
      if (req->iov[i].iov_len > INT32_MAX) return finish(r, IOU_OUTCOME_ERROR, -EINVAL);
      total += req->iov[i].iov_len;
    }
    if (total > INT32_MAX) return finish(r, IOU_OUTCOME_ERROR, -EINVAL);
    r->total = (uint32_t)total;
    if (r->total == 0) return finish(r, IOU_OUTCOME_OK, 0);
    struct iou__vec *vec = malloc(sizeof(*vec) + req->iov_count * sizeof(struct iovec));
    if (vec == NULL) return finish(r, IOU_OUTCOME_ERROR, -ENOMEM);
    memset(&vec->msg, 0, sizeof(vec->msg));
    vec->first = 0;
    vec->count = req->iov_count;
    memcpy(vec->iov, req->iov, req->iov_count * sizeof(struct iovec));
    while (vec->iov[vec->first].iov_len == 0) vec->first++; /* total > 0: stops inside */
    r->vec = vec;
    return false;
  }
  if (row->memory == IOU_MEMORY_DATA) {
    if (req->len > INT32_MAX) return finish(r, IOU_OUTCOME_ERROR, -EINVAL);
    r->total = req->len;
    if (r->total == 0) return finish(r, IOU_OUTCOME_OK, 0); /* nothing to move: no SQE */
  }
  return false;
}

void iou__request_build_sqe(struct iou__request *r, struct io_uring_sqe *sqe, uint64_t user_data) {
  sqe->fd = r->req.fd;
  sqe->user_data = user_data;
  if (r->poll_events != 0) {
    sqe->opcode = IORING_OP_POLL_ADD; /* one-shot: len 0 */
    sqe->poll32_events = r->poll_events;
    return;
  }
  row_of(r)->prep(r, sqe);
}
/* Moves the iovec cursor past n transferred bytes. */
static void advance_vec(struct iou__vec *vec, uint32_t n) {
  while (n > 0) {
    IOU_ASSERT(vec->first < vec->count, "advance_vec: more bytes than the iovecs hold");
    struct iovec *v = &vec->iov[vec->first];
    if (n < v->iov_len) {
      v->iov_base = (char *)v->iov_base + n;
      v->iov_len -= n;
      return;
    }
    n -= (uint32_t)v->iov_len;
    v->iov_len = 0;
    vec->first++;
  }
  while (vec->first < vec->count && vec->iov[vec->first].iov_len == 0) vec->first++;
}

void iou__request_end(struct iou__request *r, uint8_t outcome) {
  finish(r, outcome, (int32_t)r->done);
}

/* The CQE of the readiness poll that follows an -EAGAIN. */
static bool on_poll_cqe(struct iou__request *r, bool cancel_requested, uint8_t cancel_outcome, int32_t res) {
  switch (iou__cqe_classify(res, cancel_requested)) {
    case IOU_CQE_RETRY:
      if (cancel_requested) return finish(r, cancel_outcome, (int32_t)r->done);
      return false; /* poll again */
    case IOU_CQE_CANCELLED:
      return finish(r, cancel_outcome, (int32_t)r->done);
    case IOU_CQE_ERROR:
      return finish(r, IOU_OUTCOME_ERROR, res);
    default: /* ready (a mask), or 0 */
      r->poll_events = 0;
      if (cancel_requested) return finish(r, cancel_outcome, (int32_t)r->done);
      return false; /* re-issue the operation */
  }
}

bool iou__request_on_cqe(struct iou__request *r, bool cancel_requested, uint8_t cancel_outcome, int32_t res) {
  if (r->poll_events != 0) return on_poll_cqe(r, cancel_requested, cancel_outcome, res);
  const struct iou__operation *row = row_of(r);
  bool exact = (r->req.flags & IOU_FLAG_EXACT) != 0;
  /* A close is never retried: the kernel takes the fd out of the table before the flush whose
   * error (EINTR included) it returns, so the number may already be someone else's. */
  if (r->req.op == IOU_OP_CLOSE && res < 0 && res != -ECANCELED) return finish(r, IOU_OUTCOME_ERROR, res);
  switch (iou__cqe_classify(res, cancel_requested)) {
    case IOU_CQE_RETRY:
      if (cancel_requested) return finish(r, cancel_outcome, (int32_t)r->done);
      /* A non-blocking fd: wait for readiness instead of spinning on re-submission. */
      if (res == -EAGAIN) r->poll_events = row->eagain_poll;
      return false;
    case IOU_CQE_CANCELLED:
      return finish(r, cancel_outcome, (int32_t)r->done);
    case IOU_CQE_ERROR:
      return finish(r, IOU_OUTCOME_ERROR, res);
    case IOU_CQE_ZERO:
      switch (row->zero) {
        case IOU_ZERO_EOF:
          return finish(r, exact ? IOU_OUTCOME_UNEXPECTED_EOF : IOU_OUTCOME_OK, (int32_t)r->done);
        case IOU_ZERO_WRITE_ZERO:
          return finish(r, IOU_OUTCOME_WRITE_ZERO, (int32_t)r->done);
        case IOU_ZERO_SUCCESS:
          break;
      }
      return finish(r, IOU_OUTCOME_OK, 0);
    case IOU_CQE_POSITIVE:
      break;
  }
  if (row->memory != IOU_MEMORY_DATA) return finish(r, IOU_OUTCOME_OK, res); /* e.g. the fd an open made */
  IOU_ASSERT((uint32_t)res <= r->total - r->done, "on_cqe: the kernel moved more bytes than asked");
  r->done += (uint32_t)res;
  if (r->vec != NULL) advance_vec(r->vec, (uint32_t)res);
  if (r->done == r->total) return finish(r, IOU_OUTCOME_OK, (int32_t)r->done);
  if (row->first_data_ends && !exact) return finish(r, IOU_OUTCOME_OK, (int32_t)r->done);
  if (cancel_requested) return finish(r, cancel_outcome, (int32_t)r->done);
  return false; /* partial progress: continue from where it stopped */
}

void iou__request_release(struct iou__request *r) {
  free(r->vec);
  r->vec = NULL;
}

/* Abandoned iovec copies, from every loop of the process. Pushed by loop threads (release CAS),
 * never popped: nothing reads the list, it only keeps the memory reachable. */
static _Atomic(struct iou__vec *) quarantine;

void iou__request_leak(struct iou__request *r) {
  struct iou__vec *vec = r->vec;
  r->vec = NULL;
  if (vec == NULL) return;
  vec->quarantine_next = atomic_load_explicit(&quarantine, memory_order_relaxed);
  while (!atomic_compare_exchange_weak_explicit(&quarantine, &vec->quarantine_next, vec, memory_order_release,
                                                memory_order_relaxed)) {
  }
}

void iou__prep_cancel(struct io_uring_sqe *sqe, uint64_t target) {
  sqe->opcode = IORING_OP_ASYNC_CANCEL;
  sqe->fd = -1;
  sqe->addr = target;
  sqe->user_data = target | (1ull << 63);
}
