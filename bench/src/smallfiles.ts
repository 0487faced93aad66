/**
 * Small-file reads, whole files the way `fs.readFile` reads them: open, stat the fd for the size,
 * read it into a new buffer of that size, close. The ring: `readFile` and its callback form
 * `submitReadFile` (open and reads on the ring, the stat a synchronous statx of the fd on a local
 * file system and there, with the inline engine, the close close(2); the steps chained in their
 * callbacks), and, every step a ring request, the same steps awaited one by one (`open`, `stat`,
 * `readAt`, `closeFd`) and the callback API's `submitOpen`, `submitStat`, `submitReadAt`,
 * `submitCloseFd`; node:fs runs its steps on libuv's threadpool. 4 KiB and
 * 64 KiB files, one file at a time and 64 at a time (each slot reads the next file of a fixed set
 * when its previous one is done). The files are created once and read through before the first
 * round, so the page cache serves them.
 *
 * Ratios: the Promise API's readFile against `fs.promises.readFile` (the baseline column) and the
 * callback API's submitReadFile against `fs.readFile` (the second ratio column).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { loadRings, type Suite } from "./context.ts"
import { benchDir } from "./files.ts"
import { callbackLoop, promiseLoop, syncLoop } from "./harness.ts"
import type { Comparison, Done, Variant } from "./harness.ts"
import { withEngine } from "./ring.ts"
import type { Ring } from "./ring.ts"

const FILES = 256
export const NODE_PROMISE = "fs.promises.readFile"
export const NODE_CALLBACK = "fs.readFile (callback)"
/** One file after another on this thread whatever the depth: the reference for what the page cache allows without a hand-off. */
export const NODE_SYNC = "fs.readFileSync (blocks the event loop)"
export const RING_READ_FILE = "Driver Promise: readFile"
export const RING_PROMISE = "Driver Promise: open+stat+readAt+closeFd"
export const RING_CALLBACK_READ_FILE = "Driver callback: submitReadFile"
export const RING_CALLBACK = "Driver callback: submitOpen/Stat/ReadAt/CloseFd"

/** The directory of `FILES` files of `size` bytes, created once (reused when complete), then read through. */
export const prepareFiles = (size: number): ReadonlyArray<string> => {
  const dir = path.join(benchDir(), `iou-bench-small-${size}`)
  fs.mkdirSync(dir, { recursive: true })
  const data = Buffer.alloc(size, 0x61)
  const files: Array<string> = []
  for (let i = 0; i < FILES; i++) {
    const file = path.join(dir, `f${i}`)
    let ok = false
    try {
      ok = fs.statSync(file).size === size
    } catch {
      // absent
    }
    if (!ok) fs.writeFileSync(file, data)
    fs.readFileSync(file)
    files.push(file)
  }
  return files
}

/** Each slot reads files slot, slot + depth, … of the set, round robin. */
const cursor = (files: ReadonlyArray<string>, depth: number) => {
  const next = new Array<number>(depth).fill(0).map((_, s) => s)
  return (slot: number): string => {
    const i = next[slot]!
    next[slot] = (i + depth) % files.length
    return files[i]!
  }
}

const check = (got: number, size: number) => {
  if (got !== size) throw new Error(`read ${got} bytes of a ${size}-byte file`)
}

const ringPromiseRead = async (r: Ring, file: string): Promise<Buffer> => {
  const fd = await r.open(file)
  try {
    const size = Number((await r.stat(fd)).size)
    const buf = Buffer.allocUnsafe(size)
    const n = await r.readAt(fd, buf, 0)
    return n === size ? buf : buf.subarray(0, n)
  } finally {
    await r.closeFd(fd)
  }
}

