/**
 * Delivery: the end of every request. Completions from the loop (read from the wire) and those that
 * end without the loop (cancelled or timed out in the backpressure queue, abandoned there at the
 * shutdown timeout, refused by the binding) all end here: the slot is released first, then the
 * callback or promise is settled, so that a callback may submit again and reuse the slot.
 *
 * An fd-producing request (Operations' `producesFd`: socket, accept, open) that the kernel completed
 * after its cancel was asked for (its caller's abort, closeFd of its fd, its deadline, the shutdown
 * cutoff) ends as that cancel asked (AbortError, EBADF, ETIMEDOUT, ERR_IOU_ABANDONED: @iou/core's
 * Request.delivered), and the fd it made is closed here, before the request ends: nothing leaks.
 *
 * Also owns what outlives requests: the quarantine of buffers the kernel may still write (requests
 * abandoned with IOU_COMPLETION_KERNEL_HELD), never released, and the counters of requests ended
 * without the loop, which stats() adds to the loop's own.
 */
import {
  IOU_COMPLETION_BUFFER,
  IOU_COMPLETION_CANCEL_LOST,
  IOU_COMPLETION_CANCEL_OUTCOME_MASK,
  IOU_COMPLETION_CANCEL_OUTCOME_SHIFT,
  IOU_COMPLETION_FD,
  IOU_COMPLETION_KERNEL_HELD,
  IOU_COMPLETION_MORE,
  IOU_OUTCOME_ABANDONED,
  IOU_OUTCOME_CANCELLED,
  IOU_OUTCOME_OK,
  type NativeStats,
} from "./binding.ts"
import { BY_OP, isMultishot, OPERATIONS } from "./Operations.ts"
import { closingFdError, fromCompletion, type IoUringError, movedBytes } from "./IoUringError.ts"
import * as Pending from "./PendingTable.ts"
import type { Shutdown } from "./Shutdown.ts"
import type { Data, DriverStats } from "./types.ts"
import * as Validate from "./Validate.ts"
import type { Wire } from "./Wire.ts"

/** Buffers of abandoned requests: never released, the kernel may still write into them. */
const quarantine: Array<Data> = []

const rethrow = (error: unknown): never => {
  throw error
}

const CLOSE_OP = OPERATIONS.closeFd.op

/**
 * An fd `closeFd` is closing: how many requests on it are still to end, what runs when none is,
 * and whether the close itself has gone to the kernel (from then on the kernel may hand the number
 * out again: see `fdMade`).
 */
export interface FdClosing {
  waiting: number
  readonly onIdle: () => void
  inKernel: boolean
}

/**
 * What a multishot request (recvMany) needs beyond the rest: its chunks, and what its loop
 * completion means. Implemented by the Driver.
 */
export interface Multishot {
  /** Buffer `buffer` of the pool holds `length` bytes of the request in `slot`: hand them over. */
  chunk(slot: number, buffer: number, length: number): void
  /** A result of the multishot request in `slot` that names no buffer (acceptMany: an fd). */
  more(slot: number, outcome: number, result: number): void
  /**
   * The loop ended the multishot request in `slot` with (outcome, result), its chunks delivered.
   * True when the Driver took it over (re-armed it, or ended it itself); false: end it as any other.
   */
  ended(slot: number, outcome: number, result: number): boolean
  /** After each batch: give the buffers back, then re-arm. */
  afterBatch(): void
}

export class Delivery {
  private readonly table: Pending.PendingTable
  private readonly shutdown: Shutdown
  private readonly afterLocal: () => void
  /** Set by the Driver once its parts exist. */
  multishot: Multishot | undefined
  /** Requests ended without the loop: cancelled, abandoned or timed out in the backpressure queue. */
  cancelled = 0
  abandoned = 0
  timedOut = 0
  /**
   * Of `cancelled` and `timedOut`: multishot requests that ended between the loop's end of an arm
   * (ENOBUFS) and their re-arm. The loop counted that arm as completed: not counted again there.
   */
  endedBetweenArms = 0
  /**
   * recvMany found the provided buffers all taken (ENOBUFS): re-armed, or ended if it was cancelled,
   * closing or past its deadline.
   */
  recvBuffersEmpty = 0
  private quarantinedBytes = 0
  /** fds that closeFd is closing (see Requests.startCloseFd); each request on one that ends counts down. */
  readonly closingFds = new Map<number, FdClosing>()
  /**
   * Per fd, the calls running on it off the ring (truncate's ftruncate(2) on libuv's threadpool
   * before Linux 6.9): not in the pending table, and not cancellable; a closeFd waits for them too.
   */
  readonly offRing = new Map<number, number>()
  /** fds an fd-producing request made after its caller stopped waiting, closed here. */
  unwantedFds = 0

