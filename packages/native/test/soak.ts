/**
 * The soak of issue 16, shared by its bench suite (bench/src/soak.ts: ten million requests, `npm run
 * bench -- soak`) and its short test (test/Driver.soak.test.ts); not a test file itself. It takes the
 * Driver class as an argument, so that the bench runs the built package and the test the sources.
 *
 * A seeded program keeps `window` operations in flight on the real kernel, each one request or a
 * few: nop, readAt/writeAt on a temp file, send then recv on ring-accepted TCP pairs, receives on a
 * silent socket that must time out or be aborted, a recvMany on a pair of its own ended by a cancel
 * or a deadline, open/stat/closeFd of the temp file, and a fresh connection whose accepted end gets
 * receives and is then closed with closeFd under them. Half of the requests use the Promise API,
 * half the callback API (where a second settlement would show as a second call). Random AbortSignal
 * aborts (at once, in a microtask or a timer), random deadlines and cancels by handle are spread
 * over them, and every `reopenEvery` requests the Driver is closed with a random shutdown timeout
 * under its in-flight work and a new one opened.
 *
 * What it checks: every request settles exactly once (the ledger of test/program.ts), with a typed
 * error when it fails; each closed Driver has nothing outstanding; the open fd count
 * (/proc/self/fd) is back to its baseline after the end; and RSS and the fd count are flat after
 * warm-up: with the samples split in quarters by request count, the last quarter's median RSS is
 * within max(10%, 16 MiB) of the second quarter's, and its median fd count within 8 of it.
 *
 * A closeFd that fails must not leave its fd open: such fds are watched (`abandonedOpen` in the samples) and
 * any still open at the end fails the run. (The soak found closeFds abandoned by the shutdown
 * cut-off before they ran leaving their fds open; the Driver now closes those itself.)
 */
import { closeSync, fstatSync, mkdtempSync, openSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Driver } from "../src/index.ts"
import { generator, Ledger } from "./program.ts"

type DriverClass = Pick<typeof Driver, "open" | "now">
type Engine = "inline" | "thread"

export interface SoakOptions {
  readonly Driver: DriverClass
  readonly engine: Engine
  /** Requests to make (each counted in the ledger). */
  readonly requests: number
  readonly seed: number
  /** Is this failure one the Driver promises (an IoUringError)? */
  readonly typed: (error: unknown) => boolean
  /** Operations in flight at once (default 128). */
  readonly window?: number
  /** Requests between Driver close/reopen (default 50,000). */
  readonly reopenEvery?: number
  /** RSS and fd samples over the run (default 100). */
  readonly samples?: number
  /** Called before each RSS sample (the bench passes gc, when exposed). */
  readonly beforeSample?: () => void
  readonly log?: (line: string) => void
}

export interface SoakSample {
  readonly requests: number
  readonly rssMiB: number
  /** Open fds, less those left open by a closeFd abandoned at shutdown (`abandonedOpen`; see closeFd). */
  readonly fds: number
  readonly abandonedOpen: number
}

export interface SoakResult {
  readonly engine: Engine
  readonly seed: number
  readonly requests: number
  readonly settled: number
  readonly seconds: number
  readonly reopens: number
  /** Everything that went wrong (empty: the run passed). */
  readonly failures: ReadonlyArray<string>
  readonly codes: Record<string, number>
  readonly samples: ReadonlyArray<SoakSample>
  readonly fdBaseline: number
  readonly fdAfter: number
  /** closeFd calls that failed with the fd's fate unknown to the caller, and how many had left it open. */
  readonly uncertainCloses: {
    readonly failed: number
    readonly leftOpen: number
    readonly codes: ReadonlyArray<string>
  }
  readonly rss: { readonly secondQuarterMiB: number; readonly lastQuarterMiB: number }
  readonly fdsMedian: { readonly secondQuarter: number; readonly lastQuarter: number }
}

/** The flatness rule (see the module comment). */
export const RSS_SLACK = { ratio: 0.1, mib: 16 } as const
export const FD_SLACK = 8

