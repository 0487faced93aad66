/**
 * Request: one logical operation and its progress rules, mirrored by the C loop's `request.c`.
 *
 * A request may need several SQEs (short writes, short file reads, exact receives, EAGAIN/EINTR).
 * `onCqe` is the whole per-kind policy: given the request's progress, the waiter's cancel state and
 * one CQE result, it either asks for another SQE (returns false) or ends the request (returns true
 * with `outcome` and `result` set). It touches nothing but the request's progress fields and
 * allocates nothing.
 *
 * Contract of a completion (the C `struct iou_completion`): `outcome` is one of OUTCOME_*; `result`
 * is `-errno` with OUTCOME_ERROR and otherwise the bytes transferred so far (the count read or
 * received, the total written or sent) or, for an operation that moves no data, the kernel's
 * result (0 for nop and sync, the fd an open or accept made). A timed-out or cancelled send therefore
 * says how much of it may already be on the wire.
 *
 * CQE classification, in this order (the seed's `CqeResult::from_raw`):
 * 1. -EAGAIN or -EINTR (or the kernel's restart codes 512–516, which a cancelled blocking operation
 *    may end with): retry (another SQE), or, once a cancel was requested, the cancel outcome;
 * 2. -ECANCELED after a requested cancel: the cancel outcome (TIMEOUT or CANCELLED);
 * 3. any other negative result: OUTCOME_ERROR with that result (-ECANCELED too, if we never asked);
 * 4. zero: per kind. Operations that move no data (nop, sync…): OK. writeAt, send: WRITE_ZERO (no progress possible). recv without
 *    exact: OK with 0 (peer closed). readAt without exact: OK with the count so far (end of file).
 *    recv or readAt with exact: UNEXPECTED_EOF with the count so far;
 * 5. positive n (at most what the SQE asked for, else an invariant violation): progress. Complete:
 *    OK (success wins even over a requested cancel). Recv without exact: OK after the first
 *    non-empty read. Otherwise another SQE, or the cancel outcome once a cancel was requested.
 *
 * The file operations (open, closeFd, stat, truncate, allocate, unlink, rename, mkdir, symlink,
 * link) move no data: one SQE each, ended by its result (an open's fd; 0 for the others). A close
 * is the exception to rule 1: any error ends it (the kernel took the fd out of the table first).
 *
 * Requests of zero length (readAt, writeAt, send, recv) never reach the kernel: the loop ends them
 * at admission with OK and 0 (`isEmpty`), because the kernel's 0 would read as EOF or WRITE_ZERO.
 *
 * The owner's rules (`delivered`): what the Driver hands its caller for a request the loop ended.
 * An fd-producing operation (the table's `producesFd`) that ended OK after its cancel was requested
 * (`cancelLost`, the C IOU_COMPLETION_CANCEL_LOST), or after its caller cancelled it in the Driver
 * before the completion arrived, has its fd closed by the Driver and ends as the cancel asked; a
 * request cancelled because `closeFd` is closing its fd ends with EBADF, not CANCELLED. A close the
 * shutdown cutoff abandoned before the kernel ran it (ABANDONED, not kernel-held) leaves its fd
 * open: the Driver closes it (close(2)) and the caller gets OK, the close it asked for.
 */
import { fail } from "./Invariant.ts"
import { BY_OP, isMultishot as isMultishotOp } from "./Operations.ts"
import { EAGAIN, EBADF, ECANCELED, EINTR, isRestart } from "./Errno.ts"
import * as WaiterId from "./WaiterId.ts"

/** Operations, numbered as IOU_OP_* in packages/native/include/iou.h. */
export const OP_NOP = 0
export const OP_READ_AT = 1
export const OP_WRITE_AT = 2
export const OP_SEND = 3
export const OP_RECV = 4
export const OP_SYNC = 5
export const OP_SOCKET = 6
export const OP_CONNECT = 7
export const OP_ACCEPT = 8
export const OP_SHUTDOWN = 9
export const OP_BIND = 10
export const OP_LISTEN = 11
export const OP_OPEN = 12
export const OP_CLOSE = 13
export const OP_STAT = 14
export const OP_TRUNCATE = 15
export const OP_ALLOCATE = 16
export const OP_UNLINK = 17
export const OP_RENAME = 18
export const OP_MKDIR = 19
export const OP_SYMLINK = 20
export const OP_LINK = 21
/** Multishot recv into provided buffers: results (chunks) with `more`, then one completion. */
export const OP_RECV_MANY = 22
/** Multishot accept: each connection's fd a result with `more`, then one completion. */
export const OP_ACCEPT_MANY = 23