  // Completions that did not come from the loop, delivered in a microtask.
  private localSlots: Array<number> = []
  private localErrors: Array<IoUringError | null> = []
  private localScheduled = false
  private readonly deliverLocalFn = (): void => this.deliverLocal()

  /** Closes an fd whose closeFd the ring will not run, unmarked first (close(2) through the binding). */
  private readonly closeFd: (fd: number) => IoUringError | null
  /**
   * Marks an fd to be closed if the thread ends before it is closed (Requests.closeOnExit): false
   * when the binding refused (its thread's environment is ending).
   */
  private readonly markFd: (fd: number) => boolean
  /**
   * Closes the fd of completion `i` of the completion area and clears its flag, in one binding
   * call (Loop.closeUntaken): closed once, here or, if the binding cannot run any more, by the
   * binding after the dispatch.
   */
  private readonly closeUntaken: (i: number) => void

  /**
   * `afterLocal`: runs after each microtask's local completions (a closing Driver refills).
   * `closeFd`: unmarks and closes (close(2), on this thread) an fd whose closeFd the ring will not
   * run: null, or its error.
   * `markFd`: marks the fd of a request whose `markFd` column is set.
   * `closeUntaken`: closes the fd of a completion whose caller stopped waiting.
   */
  constructor(
    table: Pending.PendingTable,
    shutdown: Shutdown,
    afterLocal: () => void,
    closeFd: (fd: number) => IoUringError | null,
    markFd: (fd: number) => boolean,
    closeUntaken: (i: number) => void,
  ) {
    this.table = table
    this.shutdown = shutdown
    this.afterLocal = afterLocal
    this.closeFd = closeFd
    this.markFd = markFd
    this.closeUntaken = closeUntaken
  }

  /** Ends the first `count` completions of the wire's completion area. */
  fromLoop(wire: Wire, count: number): void {
    const t = this.table
    for (let i = 0; i < count; i++) {
      wire.load(i)
      const slot = wire.slot
      // Tags are unique among live requests: a mismatch would be a loop bug; never touch the slot.
      if (!t.holds(slot, wire.generation)) continue
      const state = t.state[slot]
      if (state !== Pending.SUBMITTED && state !== Pending.CANCELLING) continue
      const result = wire.result
      const outcome = wire.outcome
      const flags = wire.flags
      // An fd the kernel made is taken (its flag cleared) before anything can run: from then on
      // it is the Driver's to hand over or close. Where the request asked, it is marked first (a
      // thread that ends between the two closes it once: the binding closes an fd still flagged
      // and drops its mark); a mark the binding refused (it cannot run: its thread's environment
      // is ending, and JavaScript runs on a little) leaves the fd flagged and the completion
      // undelivered. One whose caller stopped waiting is closed at once (the request then ends in
      // refuseFd, or goes on in more): a single-shot request whose cancel was asked for (by the
      // caller or by the loop, which lost it), a multishot one the caller stopped (acceptMany
      // hands over the connection that ended it when its deadline or the shutdown cutoff lost to
      // it: Requests.ended).
      if ((flags & IOU_COMPLETION_FD) !== 0) {
        if (state === Pending.CANCELLING || ((flags & IOU_COMPLETION_CANCEL_LOST) !== 0 && !isMultishot(t.op[slot]!))) {
          this.closeUntaken(i)
          this.unwantedFds++
        } else {
          if (t.markFd[slot] === 1) {
            if (this.closingFds.size > 0) this.fdMade(result) // a closeFd of the old number no longer holds it
            if (!this.markFd(result)) continue
          }
          wire.takeFd(i)
        }
      }
      if ((flags & IOU_COMPLETION_BUFFER) !== 0) this.multishot!.chunk(slot, wire.buffer, result > 0 ? result : 0)
      if ((flags & IOU_COMPLETION_MORE) !== 0) {
        if ((flags & IOU_COMPLETION_BUFFER) === 0) this.multishot!.more(slot, outcome, result)
        continue
      }
      if (isMultishot(t.op[slot]!) && this.multishot!.ended(slot, outcome, result)) continue
      if (outcome === IOU_OUTCOME_OK) {
        const unwanted = state === Pending.CANCELLING || (flags & IOU_COMPLETION_CANCEL_LOST) !== 0
        if (unwanted && BY_OP[t.op[slot]!]!.producesFd) this.refuseFd(slot, flags)
        else this.finish(slot, null, result)
        continue
      }
      this.failed(slot, result, outcome, flags, wire.doneOf(i))
    }
    this.multishot?.afterBatch()
  }