const openFds = (): number => readdirSync("/proc/self/fd").length

/**
 * The open fd count once every closed Driver's loop is freed. A thread engine's loop whose thread
 * had not ended at its Driver's close keeps its eventfd until the next open or destroy in this
 * environment finds the thread ended (binding/lifetime.cc), so a count right after such a close
 * may hold one fd more. An inline Driver opened and closed frees those (its open and its close
 * both look) and leaves nothing behind itself; the count only falls from one such round to the
 * next, and is taken once two more rounds leave it where it was.
 */
const settledFds = async (Driver: DriverClass): Promise<number> => {
  let count = openFds()
  let steady = 0
  for (let round = 0; round < 30 && steady < 2; round++) {
    await new Promise((done) => setTimeout(done, 50))
    const sweep = Driver.open({ engine: "inline" })
    await sweep.nop()
    await sweep.close()
    const now = openFds()
    steady = now === count ? steady + 1 : 0
    count = now
  }
  return count
}

const median = (xs: ReadonlyArray<number>): number => {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor((s.length - 1) / 2)]!
}

/** The operations, to name a request that never settles. */
const KINDS = [
  "nop",
  "readAt",
  "writeAt",
  "send",
  "recv",
  "silentRecv",
  "recvMany",
  "open",
  "stat",
  "closeFd",
  "connect",
  "accept",
  "recvUnderClose",
] as const
type Kind = number
const K = Object.fromEntries(KINDS.map((k, i) => [k, i])) as { readonly [k in (typeof KINDS)[number]]: Kind }

/** No request settled for this long: the run is stuck, and fails naming what never settled. */
const STALL_MS = 20_000

const FILE_SIZE = 1 << 20
const BLOCK = 4096

