/**
 * The Driver's shutdown: close() stops admission, lets what was admitted finish (requests in the
 * backpressure queue still go to the loop) while deadlines keep running, and at the shutdown
 * timeout abandons what is left: the backpressure queue's requests here, the loop's in the loop.
 * The loop is closed once the backpressure queue is empty, with what is left of the budget; when
 * its thread has exited and every completion was delivered, the loop is destroyed (its thread
 * joined) and close() resolves on the event loop's next turn (see exited) with how many requests
 * live at close() completed or were abandoned.
 * A thread engine's thread that is still leaving the kernel then (the kernel waits for its io-wq
 * workers as a thread ends) keeps the loop's eventfd a little longer: close() resolves once the loop
 * is freed, looking every ms for at most RELEASE_WAIT_MS; past that, the next open or the
 * environment's end frees it. Not when the shutdown abandoned requests: one the kernel still runs
 * holds the thread for as long as it takes, so close() resolves on the next turn regardless.
 *
 * This is the shutdown drain: the only thing in the Driver called a drain.
 */
import type { NativeLoop, NativeStats } from "./binding.ts"
import * as Clock from "./Clock.ts"
import type { Reason } from "./IoUringError.ts"
import type { CloseResult } from "./types.ts"

/** How long close() waits for a loop whose thread is still leaving the kernel to be freed, in ms. */
export const RELEASE_WAIT_MS = 100

/** What the shutdown asks of the Driver. */
export interface ShutdownHooks {
  /** Publishes what was submitted in this turn, if anything. */
  readonly flush: () => void
  /** The shutdown timeout came with requests still in the backpressure queue: end them all. */
  readonly abandonQueued: () => void
  /** The loop is gone: stop every timer of the Driver's. */
  readonly exited: () => void
}

export class Shutdown {
  private readonly native: NativeLoop
  private lastStats: NativeStats
  private readonly hooks: ShutdownHooks
  /** close() was called: new requests are refused with ERR_IOU_CLOSED. */
  closing = false
  /** The loop was told to close (the backpressure queue had emptied). */
  private nativeClosed = false
  /** The loop's thread was joined and the loop destroyed. */
  destroyed = false
  /** When the drain ends (ms on Clock.now()); -1: no limit. */
  private end = -1
  private timer: ReturnType<typeof setTimeout> | undefined
  private watch: ReturnType<typeof setInterval> | undefined
  private promise: Promise<CloseResult> | undefined
  private resolve: ((result: CloseResult) => void) | undefined
  private completed = 0
  private abandoned = 0
  private readonly timerFn = (): void => this.timerFired()

  /** `lastStats`: the loop's counters as it opened, until it is destroyed (then its last ones). */
  constructor(native: NativeLoop, lastStats: NativeStats, hooks: ShutdownHooks) {
    this.native = native
    this.lastStats = lastStats
    this.hooks = hooks
  }

  /**
   * close() with its end (ms on Clock.now(), -1: no limit). The first call starts the drain and
   * calls `refill` (which closes the loop once the backpressure queue is empty); a later one may
   * shorten the drain (to force a stuck one down), never lengthen it. Every call returns the same
   * promise.
   */
  close(end: number, refill: () => void): Promise<CloseResult> {
    if (this.promise !== undefined) {
      if (end >= 0 && (this.end < 0 || end < this.end)) this.shorten(end)
      return this.promise
    }
    this.closing = true
    this.promise = new Promise<CloseResult>((resolve) => {
      this.resolve = resolve
    })
    this.end = end
    refill()
    if (!this.nativeClosed && end >= 0) this.arm()
    return this.promise
  }

  /** A request ended while closing: counted for close()'s result. */
  ended(reason: Reason | undefined): void {
    if (reason === "Abandoned") this.abandoned++
    else this.completed++
  }

  /** The loop's counters, or the last ones read before it was destroyed. */
  stats(): NativeStats {
    return (this.destroyed ? undefined : this.native.stats()) ?? this.lastStats
  }

  /** Closes the loop once nothing waits in the backpressure queue, with what is left of the budget. */
  closeNative(): void {
    if (this.nativeClosed) return
    this.nativeClosed = true
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.hooks.flush()
    const ms = this.end < 0 ? -1 : Math.max(0, this.end - Clock.now())
    if (this.native.close(ms) < 0) {
      this.exited()
      return
    }
    // The loop notifies when its thread exits; this watch only guards against a lost notification.
    this.watch = setInterval(() => {
      if (!this.destroyed) this.native.poll()
    }, 50)
    this.watch.unref()
  }

  /**
   * The loop has exited and every completion was delivered: release it, and resolve close() on the
   * event loop's next turn (or once the loop is freed, below). A callback of the final delivery may
   * have sent a request (readFile's next step, an Effect writeFile's write after its open): it is
   * refused on the next tick, and the chain it belongs to closes its fd from that refusal with
   * close(2). Resolving after that turn means a program (a worker) that ends as soon as close()
   * resolved finds no such fd still open: destroy() below has dropped their close-on-exit marks.
   */
  exited(): void {
    if (this.destroyed) return
    this.hooks.exited()
    this.lastStats = this.native.stats() ?? this.lastStats
    const kept = this.native.destroy() === 1
    this.destroyed = true
    if (this.watch !== undefined) clearInterval(this.watch)
    const settle = (): void => this.resolve?.({ completed: this.completed, abandoned: this.abandoned })
    // After the ticks and microtasks the final delivery queued: local completions (abandoned
    // queued requests) and the refusals above.
    if (!kept || this.abandoned > 0) return void setImmediate(settle)
    const until = Clock.now() + RELEASE_WAIT_MS
    const look = (): void => {
      if (this.native.released() || Clock.now() >= until) settle()
      else setTimeout(look, 1)
    }
    setTimeout(look, 1)
  }

  /** Arms the shutdown timer for `end`; a delay beyond setTimeout's range waits that long and re-arms. */
  private arm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = setTimeout(this.timerFn, Clock.delayUntil(this.end))
  }

  private timerFired(): void {
    this.timer = undefined
    if (this.nativeClosed) return
    if (Clock.now() < this.end) {
      this.arm()
      return
    }
    // The backpressure queue's requests at the shutdown timeout: never given to the kernel.
    this.hooks.abandonQueued()
    this.end = Clock.now()
    this.closeNative()
  }

  /** A later close() with an earlier end: the timer, or the loop's cutoff, moves up. */
  private shorten(end: number): void {
    this.end = end
    if (!this.nativeClosed) this.arm()
    else if (!this.destroyed) this.native.close(Math.max(0, end - Clock.now()))
  }
}
