/**
 * 4 KiB random reads from the page-cached 256 MiB file at a constant queue depth (each completion
 * issues the next read of its slot), and the latency of one read at depth 1. Every ring variant runs
 * once per engine (BENCH_ENGINES); the raw io_uring C reader is the ceiling of the throughput rows.
 */
import * as fs from "node:fs"
import * as fsp from "node:fs/promises"
import { Effect } from "effect"
import type { Context, Suite } from "./context.ts"
import { callbackLatencyLoop, callbackLoop, Latencies, latencyLoop, promiseLoop, syncLoop } from "./harness.ts"
import type { Comparison, Done, Sample, Variant } from "./harness.ts"
import { effectLoop } from "./effect.ts"
import { BLOCK, Offsets } from "./files.ts"
import { RAW_C, rawReadVariant } from "./raw-read.ts"
import { withEngine } from "./ring.ts"
import type { Ring } from "./ring.ts"

const buffers = (n: number): Array<Buffer> => Array.from({ length: n }, () => Buffer.allocUnsafeSlow(BLOCK))

const short = (n: number): Error => new Error(`short read: ${n} bytes`)

/** Everything a read variant needs, opened once per suite. */
export interface ReadFiles {
  readonly fd: number
  readonly handle: fsp.FileHandle
  readonly close: () => Promise<void>
}

export const openReadFiles = async (file: string): Promise<ReadFiles> => {
  const fd = fs.openSync(file, "r")
  const handle = await fsp.open(file, "r")
  return {
    fd,
    handle,
    close: async () => {
      fs.closeSync(fd)
      await handle.close()
    },
  }
}

export const BASELINE = "FileHandle.read"
export const FS_READ = "fs.read (callback)"
/** At depth 1 only: the read on this thread, as the inline engine copies page-cached bytes on it too. */
export const FS_READ_SYNC = "fs.readSync (blocks the event loop)"
export const RING_CB = "Driver callback"
export const RING_PROMISE = "Driver Promise"
export const EFFECT = "Effect service"

/**
 * The read variants at `depth`, in the comparison's order: node:fs, the raw C reader (with
 * `rawC`, when it builds), then the ring's APIs, each once per engine (where that engine's ring opened).
 */
export const readVariants = async (
  ctx: Context,
  files: ReadFiles,
  depth: number,
  notes: Array<string>,
  rawC = false,
) => {
  const offsets = new Offsets()
  const bufs = buffers(depth)
  const variants: Array<Variant> = [
    {
      name: FS_READ,
      run: (budget) =>
        callbackLoop(depth, budget, (slot, done) =>
          fs.read(files.fd, bufs[slot]!, 0, BLOCK, offsets.next(), (err, n) =>
            done(err ?? (n === BLOCK ? null : short(n))),
          ),
        ),
    },
    {
      name: BASELINE,
      run: (budget) =>
        promiseLoop(depth, budget, async (slot) => {
          const { bytesRead } = await files.handle.read(bufs[slot]!, 0, BLOCK, offsets.next())
          if (bytesRead !== BLOCK) throw short(bytesRead)
        }),
    },
  ]
  if (depth === 1) {
    variants.push({
      name: FS_READ_SYNC,
      run: (budget) =>
        syncLoop(budget, () => {
          const n = fs.readSync(files.fd, bufs[0]!, 0, BLOCK, offsets.next())
          if (n !== BLOCK) throw short(n)
        }),
    })
  }
  if (rawC) {
    const raw = rawReadVariant(ctx.dataFile(), depth, notes)
    if ("variant" in raw) variants.push(raw.variant)
    else notes.push(raw.reason)
  }
  const rings: Array<Variant> = []
  const promises: Array<Variant> = []
  const effects: Array<Variant> = []
  for (const engine of ctx.engines) {
    const ring = await ctx.ring(engine)
    if (!ring.ok) {
      notes.push(`Driver variants (${engine}) skipped: ${ring.reason}`)
      continue
    }
    const r: Ring = ring.ring
    rings.push({
      name: withEngine(RING_CB, engine),
      run: (budget) => {
        // One callback per slot, made once: the hot path allocates nothing of ours per read.
        const cbs: Array<(e: Error | null, n: number) => void> = []
        return callbackLoop(depth, budget, (slot, done) => {
          const cb = (cbs[slot] ??= (e, n) => done(e ?? (n === BLOCK ? null : short(n))))
          r.submitReadAt(files.fd, bufs[slot]!, offsets.next(), BLOCK, false, 0, cb)
        })
      },
    })
    promises.push({
      name: withEngine(RING_PROMISE, engine),
      run: (budget) =>
        promiseLoop(depth, budget, async (slot) => {
          const n = await r.readAt(files.fd, bufs[slot]!, offsets.next())
          if (n !== BLOCK) throw short(n)
        }),
    })
  }
  for (const engine of ctx.engines) {
    const eff = await ctx.effect(engine)
    if (eff.ok) {
      effects.push({
        name: withEngine(EFFECT, engine),
        run: (budget) =>
          effectLoop(eff.io, depth, budget, (s, slot) => s.readAt(files.fd, bufs[slot]!, offsets.next())),
      })
    } else notes.push(`Effect variant (${engine}) skipped: ${eff.reason}`)
  }
  return [...variants, ...rings, ...promises, ...effects]
}