export const runSoak = async (options: SoakOptions): Promise<SoakResult> => {
  const { Driver, engine, requests, seed } = options
  const window = options.window ?? 128
  const reopenEvery = options.reopenEvery ?? 50_000
  const sampleEvery = Math.max(1, Math.floor(requests / (options.samples ?? 100)))
  const log = options.log ?? (() => {})
  const g = generator(seed)
  const ledger = new Ledger(options.typed)
  const fail = (message: string) => ledger.fail(message)

  // What the first Driver of the process opens once and keeps (libuv's async eventfd) is not the
  // soak's: one Driver opened and closed before the baseline, whose loop (a thread engine's may
  // outlive its close, see settledFds) is freed before the count.
  const warm = Driver.open({ engine })
  await warm.nop()
  await warm.close()
  const fdBaseline = await settledFds(Driver)
  const dir = mkdtempSync(join(tmpdir(), "iou-soak-"))
  const path = join(dir, "data")
  writeFileSync(path, Buffer.alloc(FILE_SIZE, 1))
  const fileFd = openSync(path, "r+")

  const sizes = [8, 64, 256]
  const open = () => Driver.open({ engine, size: g.pick(sizes) })
  let ring = open()
  let reopens = 0
  /** The requests made on each Driver and not settled yet, for the check after its close. */
  const outstanding = new Map<Driver, number>([[ring, 0]])
  const closes: Array<Promise<void>> = []

  // Made by the first Driver, used by all: each TCP pair is two plain fds (a connects, b accepted).
  const listener = await ring.listen({ host: "127.0.0.1", port: 0 })
  const port = (listener.localAddress as { port: number }).port
  const connectPair = async (r: Driver) => {
    const [a, b] = await Promise.all([r.connect({ host: "127.0.0.1", port }), r.accept(listener)])
    return { a: a.fd, b: b.fd }
  }
  const echoPairs = await Promise.all(Array.from({ length: 8 }, () => connectPair(ring)))
  const silent = await connectPair(ring) // nothing is ever written to silent.a: receives on silent.b wait
  const streamPairs = await Promise.all(Array.from({ length: 4 }, () => connectPair(ring)))
  const freeStreams = [...streamPairs]

  /** Fds whose closeFd failed with their fate unknown (see closeFd below), with the error's code. */
  const uncertain = new Map<number, string>()
  let made = 0
  let nextSample = 0
  const samples: Array<SoakSample> = []
  const sample = () => {
    options.beforeSample?.()
    let abandoned = 0
    for (const fd of uncertain.keys()) {
      try {
        fstatSync(fd)
        abandoned++
      } catch {
        // closed after all
      }
    }
    const fds = openFds()
    samples.push({
      requests: made,
      rssMiB: process.memoryUsage.rss() / 1048576,
      fds: fds - abandoned,
      abandonedOpen: abandoned,
    })
  }

  /** Which operation each unsettled request is (by ledger id), to name the ones that never settle. */
  const kinds = new Map<number, Kind>()

  /** Opens a ledger entry for a request on `r`; the returned function settles it. */
  const begin = (r: Driver, kind: Kind) => {
    const id = ledger.open()
    kinds.set(id, kind)
    made++
    outstanding.set(r, (outstanding.get(r) ?? 0) + 1)
    let once = false
    return (error: unknown) => {
      // A second call is the ledger's to report; the outstanding count moves once.
      if (!once) {
        once = true
        kinds.delete(id)
        outstanding.set(r, outstanding.get(r)! - 1)
      }
      ledger.settle(id, error)
    }
  }
  /** A Promise-API request: settles on either outcome; a synchronous throw is a refusal. */
  const promised = <T>(r: Driver, kind: Kind, make: () => Promise<T>): Promise<T | undefined> => {
    const done = begin(r, kind)
    let p: Promise<T>
    try {
      p = make()
    } catch (error) {
      done(error)
      return Promise.resolve(undefined)
    }
    return p.then(
      (v) => {
        done(null)
        return v
      },
      (error: unknown) => {
        done(error)
        return undefined
      },
    )
  }
  /** A callback-API request; resolves once its callback ran (with the result, or undefined on error). */
  const called = (r: Driver, kind: Kind, make: (cb: (e: Error | null, v: number) => void) => number | void) =>
    new Promise<number | undefined>((resolve) => {
      const done = begin(r, kind)
      let handle: number | void = undefined
      const cb = (e: Error | null, v: number) => {
        done(e)
        resolve(e === null ? v : undefined)
      }
      try {
        handle = make(cb)
      } catch (error) {
        done(error)
        resolve(undefined)
        return
      }
      // A cancel by handle now or a little later (it may find the request already ended: false).
      if (typeof handle === "number" && g.int(16) === 0) {
        const h = handle
        if (g.int(2) === 0) r.cancel(h)
        else setTimeout(() => r.cancel(h), g.int(3))
      }
    })

  /** Promise options: none, a deadline of 0-3 ms, or a signal aborted now, in a microtask or a timer. */
  const promiseOptions = (): { timeout?: number; signal?: AbortSignal } | undefined => {
    const x = g.int(10)
    if (x === 0) return { timeout: g.int(4) }
    if (x === 1) {
      const c = new AbortController()
      const how = g.int(3)
      if (how === 0) queueMicrotask(() => c.abort())
      else if (how === 1) setTimeout(() => c.abort(), g.int(3))
      else setImmediate(() => c.abort())
      return { signal: c.signal }
    }
    return undefined
  }
  /** A callback deadline: none mostly, else 0-3 ms from now. */
  const deadline = (): number => (g.int(10) === 0 ? Driver.now() + g.int(4) : 0)

  const bytes = Buffer.alloc(512, 7)

  /**
   * closeFd, counted (on a closing Driver too: it closes the fd with close(2) there). Failed
   * (ERR_IOU_ABANDONED: the shutdown cut-off came while the close was in the loop), the caller
   * cannot know whether the kernel closed it: such fds are looked at once everything ended (an fd
   * still open then was left open by that close) and counted.
   */

  const closeFd = async (r: Driver, fd: number): Promise<void> => {
    const done = begin(r, K.closeFd)
    try {
      await r.closeFd(fd)
      done(null)
    } catch (error) {
      done(error)
      uncertain.set(fd, String((error as { code?: unknown }).code))
    }
  }

  const step = async (): Promise<void> => {
    const r = ring
    const api = g.int(2) === 0 ? "promise" : "callback"
    const what = g.int(92)
    if (what < 20) {
      if (api === "promise") await promised(r, K.nop, () => r.nop(promiseOptions()))
      else await called(r, K.nop, (cb) => r.submitNop(deadline(), cb))
    } else if (what < 40) {
      const buf = Buffer.allocUnsafe(BLOCK)
      const pos = g.int(FILE_SIZE / BLOCK) * BLOCK
      if (api === "promise") await promised(r, K.readAt, () => r.readAt(fileFd, buf, pos, promiseOptions()))
      else await called(r, K.readAt, (cb) => r.submitReadAt(fileFd, buf, pos, BLOCK, false, deadline(), cb))
    } else if (what < 50) {
      const data = bytes.subarray(0, 1 + g.int(bytes.length))
      const pos = g.int(FILE_SIZE - data.length)
      if (api === "promise") await promised(r, K.writeAt, () => r.writeAt(fileFd, data, pos, promiseOptions()))
      else await called(r, K.writeAt, (cb) => r.submitWriteAt(fileFd, data, pos, deadline(), cb))
    } else if (what < 65) {
      // Send, then receive on the other end (up to twice as much, so that leftovers drain); the
      // receive always has a deadline, since another one may have taken its bytes.
      const p = g.pick(echoPairs)
      const data = bytes.subarray(0, 1 + g.int(64))
      const into = Buffer.allocUnsafe(data.length * 2)
      const send =
        api === "promise"
          ? promised(r, K.send, () => r.send(p.a, data, { timeout: 100, ...promiseOptions() }))
          : called(r, K.send, (cb) => r.submitSend(p.a, data, Driver.now() + 100, cb))
      const recv =
        api === "promise"
          ? promised(r, K.recv, () => r.recv(p.b, into, { timeout: 20, ...promiseOptions() }))
          : called(r, K.recv, (cb) => r.submitRecv(p.b, into, 0, into.length, false, Driver.now() + 20, cb))
      await Promise.all([send, recv])
    } else if (what < 75) {
      // Nothing ever arrives: it ends by its deadline or its abort.
      const into = Buffer.allocUnsafe(16)
      if (api === "promise") {
        const c = new AbortController()
        const o = g.int(2) === 0 ? { timeout: 1 + g.int(5) } : { signal: c.signal }
        const p = promised(r, K.silentRecv, () => r.recv(silent.b, into, o))
        setTimeout(() => c.abort(), g.int(5))
        await p
      } else {
        await called(r, K.silentRecv, (cb) =>
          r.submitRecv(silent.b, into, 0, 16, false, Driver.now() + 1 + g.int(5), cb),
        )
      }
    } else if (what < 80) {
      const p = freeStreams.pop()
      if (p === undefined) return
      try {
        let chunks = 0
        const ended = called(r, K.recvMany, (cb) => {
          const handle = r.submitRecvMany(p.b, Driver.now() + 1 + g.int(10), () => void chunks++, cb)
          if (g.int(2) === 0) setTimeout(() => r.cancel(handle), g.int(5))
          return handle
        })
        for (let k = g.int(3); k > 0; k--)
          await promised(r, K.send, () => r.send(p.a, bytes.subarray(0, 1 + g.int(256)), { timeout: 100 }))
        await ended
      } finally {
        freeStreams.push(p)
      }
    } else if (what < 91) {
      // open, stat of the fd, closeFd.
      const fd = await (api === "promise"
        ? promised(r, K.open, () => r.open(path, { flags: "r", ...promiseOptions() }))
        : called(r, K.open, (cb) => r.submitOpen(path, "r", 0o666, deadline(), cb)))
      if (fd === undefined) return
      if (api === "promise") await promised(r, K.stat, () => r.stat(fd))
      else await called(r, K.stat, (cb) => r.submitStat(fd, true, 0, cb as never))
      await closeFd(r, fd)
    } else {
      // A fresh connection; receives pending on its accepted end; closeFd under them.
      const [a, b] = await Promise.all([
        promised(r, K.connect, () => r.connect({ host: "127.0.0.1", port }, { timeout: 1000 })),
        promised(r, K.accept, () => r.accept(listener, { timeout: 1000 })),
      ])
      if (a === undefined || b === undefined) {
        // One side failed (the Driver closed between them): the other's fd is ours to close.
        if (a !== undefined) closeSync(a.fd)
        if (b !== undefined) closeSync(b.fd)
        return
      }
      const conn = { a: a.fd, b: b.fd }
      const into = Buffer.allocUnsafe(16)
      const pending: Array<Promise<unknown>> = []
      for (let k = 1 + g.int(3); k > 0; k--) {
        pending.push(
          api === "promise"
            ? promised(r, K.recvUnderClose, () => r.recv(conn.b, into, { timeout: 2000 }))
            : called(r, K.recvUnderClose, (cb) => r.submitRecv(conn.b, into, 0, 16, false, Driver.now() + 2000, cb)),
        )
      }
      for (const fd of [conn.b, conn.a]) {
        await closeFd(r, fd)
      }
      await Promise.all(pending)
    }
  }

  const started = performance.now()
  let nextReopen = reopenEvery
  sample()
  const worker = async (): Promise<void> => {
    while (made < requests && ledger.failureCount === 0) {
      if (made >= nextSample) {
        nextSample += sampleEvery
        if (samples.length === 0 || samples[samples.length - 1]!.requests !== made) sample()
      }
      if (made >= nextReopen) {
        nextReopen += reopenEvery
        const old = ring
        ring = open()
        outstanding.set(ring, 0)
        reopens++
        const timeout = g.pick([0, 0, 2, 20, undefined])
        closes.push(
          old.close(timeout === undefined ? undefined : { shutdownTimeout: timeout }).then(async () => {
            // Everything made on it settled by the time close resolved, or very soon after.
            for (let i = 0; i < 200 && outstanding.get(old)! > 0; i++) await new Promise((d) => setTimeout(d, 10))
            if (outstanding.get(old)! > 0) fail(`${outstanding.get(old)} requests of a closed Driver never settled`)
            outstanding.delete(old)
          }),
        )
        if (reopens % 20 === 0) {
          const s = samples[samples.length - 1]!
          log(`  soak (${engine}): ${made} requests, RSS ${s.rssMiB.toFixed(1)} MiB, ${s.fds} fds`)
        }
      }
      await step()
    }
  }
  // Every request has a bounded life (its own end, a deadline, or a cancel that comes with it), so
  // a run where nothing settles for STALL_MS is stuck: it stops there and names what never settled.
  let stalled = false
  let lastSettled = -1
  let lastChange = performance.now()
  let watchdog: NodeJS.Timeout | undefined
  const stall = new Promise<void>((resolve) => {
    watchdog = setInterval(() => {
      if (ledger.settled !== lastSettled) {
        lastSettled = ledger.settled
        lastChange = performance.now()
      } else if (performance.now() - lastChange > STALL_MS) {
        stalled = true
        resolve()
      }
    }, 1000)
  })
  await Promise.race([Promise.all(Array.from({ length: window }, worker)), stall])
  clearInterval(watchdog)
  if (stalled) {
    const ids = ledger.unsettled(20)
    fail(
      `stuck: no request settled for ${STALL_MS / 1000} s; ${ledger.count - ledger.settled} unsettled, e.g. ${ids.map((id) => `${id} (${KINDS[kinds.get(id) ?? 0]})`).join(", ")}`,
    )
    return {
      engine,
      seed,
      requests: ledger.count,
      settled: ledger.settled,
      seconds: (performance.now() - started) / 1000,
      reopens,
      failures: [...ledger.failures],
      codes: Object.fromEntries(ledger.codes),
      samples,
      fdBaseline,
      fdAfter: openFds(),
      uncertainCloses: { failed: uncertain.size, leftOpen: 0, codes: [] },
      rss: { secondQuarterMiB: Number.NaN, lastQuarterMiB: Number.NaN },
      fdsMedian: { secondQuarter: Number.NaN, lastQuarter: Number.NaN },
    }
  }
  sample()
  const seconds = (performance.now() - started) / 1000

  await ring.close({ shutdownTimeout: 1000 })
  for (let i = 0; i < 200 && outstanding.get(ring)! > 0; i++) await new Promise((d) => setTimeout(d, 10))
  if (outstanding.get(ring)! > 0) fail(`${outstanding.get(ring)} requests of the last Driver never settled`)
  await Promise.all(closes)
  const unsettled = ledger.unsettled(10)
  if (unsettled.length > 0)
    fail(`${ledger.count - ledger.settled} requests never settled (e.g. ${unsettled.join(", ")})`)

  closeSync(listener.fd)
  for (const p of [...echoPairs, silent, ...streamPairs]) {
    closeSync(p.a)
    closeSync(p.b)
  }
  closeSync(fileFd)
  rmSync(dir, { recursive: true, force: true })
  let leftOpen = 0
  for (const fd of uncertain.keys()) {
    try {
      closeSync(fd)
      leftOpen++
    } catch {
      // closed by the kernel after all
    }
  }
  const fdAfter = await settledFds(Driver)
  if (fdAfter !== fdBaseline) {
    fail(`${fdAfter} fds open after the soak, ${fdBaseline} before`)
  }
  // A closeFd that failed must have left its fd open for a reason its caller can see; one the
  // shutdown cut-off abandoned is closed by the Driver and resolves, so none is left open unseen.
  if (leftOpen > 0) fail(`${leftOpen} fds left open by a closeFd that failed (${[...new Set(uncertain.values())]})`)

  // Flat after warm-up: the second quarter (by request count) against the last.
  const quarter = (q: number) =>
    samples.filter((s) => s.requests > (q - 1) * (made / 4) && s.requests <= q * (made / 4))
  const rss = {
    secondQuarterMiB: median(quarter(2).map((s) => s.rssMiB)),
    lastQuarterMiB: median(quarter(4).map((s) => s.rssMiB)),
  }
  const fdsMedian = {
    secondQuarter: median(quarter(2).map((s) => s.fds)),
    lastQuarter: median(quarter(4).map((s) => s.fds)),
  }
  if (rss.lastQuarterMiB - rss.secondQuarterMiB > Math.max(RSS_SLACK.ratio * rss.secondQuarterMiB, RSS_SLACK.mib)) {
    fail(
      `RSS grew: median ${rss.secondQuarterMiB.toFixed(1)} MiB in the second quarter, ${rss.lastQuarterMiB.toFixed(1)} MiB in the last`,
    )
  }
  if (fdsMedian.lastQuarter - fdsMedian.secondQuarter > FD_SLACK) {
    fail(`open fds grew: median ${fdsMedian.secondQuarter} in the second quarter, ${fdsMedian.lastQuarter} in the last`)
  }

  return {
    engine,
    seed,
    requests: ledger.count,
    settled: ledger.settled,
    seconds,
    reopens,
    failures: [
      ...ledger.failures,
      ...(ledger.failureCount > ledger.failures.length
        ? [`… ${ledger.failureCount - ledger.failures.length} more`]
        : []),
    ],
    codes: Object.fromEntries([...ledger.codes].sort((a, b) => b[1] - a[1])),
    samples,
    fdBaseline,
    fdAfter,
    uncertainCloses: { failed: uncertain.size, leftOpen, codes: [...new Set(uncertain.values())] },
    rss,
    fdsMedian,
  }
}
