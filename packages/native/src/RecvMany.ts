/**
 * RecvMany: `driver.recvMany(fd, { signal, timeout })`, the AsyncIterableIterator over one
 * low-level recvMany (Driver.submitRecvMany). Chunks arrive from the loop whether or not the
 * consumer waits; they queue here in order, and next() takes them one by one. The request's one
 * completion ends the iteration: end of stream is `done`, anything else is thrown by the next()
 * after the chunks that came before it. Aborting `signal`, or `return()` (a `break` out of
 * `for await`), cancels the request in the kernel.
 */
import type { Driver } from "./Driver.ts"
import { abortError } from "./IoUringError.ts"

interface Waiting {
  readonly resolve: (result: IteratorResult<Uint8Array>) => void
  readonly reject: (error: unknown) => void
}

const DONE: IteratorResult<Uint8Array> = { done: true, value: undefined }

export class RecvMany implements AsyncIterableIterator<Uint8Array> {
  private readonly driver: Driver
  private readonly signal: AbortSignal | undefined
  private readonly chunks: Array<Uint8Array> = []
  private head = 0
  private waiting: Waiting | undefined
  /** undefined: still receiving; null: ended at end of stream (or by return()); else its error. */
  private end: Error | null | undefined
  private handle = 0
  private readonly onAbort = (): void => {
    this.driver.cancel(this.handle)
  }

  constructor(driver: Driver, fd: number, deadline: number, signal: AbortSignal | undefined) {
    this.driver = driver
    this.signal = signal
    if (signal?.aborted === true) {
      this.end = abortError("recv", fd, signal.reason) // refused before the kernel, as every operation
      return
    }
    this.handle = driver.submitRecvMany(
      fd,
      deadline,
      (chunk) => this.push(chunk),
      (error) => this.finish(error),
    )
    if (signal !== undefined && this.handle !== 0) signal.addEventListener("abort", this.onAbort, { once: true })
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Uint8Array> {
    return this
  }

  next(): Promise<IteratorResult<Uint8Array>> {
    if (this.head < this.chunks.length) return Promise.resolve({ done: false, value: this.take() })
    if (this.end !== undefined) return this.end === null ? Promise.resolve(DONE) : Promise.reject(this.end)
    if (this.waiting !== undefined)
      return Promise.reject(new Error("recvMany: next() called before the last one settled"))
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject }
    })
  }

  /** Stops receiving (cancels the request) and ends the iteration. */
  return(): Promise<IteratorResult<Uint8Array>> {
    if (this.end === undefined) this.driver.cancel(this.handle)
    this.end = null
    this.chunks.length = 0
    this.head = 0
    this.settle(DONE)
    return Promise.resolve(DONE)
  }

  private take(): Uint8Array {
    const chunk = this.chunks[this.head]!
    this.chunks[this.head++] = undefined as never
    if (this.head === this.chunks.length) {
      this.chunks.length = 0
      this.head = 0
    }
    return chunk
  }

  private push(chunk: Uint8Array): void {
    if (this.end !== undefined) return // return() was called: nobody reads any more
    const waiting = this.waiting
    if (waiting !== undefined) {
      this.waiting = undefined
      waiting.resolve({ done: false, value: chunk })
    } else {
      this.chunks.push(chunk)
    }
  }

  private finish(error: Error | null): void {
    this.signal?.removeEventListener("abort", this.onAbort)
    if (this.end !== undefined) return // ended by return()
    this.end = error
    if (error === null) this.settle(DONE)
    else {
      const waiting = this.waiting
      this.waiting = undefined
      waiting?.reject(error)
    }
  }

  private settle(result: IteratorResult<Uint8Array>): void {
    const waiting = this.waiting
    this.waiting = undefined
    waiting?.resolve(result)
  }
}