export const readSuite: Suite = {
  id: "read",
  description: "4 KiB random reads from a page-cached 256 MiB file at QD 1/16/64/256",
  build: async (ctx) => {
    const files = await openReadFiles(ctx.dataFile())
    const depths = (process.env["BENCH_READ_DEPTHS"] ?? (ctx.quick ? "1,64" : "1,16,64,256")).split(",").map(Number)
    const comparisons: Array<Comparison> = []
    for (const depth of depths) {
      const notes: Array<string> = []
      comparisons.push({
        id: `read-qd${depth}`,
        title: `4 KiB random read, page cache, QD ${depth}`,
        unit: "ops/s",
        baseline: BASELINE,
        ceiling: RAW_C,
        variants: await readVariants(ctx, files, depth, notes, true),
        notes,
      })
    }
    return { comparisons, cleanup: files.close }
  },
}

export const latencySuite: Suite = {
  id: "latency",
  description: "latency of one 4 KiB read at depth 1 (p50/p99)",
  build: async (ctx) => {
    const files = await openReadFiles(ctx.dataFile())
    const offsets = new Offsets(7)
    const buf = Buffer.allocUnsafeSlow(BLOCK)
    const notes: Array<string> = []
    const variants: Array<Variant> = [
      {
        name: FS_READ,
        run: (budget) =>
          callbackLatencyLoop(budget, (done) => fs.read(files.fd, buf, 0, BLOCK, offsets.next(), (err) => done(err))),
      },
      {
        name: BASELINE,
        run: (budget) => latencyLoop(budget, () => files.handle.read(buf, 0, BLOCK, offsets.next())),
      },
    ]
    const promises: Array<Variant> = []
    for (const engine of ctx.engines) {
      const ring = await ctx.ring(engine)
      if (!ring.ok) {
        notes.push(`Driver variants (${engine}) skipped: ${ring.reason}`)
        continue
      }
      const r = ring.ring
      variants.push({
        name: withEngine(RING_CB, engine),
        run: (budget) => {
          let done: Done = () => undefined
          const cb = (e: Error | null) => done(e)
          return callbackLatencyLoop(budget, (d) => {
            done = d
            r.submitReadAt(files.fd, buf, offsets.next(), BLOCK, false, 0, cb)
          })
        },
      })
      promises.push({
        name: withEngine(RING_PROMISE, engine),
        run: (budget) => latencyLoop(budget, () => r.readAt(files.fd, buf, offsets.next())),
      })
    }
    variants.push(...promises)
    for (const engine of ctx.engines) {
      const eff = await ctx.effect(engine)
      if (eff.ok) {
        variants.push({
          name: withEngine(EFFECT, engine),
          run: (budget): Promise<Sample> =>
            // The whole depth-1 loop runs inside one fiber; each read is timed around its yield.
            eff.io.run((s) => latencyEffect(s.readAt, files.fd, buf, offsets, budget)),
        })
      } else notes.push(`Effect variant (${engine}) skipped: ${eff.reason}`)
    }
    return {
      comparisons: [
        {
          id: "latency-qd1",
          title: "one 4 KiB read at depth 1: latency (µs)",
          unit: "ops/s",
          kind: "latency",
          baseline: BASELINE,
          variants,
          notes,
        },
      ],
      cleanup: files.close,
    }
  },
}

const latencyEffect = (
  readAt: (fd: number, b: Uint8Array, p: number) => Effect.Effect<number, unknown>,
  fd: number,
  buf: Uint8Array,
  offsets: Offsets,
  budgetMs: number,
): Effect.Effect<Sample, unknown> =>
  Effect.suspend(() => {
    const lat = new Latencies()
    const end = lat.t0 + budgetMs
    let a = lat.t0
    return Effect.map(
      Effect.whileLoop({
        while: () => {
          a = performance.now()
          return a < end
        },
        body: () => readAt(fd, buf, offsets.next()),
        step: () => lat.add(a, performance.now()),
      }),
      () => lat.sample(),
    )
  })
