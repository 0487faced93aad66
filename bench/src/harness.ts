/**
 * The benchmark harness: a comparison is a set of variants run in the same process, in rounds, each
 * round running every variant once in interleaved order (A B C, then B C A, …) so that drift of the
 * machine (other processes, thermal state, page cache) hits every variant alike, each measured run
 * after a settle (HarnessOptions.settleMs). A variant reports how many operations it completed and
 * how long it took; the harness turns rounds into a median and a min–max, and each median into a
 * ratio against the comparison's baseline.
 */

import { addCpu, cpuNow, zeroCpu } from "./cpu.ts"
import type { Cpu } from "./cpu.ts"

/** What one variant reports for one round. */
export interface Sample {
  readonly ops: number
  readonly seconds: number
  /** Per-operation latencies in µs (latency comparisons only). */
  readonly latenciesUs?: Float64Array | undefined
  /** An external variant's own CPU seconds (user + sys) over its window, when it can tell. */
  readonly cpuSeconds?: number | undefined
}

export interface Variant {
  readonly name: string
  /** Runs in another process (e.g. fio): this process's CPU use says nothing about it. */
  readonly external?: boolean | undefined
  /** Runs for about `budgetMs` (or a fixed count of operations) and reports what it did. */
  readonly run: (budgetMs: number) => Promise<Sample>
}

export interface Comparison {
  readonly id: string
  readonly title: string
  /** The unit of the reported rate, e.g. "ops/s", "msg/s", "MiB/s". */
  readonly unit: string
  /** Multiplies ops/s into the unit (e.g. bytes per op / MiB for "MiB/s"). */
  readonly scale?: number | undefined
  /** The variant every ratio is taken against. */
  readonly baseline?: string | undefined
  /** A second reference, with a ratio column of its own (the raw io_uring reader for reads). */
  readonly ceiling?: string | undefined
  readonly kind?: "throughput" | "latency" | undefined
  readonly variants: ReadonlyArray<Variant>
  readonly notes?: ReadonlyArray<string> | undefined
}

export interface Spread {
  readonly median: number
  readonly min: number
  readonly max: number
}

/** Share of one core each kind of thread was busy during a variant's measured rounds (1 = 100%). */
export interface CpuShare {
  readonly js: number
  readonly loop: number
  readonly pool: number
  readonly other: number
}

export interface VariantResult {
  readonly name: string
  /** Rate per round, in the comparison's unit. */
  readonly rounds: ReadonlyArray<number>
  readonly rate: Spread
  /** Median rate / the baseline's median rate. */
  readonly ratio?: number | undefined
  /** Median rate / the ceiling's median rate. */
  readonly ceilingRatio?: number | undefined
  /**
   * CPU µs per unit of the rate (per op, message or MiB): the process's user + sys time over all its
   * threads (process.cpuUsage()) during the variant's measured rounds, divided by what those rounds
   * did; for an external variant, its own CPU where it reports it.
   */
  readonly cpuUsPerUnit?: number | undefined
  /** Latency comparisons: p50 and p99 of each round (µs), summarised across rounds. */
  readonly p50Us?: Spread | undefined
  readonly p99Us?: Spread | undefined
  readonly error?: string | undefined
  /** CPU used per kind of thread over the measured rounds, as a share of one core. */
  readonly cpu?: CpuShare | undefined
}

export interface ComparisonResult {
  readonly id: string
  readonly title: string
  readonly unit: string
  readonly kind: "throughput" | "latency"
  readonly baseline?: string | undefined
  readonly ceiling?: string | undefined
  readonly variants: ReadonlyArray<VariantResult>
  readonly notes: ReadonlyArray<string>
  /** Figures that are not rates (e.g. the memory check's RSS samples). */
  readonly extra?: Readonly<Record<string, number | string>> | undefined
}

export interface HarnessOptions {
  readonly rounds: number
  readonly budgetMs: number
  readonly warmupMs: number
  /**
   * Before each measured run of a variant: a full garbage collection (when the process runs with
   * --expose-gc) and this many ms idle, so that no variant's run pays for the garbage, or the
   * peer's and the kernel's leftover work, of the variant before it (the rotation gives a variant
   * the same predecessor in all rounds but the one it opens). 0: none.
   */
  readonly settleMs?: number | undefined
  readonly log?: ((line: string) => void) | undefined
}

