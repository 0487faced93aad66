/**
 * Conformance of the C loop with @iou/core, the executable specification (docs/DESIGN.md, decision 12).
 *
 * 1. Trace replay. Real-kernel scenarios run through a Driver whose loop traces every op CQE it
 *    handles (binding `enableTrace`, tests only: struct iou_trace_event in iou.h). Each event says
 *    what the request looked like before the CQE (op, flags, bytes done of total, cancel requested by
 *    a deadline, the caller or the shutdown cutoff), the raw result, and what the C code decided.
 *    Every event is replayed through the model's `Request.onCqe` on a request in the same state, and
 *    the model must decide the same: end it with the same outcome and result, or ask for another
 *    SQE. The C loop's one refinement is named and checked too: on -EAGAIN it waits for readiness
 *    with a one-shot POLL_ADD before the op again (the model retries at once), and the poll's own
 *    CQE is, for the model, that same retry: a readiness mask (>= 0) replays as -EAGAIN, an error
 *    as itself. Progress is checked across events: the next CQE of a request that was asked to go
 *    again starts from the bytes the model counted.
 * 2. Scenario checks. Small scenarios (a size-2 ring with receives whose data comes from sends
 *    queued behind them, with deadlines; the shutdown cutoff's cancels and grace) run through the
 *    model's Loop + SimKernel and through the real Driver, and both must end every request with the
 *    same outcome (and result where the Driver reports one).
 */
import { execFileSync } from "node:child_process"
import { closeSync, constants, mkdtempSync, openSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Config, Errno, Loop, Request, SimKernel } from "@iou/core"
import { afterAll, describe, expect, it } from "vitest"
import {
  binding,
  IOU_TRACE_CANCEL_CALLER,
  IOU_TRACE_CANCEL_DEADLINE,
  IOU_TRACE_CANCEL_NONE,
  IOU_TRACE_CANCEL_SHUTDOWN,
  IOU_TRACE_COMPLETE,
  IOU_TRACE_MORE,
  IOU_TRACE_POLL_WAIT,
  IOU_TRACE_REQUEUE,
  type NativeLoop,
  type TraceEvent,
} from "../src/binding.ts"
import { Driver } from "../src/Driver.ts"
import { probe } from "../src/index.ts"
import { pattern, tcpPair, tempFile, UNDER_TEST } from "./helpers.ts"

const supported = probe().supported
const reason = probe().reason ?? ""

const engine = UNDER_TEST

/** A Driver whose loop traces every op CQE, and a way to take the events. */
const tracedDriver = (size: number, config: Config.Config = {}): { driver: Driver; take: () => Array<TraceEvent> } => {
  let native: NativeLoop | undefined
  const driver = new Driver(Config.resolve({ size, ...config, ...engine }), (dispatch, staging, completions) => {
    native = new binding.Loop(dispatch, staging, completions)
    native.enableTrace()
    return native
  })
  return { driver, take: () => native!.takeTrace() }
}

const CANCEL_OUTCOME: Record<number, number> = {
  [IOU_TRACE_CANCEL_NONE]: Request.NOT_CANCELLED,
  [IOU_TRACE_CANCEL_DEADLINE]: Request.OUTCOME_TIMEOUT,
  [IOU_TRACE_CANCEL_CALLER]: Request.OUTCOME_CANCELLED,
  [IOU_TRACE_CANCEL_SHUTDOWN]: Request.OUTCOME_ABANDONED,
}

const DECISION_NAMES = ["complete", "requeue", "pollWait", "more"] as const

interface Tally {
  events: number
  byDecision: Record<string, number>
  byCancel: Record<string, number>
  pollCqes: number
  outcomes: Record<string, number>
}

const tally: Tally = { events: 0, byDecision: {}, byCancel: {}, pollCqes: 0, outcomes: {} }
const bump = (record: Record<string, number>, key: string): void => {
  record[key] = (record[key] ?? 0) + 1
}

/**
 * Replays every event through Request.onCqe and asserts the model's decision is the C loop's.
 * Returns the number of events checked.
 */
