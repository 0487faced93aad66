/**
 * What the random-program checks share (test/Driver.fuzz.test.ts, the soak of test/soak.ts and its
 * bench suite): a seeded generator, so that a seed replays a run, and the ledger that counts how
 * often each request settled. Not a test file itself; it imports nothing from the Driver, so the
 * bench can run it against the built package.
 */

/** mulberry32: a small seeded generator, so that a seed replays the same run. */
export const generator = (seed: number) => {
  let a = seed >>> 0
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (n: number): number => Math.floor(next() * n)
  const pick = <T>(values: ReadonlyArray<T>): T => values[int(values.length)]!
  /** A good value three times in four, so that runs get past validation as often as they fail it. */
  const choose = <T>(good: ReadonlyArray<T>, bad: ReadonlyArray<unknown>): T =>
    next() < 0.75 ? pick(good) : (pick(bad) as T)
  return { next, int, pick, choose }
}

export type Generator = ReturnType<typeof generator>

/** At most this many failure messages are kept (the count goes on): a broken run stays readable. */
const MAX_MESSAGES = 50

/**
 * Every request a run made, by id: how often it settled and how. A second settlement is a failure
 * at once; `unsettled()` lists those that never did. One bit per request, so that the ledger of a
 * soak of ten million requests stays small beside the RSS it watches. `typed` says whether a failure's error is one the Driver promises (an
 * IoUringError); anything else is a failure of the run.
 */
export class Ledger {
  /** Bit id: request id settled. */
  private bits = new Uint32Array(1024)
  private size = 0
  private settledCount = 0
  readonly failures: Array<string> = []
  failureCount = 0
  /** How the failed requests failed: error code (or name) → count. */
  readonly codes = new Map<string, number>()
  private readonly typed: (error: unknown) => boolean

  constructor(typed: (error: unknown) => boolean) {
    this.typed = typed
  }

  fail(message: string): void {
    this.failureCount++
    if (this.failures.length < MAX_MESSAGES) this.failures.push(message)
  }

  open(): number {
    if (this.size === this.bits.length * 32) {
      const grown = new Uint32Array(this.bits.length * 2)
      grown.set(this.bits)
      this.bits = grown
    }
    return this.size++
  }

  settle(id: number, error: unknown): void {
    const word = id >>> 5
    const bit = 1 << (id & 31)
    if ((this.bits[word]! & bit) === 0) {
      this.bits[word] = this.bits[word]! | bit
      this.settledCount++
    } else {
      this.fail(`request ${id} settled more than once`)
    }
    if (error !== null && error !== undefined) {
      if (!this.typed(error)) this.fail(`request ${id} failed with an untyped error: ${String(error)}`)
      const code = (error as { code?: unknown }).code
      const key = typeof code === "string" ? code : error instanceof Error ? error.name : typeof error
      this.codes.set(key, (this.codes.get(key) ?? 0) + 1)
    }
  }

  /** A callback for the low-level API that settles `id`. */
  callback(id: number): (error: Error | null, result: number) => void {
    return (error, result) => {
      if (typeof result !== "number") this.fail(`request ${id}: result ${String(result)}`)
      this.settle(id, error)
    }
  }

  track(id: number, promise: Promise<unknown>, onError?: (error: unknown) => void): void {
    promise.then(
      () => this.settle(id, null),
      (error: unknown) => {
        this.settle(id, error)
        onError?.(error)
      },
    )
  }

  /** The ids that never settled (at most `limit` of them). */
  unsettled(limit = Infinity): Array<number> {
    const out: Array<number> = []
    if (this.settledCount === this.size) return out
    for (let id = 0; id < this.size && out.length < limit; id++) {
      if ((this.bits[id >>> 5]! & (1 << (id & 31))) === 0) out.push(id)
    }
    return out
  }

  /** Requests made. */
  get count(): number {
    return this.size
  }

  /** Requests that settled at least once. */
  get settled(): number {
    return this.settledCount
  }
}