export const median = (values: ReadonlyArray<number>): number => {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

export const spread = (values: ReadonlyArray<number>): Spread => ({
  median: median(values),
  min: values.length ? Math.min(...values) : NaN,
  max: values.length ? Math.max(...values) : NaN,
})

/** The q-quantile (0..1) of a sample, nearest rank. Sorts `values` in place. */
export const quantile = (values: Float64Array, q: number): number => {
  if (values.length === 0) return NaN
  values.sort()
  const rank = Math.min(values.length - 1, Math.max(0, Math.ceil(q * values.length) - 1))
  return values[rank]!
}

const errorText = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message}` : String(e))

/** Runs one comparison: a warm-up of every variant, then `rounds` interleaved rounds. */
export const runComparison = async (c: Comparison, options: HarnessOptions): Promise<ComparisonResult> => {
  const kind = c.kind ?? "throughput"
  const scale = c.scale ?? 1
  const n = c.variants.length
  const rates: Array<Array<number>> = c.variants.map(() => [])
  const p50s: Array<Array<number>> = c.variants.map(() => [])
  const p99s: Array<Array<number>> = c.variants.map(() => [])
  const errors: Array<string | undefined> = c.variants.map(() => undefined)
  const cpu: Array<Cpu> = c.variants.map(zeroCpu)
  const wall: Array<number> = c.variants.map(() => 0)
  const processCpu: Array<number> = c.variants.map(() => 0)
  const units: Array<number> = c.variants.map(() => 0)
  const externalCpu: Array<boolean> = c.variants.map(() => true)

  const settleMs = options.settleMs ?? 0
  const once = async (i: number, budgetMs: number, record: boolean) => {
    if (errors[i] !== undefined) return
    const v = c.variants[i]!
    if (record && settleMs > 0) {
      ;(globalThis as { gc?: () => void }).gc?.()
      await new Promise((resolve) => setTimeout(resolve, settleMs))
    }
    try {
      const c0 = record ? cpuNow() : undefined
      const u0 = record ? process.cpuUsage() : undefined
      const t0 = performance.now()
      const s = await v.run(budgetMs)
      if (!record) return
      const u = process.cpuUsage(u0)
      wall[i] = wall[i]! + (performance.now() - t0) / 1000
      addCpu(cpu[i]!, c0!, cpuNow())
      units[i] = units[i]! + s.ops * scale
      if (!v.external) processCpu[i] = processCpu[i]! + (u.user + u.system) / 1e6
      else if (s.cpuSeconds !== undefined) processCpu[i] = processCpu[i]! + s.cpuSeconds
      else externalCpu[i] = false
      rates[i]!.push((s.ops / s.seconds) * scale)
      if (s.latenciesUs && s.latenciesUs.length > 0) {
        p50s[i]!.push(quantile(s.latenciesUs, 0.5))
        p99s[i]!.push(quantile(s.latenciesUs, 0.99))
      }
    } catch (e) {
      errors[i] = errorText(e)
      options.log?.(`  ${c.id}: ${v.name} failed: ${errors[i]}`)
    }
  }

  for (let i = 0; i < n; i++) await once(i, options.warmupMs, false)
  for (let r = 0; r < options.rounds; r++) {
    // Rotate the order each round: A B C, B C A, C A B, … so no variant always runs first.
    for (let k = 0; k < n; k++) await once((r + k) % n, options.budgetMs, true)
  }

  const baselineIndex = c.baseline === undefined ? -1 : c.variants.findIndex((v) => v.name === c.baseline)
  const baselineMedian = baselineIndex >= 0 ? median(rates[baselineIndex]!) : NaN
  const ceilingIndex = c.ceiling === undefined ? -1 : c.variants.findIndex((v) => v.name === c.ceiling)
  const ceilingMedian = ceilingIndex >= 0 ? median(rates[ceilingIndex]!) : NaN
  const variants: Array<VariantResult> = c.variants.map((v, i) => {
    const rate = spread(rates[i]!)
    return {
      name: v.name,
      rounds: rates[i]!,
      rate,
      ratio: Number.isFinite(baselineMedian) && baselineMedian > 0 ? rate.median / baselineMedian : undefined,
      ceilingRatio: Number.isFinite(ceilingMedian) && ceilingMedian > 0 ? rate.median / ceilingMedian : undefined,
      cpuUsPerUnit: units[i]! > 0 && (!v.external || externalCpu[i]) ? (processCpu[i]! / units[i]!) * 1e6 : undefined,
      p50Us: p50s[i]!.length ? spread(p50s[i]!) : undefined,
      p99Us: p99s[i]!.length ? spread(p99s[i]!) : undefined,
      error: errors[i],
      cpu:
        wall[i]! > 0 && !v.external
          ? {
              js: cpu[i]!.js / wall[i]!,
              loop: cpu[i]!.loop / wall[i]!,
              pool: cpu[i]!.pool / wall[i]!,
              other: cpu[i]!.other / wall[i]!,
            }
          : undefined,
    }
  })
  return {
    id: c.id,
    title: c.title,
    unit: c.unit,
    kind,
    baseline: c.baseline,
    ceiling: ceilingIndex >= 0 ? c.ceiling : undefined,
    variants,
    notes: [...(c.notes ?? [])],
  }
}

// ---- Closed loops: keep `depth` operations in flight until the budget is spent ----------------

/** A completion callback: null/undefined on success. */
export type Done = (error?: Error | null) => void

/**
 * Keeps `depth` callback-style operations in flight: each completion of slot `s` issues the next
 * operation of slot `s`, until `budgetMs` has passed; then waits for the in-flight ones. The clock is
 * read every `checkEvery` completions (a power of two) so that it costs the fast variants little.
 */
export const callbackLoop = (
  depth: number,
  budgetMs: number,
  issue: (slot: number, done: Done) => void,
  checkEvery = 64,
): Promise<Sample> =>
  new Promise((resolve, reject) => {
    const mask = checkEvery - 1
    let ops = 0
    let inFlight = 0
    let stop = false
    let failure: Error | null = null
    const t0 = performance.now()
    const end = t0 + budgetMs
    const finish = () => {
      const seconds = (performance.now() - t0) / 1000
      if (failure) reject(failure)
      else resolve({ ops, seconds })
    }
    const make = (slot: number): Done => {
      const done: Done = (error) => {
        inFlight--
        if (error) {
          failure ??= error
          stop = true
        } else if ((++ops & mask) === 0 && performance.now() >= end) stop = true
        if (!stop) {
          inFlight++
          issue(slot, done)
        } else if (inFlight === 0) finish()
      }
      return done
    }
    for (let s = 0; s < depth; s++) {
      inFlight++
      try {
        issue(s, make(s))
      } catch (e) {
        inFlight--
        failure ??= e as Error
        stop = true
        break
      }
    }
    if (inFlight === 0) finish()
  })

/**
 * One synchronous operation after another on this thread (node:fs's `*Sync` forms, which block the
 * event loop), until `budgetMs` has passed; the clock is read every `checkEvery` operations.
 */
export const syncLoop = (budgetMs: number, op: () => void, checkEvery = 64): Promise<Sample> => {
  const mask = checkEvery - 1
  let ops = 0
  const t0 = performance.now()
  const end = t0 + budgetMs
  try {
    for (;;) {
      op()
      if ((++ops & mask) === 0 && performance.now() >= end) break
    }
  } catch (e) {
    return Promise.reject(e as Error)
  }
  return Promise.resolve({ ops, seconds: (performance.now() - t0) / 1000 })
}

/** Keeps `depth` async workers going, each awaiting one operation at a time, until `budgetMs` has passed. */
export const promiseLoop = async (
  depth: number,
  budgetMs: number,
  op: (slot: number) => Promise<unknown>,
  checkEvery = 64,
): Promise<Sample> => {
  const mask = checkEvery - 1
  let ops = 0
  let stop = false
  const t0 = performance.now()
  const end = t0 + budgetMs
  const worker = async (slot: number) => {
    while (!stop) {
      await op(slot)
      if ((++ops & mask) === 0 && performance.now() >= end) stop = true
    }
  }
  const workers: Array<Promise<void>> = []
  for (let s = 0; s < depth; s++) workers.push(worker(s))
  try {
    await Promise.all(workers)
  } catch (e) {
    stop = true
    await Promise.allSettled(workers)
    throw e
  }
  return { ops, seconds: (performance.now() - t0) / 1000 }
}

/**
 * Per-operation latencies in µs for the depth-1 loops, recorded into one growing Float64Array
 * (nothing allocated per operation). `t0` is when the measurement started.
 */
export class Latencies {
  readonly t0 = performance.now()
  private values = new Float64Array(1 << 16)
  private count = 0

  /** Records one operation that started at `startMs` and ended at `endMs` (performance.now()). */
  add(startMs: number, endMs: number): void {
    if (this.count === this.values.length) {
      const grown = new Float64Array(this.values.length * 2)
      grown.set(this.values)
      this.values = grown
    }
    this.values[this.count++] = (endMs - startMs) * 1000
  }

  /** The sample: every operation recorded, over the time from `t0` to `endMs`. */
  sample(endMs = performance.now()): Sample {
    return { ops: this.count, seconds: (endMs - this.t0) / 1000, latenciesUs: this.values.subarray(0, this.count) }
  }
}

/** Depth-1 latency: one operation at a time, each timed, until `budgetMs` has passed. */
export const latencyLoop = async (budgetMs: number, op: () => Promise<unknown>): Promise<Sample> => {
  const lat = new Latencies()
  const end = lat.t0 + budgetMs
  for (;;) {
    const a = performance.now()
    if (a >= end) break
    await op()
    lat.add(a, performance.now())
  }
  return lat.sample()
}

/** Depth-1 latency of a callback-style operation: the next one is issued from the completion. */
export const callbackLatencyLoop = (budgetMs: number, issue: (done: Done) => void): Promise<Sample> =>
  new Promise((resolve, reject) => {
    const lat = new Latencies()
    const end = lat.t0 + budgetMs
    let a = lat.t0
    const done: Done = (error) => {
      const b = performance.now()
      if (error) return reject(error)
      lat.add(a, b)
      if (b >= end) return resolve(lat.sample(b))
      a = performance.now()
      issue(done)
    }
    issue(done)
  })
