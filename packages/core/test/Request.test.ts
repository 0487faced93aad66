import { fc, test } from "@fast-check/vitest"
import { describe, expect, it } from "vitest"
import { EAGAIN, EBADF, ECANCELED, ECONNRESET, EINTR, EINVAL, EIO, ENOENT, EPIPE, ETIMEDOUT } from "../src/Errno.ts"
import { InvariantError } from "../src/Invariant.ts"
import * as Request from "../src/Request.ts"

const { NOT_CANCELLED: ACTIVE, OUTCOME_TIMEOUT: TIMEOUT, OUTCOME_CANCELLED: CANCELLED } = Request

const make = (options: Request.Options) => Request.make(options)
const cqe = (r: Request.Request, res: number, cancel = ACTIVE) => Request.onCqe(r, cancel, res)
const ended = (r: Request.Request) => [Request.OUTCOME_NAMES[r.outcome], r.result]

describe("Request", () => {
  it("retries EAGAIN and EINTR, and treats 0, EINVAL and ETIMEDOUT as final", () => {
    for (const res of [-EAGAIN, -EINTR]) expect(cqe(make({ op: Request.OP_SYNC }), res)).toBe(false)
    expect(cqe(make({ op: Request.OP_SYNC }), 0)).toBe(true)
    const invalid = make({ op: Request.OP_SYNC })
    expect(cqe(invalid, -EINVAL)).toBe(true)
    expect(ended(invalid)).toEqual(["ERROR", -EINVAL])
    const timedOut = make({ op: Request.OP_RECV, length: 4 })
    expect(cqe(timedOut, -ETIMEDOUT)).toBe(true)
    expect(ended(timedOut)).toEqual(["ERROR", -ETIMEDOUT])
  })

  it("gives every kind a deadline and rejects out-of-range lengths before the loop sees them", () => {
    for (let op = Request.OP_NOP; op <= Request.OP_ACCEPT_MANY; op++) {
      expect(Request.hasDeadline(make({ op, deadline: 10 }))).toBe(true)
      expect(Request.hasDeadline(make({ op }))).toBe(false)
    }
    expect(() => make({ op: Request.OP_RECV, length: -1 })).toThrow(RangeError)
    expect(() => make({ op: Request.OP_READ_AT, length: 2 ** 31 })).toThrow(RangeError)
    expect(() => make({ op: Request.OP_RECV, iov: [1, 2] })).toThrow(TypeError)
    expect(() => make({ op: Request.OP_SEND, iov: [1, 0] })).toThrow(RangeError)
    expect(() => make({ op: Request.OP_ACCEPT_MANY + 1 })).toThrow(RangeError)
    expect(() => make({ op: Request.OP_OPEN, length: 3 })).toThrow(RangeError)
    expect(() => make({ op: Request.OP_ACCEPT, length: 4 })).toThrow(RangeError)
    expect(() => make({ op: Request.OP_STAT, iov: [1] })).toThrow(TypeError)
  })

  it("a file operation is one SQE: it ends with the kernel's result (an open's fd, 0 included), success winning over a cancel", () => {
    for (let op = Request.OP_OPEN; op <= Request.OP_LINK; op++) {
      const r = make({ op })
      expect(Request.isEmpty(r)).toBe(false)
      expect(cqe(r, op === Request.OP_OPEN ? 7 : 0)).toBe(true)
      expect(ended(r)).toEqual(["OK", op === Request.OP_OPEN ? 7 : 0])
    }
    const fd0 = make({ op: Request.OP_OPEN })
    expect(cqe(fd0, 0)).toBe(true)
    expect(ended(fd0)).toEqual(["OK", 0])
    const won = make({ op: Request.OP_OPEN })
    expect(Request.onCqe(won, Request.OUTCOME_CANCELLED, 5)).toBe(true)
    expect(ended(won)).toEqual(["OK", 5])
    const lost = make({ op: Request.OP_OPEN })
    expect(Request.onCqe(lost, Request.OUTCOME_TIMEOUT, -ECANCELED)).toBe(true)
    expect(ended(lost)).toEqual(["TIMEOUT", 0])
    const missing = make({ op: Request.OP_UNLINK })
    expect(cqe(missing, -ENOENT)).toBe(true)
    expect(ended(missing)).toEqual(["ERROR", -ENOENT])
    const again = make({ op: Request.OP_STAT })
    expect(cqe(again, -EAGAIN)).toBe(false)
    // A close is never retried: the fd left the table before the error.
    for (const res of [-EINTR, -EAGAIN]) {
      const close = make({ op: Request.OP_CLOSE })
      expect(cqe(close, res)).toBe(true)
      expect(ended(close)).toEqual(["ERROR", res])
    }
  })

  it("a vectored readAt fills its chunks in order and ends at end of file with the count (UNEXPECTED_EOF when exact)", () => {
    const r = make({ op: Request.OP_READ_AT, iov: [3, 2], position: 10 })
    expect(Request.sqeLength(r)).toBe(5)
    expect(cqe(r, 4)).toBe(false)
    expect([Request.sqeOffset(r), Request.sqeIovCount(r), Request.sqeLength(r)]).toEqual([14, 1, 1])
    expect(cqe(r, 0)).toBe(true)
    expect(ended(r)).toEqual(["OK", 4])
    const exact = make({ op: Request.OP_READ_AT, iov: [3, 2], flags: Request.FLAG_EXACT })
    expect(cqe(exact, 2)).toBe(false)
    expect(cqe(exact, 0)).toBe(true)
    expect(ended(exact)).toEqual(["UNEXPECTED_EOF", 2])
  })

  it("send requeues on retry, continues short writes and ends WRITE_ZERO on 0 or ERROR on EPIPE", () => {
    const r = make({ op: Request.OP_SEND, length: 5 })
    expect(cqe(r, -EAGAIN)).toBe(false)
    expect(cqe(r, 2)).toBe(false)
    expect(Request.sqeLength(r)).toBe(3)
    expect(cqe(r, 3)).toBe(true)
    expect(ended(r)).toEqual(["OK", 5])
    const closed = make({ op: Request.OP_SEND, length: 5 })
    cqe(closed, 2)
    expect(cqe(closed, 0)).toBe(true)
    expect(ended(closed)).toEqual(["WRITE_ZERO", 2])
    const broken = make({ op: Request.OP_SEND, length: 5 })
    expect(cqe(broken, -EPIPE)).toBe(true)
    expect(ended(broken)).toEqual(["ERROR", -EPIPE])
  })

  it("a send that made partial progress ends with the cancel outcome after a requested cancel", () => {
    const retried = make({ op: Request.OP_SEND, length: 5 })
    cqe(retried, 2)
    expect(cqe(retried, -EAGAIN, TIMEOUT)).toBe(true)
    expect(ended(retried)).toEqual(["TIMEOUT", 2])
    const partial = make({ op: Request.OP_SEND, length: 5 })
    expect(cqe(partial, 1, CANCELLED)).toBe(true)
    expect(ended(partial)).toEqual(["CANCELLED", 1])
    const cancelled = make({ op: Request.OP_SEND, length: 5 })
    expect(cqe(cancelled, -ECANCELED, TIMEOUT)).toBe(true)
    expect(ended(cancelled)).toEqual(["TIMEOUT", 0])
  })

  it("a full success after a requested cancel wins over the timeout", () => {
    for (const op of [Request.OP_SEND, Request.OP_RECV, Request.OP_READ_AT, Request.OP_WRITE_AT]) {
      const r = make({ op, length: 5, flags: Request.FLAG_EXACT })
      expect(cqe(r, 5, TIMEOUT)).toBe(true)
      expect(ended(r)).toEqual(["OK", 5])
    }
  })

  it("ECANCELED without a requested cancel is an error, not a timeout", () => {
    const r = make({ op: Request.OP_RECV, length: 5 })
    expect(cqe(r, -ECANCELED)).toBe(true)
    expect(ended(r)).toEqual(["ERROR", -ECANCELED])
  })

  it("a vectored send continues from the middle of a chunk until every chunk is sent", () => {
    const r = make({ op: Request.OP_SEND, iov: [3, 2] })
    expect(r.length).toBe(5)
    expect([Request.sqeLength(r), Request.sqeIovCount(r)]).toEqual([5, 2])
    expect(cqe(r, 4)).toBe(false)
    expect([Request.sqeLength(r), Request.sqeIovCount(r)]).toEqual([1, 1])
    expect(cqe(r, 1)).toBe(true)
    expect(ended(r)).toEqual(["OK", 5])
  })

  it("a vectored write of more than MAX_IOV chunks asks for at most MAX_IOV chunks per SQE", () => {
    const r = make({ op: Request.OP_WRITE_AT, iov: Array.from({ length: 1025 }, () => 2), position: 100 })
    expect([Request.sqeLength(r), Request.sqeIovCount(r)]).toEqual([2048, 1024])
    expect(() => cqe(r, 2049)).toThrow(InvariantError)
    expect(cqe(r, 2048)).toBe(false)
    expect([Request.sqeLength(r), Request.sqeIovCount(r), Request.sqeOffset(r)]).toEqual([2, 1, 2148])
    expect(cqe(r, 2)).toBe(true)
    expect(ended(r)).toEqual(["OK", 2050])
  })

  it("recv without exact completes on the first non-empty read and with 0 when the peer closed", () => {
    const r = make({ op: Request.OP_RECV, length: 5 })
    expect(cqe(r, -EAGAIN)).toBe(false)
    expect(cqe(r, 3)).toBe(true)
    expect(ended(r)).toEqual(["OK", 3])
    const closed = make({ op: Request.OP_RECV, length: 5 })
    expect(cqe(closed, 0)).toBe(true)
    expect(ended(closed)).toEqual(["OK", 0])
  })

  it("recv with exact keeps receiving until the range is full and reports UNEXPECTED_EOF on close", () => {
    const r = make({ op: Request.OP_RECV, length: 5, flags: Request.FLAG_EXACT })
    expect(cqe(r, 2)).toBe(false)
    expect(cqe(r, 3)).toBe(true)
    expect(ended(r)).toEqual(["OK", 5])
    const eof = make({ op: Request.OP_RECV, length: 5, flags: Request.FLAG_EXACT })
    cqe(eof, 2)
    expect(cqe(eof, 0)).toBe(true)
    expect(ended(eof)).toEqual(["UNEXPECTED_EOF", 2])
    const late = make({ op: Request.OP_RECV, length: 5, flags: Request.FLAG_EXACT })
    cqe(late, 2)
    expect(cqe(late, 1, TIMEOUT)).toBe(true)
    expect(ended(late)).toEqual(["TIMEOUT", 3])
    const interrupted = make({ op: Request.OP_RECV, length: 5, flags: Request.FLAG_EXACT })
    expect(cqe(interrupted, -EINTR, TIMEOUT)).toBe(true)
    expect(ended(interrupted)).toEqual(["TIMEOUT", 0])
  })

  it("a CQE larger than the SQE asked for is an invariant violation", () => {
    expect(() => cqe(make({ op: Request.OP_RECV, length: 5 }), 6)).toThrow(InvariantError)
    expect(() => cqe(make({ op: Request.OP_READ_AT, length: 5 }), 6)).toThrow(InvariantError)
  })

  it("readAt continues short reads at the new offset and resolves with the count at end of file", () => {
    const r = make({ op: Request.OP_READ_AT, length: 5, position: 10 })
    expect(cqe(r, -EAGAIN)).toBe(false)
    expect(cqe(r, 2)).toBe(false)
    expect([Request.sqeOffset(r), Request.sqeLength(r)]).toEqual([12, 3])
    expect(cqe(r, 3)).toBe(true)
    expect(ended(r)).toEqual(["OK", 5])
    const eof = make({ op: Request.OP_READ_AT, length: 5 })
    cqe(eof, 2)
    expect(cqe(eof, 0)).toBe(true)
    expect(ended(eof)).toEqual(["OK", 2])
  })

  it("readAt with exact reports UNEXPECTED_EOF, and EIO as an error", () => {
    const eof = make({ op: Request.OP_READ_AT, length: 5, flags: Request.FLAG_EXACT })
    expect(cqe(eof, 0)).toBe(true)
    expect(ended(eof)).toEqual(["UNEXPECTED_EOF", 0])
    const io = make({ op: Request.OP_READ_AT, length: 5 })
    expect(cqe(io, -EIO)).toBe(true)
    expect(ended(io)).toEqual(["ERROR", -EIO])
    const cancelled = make({ op: Request.OP_READ_AT, length: 5 })
    expect(cqe(cancelled, -ECANCELED, CANCELLED)).toBe(true)
    expect(ended(cancelled)).toEqual(["CANCELLED", 0])
  })

  it("writeAt continues short writes and ends WRITE_ZERO on 0 and ERROR on EIO", () => {
    const r = make({ op: Request.OP_WRITE_AT, length: 5, position: 3 })
    expect(cqe(r, -EINTR)).toBe(false)
    expect(cqe(r, 2)).toBe(false)
    expect(Request.sqeOffset(r)).toBe(5)
    expect(cqe(r, 3)).toBe(true)
    expect(ended(r)).toEqual(["OK", 5])
    const zero = make({ op: Request.OP_WRITE_AT, length: 5 })
    expect(cqe(zero, 0)).toBe(true)
    expect(ended(zero)).toEqual(["WRITE_ZERO", 0])
    const io = make({ op: Request.OP_WRITE_AT, iov: [4, 1] })
    expect(cqe(io, 4)).toBe(false)
    expect(cqe(io, -EIO)).toBe(true)
    expect(ended(io)).toEqual(["ERROR", -EIO])
  })

  it("socket operations end OK with the kernel's result (accept and socket: the new fd), errors as ERROR, and a cancel that lost still hands over the fd", () => {
    for (const op of [Request.OP_SOCKET, Request.OP_ACCEPT]) {
      const r = make({ op, fd: 3 })
      expect(Request.isEmpty(r)).toBe(false)
      expect(cqe(r, -EAGAIN)).toBe(false)
      expect(cqe(r, 7)).toBe(true)
      expect(ended(r)).toEqual(["OK", 7])
      const lost = make({ op, fd: 3 })
      expect(cqe(lost, 8, CANCELLED)).toBe(true)
      expect(ended(lost)).toEqual(["OK", 8])
      const won = make({ op, fd: 3 })
      expect(cqe(won, -ECANCELED, TIMEOUT)).toBe(true)
      expect(ended(won)).toEqual(["TIMEOUT", 0])
    }
    for (const op of [Request.OP_CONNECT, Request.OP_SHUTDOWN, Request.OP_BIND, Request.OP_LISTEN]) {
      const r = make({ op, fd: 3 })
      expect(cqe(r, 0)).toBe(true)
      expect(ended(r)).toEqual(["OK", 0])
      const refused = make({ op, fd: 3 })
      expect(cqe(refused, -111)).toBe(true)
      expect(ended(refused)).toEqual(["ERROR", -111])
    }
  })

  it("sync (full or data-only) requeues on EINTR, succeeds on 0 (a positive result is passed on, as an open's fd is) and maps errors", () => {
    for (const flags of [0, Request.FLAG_DATA_ONLY]) {
      const r = make({ op: Request.OP_SYNC, flags })
      expect(cqe(r, -EINTR)).toBe(false)
      expect(cqe(r, 0)).toBe(true)
      expect(ended(r)).toEqual(["OK", 0])
      const one = make({ op: Request.OP_SYNC, flags })
      expect(cqe(one, 1)).toBe(true)
      expect(ended(one)).toEqual(["OK", 1])
    }
    expect(Request.isDataOnly(make({ op: Request.OP_SYNC, flags: Request.FLAG_DATA_ONLY }))).toBe(true)
    const io = make({ op: Request.OP_SYNC })
    cqe(io, -EIO)
    expect(ended(io)).toEqual(["ERROR", -EIO])
    const cancelled = make({ op: Request.OP_SYNC })
    cqe(cancelled, -ECANCELED, CANCELLED)
    expect(ended(cancelled)).toEqual(["CANCELLED", 0])
  })

  it("the kernel's restart codes (ERESTARTSYS 512 … 516) of a cancelled blocking op are its cancel outcome; without a cancel, a retry", () => {
    for (const code of [512, 513, 514, 516]) {
      const r = make({ op: Request.OP_OPEN })
      expect(Request.onCqe(r, Request.OUTCOME_CANCELLED, -code)).toBe(true)
      expect(ended(r)).toEqual(["CANCELLED", 0])
      expect(cqe(make({ op: Request.OP_OPEN }), -code)).toBe(false)
    }
  })

  it("the owner's rules: an fd made after its cancel was asked for is closed and the request ends as the cancel asked; closeFd's cancel is EBADF", () => {
    const OWNER = { cancelled: false, fdClosing: false }
    const CALLER = { cancelled: true, fdClosing: false }
    const CLOSING = { cancelled: false, fdClosing: true }
    const delivered = (op: number, res: number, cancel: number, owner: Request.Owner) => {
      const r = make({ op })
      expect(cqe(r, res, cancel)).toBe(true)
      const d = Request.delivered(r, cancel, owner)
      return [Request.OUTCOME_NAMES[d.outcome], d.result, d.closesFd, Request.cancelLost(r, cancel)]
    }
    // Nobody stopped waiting: the fd is the caller's.
    expect(delivered(Request.OP_OPEN, 7, ACTIVE, OWNER)).toEqual(["OK", 7, -1, false])
    // The loop's cancel lost (IOU_COMPLETION_CANCEL_LOST): its outcome, the fd closed.
    expect(delivered(Request.OP_OPEN, 7, TIMEOUT, OWNER)).toEqual(["TIMEOUT", 0, 7, true])
    expect(delivered(Request.OP_ACCEPT, 8, Request.OUTCOME_ABANDONED, OWNER)).toEqual(["ABANDONED", 0, 8, true])
    expect(delivered(Request.OP_SOCKET, 9, TIMEOUT, CALLER)).toEqual(["TIMEOUT", 0, 9, true])
    // The owner's cancel that the loop never saw (it had ended the request first).
    expect(delivered(Request.OP_ACCEPT, 8, ACTIVE, CALLER)).toEqual(["CANCELLED", 0, 8, false])
    expect(delivered(Request.OP_ACCEPT, 8, ACTIVE, CLOSING)).toEqual(["ERROR", -EBADF, 8, false])
    expect(delivered(Request.OP_ACCEPT, 8, CANCELLED, CLOSING)).toEqual(["ERROR", -EBADF, 8, true])
    // Not an fd-producing operation: success stands; a lost cancel is only reported.
    expect(delivered(Request.OP_CONNECT, 0, CANCELLED, CALLER)).toEqual(["OK", 0, -1, true])
    expect(delivered(Request.OP_STAT, 0, TIMEOUT, OWNER)).toEqual(["OK", 0, -1, true])
    // Failures: no fd to close; a request closeFd cancelled ends with EBADF, one that timed out as TIMEOUT.
    expect(delivered(Request.OP_OPEN, -ENOENT, TIMEOUT, OWNER)).toEqual(["ERROR", -ENOENT, -1, false])
    expect(delivered(Request.OP_READ_AT, -ECANCELED, CANCELLED, CLOSING)).toEqual(["ERROR", -EBADF, -1, false])
    expect(delivered(Request.OP_READ_AT, -ECANCELED, TIMEOUT, CLOSING)).toEqual(["TIMEOUT", 0, -1, false])
    expect(delivered(Request.OP_ACCEPT, -ECANCELED, CANCELLED, CALLER)).toEqual(["CANCELLED", 0, -1, false])
    // A failed data request says what it moved first: a receive that got 3 of 8 bytes before a reset,
    // its deadline, or closeFd; nothing for a success, an abandoned one or another operation.
    const moved = (res: number, cancel: number, owner: Request.Owner) => {
      const r = make({ op: Request.OP_RECV, length: 8, flags: Request.FLAG_EXACT })
      expect(cqe(r, 3, ACTIVE)).toBe(false)
      expect(cqe(r, res, cancel)).toBe(true)
      const d = Request.delivered(r, cancel, owner)
      return [Request.OUTCOME_NAMES[d.outcome], d.result, d.bytes]
    }
    expect(moved(-ECONNRESET, ACTIVE, OWNER)).toEqual(["ERROR", -ECONNRESET, 3])
    expect(moved(-ECANCELED, TIMEOUT, OWNER)).toEqual(["TIMEOUT", 3, 3])
    expect(moved(-ECANCELED, CANCELLED, CLOSING)).toEqual(["ERROR", -EBADF, 3])
    expect(moved(0, ACTIVE, OWNER)).toEqual(["UNEXPECTED_EOF", 3, 3])
    expect(moved(5, TIMEOUT, OWNER)).toEqual(["OK", 8, undefined])
    const failedOpen = make({ op: Request.OP_OPEN })
    expect(cqe(failedOpen, -ENOENT)).toBe(true)
    expect(Request.delivered(failedOpen, ACTIVE, OWNER).bytes).toBeUndefined()
    // A request still pending has nothing to deliver.
    expect(() => Request.delivered(make({ op: Request.OP_OPEN }), ACTIVE, OWNER)).toThrow(InvariantError)
    // A close the shutdown cutoff abandoned before the kernel ran it: the owner closes the fd, OK.
    const close = make({ op: Request.OP_CLOSE, fd: 12 })
    Request.end(close, Request.OUTCOME_ABANDONED)
    const d = Request.delivered(close, ACTIVE, OWNER)
    expect([Request.OUTCOME_NAMES[d.outcome], d.result, d.closesFd]).toEqual(["OK", 0, 12])
    // Kernel-held (its CQE never came within the grace): nothing is known, nothing is closed.
    const held = make({ op: Request.OP_CLOSE, fd: 12 })
    Request.end(held, Request.OUTCOME_ABANDONED)
    held.kernelHeld = true
    const h = Request.delivered(held, ACTIVE, OWNER)
    expect([Request.OUTCOME_NAMES[h.outcome], h.closesFd]).toEqual(["ABANDONED", -1])
  })

  it("nop succeeds with 0", () => {
    const r = make({ op: Request.OP_NOP })
    expect(cqe(r, 0)).toBe(true)
    expect(ended(r)).toEqual(["OK", 0])
  })

  it("ending locally delivers the cancel or timeout outcome with the progress so far, for every kind", () => {
    for (let op = Request.OP_NOP; op <= Request.OP_ACCEPT_MANY; op++) {
      const moves = [Request.OP_READ_AT, Request.OP_WRITE_AT, Request.OP_SEND, Request.OP_RECV].includes(op)
      const r = make({ op, length: moves ? 4 : 0 })
      Request.end(r, TIMEOUT)
      expect(ended(r)).toEqual(["TIMEOUT", 0])
      expect(() => Request.end(r, CANCELLED)).toThrow(InvariantError)
    }
  })

  it("zero-length data requests are empty (ended at admission), nop and sync never are", () => {
    expect(Request.isEmpty(make({ op: Request.OP_RECV }))).toBe(true)
    expect(Request.isEmpty(make({ op: Request.OP_SEND }))).toBe(true)
    expect(Request.isEmpty(make({ op: Request.OP_NOP }))).toBe(false)
    expect(Request.isEmpty(make({ op: Request.OP_SYNC }))).toBe(false)
  })

  it("only send, recv and readAt are ever orphaned when their caller goes away", () => {
    for (let op = Request.OP_NOP; op <= Request.OP_ACCEPT_MANY; op++) {
      const r = make({ op })
      r.orphaned = true
      expect(Request.isOrphaned(r)).toBe(op === Request.OP_SEND || op === Request.OP_RECV || op === Request.OP_READ_AT)
    }
  })

  const chunks = fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 6 })
  test.prop([chunks, fc.array(fc.oneof(fc.constant(-EAGAIN), fc.constant(-EINTR), fc.nat()), { maxLength: 40 })])(
    "a vectored write or send transfers every byte exactly once, whatever the short writes",
    (iov, script) => {
      const r = make({ op: Request.OP_WRITE_AT, iov })
      let submitted = 0
      for (const step of script) {
        if (Request.isDone(r)) break
        const asked = Request.sqeLength(r)
        const res = step < 0 ? step : 1 + (step % asked)
        if (res > 0) submitted += res
        Request.onCqe(r, ACTIVE, res)
      }
      expect(r.done).toBe(submitted)
      expect(r.done).toBeLessThanOrEqual(r.length)
      if (Request.isDone(r)) expect(ended(r)).toEqual(["OK", r.length])
      else expect(Request.sqeLength(r)).toBe(r.length - r.done)
    },
  )
})