const replay = (events: ReadonlyArray<TraceEvent>): number => {
  /** Per live request (slot:generation): the bytes the model says are done before its next CQE. */
  const expectedDone = new Map<string, number>()
  for (const e of events) {
    const where = `event ${JSON.stringify(e)}`
    const key = `${e.slot}:${e.generation}`
    const before = expectedDone.get(key)
    if (before !== undefined) expect(e.done, `${where}: progress carried over`).toBe(before)
    const r = Request.make({ op: e.op, flags: e.flags, length: e.total })
    r.done = e.done
    const cancelOutcome = CANCEL_OUTCOME[e.cancel]
    expect(cancelOutcome, where).toBeDefined()
    if (e.more) {
      // One result of a multishot op (Waiters' More): published as it is, the request untouched.
      expect(Request.isMultishot(r), where).toBe(true)
      expect(e.decision, where).toBe(IOU_TRACE_MORE)
      expect([e.outcome, e.result], where).toEqual([e.res < 0 ? Request.OUTCOME_ERROR : Request.OUTCOME_OK, e.res])
      tally.events++
      bump(tally.byDecision, "more")
      continue
    }
    // A readiness poll's CQE is the model's EAGAIN retry (or, with an error, that error).
    const res = e.poll && e.res >= 0 ? -Errno.EAGAIN : e.res
    const ended = Request.onCqe(r, cancelOutcome!, res)
    if (ended) {
      expect(DECISION_NAMES[e.decision], where).toBe("complete")
      expect([Request.OUTCOME_NAMES[e.outcome], e.result], where).toEqual([Request.OUTCOME_NAMES[r.outcome], r.result])
      expectedDone.delete(key)
      bump(tally.outcomes, Request.OUTCOME_NAMES[e.outcome]!)
    } else {
      expect(e.decision === IOU_TRACE_REQUEUE || e.decision === IOU_TRACE_POLL_WAIT, where).toBe(true)
      // The C refinement: -EAGAIN from the op itself waits for readiness; nothing else does.
      expect(e.decision === IOU_TRACE_POLL_WAIT, where).toBe(e.res === -Errno.EAGAIN && !e.poll)
      expectedDone.set(key, r.done)
    }
    tally.events++
    bump(tally.byDecision, DECISION_NAMES[e.decision]!)
    bump(tally.byCancel, ["none", "deadline", "caller", "shutdown"][e.cancel]!)
    if (e.poll) tally.pollCqes++
  }
  return events.length
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms))

/** The callback API as a promise of [outcome name, result]. */
const OUTCOME_OF_CODE: Record<string, string> = {
  ETIMEDOUT: "TIMEOUT",
  ABORT_ERR: "CANCELLED",
  ERR_IOU_UNEXPECTED_EOF: "UNEXPECTED_EOF",
  ERR_IOU_ABANDONED: "ABANDONED",
}
type Ended = [string, number]
const ended = (register: (callback: (error: Error | null, result: number) => void) => unknown): Promise<Ended> =>
  new Promise((done) => {
    register((error, result) => {
      if (error === null) return done(["OK", result])
      const code = (error as { code?: string }).code ?? ""
      done([OUTCOME_OF_CODE[code] ?? "ERROR", (error as { bytes?: number }).bytes ?? 0])
    })
  })

