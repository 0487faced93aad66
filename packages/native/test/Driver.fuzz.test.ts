/**
 * Fuzzers over the public API (issue 16): seeded, reproducible, short by default so that they run in
 * `npm test`, longer with IOU_FUZZ_RUNS (runs per engine) and IOU_FUZZ_STEPS (calls per run);
 * IOU_FUZZ_SEED replays a run (a failure names its seed). Both engines.
 *
 * - The API fuzzer calls every Driver method with arguments drawn from good and bad values (fds that
 *   are files, sockets, closed or not numbers; buffers that are not; positions past 2^63; options
 *   that are arrays; deadlines that are NaN), with cancels, aborts and a close among them. Every call
 *   either throws a TypeError or RangeError at once or makes a request that settles exactly once,
 *   with an IoUringError when it fails; nothing crashes, and nothing is outstanding after close.
 * - The program fuzzer runs random programs of valid operations on two Drivers (file reads and
 *   writes, echo over TCP, receives that time out, cancels by handle and by signal, closes with
 *   random shutdown timeouts and reopenings): every request settles exactly once, a deadline never
 *   fires early, what is received is what was sent, and the stats add up after close.
 */
import { writeSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { Driver, IoUringError, probe } from "../src/index.ts"
import { pair, file } from "./fixtures.ts"
import { generator, Ledger } from "./program.ts"

const supported = probe().supported
const reason = probe().reason ?? ""

const SEED = Number(process.env["IOU_FUZZ_SEED"] ?? 0x16)
const RUNS = Number(process.env["IOU_FUZZ_RUNS"] ?? 2)
const STEPS = Number(process.env["IOU_FUZZ_STEPS"] ?? 150)

const ENGINES = [{ engine: "inline" as const }, { engine: "thread" as const }]

/** The Driver's failures are IoUringErrors. */
const typed = (error: unknown): boolean => error instanceof IoUringError

const tick = (): Promise<void> => new Promise((done) => setImmediate(done))

/** Waits (bounded) until every request of the ledger settled. */
const settleAll = async (ledger: Ledger, seed: number): Promise<void> => {
  for (let i = 0; i < 2000 && ledger.unsettled().length > 0; i++) await new Promise((d) => setTimeout(d, 5))
  expect(ledger.unsettled(), `IOU_FUZZ_SEED=${seed}`).toEqual([])
  expect(ledger.failures, `IOU_FUZZ_SEED=${seed}`).toEqual([])
}

/** A synchronous throw from a call must be a TypeError or a RangeError, the only typed refusals. */
const call = (ledger: Ledger, make: (id: number) => unknown): void => {
  const id = ledger.open()
  let result: unknown
  try {
    result = make(id)
  } catch (error) {
    ledger.settle(id, null) // refused at once: nothing pending
    if (!(error instanceof TypeError || error instanceof RangeError)) {
      ledger.fail(`call ${id} threw ${String(error)}`)
    }
    return
  }
  if (result instanceof Promise) ledger.track(id, result)
}

describe.skipIf(!supported)(`fuzzers${supported ? "" : ` (skipped: ${reason})`}`, () => {
  describe.each(ENGINES)("engine $engine", (engine) => {
    it(`API fuzzer: bad and good arguments, cancels and closes (seed ${SEED}, ${RUNS} runs of ${STEPS})`, async () => {
      for (let run = 0; run < RUNS; run++) {
        const seed = SEED + run
        const g = generator(seed)
        const p = await pair()
        const f = file(Buffer.alloc(64, 7))
        const ring = Driver.open({
          ...engine,
          size: g.pick([1, 2, 8]),
          operations: g.pick(["all", "all", "files", "sockets"] as const),
        })
        const ledger = new Ledger(typed)
        const handles: Array<number> = [0, -1, 2 ** 40]
        const controllers = [new AbortController(), new AbortController()]
        const aborted = AbortSignal.abort()
        const fd = (): unknown => g.choose([f.fd, p.a, p.b], [1_000_000, -1, 1.5, "3", undefined, Number.NaN])
        const buffer = (): unknown =>
          g.choose(
            [Buffer.alloc(16), new Uint8Array(4096), [Buffer.alloc(2), Buffer.alloc(3)], new Uint8Array(0)],
            [[], "text", null, {}, new DataView(new ArrayBuffer(4))],
          )
        const position = (): unknown =>
          g.choose([0, 10, 2 ** 40, 2n ** 63n - 1n], [-1, 1.5, 2n ** 64n, "0", Number.NaN, 2 ** 53])
        const option = (): unknown =>
          g.choose(
            [
              undefined,
              {},
              { timeout: 1 },
              { timeout: 20 },
              { length: 8 },
              { exact: true, timeout: 10 },
              { offset: 3, timeout: 5 },
              { signal: aborted },
              { signal: g.pick(controllers).signal, timeout: 50 },
              { dataOnly: true },
            ],
            [[], Buffer.alloc(1), { timeout: -1 }, { length: 1e9 }, { dataOnly: "yes" }, { offset: -1 }],
          )
        const deadline = (): unknown => g.choose([0, Driver.now() + 5, Driver.now() + 30], [-1, Number.NaN, "1"])
        const cb = (id: number): unknown => g.choose([ledger.callback(id)], [null, 1])
        const r = ring as unknown as Record<string, (...args: Array<unknown>) => unknown>
        const remember = (handle: unknown): unknown => {
          if (typeof handle === "number") handles.push(handle)
          return handle
        }
        // Every other run closes at two thirds of its steps whatever the draws (a random close is
        // rare: one call in 300), so that calls, cancels and aborts on a closing and then closed
        // Driver, with requests still in flight, are part of every test.
        const closeAt = run % 2 === 1 ? Math.floor((STEPS * 2) / 3) : -1
        for (let step = 0; step < STEPS; step++) {
          if (step === closeAt)
            call(ledger, () => ring.close(g.pick([undefined, { shutdownTimeout: 0 }, { shutdownTimeout: 10 }])))
          const what = g.int(20)
          switch (what) {
            case 0:
              call(ledger, () => r["nop"]!(option()))
              break
            case 1:
              call(ledger, () => r["readAt"]!(fd(), buffer(), position(), option()))
              break
            case 2:
              call(ledger, () => r["writeAt"]!(fd(), buffer(), position(), option()))
              break
            case 3:
              call(ledger, () => r["send"]!(fd(), buffer(), option()))
              break
            case 4:
              call(ledger, () => r["recv"]!(fd(), buffer(), option()))
              break
            case 5:
              call(ledger, () => r["sync"]!(fd(), option()))
              break
            case 6:
              call(ledger, (id) => remember(r["submitNop"]!(deadline(), cb(id))))
              break
            case 7:
              call(ledger, (id) =>
                remember(
                  r["submitReadAt"]!(
                    fd(),
                    buffer(),
                    position(),
                    g.choose([0, 4, 16], [-1, 1e9]),
                    g.choose([true, false], [1]),
                    deadline(),
                    cb(id),
                  ),
                ),
              )
              break
            case 8:
              call(ledger, (id) => remember(r["submitWriteAt"]!(fd(), buffer(), position(), deadline(), cb(id))))
              break
            case 9:
              call(ledger, (id) => remember(r["submitSend"]!(fd(), buffer(), deadline(), cb(id))))
              break
            case 10:
              call(ledger, (id) =>
                remember(
                  r["submitRecv"]!(
                    fd(),
                    buffer(),
                    g.pick([0, 2, 100]),
                    g.pick([0, 4, 16]),
                    g.pick([true, false]),
                    deadline(),
                    cb(id),
                  ),
                ),
              )
              break
            case 11:
              call(ledger, (id) => remember(r["submitSync"]!(fd(), g.choose([true, false], ["x"]), deadline(), cb(id))))
              break
            case 12:
            case 13:
              expect(typeof ring.cancel(g.pick(handles) as never)).toBe("boolean")
              break
            case 14: {
              const i = g.int(controllers.length)
              controllers[i]!.abort(new Error("fuzz"))
              controllers[i] = new AbortController()
              break
            }
            case 15:
              writeSync(g.pick([p.a, p.b]), Buffer.alloc(1 + g.int(32), 1))
              break
            case 16:
              if (g.int(15) === 0) {
                const options = g.pick([
                  undefined,
                  { shutdownTimeout: 0 },
                  { shutdownTimeout: 10 },
                  [],
                  { shutdownTimeout: -1 },
                ])
                call(ledger, () => ring.close(options as never))
              }
              break
            default:
              await tick()
          }
          if (ledger.failures.length > 0) break
        }
        await ring.close({ shutdownTimeout: 0 }).catch(() => {})
        await settleAll(ledger, seed)
        expect(ring.stats().outstanding).toBe(0)
      }
    })

    it(`stream fuzzer: sends and receives stopped at random lose and repeat no byte (seed ${SEED}, ${RUNS} runs of ${STEPS})`, async () => {
      // One TCP stream, one send and one receive at a time, each with a random deadline or abort
      // (which may come after it completed): a stopped request says in `bytes` what it moved, so the next send goes on
      // from where the stream is and every byte received is checked against its position in it.
      const byteAt = (k: number): number => k % 251
      for (let run = 0; run < RUNS; run++) {
        const seed = SEED + run
        const g = generator(seed)
        const ring = Driver.open({ ...engine, size: g.pick([2, 8, 64]) })
        const p = await pair()
        let sent = 0 // stream bytes the kernel took
        let received = 0 // stream bytes received and checked
        const wrong: Array<string> = []
        // Every request has a stop: a send may wait for a reader, a receive for a sender, forever.
        const stop = (): { timeout?: number; signal?: AbortSignal } => {
          const how = g.int(3)
          if (how === 0) return { timeout: g.pick([0, 1, 2, 5, 20]) }
          const controller = new AbortController()
          if (how === 1) setImmediate(() => controller.abort())
          else setTimeout(() => controller.abort(), g.int(5))
          return { signal: controller.signal }
        }
        /** What a request that ended moved: its count, or its error's bytes. */
        const moved = async (request: Promise<number | void>, asked: number): Promise<number> => {
          try {
            const n = await request
            return n === undefined ? asked : n
          } catch (error) {
            const e = error as IoUringError
            if (!["ETIMEDOUT", "ABORT_ERR"].includes(e.code) || e.bytes === undefined || e.bytes > asked) {
              wrong.push(`seed ${seed}: ${e.code} with bytes ${e.bytes} of ${asked}`)
              return 0
            }
            return e.bytes
          }
        }
        const check = (into: Buffer, from: number, n: number): void => {
          for (let k = 0; k < n; k++) {
            if (into[from + k] !== byteAt(received + k)) {
              wrong.push(`seed ${seed}: stream byte ${received + k} differs`)
              return
            }
          }
          received += n
        }
        for (let step = 0; step < STEPS && wrong.length === 0; step++) {
          const steps: Array<Promise<void>> = []
          if (g.int(3) !== 0) {
            const n = 1 + g.int(g.pick([64, 4096, 1 << 20, 8 << 20]))
            const chunk = Buffer.allocUnsafe(n)
            for (let k = 0; k < n; k++) chunk[k] = byteAt(sent + k)
            steps.push(moved(ring.send(p.a, chunk, stop()), n).then((m) => void (sent += m)))
          }
          if (g.int(3) !== 0) {
            const size = 1 + g.int(g.pick([16, 4096, 1 << 20]))
            const offset = g.int(4)
            const into = Buffer.alloc(offset + size)
            const exact = g.int(2) === 0
            const options = { offset, exact, ...stop() }
            steps.push(moved(ring.recv(p.b, into, options), size).then((m) => check(into, offset, m)))
          }
          await Promise.all(steps)
        }
        // The rest of the stream, then its end: what arrives is exactly what the sends moved.
        await ring.shutdownSocket(p.a, "write")
        const into = Buffer.alloc(1 << 20)
        for (let n = await ring.recv(p.b, into); n > 0 && wrong.length === 0; n = await ring.recv(p.b, into)) {
          check(into, 0, n)
        }
        await ring.close()
        expect(wrong).toEqual([])
        expect(received).toBe(sent)
      }
    }, 60_000)

    it(`program fuzzer: random valid programs on two Drivers (seed ${SEED}, ${RUNS} runs of ${STEPS})`, async () => {
      for (let run = 0; run < RUNS; run++) {
        const seed = SEED + run
        const g = generator(seed)
        const p = await pair()
        const f = file(Buffer.alloc(4096, 3))
        const ledger = new Ledger(typed)
        const early: Array<string> = []
        const open = () => Driver.open({ ...engine, size: g.pick([2, 4, 16]), shutdownTimeout: g.pick([0, 20, 200]) })
        const rings = [open(), open()]
        const closes: Array<Promise<unknown>> = []
        const live: Array<{ ring: Driver; handle: number }> = []
        let sent = 0
        const mismatches: Array<string> = []
        const silent = await pair() // nothing is ever written to silent.b: its receives time out
        for (let step = 0; step < STEPS; step++) {
          const i = g.int(rings.length)
          const ring = rings[i]!
          const what = g.int(10)
          const id = ledger.open()
          if (what === 0) {
            ledger.track(id, ring.nop())
          } else if (what === 1) {
            ledger.track(id, ring.readAt(f.fd, Buffer.alloc(1 + g.int(512)), g.int(4096)))
          } else if (what === 2) {
            ledger.track(id, ring.writeAt(f.fd, Buffer.alloc(1 + g.int(512), 5), g.int(4096)))
          } else if (what === 3) {
            // Echo, awaited (two receives on one socket may interleave their bytes): what is
            // received on b is what was sent on a.
            const n = 1 + g.int(64)
            const chunk = Buffer.alloc(n)
            for (let k = 0; k < n; k++) chunk[k] = (sent + k) & 0xff
            sent += n
            const into = Buffer.alloc(n)
            const send = ring.send(p.a, chunk)
            const recv = ring.recv(p.b, into, { exact: true })
            ledger.track(id, send)
            ledger.track(ledger.open(), recv)
            await Promise.all([send, recv])
            if (!into.equals(chunk)) mismatches.push(`echo of ${n} bytes at ${sent - n} differs`)
          } else if (what === 4 || what === 5) {
            const timeout = 1 + g.int(30)
            const started = Driver.now()
            ledger.track(id, ring.recv(silent.b, Buffer.alloc(8), { timeout }), (error) => {
              const elapsed = Driver.now() - started
              // The same clock on both sides; 0.05 ms is the clock offset's error (Clock.ts).
              if ((error as IoUringError).code === "ETIMEDOUT" && elapsed < timeout - 0.05) {
                early.push(`a ${timeout} ms deadline fired after ${elapsed} ms`)
              }
            })
          } else if (what === 6) {
            const controller = new AbortController()
            ledger.track(id, ring.recv(silent.b, Buffer.alloc(8), { signal: controller.signal }))
            if (g.int(2) === 0) controller.abort()
            else setTimeout(() => controller.abort(), g.int(10))
          } else if (what === 7) {
            const handle = ring.submitRecv(
              silent.b,
              Buffer.alloc(8),
              0,
              8,
              false,
              Driver.now() + 200,
              ledger.callback(id),
            )
            live.push({ ring, handle })
          } else if (what === 8 && live.length > 0) {
            const { ring: owner, handle } = live.splice(g.int(live.length), 1)[0]!
            owner.cancel(handle)
            ledger.settle(id, null)
          } else if (what === 9 && g.int(8) === 0) {
            closes.push(ring.close(g.pick([undefined, { shutdownTimeout: 0 }, { shutdownTimeout: 5 }])))
            rings[i] = open()
            ledger.settle(id, null)
          } else {
            ledger.settle(id, null)
          }
          if (g.int(4) === 0) await tick()
        }
        // Receives still waiting for echo bytes get them before the close (all sends were made).
        closes.push(...rings.map((ring) => ring.close({ shutdownTimeout: 500 })))
        const results = (await Promise.all(closes)) as Array<{ completed: number; abandoned: number }>
        await settleAll(ledger, seed)
        expect(early).toEqual([])
        expect(mismatches).toEqual([])
        for (const result of results) expect(Number.isInteger(result.completed + result.abandoned)).toBe(true)
        for (const ring of rings) {
          const stats = ring.stats()
          expect(stats.outstanding).toBe(0)
          expect(stats.completed).toBeGreaterThanOrEqual(stats.failed + stats.timedOut + stats.cancelled)
        }
      }
    })
  })
})
