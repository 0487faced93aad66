/**
 * Submission: the path of an admitted request to the loop. A request whose slot is filled is
 * written into a staging record of the wire and handed to the binding, into the loop's inbound
 * queue: the first requests of a JS turn one by one (Loop.submit), the rest of the turn in batches
 * of up to STAGE_RECORDS (Loop.submitStaged: one binding call per batch instead of one per
 * request), handed over when the staging area is full, at the turn's end, and before anything that
 * needs the loop to know them (a cancel, a refill, close). How many go one by one is the engine's
 * (the constructor's `pushesBeforeBatches`): the inline engine runs a turn's requests only at its
 * end, so only the first goes alone; the thread engine's loop takes each request as it is pushed,
 * while the turn goes on, so there the first THREAD_PUSHES_BEFORE_BATCHES go alone (the loop starts
 * on them at once) and only a turn that makes more than that is batched. While the inbound queue
 * is full, or requests are already waiting, a request waits in the backpressure queue and is
 * pushed as completions free room (refill). A staged request counts as submitted (SUBMITTED) from
 * the start.
 *
 * Publishing: the first request of a JS turn is published at once (iou_loop_publish_early), so that
 * the loop starts on it while JavaScript goes on submitting, and one microtask per turn hands over
 * and publishes the rest and ends the turn (iou_loop_publish).
 */
import type { NativeLoop } from "./binding.ts"
import type { Data } from "./types.ts"
import type { BackpressureQueue } from "./Backpressure.ts"
import type { Delivery } from "./Delivery.ts"
import * as Errors from "./IoUringError.ts"
import { BY_OP, fdOf } from "./Operations.ts"
import * as Pending from "./PendingTable.ts"
import type { Shutdown } from "./Shutdown.ts"
import { STAGE_RECORDS, type Wire } from "./Wire.ts"

/** The thread engine: requests of a JS turn pushed one by one before the rest go in batches. */
export const THREAD_PUSHES_BEFORE_BATCHES = 16

export class Submission {
  private readonly native: NativeLoop
  private readonly table: Pending.PendingTable
  private readonly wire: Wire
  private readonly queue: BackpressureQueue
  private readonly delivery: Delivery
  private readonly shutdown: Shutdown
  /** Requests of a JS turn pushed one by one; those after them are staged and handed over in batches. */
  private readonly pushesBeforeBatches: number
  /**
   * Requests pushed one by one in this JS turn; from the first, a publish is due at the turn's end
   * (flush, which starts the count again).
   */
  private pushedInTurn = 0
  private readonly flushFn = (): void => this.flush()
  private readonly pushFn = (slot: number): boolean => this.push(slot)
  /** Staging records 0 to staged - 1: this turn's requests not handed over yet, their slots and data. */
  private staged = 0
  private readonly stagedSlots = new Int32Array(STAGE_RECORDS)
  private readonly stagedData: Array<Data | undefined> = new Array<Data | undefined>(STAGE_RECORDS).fill(undefined)

  constructor(
    native: NativeLoop,
    table: Pending.PendingTable,
    wire: Wire,
    queue: BackpressureQueue,
    delivery: Delivery,
    shutdown: Shutdown,
    pushesBeforeBatches: number,
  ) {
    this.native = native
    this.table = table
    this.wire = wire
    this.queue = queue
    this.delivery = delivery
    this.shutdown = shutdown
    this.pushesBeforeBatches = pushesBeforeBatches
  }

  /**
   * Hands the request in `slot` to the loop: at once while the turn has pushed fewer than
   * `pushesBeforeBatches`, else staged for the turn's next batch; or queues it behind those already
   * waiting for room. (Staged requests only exist while the backpressure queue is empty: handOver
   * moves those the loop has no room for into it.)
   */
  admit(slot: number): void {
    if (this.queue.length !== 0) {
      this.table.state[slot] = Pending.QUEUED
      this.queue.push(slot)
    } else if (this.pushedInTurn >= this.pushesBeforeBatches) {
      this.stage(slot)
    } else if (!this.push(slot)) {
      this.table.state[slot] = Pending.QUEUED
      this.queue.push(slot)
    }
  }

  /**
   * Hands the staged requests to the loop (one binding call), in order: each taken stays SUBMITTED,
   * each the binding refuses ends with its error, and those the inbound queue has no room for wait
   * in the backpressure queue, oldest first.
   */
  handOver(): void {
    const n = this.staged
    if (n === 0) return
    this.staged = 0
    const t = this.table
    const handled = this.native.submitStaged(n, this.stagedData)
    for (let i = 0; i < n; i++) {
      const slot = this.stagedSlots[i]!
      this.stagedData[i] = undefined
      if (handled < 0) {
        this.refused(slot, handled)
      } else if (i < handled) {
        const verdict = this.wire.verdict(i)
        if (verdict < 0) this.refused(slot, verdict)
      } else {
        t.state[slot] = Pending.QUEUED
        this.queue.push(slot)
      }
    }
  }

  /**
   * Hands over what is staged, then pushes queued requests while the inbound queue has room; once
   * none is left while closing, closes the loop.
   */
  refill(): void {
    this.handOver()
    this.queue.refill(this.pushFn)
    if (this.queue.length === 0 && this.shutdown.closing) this.shutdown.closeNative()
  }

  /** A request was pushed to the loop in this JS turn, which a publish at its end will end. */
  get inTurn(): boolean {
    return this.pushedInTurn > 0
  }

  /** Publishes now what this turn submitted, if anything (the loop is about to be closed). */
  flushNow(): void {
    if (this.pushedInTurn > 0) this.flush()
  }

  /** Writes the slot's request into the next staging record; a full staging area is handed over. */
  private stage(slot: number): void {
    const t = this.table
    const record = this.staged
    this.wire.stage(t, slot, record)
    this.stagedSlots[record] = slot
    this.stagedData[record] = t.data[slot]
    t.state[slot] = Pending.SUBMITTED
    if (++this.staged === STAGE_RECORDS) this.handOver()
  }

  /** Stages the slot's request in record 0 and hands it to the loop. False when the inbound queue is full. */
  private push(slot: number): boolean {
    const t = this.table
    this.wire.stage(t, slot, 0)
    const data = t.data[slot]
    const rc = this.pushedInTurn > 0 ? this.native.submit(data) : this.native.submit(data, true)
    if (rc === 1) {
      t.state[slot] = Pending.SUBMITTED
      if (this.pushedInTurn++ === 0) queueMicrotask(this.flushFn)
      return true
    }
    return rc === 0 ? false : this.refused(slot, rc)
  }

  /**
   * The loop refused the request (it is shutting down, or the binding found it malformed): it ends
   * with -errno `rc`. Apart from push() so that the per-request path stays small enough to inline.
   */
  private refused(slot: number, rc: number): true {
    const t = this.table
    const op = t.op[slot]!
    this.delivery.local(slot, Errors.errnoError(rc, BY_OP[op]!.syscall, fdOf(op, t.fd[slot])))
    return true
  }

  private flush(): void {
    this.pushedInTurn = 0
    this.handOver()
    if (!this.shutdown.destroyed) this.native.publish()
  }
}