/** IOU_FLAG_EXACT: readAt/recv fill the whole range; EOF first is OUTCOME_UNEXPECTED_EOF. */
export const FLAG_EXACT = 1
/** IOU_FLAG_DATA_ONLY: sync is fdatasync instead of fsync. */
export const FLAG_DATA_ONLY = 2

/** Outcomes, numbered as IOU_OUTCOME_* in iou.h. */
export const OUTCOME_OK = 0
export const OUTCOME_ERROR = 1
export const OUTCOME_TIMEOUT = 2
export const OUTCOME_CANCELLED = 3
export const OUTCOME_UNEXPECTED_EOF = 4
export const OUTCOME_ABANDONED = 5
export const OUTCOME_WRITE_ZERO = 6
/** Model only: the request has not ended yet. */
export const OUTCOME_PENDING = -1

/** The cancel state argument of `onCqe` when no cancel was requested. */
export const NOT_CANCELLED = -1

/** No deadline (the C `deadline_ns == 0`). */
export const NO_DEADLINE = 0

/** Most iovec entries one SQE carries (IOU_MAX_IOV). */
export const MAX_IOV = 1024

/** Largest byte count a CQE result (int32) can report. */
export const MAX_LENGTH = 0x7fff_ffff

export const OP_NAMES = [
  "nop",
  "readAt",
  "writeAt",
  "send",
  "recv",
  "sync",
  "socket",
  "connect",
  "accept",
  "shutdownSocket",
  "bind",
  "listen",
  "open",
  "closeFd",
  "stat",
  "truncate",
  "allocate",
  "unlink",
  "rename",
  "mkdir",
  "symlink",
  "link",
  "recvMany",
  "acceptMany",
] as const

export const OUTCOME_NAMES = [
  "OK",
  "ERROR",
  "TIMEOUT",
  "CANCELLED",
  "UNEXPECTED_EOF",
  "ABANDONED",
  "WRITE_ZERO",
] as const

export interface Request {
  /** The caller's id, echoed in the completion. */
  readonly tag: number
  /** OP_*. */
  readonly op: number
  readonly fd: number
  /** FLAG_*. */
  readonly flags: number
  /** File offset of readAt / writeAt. */
  readonly position: number
  /** Total bytes to transfer (the sum of `iov` when vectored). */
  readonly length: number
  /** Chunk lengths of a vectored readAt / writeAt / send (readv / writev / sendmsg); empty when single-buffer. */
  readonly iov: ReadonlyArray<number>
  /** Absolute deadline in ns on the loop's clock, or NO_DEADLINE. */
  readonly deadline: number
  /** Bytes transferred so far. */
  done: number
  /** OUTCOME_*, OUTCOME_PENDING until the request ends. */
  outcome: number
  /** See the module comment. */
  result: number
  /** The caller went away (the seed's orphan: only send, recv and readAt are ever retired for it). */
  orphaned: boolean
  /** The caller cancelled it before the loop admitted it: it ends CANCELLED at admission. */
  cancelRequested: boolean
  /** Its waiter while admitted, WaiterId.NONE otherwise. */
  waiter: WaiterId.WaiterId
  /**
   * Ended ABANDONED while an op of it was still in the kernel (the C IOU_COMPLETION_KERNEL_HELD):
   * its cancel did not come back within the abandonment grace, so its memory must be quarantined.
   */
  kernelHeld: boolean
}

export interface Options {
  readonly op: number
  readonly tag?: number
  readonly fd?: number
  readonly flags?: number
  readonly position?: number
  /** Bytes for readAt / recv / single-buffer writeAt / send. */
  readonly length?: number
  /** Chunk lengths for a vectored readAt / writeAt / send (each > 0). */
  readonly iov?: ReadonlyArray<number>
  readonly deadline?: number
}

const isByteCount = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= MAX_LENGTH

