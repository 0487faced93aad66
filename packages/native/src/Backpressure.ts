/**
 * The backpressure queue: requests the Driver has taken while the loop's inbound queue was full,
 * oldest first, as (slot, generation) pairs in a ring buffer that grows by doubling. Entries are
 * pushed to the loop as completions free room (refill); a request that ends while queued (cancelled,
 * timed out) stays in the ring as a dead entry, recognised by its slot's state or generation, and is
 * dropped when reached.
 *
 * A deadline holds here too: one timer, armed for the earliest deadline in the queue, ends the
 * requests whose deadline has passed (onExpired) before they ever reach the loop, as the loop ends
 * those waiting in its inbound queue. The timer is unref'd: requests queued here mean a full inbound
 * queue, which already keeps the process alive.
 */
import * as Clock from "./Clock.ts"
import { type PendingTable, QUEUED } from "./PendingTable.ts"

export class BackpressureQueue {
  private readonly table: PendingTable
  private readonly onExpired: (slot: number) => void
  private slots = new Int32Array(64)
  private generations = new Uint32Array(64)
  private head = 0
  /** Entries in the ring, dead ones included. */
  length = 0
  /** The deadline the timer is armed for (ms on Clock.now(); Infinity: none). */
  private armedFor = Infinity
  private timer: ReturnType<typeof setTimeout> | undefined
  private disposed = false
  private readonly expireFn = (): void => this.expire()

  /** `onExpired(slot)`: a queued request's deadline passed; it must end (its state leaves QUEUED). */
  constructor(table: PendingTable, onExpired: (slot: number) => void) {
    this.table = table
    this.onExpired = onExpired
  }

  /** Queues the request in `slot` (its state is QUEUED) behind the others. */
  push(slot: number): void {
    if (this.length === this.slots.length) this.grow()
    const at = (this.head + this.length) & (this.slots.length - 1)
    this.slots[at] = slot
    this.generations[at] = this.table.generation[slot]!
    this.length++
    const deadline = this.table.deadline[slot]!
    if (deadline > 0 && deadline < this.armedFor) this.arm(deadline)
  }

  /**
   * Hands live entries, oldest first, to `submit` while it takes them (returns true); dead entries
   * are dropped on the way. Once the queue is empty its timer is stopped.
   */
  refill(submit: (slot: number) => boolean): void {
    const mask = this.slots.length - 1
    while (this.length > 0) {
      if (this.live(this.head) && !submit(this.slots[this.head]!)) break
      this.head = (this.head + 1) & mask
      this.length--
    }
    if (this.length === 0) this.stop() // so that it holds neither the Driver nor its loop
  }

  /** Empties the queue, handing every live entry to `end` (the shutdown timeout abandons them). */
  endAll(end: (slot: number) => void): void {
    const mask = this.slots.length - 1
    while (this.length > 0) {
      if (this.live(this.head)) end(this.slots[this.head]!)
      this.head = (this.head + 1) & mask
      this.length--
    }
    this.stop()
  }

  /** Stops the timer for good: the Driver is gone. */
  dispose(): void {
    this.disposed = true
    this.stop()
  }

  /** The entry at ring index `at` is still its slot's queued request. */
  private live(at: number): boolean {
    const slot = this.slots[at]!
    return this.table.state[slot] === QUEUED && this.table.generation[slot] === this.generations[at]
  }

  private grow(): void {
    const n = this.slots.length * 2
    const slots = new Int32Array(n)
    const generations = new Uint32Array(n)
    const mask = this.slots.length - 1
    for (let i = 0; i < this.length; i++) {
      slots[i] = this.slots[(this.head + i) & mask]!
      generations[i] = this.generations[(this.head + i) & mask]!
    }
    this.slots = slots
    this.generations = generations
    this.head = 0
  }

  /** Arms the timer for `deadline`; one beyond setTimeout's range waits that long and re-arms. */
  private arm(deadline: number): void {
    this.stop()
    this.armedFor = deadline
    this.timer = setTimeout(this.expireFn, Clock.delayUntil(deadline))
    this.timer.unref()
  }

  private stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.armedFor = Infinity
  }

  /**
   * A deadline came: live requests whose deadline has passed end through onExpired, and the timer
   * is armed for the next deadline. An early timer (its request left the queue) just re-arms.
   */
  private expire(): void {
    this.timer = undefined
    this.armedFor = Infinity
    if (this.disposed) return
    const t = Clock.now()
    const mask = this.slots.length - 1
    let next = Infinity
    for (let i = 0; i < this.length; i++) {
      const at = (this.head + i) & mask
      if (!this.live(at)) continue
      const slot = this.slots[at]!
      const deadline = this.table.deadline[slot]!
      if (deadline === 0) continue
      if (deadline <= t) this.onExpired(slot)
      else if (deadline < next) next = deadline
    }
    if (next !== Infinity) this.arm(next)
  }
}