/** A FIFO: a non-blocking read-write end (reads say EAGAIN when empty) and a blocking write end. */
const fifo = (): { nonBlocking: number; w: number; close: () => void } => {
  const dir = mkdtempSync(join(tmpdir(), "iou-conformance-"))
  const path = join(dir, "fifo")
  execFileSync("mkfifo", [path])
  const nonBlocking = openSync(path, constants.O_RDWR | constants.O_NONBLOCK)
  const w = openSync(path, "w")
  return {
    nonBlocking,
    w,
    close: () => {
      closeSync(nonBlocking)
      closeSync(w)
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

describe.skipIf(!supported)(
  `conformance of the C loop with @iou/core${supported ? "" : ` (skipped: ${reason})`}`,
  () => {
    afterAll(() => {
      // The counts of this run, for the record (and the report).
      console.log(`conformance: ${JSON.stringify(tally)}`)
    })

    it("short reads at end of file: every CQE decided as the model decides", async () => {
      const { driver, take } = tracedDriver(8)
      const f = tempFile(pattern(10))
      try {
        const results = await Promise.all([
          ended((cb) => driver.submitReadAt(f.fd, new Uint8Array(100), 0, 100, false, 0, cb)),
          ended((cb) => driver.submitReadAt(f.fd, new Uint8Array(100), 0, 100, true, 0, cb)),
          ended((cb) => driver.submitReadAt(f.fd, new Uint8Array(4), 8, 4, false, 0, cb)),
          ended((cb) => driver.submitReadAt(f.fd, new Uint8Array(4), 10, 4, false, 0, cb)),
          ended((cb) => driver.submitReadAt(f.fd, new Uint8Array(4), 10, 4, true, 0, cb)),
        ])
        expect(results).toEqual([
          ["OK", 10],
          ["UNEXPECTED_EOF", 10],
          ["OK", 2],
          ["OK", 0],
          ["UNEXPECTED_EOF", 0],
        ])
        const events = take()
        expect(replay(events)).toBeGreaterThanOrEqual(7) // 10 then 0 for the first three, 0 for the others
        expect(events.some((e) => e.decision === IOU_TRACE_REQUEUE && e.res === 10)).toBe(true)
      } finally {
        await driver.close({ shutdownTimeout: 0 })
        f.close()
      }
    })

    it("exact and plain recv assembled from pieces sent apart", async () => {
      const { driver, take } = tracedDriver(8)
      const sender = Driver.open({ size: 4, ...engine })
      const p = await tcpPair()
      try {
        const exact = ended((cb) => driver.submitRecv(p.b, new Uint8Array(12), 0, 12, true, 0, cb))
        for (const piece of ["abcd", "efgh", "ijkl"]) {
          await sleep(10)
          await sender.send(p.a, Buffer.from(piece))
        }
        expect(await exact).toEqual(["OK", 12])
        const plain = ended((cb) => driver.submitRecv(p.b, new Uint8Array(12), 0, 12, false, 0, cb))
        await sleep(10)
        await sender.send(p.a, Buffer.from("xyz"))
        expect(await plain).toEqual(["OK", 3])
        const events = take()
        replay(events)
        expect(events.filter((e) => e.decision === IOU_TRACE_REQUEUE && e.res > 0).length).toBeGreaterThanOrEqual(2)
      } finally {
        await sender.close({ shutdownTimeout: 0 })
        await driver.close({ shutdownTimeout: 0 })
        await p.close()
      }
    })

    it("vectored writes continued on a pipe, read back in pieces from its non-blocking end", async () => {
      const { driver, take } = tracedDriver(8)
      const pipe = fifo()
      try {
        const chunks = [pattern(64 * 1024, 1), pattern(64 * 1024, 2), pattern(40 * 1024, 3)]
        const total = chunks.reduce((n, c) => n + c.length, 0)
        // Nothing to read yet: on some kernels -EAGAIN on the non-blocking end, then a readiness poll.
        const first = ended((cb) => driver.submitReadAt(pipe.nonBlocking, new Uint8Array(8), 0, 8, true, 0, cb))
        await sleep(10)
        const written = ended((cb) => driver.submitWriteAt(pipe.w, chunks, 0, 0, cb))
        expect(await first).toEqual(["OK", 8])
        let got = 8
        while (got < total) {
          await sleep(1)
          const n = Math.min(8 * 1024, total - got)
          const [outcome, count] = await ended((cb) =>
            driver.submitReadAt(pipe.nonBlocking, new Uint8Array(n), 0, n, true, 0, cb),
          )
          expect(outcome).toBe("OK")
          got += count
        }
        expect(await written).toEqual(["OK", total])
        const events = take()
        replay(events)
        expect(events.some((e) => e.op === Request.OP_WRITE_AT && e.decision === IOU_TRACE_REQUEUE)).toBe(true)
        // -EAGAIN (and so a readiness poll) comes only from kernels that honour O_NONBLOCK in
        // io_uring reads; the one this was written on (6.18) arms its own poll instead. The replay
        // checks such events wherever they occur; the tally in the log says how many there were.
      } finally {
        await driver.close({ shutdownTimeout: 0 })
        pipe.close()
      }
    })

    it("multishot recv: chunks, then one end by end of stream, cancel, deadline and the buffers running out", async () => {
      const { driver, take } = tracedDriver(8, { recvBuffers: { count: 2, size: 8 } })
      const p = await tcpPair()
      const q = await tcpPair()
      try {
        const noChunks = (): void => {}
        const eof = ended((cb) => driver.submitRecvMany(p.b, 0, noChunks, cb))
        await driver.send(p.a, Buffer.alloc(4096, 1))
        p.closeA()
        let handle = 0
        const cancelled = ended((cb) => {
          handle = driver.submitRecvMany(q.b, 0, noChunks, cb)
        })
        const timed = ended((cb) => driver.submitRecvMany(q.a, Driver.now() + 20, noChunks, cb))
        expect(await eof).toEqual(["OK", 0])
        await sleep(10)
        driver.cancel(handle)
        expect(await cancelled).toEqual(["CANCELLED", 0])
        expect((await timed)[0]).toBe("TIMEOUT")
        const events = take()
        replay(events)
        expect(events.some((e) => e.more)).toBe(true)
        expect(events.some((e) => !e.more && e.res === -Errno.ENOBUFS)).toBe(true) // re-armed by the Driver
        expect(driver.stats().recvBuffersEmpty).toBeGreaterThan(0)
      } finally {
        await driver.close({ shutdownTimeout: 0 })
        await p.close()
        await q.close()
      }
    })

    it("deadlines on silent sockets, caller cancels, EBADF, sends to a closed peer, nop and sync", async () => {
      const { driver, take } = tracedDriver(16)
      const p = await tcpPair()
      const q = await tcpPair()
      const f = tempFile(pattern(16))
      try {
        const timedOut = ended((cb) => driver.submitRecv(p.b, new Uint8Array(8), 0, 8, false, Driver.now() + 20, cb))
        const timedOutExact = ended((cb) =>
          driver.submitReadAt(q.b, new Uint8Array(8), 0, 8, true, Driver.now() + 30, cb),
        )
        let handle: ReturnType<Driver["submitRecv"]> | undefined
        const cancelled = ended((cb) => {
          handle = driver.submitRecv(p.a, new Uint8Array(8), 0, 8, false, 0, cb)
        })
        const badFd = ended((cb) => driver.submitReadAt(1_000_000, new Uint8Array(8), 0, 8, false, 0, cb))
        const nop = ended((cb) => driver.submitNop(0, cb))
        const sync = ended((cb) => driver.submitSync(f.fd, false, 0, cb))
        await sleep(10)
        driver.cancel(handle!)
        expect(await timedOut).toEqual(["TIMEOUT", 0])
        expect((await timedOutExact)[0]).toBe("TIMEOUT")
        expect(await cancelled).toEqual(["CANCELLED", 0])
        expect((await badFd)[0]).toBe("ERROR")
        expect(await nop).toEqual(["OK", 0])
        expect(await sync).toEqual(["OK", 0])
        // A send to a peer that is gone fails (EPIPE or ECONNRESET) once the kernel knows it.
        q.closeA()
        await sleep(20)
        let failed: Ended = ["OK", 0]
        for (let i = 0; i < 20 && failed[0] === "OK"; i++) {
          failed = await ended((cb) => driver.submitSend(q.b, pattern(64 * 1024), 0, cb))
        }
        expect(failed[0]).toBe("ERROR")
        const events = take()
        replay(events)
        expect(events.some((e) => e.cancel === IOU_TRACE_CANCEL_DEADLINE)).toBe(true)
        expect(events.some((e) => e.cancel === IOU_TRACE_CANCEL_CALLER)).toBe(true)
        expect(events.some((e) => e.decision === IOU_TRACE_COMPLETE && e.res === -Errno.EBADF)).toBe(true)
      } finally {
        await driver.close({ shutdownTimeout: 0 })
        await p.close()
        await q.close()
        f.close()
      }
    })

    it("the shutdown cutoff's cancels: in-flight receives end ABANDONED as the model's cancel rule says", async () => {
      const { driver, take } = tracedDriver(4)
      const p = await tcpPair()
      try {
        const a = ended((cb) => driver.submitRecv(p.b, new Uint8Array(8), 0, 8, false, 0, cb))
        const b = ended((cb) => driver.submitRecv(p.a, new Uint8Array(8), 0, 8, true, 0, cb))
        await sleep(10)
        expect(await driver.close({ shutdownTimeout: 10 })).toEqual({ completed: 0, abandoned: 2 })
        expect([await a, await b]).toEqual([
          ["ABANDONED", 0],
          ["ABANDONED", 0],
        ])
        expect(driver.stats().quarantinedBytes).toBe(0)
        const events = take()
        replay(events)
        expect(events.filter((e) => e.cancel === IOU_TRACE_CANCEL_SHUTDOWN).length).toBe(2)
      } finally {
        await p.close()
      }
    })

    it("the shutdown cutoff: the same requests end alike in the model and on the kernel, none kernel-held", async () => {
      const MS = 1_000_000
      // The model: two receives that never get data and a sync, closed with a 20 ms shutdown timeout.
      const kernel = SimKernel.make({
        seed: 3,
        size: 4,
        retry: 0,
        error: 0,
        zero: 0,
        partial: 0,
        wakeEnd: 0,
        reorder: 0,
        minLatency: 50_000,
        maxLatency: 50_000,
        behaviour: (sqe) => (sqe.op === Request.OP_RECV ? { delay: Infinity, result: 0 } : undefined),
      })
      const model = Loop.make({ size: 4, timeoutWheelTick: 1, maxRequestTimeout: 60_000 }, kernel, () => {})
      SimKernel.attach(kernel, model.waker)
      const requests = [
        Request.make({ op: Request.OP_RECV, fd: 1, length: 8 }),
        Request.make({ op: Request.OP_RECV, fd: 2, length: 8, flags: Request.FLAG_EXACT }),
        Request.make({ op: Request.OP_SYNC, fd: 3 }),
      ]
      for (const r of requests) Loop.submit(model, r)
      SimKernel.at(kernel, 5 * MS, () => Loop.close(model, 20 * MS))
      expect(SimKernel.run(kernel, model).exited).toBe(true)
      const modelEnds = requests.map((r) => [Request.OUTCOME_NAMES[r.outcome], r.result, r.kernelHeld])

      const { driver, take } = tracedDriver(4, { maxInFlight: 4 })
      const p = await tcpPair()
      const f = tempFile(pattern(4))
      try {
        const ends = [
          ended((cb) => driver.submitRecv(p.b, new Uint8Array(8), 0, 8, false, 0, cb)),
          ended((cb) => driver.submitRecv(p.a, new Uint8Array(8), 0, 8, true, 0, cb)),
          ended((cb) => driver.submitSync(f.fd, false, 0, cb)),
        ]
        await sleep(5)
        await driver.close({ shutdownTimeout: 20 })
        const realEnds = (await Promise.all(ends)).map(([outcome, result]) => [outcome, result, false])
        expect(driver.stats().quarantinedBytes).toBe(0) // no request was kernel-held
        expect(realEnds).toEqual(modelEnds)
        expect(modelEnds).toEqual([
          ["ABANDONED", 0, false],
          ["ABANDONED", 0, false],
          ["OK", 0, false],
        ])
        replay(take())
      } finally {
        await p.close()
        f.close()
      }
    })

    it("a size-2 scenario (receives fed by sends queued behind them, with deadlines) ends alike in the model and on the kernel", async () => {
      // The scenario, in submission order: [name, kind, pair, length, exact, deadline ms].
      type Step = readonly [string, "recv" | "send", 0 | 1, number, boolean, number]
      const steps: ReadonlyArray<Step> = [
        ["r1", "recv", 0, 8, false, 50],
        ["r2", "recv", 1, 8, false, 50],
        ["s1", "send", 0, 5, false, 1000],
        ["s2", "send", 1, 6, false, 1000],
        ["r3", "recv", 0, 8, false, 1000],
        ["r4", "recv", 1, 8, true, 150],
      ]

      // The model: SimKernel with a small socket model (bytes sent wait in the peer's buffer; a recv
      // takes what is there, or blocks until a send brings some).
      const MS = 1_000_000
      const buffered = [0, 0]
      const fdOf = (pair: number, side: "send" | "recv") => pair * 2 + (side === "recv" ? 1 : 0)
      const pairOf = (fd: number) => fd >> 1
      const kernel = SimKernel.make({
        seed: 1,
        size: 2,
        retry: 0,
        error: 0,
        zero: 0,
        partial: 0,
        wakeEnd: 0,
        reorder: 0,
        minLatency: 50_000,
        maxLatency: 50_000,
        behaviour: (sqe) => {
          if (sqe.op !== Request.OP_RECV) return undefined
          const pair = pairOf(sqe.fd)
          if (buffered[pair]! === 0) return { delay: Infinity, result: 0 }
          const n = Math.min(buffered[pair]!, sqe.length)
          buffered[pair]! -= n
          return { delay: 50_000, result: n }
        },
        afterCqe: (sqe, result, k) => {
          if (sqe.op !== Request.OP_SEND || result <= 0) return
          const pair = pairOf(sqe.fd)
          buffered[pair]! += result
          SimKernel.release(
            k,
            (s) => s.op === Request.OP_RECV && pairOf(s.fd) === pair,
            (s) => {
              const n = Math.min(buffered[pair]!, s.length)
              buffered[pair]! -= n
              return n
            },
            50_000,
          )
        },
      })
      const model = Loop.make({ size: 2, timeoutWheelTick: 1, maxRequestTimeout: 60_000 }, kernel, () => {})
      SimKernel.attach(kernel, model.waker)
      const requests = steps.map(([, kind, pair, length, exact, deadline]) =>
        Request.make({
          op: kind === "recv" ? Request.OP_RECV : Request.OP_SEND,
          fd: fdOf(pair, kind),
          length,
          flags: exact ? Request.FLAG_EXACT : 0,
          deadline: kernel.now() + deadline * MS,
        }),
      )
      for (const r of requests) Loop.submit(model, r)
      SimKernel.at(kernel, kernel.now() + 2000 * MS, () => Loop.close(model))
      expect(SimKernel.run(kernel, model).exited).toBe(true)
      const modelEnds = requests.map((r) => [Request.OUTCOME_NAMES[r.outcome], r.result])

      // The kernel: the same requests on two TCP pairs through a size-2 Driver (2 waiters, as the model's).
      const { driver, take } = tracedDriver(2, { maxInFlight: 2 })
      const pairs = [await tcpPair(), await tcpPair()]
      try {
        const start = Driver.now()
        const ends = steps.map(([, kind, pair, length, exact, deadline]) =>
          kind === "recv"
            ? ended((cb) =>
                driver.submitRecv(pairs[pair]!.b, new Uint8Array(length), 0, length, exact, start + deadline, cb),
              )
            : ended((cb) => driver.submitSend(pairs[pair]!.a, pattern(length), start + deadline, cb)),
        )
        const realEnds = await Promise.all(ends)
        // The Driver reports no byte count with a timeout: compare results where it reports one.
        const comparable = modelEnds.map(([outcome, result], i) =>
          outcome === "OK" || outcome === "UNEXPECTED_EOF" ? [outcome, result] : [outcome, realEnds[i]![1]],
        )
        expect(realEnds).toEqual(comparable)
        expect(modelEnds.map(([outcome]) => outcome)).toEqual(["TIMEOUT", "TIMEOUT", "OK", "OK", "OK", "TIMEOUT"])
        replay(take())
      } finally {
        await driver.close({ shutdownTimeout: 0 })
        for (const p of pairs) await p.close()
      }
    })
  },
)