  /**
   * The fd-producing rule: the kernel made `fd` after the caller stopped waiting (its cancel was
   * requested: the caller's abort, closeFd of the fd it acts on, its deadline, the shutdown cutoff;
   * success won the race). fromLoop closed the fd; the request ends as its cancel asked, as it
   * would have had the cancel won: with the outcome of the loop's lost cancel (`flags`), else (the
   * caller cancelled after the loop had completed it) as cancelled; a cancel of closeFd's ends with
   * EBADF, as in failed(). An fd only ever reaches a caller who still wants it.
   */
  private refuseFd(slot: number, flags: number): void {
    const t = this.table
    const as =
      (flags & IOU_COMPLETION_CANCEL_LOST) !== 0
        ? (flags & IOU_COMPLETION_CANCEL_OUTCOME_MASK) >> IOU_COMPLETION_CANCEL_OUTCOME_SHIFT
        : IOU_OUTCOME_CANCELLED
    if (as === IOU_OUTCOME_CANCELLED && t.fdClosed[slot] === 1) {
      this.finish(slot, closingFdError(BY_OP[t.op[slot]!]!.syscall, t.fd[slot]!), 0)
      return
    }
    const cause = as === IOU_OUTCOME_CANCELLED ? this.abortCause(slot) : undefined
    this.finish(slot, fromCompletion(t.op[slot]!, t.fd[slot], 0, as, cause, t.site[slot]), 0)
  }

  /**
   * Ends a request the loop completed with another outcome than OK. Apart from fromLoop() so that
   * the per-completion path stays small enough for V8 to inline.
   */
  private failed(slot: number, result: number, outcome: number, flags: number, done: number): void {
    if (outcome === IOU_OUTCOME_ABANDONED && (flags & IOU_COMPLETION_KERNEL_HELD) !== 0) this.quarantine(slot)
    const t = this.table
    if (outcome === IOU_OUTCOME_ABANDONED && (flags & IOU_COMPLETION_KERNEL_HELD) === 0 && t.op[slot] === CLOSE_OP) {
      this.finish(slot, this.closeAbandoned(slot), 0)
      return
    }
    if (outcome === IOU_OUTCOME_CANCELLED && t.fdClosed[slot] === 1) {
      const op = t.op[slot]!
      this.finish(slot, closingFdError(BY_OP[op]!.syscall, t.fd[slot]!, movedBytes(op, result)), result)
      return
    }
    const cause = outcome === IOU_OUTCOME_CANCELLED ? this.abortCause(slot) : undefined
    this.finish(slot, fromCompletion(t.op[slot]!, t.fd[slot], result, outcome, cause, t.site[slot], done), result)
  }

  /** Ends a request that the loop will not complete, in a microtask (never synchronously). */
  local(slot: number, error: IoUringError | null): void {
    this.table.state[slot] = Pending.LOCAL
    this.localSlots.push(slot)
    this.localErrors.push(error)
    if (!this.localScheduled) {
      this.localScheduled = true
      queueMicrotask(this.deliverLocalFn)
    }
  }

  /**
   * A closeFd the shutdown cutoff abandoned before the kernel ran it (still queued, or cancelled in
   * the kernel: not KERNEL_HELD) left its fd open: it is closed here (close(2)), and the request
   * ends with that close's result. The caller asked for the fd to be closed, and it is: an fd never
   * stays open without its caller knowing.
   */
  closeAbandoned(slot: number): IoUringError | null {
    return this.closeFd(this.table.fd[slot]!)
  }

  /** The AbortSignal's reason, when a signal cancelled the request in `slot`. */
  abortCause(slot: number): unknown {
    const signal = this.table.signal[slot]
    return Validate.abortReason(signal)
  }

  /** The loop's counters `n` plus the Driver's own. */
  stats(n: NativeStats): DriverStats {
    const outstanding = this.table.outstanding
    return {
      pendingOperations: n.pendingOperations,
      outstanding,
      inFlight: outstanding,
      submitted: n.submitted,
      completed: n.completed + this.cancelled + this.abandoned + this.timedOut - this.endedBetweenArms,
      failed: n.failed,
      timedOut: n.timedOut + this.timedOut,
      cancelled: n.cancelled + this.cancelled,
      requeued: n.requeued,
      sqesStaged: n.sqesStaged,
      enters: n.enters,
      wakes: n.wakes,
      cqOverflow: n.cqOverflow,
      cqKernelOverflow: n.cqKernelOverflow,
      recvBuffersEmpty: this.recvBuffersEmpty,
      abandoned: n.abandoned + this.abandoned,
      quarantinedBytes: this.quarantinedBytes,
    }
  }

