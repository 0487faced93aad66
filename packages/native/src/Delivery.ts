/**
 * Delivery: the end of every request. Completions from the loop (read from the wire) and those that
 * end without the loop (cancelled or timed out in the backpressure queue, abandoned there at the
 * shutdown timeout, refused by the binding) all end here: the slot is released first, then the
 * callback or promise is settled, so that a callback may submit again and reuse the slot.
 *
 * An fd-producing request (Operations' `producesFd`: socket, accept) that the kernel completed
 * after its caller cancelled it or after its deadline passed ends with the AbortError or ETIMEDOUT
 * its caller expects, and the fd it made is closed here: nothing leaks.
 *
 * Also owns what outlives requests: the quarantine of buffers the kernel may still write (requests
 * abandoned with IOU_COMPLETION_KERNEL_HELD), never released, and the counters of requests ended
 * without the loop, which stats() adds to the loop's own.
 */
import {
  IOU_COMPLETION_KERNEL_HELD,
  IOU_OUTCOME_ABANDONED,
  IOU_OUTCOME_CANCELLED,
  IOU_OUTCOME_OK,
  IOU_OUTCOME_TIMEOUT,
  type NativeStats,
} from "./binding.ts"
import * as Clock from "./Clock.ts"
import { abortError, fromCompletion, type IoUringError } from "./IoUringError.ts"
import { BY_OP, fdOf } from "./Operations.ts"
import * as Pending from "./PendingTable.ts"
import type { Shutdown } from "./Shutdown.ts"
import type { Callback, Data, DriverStats } from "./types.ts"
import * as Validate from "./Validate.ts"
import type { Wire } from "./Wire.ts"

/** Buffers of abandoned requests: never released, the kernel may still write into them. */
const quarantine: Array<Data> = []

const rethrow = (error: unknown): never => {
  throw error
}

export class Delivery {
  private readonly table: Pending.PendingTable
  private readonly shutdown: Shutdown
  private readonly afterLocal: () => void
  /** Requests ended without the loop: cancelled, abandoned or timed out in the backpressure queue. */
  cancelled = 0
  abandoned = 0
  timedOut = 0
  private quarantinedBytes = 0

  // Completions that did not come from the loop, delivered in a microtask.
  private localSlots: Array<number> = []
  private localErrors: Array<IoUringError> = []
  private localScheduled = false
  private readonly deliverLocalFn = (): void => this.deliverLocal()

  /** Closes an fd the Driver made for a caller who no longer wants it (close(2) through the binding). */
  private readonly closeFd: (fd: number) => void

  /**
   * `afterLocal`: runs after each microtask's local completions (a closing Driver refills).
   * `closeFd`: closes an fd that a cancelled or timed-out fd-producing request made anyway.
   */
  constructor(table: Pending.PendingTable, shutdown: Shutdown, afterLocal: () => void, closeFd: (fd: number) => void) {
    this.table = table
    this.shutdown = shutdown
    this.afterLocal = afterLocal
    this.closeFd = closeFd
  }

  /** Ends the first `count` completions of the wire's completion area. */
  fromLoop(wire: Wire, count: number): void {
    const t = this.table
    for (let i = 0; i < count; i++) {
      const slot = wire.slot(i)
      // Tags are unique among live requests: a mismatch would be a loop bug; never touch the slot.
      if (!t.holds(slot, wire.generation(i))) continue
      const state = t.state[slot]
      if (state !== Pending.SUBMITTED && state !== Pending.CANCELLING) continue
      const result = wire.result(i)
      const outcome = wire.outcome(i)
      if (outcome === IOU_OUTCOME_OK) {
        const unwanted = BY_OP[t.op[slot]!]!.producesFd ? this.unwanted(slot, state) : null
        if (unwanted !== null) this.closeFd(result)
        this.finish(slot, unwanted, unwanted === null ? result : 0)
        continue
      }
      if (outcome === IOU_OUTCOME_ABANDONED && (wire.flags(i) & IOU_COMPLETION_KERNEL_HELD) !== 0) {
        this.quarantine(slot)
      }
      const cause = outcome === IOU_OUTCOME_CANCELLED ? this.abortCause(slot) : undefined
      this.finish(slot, fromCompletion(t.op[slot]!, t.fd[slot], result, outcome, cause), result)
    }
  }

  /**
   * The error for a request that made an fd nobody wants any more: its caller cancelled it (the
   * cancel was requested, and the kernel finished first) or its deadline has passed. null while
   * the caller still wants the fd. The fd is then closed here: it is only ever handed to a caller
   * who still waits for it.
   */
  private unwanted(slot: number, state: number | undefined): IoUringError | null {
    const t = this.table
    const op = t.op[slot]!
    if (state === Pending.CANCELLING) {
      return abortError(BY_OP[op]!.syscall, fdOf(op, t.fd[slot]), this.abortCause(slot))
    }
    const deadline = t.deadline[slot]!
    if (deadline !== 0 && Clock.now() >= deadline) return fromCompletion(op, t.fd[slot], 0, IOU_OUTCOME_TIMEOUT)
    return null
  }

  /** Ends a request that the loop will not complete, in a microtask (never synchronously). */
  local(slot: number, error: IoUringError): void {
    this.table.state[slot] = Pending.LOCAL
    this.localSlots.push(slot)
    this.localErrors.push(error)
    if (!this.localScheduled) {
      this.localScheduled = true
      queueMicrotask(this.deliverLocalFn)
    }
  }

  /** The AbortSignal's reason, when a signal cancelled the request in `slot`. */
  abortCause(slot: number): unknown {
    const signal = this.table.signal[slot]
    return signal !== undefined && signal.aborted ? signal.reason : undefined
  }

  /** The loop's counters `n` plus the Driver's own. */
  stats(n: NativeStats): DriverStats {
    const outstanding = this.table.outstanding
    return {
      pendingOperations: n.pendingOperations,
      outstanding,
      inFlight: outstanding,
      submitted: n.submitted,
      completed: n.completed + this.cancelled + this.abandoned + this.timedOut,
      failed: n.failed,
      timedOut: n.timedOut + this.timedOut,
      cancelled: n.cancelled + this.cancelled,
      requeued: n.requeued,
      sqesStaged: n.sqesStaged,
      enters: n.enters,
      wakes: n.wakes,
      cqOverflow: n.cqOverflow,
      abandoned: n.abandoned + this.abandoned,
      quarantinedBytes: this.quarantinedBytes,
    }
  }

  /** Frees the slot, then calls back (a callback may submit again and reuse the slot). */
  private finish(slot: number, error: IoUringError | null, result: number): void {
    const t = this.table
    const kind = t.kind[slot]
    const resolve = t.resolve[slot]!
    const reject = t.reject[slot]
    const signal = t.signal[slot]
    if (signal !== undefined) signal.removeEventListener("abort", t.onAbort[slot]!)
    t.release(slot)
    if (this.shutdown.closing) this.shutdown.ended(error?.reason)
    if (kind === Pending.KIND_CALLBACK) {
      try {
        ;(resolve as Callback)(error, error === null ? result : 0)
      } catch (thrown) {
        // One callback's exception must not stop the batch: rethrow it as an uncaught exception.
        process.nextTick(rethrow, thrown)
      }
    } else if (error !== null) {
      reject!(error)
    } else {
      ;(resolve as (value: number | undefined) => void)(kind === Pending.KIND_PROMISE_VOID ? undefined : result)
    }
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