/** A new request, validated the way the Driver validates before anything reaches the loop. */
export const make = (options: Options): Request => {
  const { op } = options
  if (!(Number.isInteger(op) && op >= OP_NOP && op <= OP_ACCEPT_MANY)) throw new RangeError(`unknown op ${op}`)
  const iov = options.iov ?? []
  let length = options.length ?? 0
  if (iov.length > 0) {
    if (op !== OP_WRITE_AT && op !== OP_SEND && op !== OP_READ_AT) throw new TypeError(`${OP_NAMES[op]} takes no iov`)
    length = 0
    for (const chunk of iov) {
      if (!isByteCount(chunk) || chunk === 0) throw new RangeError(`iov chunk length ${chunk} must be in [1, 2^31)`)
      length += chunk
    }
  }
  if (!isByteCount(length)) throw new RangeError(`length ${length} must be in [0, 2^31)`)
  if (!movesData(op) && length !== 0) throw new RangeError(`${OP_NAMES[op]} takes no length`)
  const deadline = options.deadline ?? NO_DEADLINE
  if (!(deadline >= 0)) throw new RangeError(`deadline ${deadline} must be >= 0`)
  return {
    tag: options.tag ?? 0,
    op,
    fd: options.fd ?? 0,
    flags: options.flags ?? 0,
    position: options.position ?? 0,
    length,
    iov,
    deadline,
    done: 0,
    outcome: OUTCOME_PENDING,
    result: 0,
    orphaned: false,
    cancelRequested: false,
    waiter: WaiterId.NONE,
    kernelHeld: false,
  }
}

export const isExact = (r: Request): boolean => (r.flags & FLAG_EXACT) !== 0

export const isDataOnly = (r: Request): boolean => (r.flags & FLAG_DATA_ONLY) !== 0

export const hasDeadline = (r: Request): boolean => r.deadline !== NO_DEADLINE

export const isDone = (r: Request): boolean => r.outcome !== OUTCOME_PENDING

/** The operation transfers bytes (the table's movesData): progress, EOF and WRITE_ZERO apply to it. */
const movesData = (op: number): boolean => BY_OP[op]?.movesData === true

/** A data operation with nothing to transfer: ends OK with 0 at admission, no SQE. */
export const isEmpty = (r: Request): boolean => movesData(r.op) && r.length === 0

/**
 * A multishot operation (recvMany): its one SQE yields CQEs with IORING_CQE_F_MORE, each published
 * as a result that does not end the request (Loop's `onMore`), while the waiter stays in flight;
 * the CQE without F_MORE goes through `onCqe` as any other and ends it exactly once. A cancel or a
 * deadline is one ASYNC_CANCEL, and the op's last CQE ends it.
 */
export const isMultishot = (r: Request): boolean => isMultishotOp(r.op)

/** The seed's orphan rule: the caller went away and the kind may be dropped (not writeAt, sync, nop). */
export const isOrphaned = (r: Request): boolean =>
  r.orphaned && (r.op === OP_SEND || r.op === OP_RECV || r.op === OP_READ_AT)

/** Index of the first chunk with bytes left, given `done` bytes consumed (vectored only). */
const firstChunk = (r: Request): number => {
  let consumed = r.done
  let i = 0
  while (i < r.iov.length && consumed >= r.iov[i]!) {
    consumed -= r.iov[i]!
    i++
  }
  return i
}

/** Bytes the next SQE asks for: what is left, limited to MAX_IOV chunks when vectored. */
export const sqeLength = (r: Request): number => {
  if (r.iov.length === 0) return r.length - r.done
  const first = firstChunk(r)
  let before = 0
  for (let i = 0; i < first; i++) before += r.iov[i]!
  let length = before - r.done
  const end = Math.min(r.iov.length, first + MAX_IOV)
  for (let i = first; i < end; i++) length += r.iov[i]!
  return length
}

/** iovec entries the next SQE carries (0 when single-buffer). */
export const sqeIovCount = (r: Request): number =>
  r.iov.length === 0 ? 0 : Math.min(r.iov.length - firstChunk(r), MAX_IOV)

/** File offset of the next SQE of a readAt / writeAt: the position plus the progress. */
export const sqeOffset = (r: Request): number => r.position + r.done

/** Ends the request with an outcome and a result. Ending twice is an invariant violation. */
export const finish = (r: Request, outcome: number, result: number): true => {
  if (r.outcome !== OUTCOME_PENDING) {
    fail(`request ${r.tag} ended twice: ${OUTCOME_NAMES[r.outcome]} then ${OUTCOME_NAMES[outcome]}`)
  }
  r.outcome = outcome
  r.result = result
  return true
}

/** Ends the request locally (no CQE): timeout, cancel, abandonment; the result is the progress. */
export const end = (r: Request, outcome: number): true => finish(r, outcome, r.done)

