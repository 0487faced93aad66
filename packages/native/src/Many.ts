/**
 * Many: the AsyncIterableIterator over one multishot request of the low-level API: `recvMany`'s
 * chunks (Driver.submitRecvMany) and `acceptMany`'s connections (Driver.submitAcceptMany). Items
 * arrive from the loop whether or not the consumer waits; they queue here in order, and next()
 * takes them one by one. The request's one completion ends the iteration: end of stream is `done`,
 * anything else is thrown by the next() after the items that came before it. Aborting `signal`, or
 * `return()` (a `break` out of `for await`), cancels the request in the kernel; items nobody will
 * take (queued, or arriving after) go to `discard` (acceptMany closes their fds; where there is a
 * discard, an abort drops the queued items too, where recvMany's chunks before it are still read).
 * `return()` resolves once the request has ended (the kernel let go of it), so that a receive
 * started after it on the same fd is the only one taking its bytes.
 */
import type { IoUringError } from "./IoUringError.ts"
import { abortReason, aborted, addAbortListener, removeAbortListener } from "./Validate.ts"

interface Waiting<A> {
  readonly resolve: (result: IteratorResult<A>) => void
  readonly reject: (error: unknown) => void
}

const DONE: IteratorResult<never> = { done: true, value: undefined }

/** How one multishot request is started and stopped. */
export interface Source<A> {
  /** Submits it; returns its handle (0: refused, `end` runs on the next tick). */
  readonly start: (item: (value: A) => void, end: (error: Error | null) => void) => number
  readonly cancel: (handle: number) => void
  /** The signal was aborted before the call: the error next() throws, without submitting. */
  readonly aborted: (reason: unknown) => IoUringError
  /** An item no consumer will take. */
  readonly discard?: ((value: A) => void) | undefined
}

export class Many<A> implements AsyncIterableIterator<A> {
  private readonly source: Source<A>
  private readonly signal: AbortSignal | undefined
  private readonly items: Array<A> = []
  private head = 0
  private waiting: Waiting<A> | undefined
  /** undefined: still going; null: ended at end of stream (or by return()); else its error. */
  private end: Error | null | undefined
  private handle = 0
  /** The request's one completion has come (or it never started); return()s waiting for it. */
  private finished = false
  private whenFinished: Array<() => void> = []
  private readonly onAbort = (): void => {
    this.source.cancel(this.handle)
    // Items with a discard (acceptMany's fds) are not handed out after a stop: nobody would close them.
    if (this.source.discard !== undefined) while (this.head < this.items.length) this.source.discard(this.take())
  }

  constructor(source: Source<A>, signal: AbortSignal | undefined) {
    this.source = source
    this.signal = signal
    if (aborted(signal)) {
      this.end = source.aborted(abortReason(signal)) // refused before the kernel, as every operation
      this.finished = true
      return
    }
    // Added first: a signal that refuses it refuses the call before anything starts (nothing can
    // abort it before start returns the handle onAbort cancels).
    if (signal !== undefined) addAbortListener(signal, this.onAbort)
    this.handle = source.start(
      (value) => this.push(value),
      (error) => this.finish(error),
    )
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<A> {
    return this
  }

  next(): Promise<IteratorResult<A>> {
    if (this.head < this.items.length) return Promise.resolve({ done: false, value: this.take() })
    if (this.end !== undefined) return this.end === null ? Promise.resolve(DONE) : Promise.reject(this.end)
    if (this.waiting !== undefined) return Promise.reject(new Error("next() called before the last one settled"))
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject }
    })
  }

  /** Stops (cancels the request) and ends the iteration; queued items are discarded. Resolves once the request ended. */
  return(): Promise<IteratorResult<A>> {
    if (this.end === undefined) this.source.cancel(this.handle)
    this.end = null
    while (this.head < this.items.length) {
      const value = this.take()
      this.source.discard?.(value)
    }
    this.settle(DONE)
    if (this.finished) return Promise.resolve(DONE)
    return new Promise((resolve) => this.whenFinished.push(() => resolve(DONE)))
  }

  private take(): A {
    const value = this.items[this.head]!
    this.items[this.head++] = undefined as never
    if (this.head === this.items.length) {
      this.items.length = 0
      this.head = 0
    }
    return value
  }

  private push(value: A): void {
    const stopped = this.end !== undefined || (this.source.discard !== undefined && aborted(this.signal))
    if (stopped) return this.source.discard?.(value) // nobody takes it
    const waiting = this.waiting
    if (waiting !== undefined) {
      this.waiting = undefined
      waiting.resolve({ done: false, value })
    } else {
      this.items.push(value)
    }
  }

  private finish(error: Error | null): void {
    if (this.signal !== undefined) removeAbortListener(this.signal, this.onAbort)
    this.finished = true
    for (const go of this.whenFinished.splice(0)) go()
    if (this.end !== undefined) return // ended by return()
    this.end = error
    if (error === null) this.settle(DONE)
    else {
      const waiting = this.waiting
      this.waiting = undefined
      waiting?.reject(error)
    }
  }

  private settle(result: IteratorResult<A>): void {
    const waiting = this.waiting
    this.waiting = undefined
    waiting?.resolve(result)
  }
}