  /**
   * Frees the slot, counts down a closeFd waiting for the request, then calls back (a callback may
   * submit again and reuse the slot).
   */
  finish(slot: number, error: IoUringError | null, result: number): void {
    const t = this.table
    const kind = t.kind[slot]
    const resolve = t.resolve[slot]!
    const reject = t.reject[slot]
    const signal = t.signal[slot]
    const map = t.map[slot]
    const op = t.op[slot]!
    const fd = t.fd[slot]!
    if (signal !== undefined) Validate.removeAbortListener(signal, t.onAbort[slot]!)
    if (error === null && this.closingFds.size > 0 && BY_OP[op]!.producesFd) this.fdMade(result)
    t.release(slot)
    if (this.shutdown.closing) this.shutdown.ended(error?.reason)
    // Before the callback: a closeFd of this fd that the callback starts does not count this
    // request (its slot is free), so it must not count down for it.
    if (this.closingFds.size > 0) this.endedOnFd(op, fd)
    const value = error !== null ? 0 : map === undefined ? result : map(result)
    if (kind === Pending.KIND_CALLBACK) {
      try {
        ;(resolve as (error: Error | null, value: unknown) => void)(
          error,
          error === null ? value : map === undefined ? 0 : undefined,
        )
      } catch (thrown) {
        // One callback's exception must not stop the batch: rethrow it as an uncaught exception.
        process.nextTick(rethrow, thrown)
      }
    } else if (error !== null) {
      reject!(error)
    } else {
      ;(resolve as (value: unknown) => void)(kind === Pending.KIND_PROMISE_VOID ? undefined : value)
    }
  }

  /** A request on `fd` ended: if closeFd waits for fd's requests, one fewer (the close itself does not count). */
  private endedOnFd(op: number, fd: number): void {
    if (op === OPERATIONS.closeFd.op || !BY_OP[op]!.onFd) return
    this.countDown(fd)
  }

  private countDown(fd: number): void {
    const closing = this.closingFds.get(fd)
    if (closing !== undefined && --closing.waiting === 0) closing.onIdle()
  }

  /**
   * The kernel made `fd` (an open, accept, socket): if a closeFd of that number had its close in
   * the kernel still to complete (a close handed to a kernel worker may complete after the number
   * is taken again), that close has happened, and the number is a new file's: it is no longer
   * closing, so that requests on it, and its own closeFd, are not refused.
   */
  fdMade(fd: number): void {
    const closing = this.closingFds.get(fd)
    if (closing !== undefined && closing.inKernel) this.closingFds.delete(fd)
  }

  /**
   * Whether requests on `fd` are refused (EBADF): while its closeFd waits for the requests it
   * cancelled, the number still names the file being closed. Once the close has been sent the
   * number is free: anyone (node:fs, another Driver or thread) may be given it for a new file before
   * the close's completion reaches JavaScript, and that file's requests are not refused. (A second
   * closeFd of the number is, until the close completed: Requests.startCloseFd.)
   */
  refusesFd(fd: number): boolean {
    const closing = this.closingFds.get(fd)
    return closing !== undefined && !closing.inKernel
  }

  /** A call on `fd` off the ring started (offRing). */
  startedOffRing(fd: number): void {
    this.offRing.set(fd, (this.offRing.get(fd) ?? 0) + 1)
  }

  /** A call on `fd` off the ring ended: a closeFd waiting for it counts down (before the caller hears). */
  endedOffRing(fd: number): void {
    const left = this.offRing.get(fd)! - 1
    if (left === 0) this.offRing.delete(fd)
    else this.offRing.set(fd, left)
    this.countDown(fd)
  }

  private deliverLocal(): void {
    this.localScheduled = false
    const slots = this.localSlots
    const errors = this.localErrors
    this.localSlots = []
    this.localErrors = []
    for (let i = 0; i < slots.length; i++) this.finish(slots[i]!, errors[i]!, 0)
    this.afterLocal()
  }

  private quarantine(slot: number): void {
    const data = this.table.data[slot]
    if (data === undefined) return
    quarantine.push(data)
    this.quarantinedBytes += Validate.bytesOf(data)
  }
}
