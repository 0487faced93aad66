/**
 * Submission: the path of an admitted request to the loop. A request whose slot is filled is
 * staged on the wire and handed to the binding (Loop.submit, into the loop's inbound queue); while
 * that queue is full, or requests are already waiting, it waits in the backpressure queue and is
 * pushed as completions free room (refill).
 *
 * Publishing: the first request of a JS turn is published at once (iou_loop_publish_early), so that
 * the loop starts on it while JavaScript goes on submitting, and one microtask per turn publishes
 * the rest and ends the turn (iou_loop_publish).
 */
import type { NativeLoop } from "./binding.ts"
import type { BackpressureQueue } from "./Backpressure.ts"
import type { Delivery } from "./Delivery.ts"
import * as Errors from "./IoUringError.ts"
import { BY_OP, fdOf } from "./Operations.ts"
import * as Pending from "./PendingTable.ts"
import type { Shutdown } from "./Shutdown.ts"
import type { Wire } from "./Wire.ts"

export class Submission {
  private readonly native: NativeLoop
  private readonly table: Pending.PendingTable
  private readonly wire: Wire
  private readonly queue: BackpressureQueue
  private readonly delivery: Delivery
  private readonly shutdown: Shutdown
  /** A publish is due at the end of this JS turn (a request was submitted in it). */
  private flushScheduled = false
  private readonly flushFn = (): void => this.flush()
  private readonly pushFn = (slot: number): boolean => this.push(slot)

  constructor(
    native: NativeLoop,
    table: Pending.PendingTable,
    wire: Wire,
    queue: BackpressureQueue,
    delivery: Delivery,
    shutdown: Shutdown,
  ) {
    this.native = native
    this.table = table
    this.wire = wire
    this.queue = queue
    this.delivery = delivery
    this.shutdown = shutdown
  }

  /** Pushes the request in `slot` to the loop, or queues it behind those already waiting for room. */
  admit(slot: number): void {
    if (this.queue.length !== 0 || !this.push(slot)) {
      this.table.state[slot] = Pending.QUEUED
      this.queue.push(slot)
    }
  }

  /** Pushes queued requests while the inbound queue has room; once none is left while closing, closes the loop. */
  refill(): void {
    this.queue.refill(this.pushFn)
    if (this.queue.length === 0 && this.shutdown.closing) this.shutdown.closeNative()
  }

  /** A request was pushed to the loop in this JS turn, which a publish at its end will end. */
  get inTurn(): boolean {
    return this.flushScheduled
  }

  /** Publishes now what this turn submitted, if anything (the loop is about to be closed). */
  flushNow(): void {
    if (this.flushScheduled) this.flush()
  }

  /** Stages the slot's request and hands it to the loop. False when the inbound queue is full. */
  private push(slot: number): boolean {
    const t = this.table
    this.wire.stage(t, slot)
    const data = t.data[slot]
    const rc = this.flushScheduled ? this.native.submit(data) : this.native.submit(data, true)
    if (rc === 1) {
      t.state[slot] = Pending.SUBMITTED
      if (!this.flushScheduled) {
        this.flushScheduled = true
        queueMicrotask(this.flushFn)
      }
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
    this.flushScheduled = false
    if (!this.shutdown.destroyed) this.native.publish()
  }
}
