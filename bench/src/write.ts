/**
 * Sequential 1 MiB writes to a new file, then one fsync: each round creates a file, writes
 * `MiB` MiB one write at a time, fsyncs, and is timed from the first write to the end of the fsync.
 * The file is created and removed outside the timed region. Reported in MiB/s.
 */
import * as fs from "node:fs"
import * as fsp from "node:fs/promises"
import * as path from "node:path"
import type { Suite } from "./context.ts"
import type { Sample, Variant } from "./harness.ts"
import { benchDir } from "./files.ts"
import { withEngine } from "./ring.ts"
import type { Ring } from "./ring.ts"
import type { EffectIo } from "./effect.ts"
import { Effect } from "effect"

const MIB = 1024 * 1024
const BASELINE = "FileHandle.write + sync"

const scratch = (tag: string) => path.join(benchDir(), `iou-bench-write-${process.pid}-${tag}.dat`)

const withFd = async (tag: string, body: (fd: number) => Promise<number>): Promise<Sample> => {
  const file = scratch(tag)
  const fd = fs.openSync(file, "w")
  try {
    const t0 = performance.now()
    const ops = await body(fd)
    return { ops, seconds: (performance.now() - t0) / 1000 }
  } finally {
    fs.closeSync(fd)
    fs.rmSync(file, { force: true })
  }
}

const cbPromise = (issue: (cb: (e: Error | null) => void) => void) =>
  new Promise<void>((resolve, reject) => issue((e) => (e ? reject(e) : resolve())))

/** Writes `count` chunks sequentially through a callback API, then syncs, all from callbacks. */
const callbackChain = (
  count: number,
  write: (i: number, cb: (e: Error | null) => void) => void,
  sync: (cb: (e: Error | null) => void) => void,
) =>
  cbPromise((finish) => {
    let i = 0
    const next = (e: Error | null) => {
      if (e) return finish(e)
      if (i === count) return sync(finish)
      write(i++, next)
    }
    next(null)
  })

export const writeSuite: Suite = {
  id: "write",
  description: "1 MiB sequential writes + fsync to a new file",
  build: async (ctx) => {
    const mib = Number(process.env["BENCH_WRITE_MIB"] ?? (ctx.quick ? 16 : 64))
    const chunk = Buffer.alloc(MIB, 0x5a)
    const notes: Array<string> = [`${mib} MiB per round in 1 MiB writes at QD 1, then fsync; in ${benchDir()}`]
    const variants: Array<Variant> = [
      {
        name: "fs.write + fsync (callback)",
        run: () =>
          withFd("fs", async (fd) => {
            await callbackChain(
              mib,
              (i, cb) => fs.write(fd, chunk, 0, MIB, i * MIB, (e) => cb(e)),
              (cb) => fs.fsync(fd, (e) => cb(e)),
            )
            return mib
          }),
      },
      {
        name: BASELINE,
        run: async () => {
          const file = scratch("fh")
          const fh = await fsp.open(file, "w")
          try {
            const t0 = performance.now()
            for (let i = 0; i < mib; i++) await fh.write(chunk, 0, MIB, i * MIB)
            await fh.sync()
            return { ops: mib, seconds: (performance.now() - t0) / 1000 }
          } finally {
            await fh.close()
            fs.rmSync(file, { force: true })
          }
        },
      },
    ]
    for (const engine of ctx.engines) {
      const ring = await ctx.ring(engine)
      if (!ring.ok) {
        notes.push(`Driver variants (${engine}) skipped: ${ring.reason}`)
        continue
      }
      const r: Ring = ring.ring
      variants.push(
        {
          name: withEngine("Driver callback", engine),
          run: () =>
            withFd(`cb-${engine}`, async (fd) => {
              await callbackChain(
                mib,
                (i, cb) => r.submitWriteAt(fd, chunk, i * MIB, 0, cb),
                (cb) => r.submitSync(fd, false, 0, cb),
              )
              return mib
            }),
        },
        {
          name: withEngine("Driver Promise", engine),
          run: () =>
            withFd(`promise-${engine}`, async (fd) => {
              for (let i = 0; i < mib; i++) await r.writeAt(fd, chunk, i * MIB)
              await r.sync(fd)
              return mib
            }),
        },
      )
    }
    for (const engine of ctx.engines) {
      const eff = await ctx.effect(engine)
      if (!eff.ok) {
        notes.push(`Effect variant (${engine}) skipped: ${eff.reason}`)
        continue
      }
      const io: EffectIo = eff.io
      variants.push({
        name: withEngine("Effect service", engine),
        run: () =>
          withFd(`effect-${engine}`, async (fd) => {
            await io.run((s) =>
              Effect.andThen(
                Effect.forEach(
                  Array.from({ length: mib }, (_, i) => i),
                  (i) => s.writeAt(fd, chunk, i * MIB),
                  {
                    discard: true,
                  },
                ),
                s.sync(fd),
              ),
            )
            return mib
          }),
      })
    }
    return {
      comparisons: [
        {
          id: "write",
          title: "1 MiB sequential writes + fsync, new file",
          unit: "MiB/s",
          baseline: BASELINE,
          variants,
          notes,
        },
      ],
    }
  },
}