/**
 * Applies one op CQE result. `cancelOutcome` is NOT_CANCELLED while the waiter is active, else the
 * outcome its cancel asked for (OUTCOME_TIMEOUT or OUTCOME_CANCELLED). Returns true when the
 * request ended, false when it needs another SQE.
 */
export const onCqe = (r: Request, cancelOutcome: number, res: number): boolean => {
  const cancelled = cancelOutcome !== NOT_CANCELLED
  // A close is never retried: the fd left the table before the error, its number may be reused.
  if (r.op === OP_CLOSE && res < 0 && res !== -ECANCELED) return finish(r, OUTCOME_ERROR, res)
  if (res === -EAGAIN || res === -EINTR || isRestart(-res)) return cancelled ? end(r, cancelOutcome) : false
  if (res === -ECANCELED && cancelled) return end(r, cancelOutcome)
  if (res < 0) return finish(r, OUTCOME_ERROR, res)
  const op = r.op
  if (!movesData(op)) return finish(r, OUTCOME_OK, res) // e.g. the fd an open made
  const asked = sqeLength(r)
  if (res > asked) fail(`${OP_NAMES[op]} CQE of ${res} bytes exceeds the ${asked} asked for`)
  if (res === 0) {
    if (op === OP_WRITE_AT || op === OP_SEND) return end(r, OUTCOME_WRITE_ZERO)
    return end(r, isExact(r) ? OUTCOME_UNEXPECTED_EOF : OUTCOME_OK)
  }
  r.done += res
  if (r.done === r.length) return end(r, OUTCOME_OK)
  if (op === OP_RECV && !isExact(r)) return end(r, OUTCOME_OK)
  return cancelled ? end(r, cancelOutcome) : false
}

/**
 * The cancel came too late (the C IOU_COMPLETION_CANCEL_LOST): one was requested (`cancelOutcome`,
 * as for `onCqe`) and the request still ended OK, because the operation had succeeded first.
 */
export const cancelLost = (r: Request, cancelOutcome: number): boolean =>
  cancelOutcome !== NOT_CANCELLED && r.outcome === OUTCOME_OK

/** What the owner knows of an ended request that the loop does not. */
export interface Owner {
  /** The caller cancelled it (an abort, an interruption) and still waited for its completion. */
  readonly cancelled: boolean
  /** It acts on an fd that `closeFd` is closing, which cancelled it (a cancel of the owner's, as the caller's). */
  readonly fdClosing: boolean
}

/**
 * What the caller gets: an outcome, its result (`-errno` with OUTCOME_ERROR), an fd the owner
 * closes (-1: none), and, when an operation that moves data fails (any outcome but OK and
 * ABANDONED), the bytes it moved before it ended (the Driver's error carries them as `bytes`).
 */
export interface Delivered {
  readonly outcome: number
  readonly result: number
  readonly closesFd: number
  readonly bytes: number | undefined
}

/**
 * The owner's rules (the module comment): the ended request `r`, the outcome its loop cancel asked
 * for (NOT_CANCELLED if none was requested) and what the owner knows, to what the caller receives.
 */
export const delivered = (r: Request, cancelOutcome: number, owner: Owner): Delivered => {
  if (!isDone(r)) fail(`request ${r.tag} delivered before it ended`)
  let outcome = r.outcome
  let result = r.result
  let closesFd = -1
  const ownerCancelled = owner.cancelled || owner.fdClosing
  const unwanted = cancelLost(r, cancelOutcome) || (ownerCancelled && r.outcome === OUTCOME_OK)
  if (unwanted && BY_OP[r.op]?.producesFd === true && !isMultishotOp(r.op)) {
    // An fd is only ever handed to a caller who still wants it.
    closesFd = r.result
    outcome = cancelOutcome !== NOT_CANCELLED ? cancelOutcome : OUTCOME_CANCELLED
    result = 0
  }
  if (outcome === OUTCOME_CANCELLED && owner.fdClosing) {
    outcome = OUTCOME_ERROR
    result = -EBADF
  }
  if (r.op === OP_CLOSE && outcome === OUTCOME_ABANDONED && !r.kernelHeld) {
    closesFd = r.fd
    outcome = OUTCOME_OK
    result = 0
  }
  // An abandoned request's count is not known: the kernel may still be moving its bytes.
  const failed = outcome !== OUTCOME_OK && outcome !== OUTCOME_ABANDONED
  return { outcome, result, closesFd, bytes: failed && movesData(r.op) ? r.done : undefined }
}