/** The callback chain: open -> stat -> readAt -> closeFd, then `done` (with the first error). */
const ringCallbackRead = (r: Ring, file: string, size: number, done: Done) => {
  r.submitOpen(file, "r", 0o666, 0, (e, fd) => {
    if (e) return done(e)
    let failure: Error | null = null
    const close = () => r.submitCloseFd(fd, (ce) => done(failure ?? ce))
    r.submitStat(fd, true, 0, (se, stats) => {
      if (se || !stats) {
        failure = se ?? new Error("stat gave nothing")
        return close()
      }
      const length = Number(stats.size)
      const buf = Buffer.allocUnsafe(length)
      r.submitReadAt(fd, buf, 0, length, false, 0, (re, n) => {
        if (re) failure = re
        else if (n !== size) failure = new Error(`read ${n} bytes of a ${size}-byte file`)
        close()
      })
    })
  })
}

export const smallFilesSuite: Suite = {
  id: "files",
  description:
    "small-file reads (open + stat + read + close), 4 KiB and 64 KiB, 1 and 64 at a time: fs.readFile against the ring",
  build: async (ctx) => {
    const { rings, skipped } = await loadRings(ctx)
    const comparisons: Array<Comparison> = []
    for (const size of [4096, 65536]) {
      const files = prepareFiles(size)
      for (const depth of [1, 64]) {
        const variants: Array<Variant> = [
          {
            name: NODE_PROMISE,
            run: (budget) => {
              const next = cursor(files, depth)
              return promiseLoop(depth, budget, (s) => fs.promises.readFile(next(s)).then((b) => check(b.length, size)))
            },
          },
          {
            name: NODE_CALLBACK,
            run: (budget) => {
              const next = cursor(files, depth)
              return callbackLoop(depth, budget, (s, done) =>
                fs.readFile(next(s), (e, b) => done(e ?? (b.length === size ? null : new Error("short read")))),
              )
            },
          },
          {
            name: NODE_SYNC,
            run: (budget) => {
              const next = cursor(files, 1)
              return syncLoop(budget, () => check(fs.readFileSync(next(0)).length, size))
            },
          },
        ]
        for (const { engine, ring } of rings) {
          // A baseline checkout from before readFile has no such row.
          if (typeof ring.readFile === "function") {
            variants.push({
              name: withEngine(RING_READ_FILE, engine),
              run: (budget) => {
                const next = cursor(files, depth)
                return promiseLoop(depth, budget, (s) => ring.readFile(next(s)).then((b) => check(b.length, size)))
              },
            })
          }
          if (typeof ring.submitReadFile === "function") {
            variants.push({
              name: withEngine(RING_CALLBACK_READ_FILE, engine),
              run: (budget) => {
                const next = cursor(files, depth)
                return callbackLoop(depth, budget, (s, done) =>
                  ring.submitReadFile(next(s), 0, (e, b) =>
                    done(e ?? (b!.length === size ? null : new Error("short read"))),
                  ),
                )
              },
            })
          }
          variants.push({
            name: withEngine(RING_PROMISE, engine),
            run: (budget) => {
              const next = cursor(files, depth)
              return promiseLoop(depth, budget, (s) =>
                ringPromiseRead(ring, next(s)).then((b) => check(b.length, size)),
              )
            },
          })
          variants.push({
            name: withEngine(RING_CALLBACK, engine),
            run: (budget) => {
              const next = cursor(files, depth)
              return callbackLoop(depth, budget, (s, done) => ringCallbackRead(ring, next(s), size, done))
            },
          })
        }
        comparisons.push({
          id: `files-${size / 1024}k-qd${depth}`,
          title: `whole-file reads of ${size / 1024} KiB files (open + stat + read + close), ${depth} at a time`,
          unit: "files/s",
          baseline: NODE_PROMISE,
          ceiling: NODE_CALLBACK,
          variants,
          notes: [
            `${FILES} files of ${size} bytes in ${path.dirname(files[0]!)}, page-cached; each read allocates a buffer of the file's size, as fs.readFile does`,
            `targets: the Promise API's readFile ≥ 2× fs.promises.readFile (the first ratio column); the callback API's submitReadFile ≥ 1.2× fs.readFile (the second)`,
            ...skipped,
          ],
        })
      }
    }
    return { comparisons }
  },
}
