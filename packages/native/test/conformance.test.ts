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
 *    again starts from the bytes the model counted. A completion carries IOU_COMPLETION_CANCEL_LOST
 *    (with the outcome its lost cancel asked for) exactly where the model's `cancelLost` says.
 * 2. Scenario checks. Small scenarios (a size-2 ring with receives whose data comes from sends
 *    queued behind them, with deadlines; the shutdown cutoff's cancels and grace) run through the
 *    model's Loop + SimKernel and through the real Driver, and both must end every request with the
 *    same outcome (and result where the Driver reports one).
 * 3. Every operation row (CASES, one per row of Operations.ts: a row without one fails to compile
 *    and fails the first test of that part): each driven on the real kernel with a success and
 *    kernel errors, and a deadline and a cancel where it can block; its CQEs replayed as in 1, and
 *    what the Driver handed each caller compared with the model's owner rules (Request.delivered):
 *    outcome and result, the fd-producing rule (an fd made after the caller stopped waiting is
 *    closed before its callback runs) and EBADF for a request that closeFd of its fd cancelled.
 */
import { execFileSync, spawnSync } from "node:child_process"
import {
  closeSync,
  constants,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs"
import { constants as osConstants, tmpdir } from "node:os"
import { join } from "node:path"
import { Config, Errno, Loop, type Operations, Request, SimKernel, Sockaddr } from "@iou/core"
import { afterAll, describe, expect, it } from "vitest"
import {
  binding,
  IOU_COMPLETION_CANCEL_LOST,
  IOU_COMPLETION_CANCEL_OUTCOME_MASK,
  IOU_COMPLETION_CANCEL_OUTCOME_SHIFT,
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
import type { IoUringError } from "../src/IoUringError.ts"
import { BY_OP, isMultishot, OPERATIONS } from "../src/Operations.ts"
import { SLOT_LIMIT } from "../src/PendingTable.ts"
import { probe } from "../src/index.ts"
import { isOpen, pattern, tcpPair, tempFile, UNDER_TEST } from "./helpers.ts"

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
      // IOU_COMPLETION_CANCEL_LOST, with the outcome the lost cancel asked for, exactly where the model says.
      const lost = Request.cancelLost(r, cancelOutcome!)
      expect((e.completionFlags & IOU_COMPLETION_CANCEL_LOST) !== 0, `${where}: cancel lost`).toBe(lost)
      if (lost)
        expect(
          (e.completionFlags & IOU_COMPLETION_CANCEL_OUTCOME_MASK) >> IOU_COMPLETION_CANCEL_OUTCOME_SHIFT,
          where,
        ).toBe(cancelOutcome)
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

afterAll(() => {
  // The counts of this run (both parts), for the record (and the report).
  if (supported) console.log(`conformance: ${JSON.stringify(tally)}`)
})

describe.skipIf(!supported)(
  `conformance of the C loop with @iou/core${supported ? "" : ` (skipped: ${reason})`}`,
  () => {
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
        // Each piece is taken and the rest requeued before the next is sent: waited for, not timed
        // (some kernels announce a socket's readiness to the eventfd wake late:
        // packages/native/README.md, "Inline wake modes").
        const pieces = ["abcd", "efgh", "ijkl"]
        for (const [i, piece] of pieces.entries()) {
          const requeued = driver.stats().requeued
          await sender.send(p.a, Buffer.from(piece))
          for (let wait = 0; i < pieces.length - 1 && wait < 500 && driver.stats().requeued === requeued; wait++) {
            await sleep(10)
          }
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
        const before = driver.stats().submitted
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
        // The caller's cancel is to reach the recv in the loop (a cancel in the kernel), not in the
        // inbound queue: wait until the loop took all six (a loaded machine may take a while).
        while (driver.stats().submitted < before + 6) await sleep(1)
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
        // The sync completes before the close, as in the model (where it takes 50 µs): a loaded
        // machine's fsync can outlast the 20 ms cutoff.
        await ends[2]
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
        ["r4", "recv", 1, 8, true, 400],
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
        // A timeout's result is the bytes moved before it (the error's `bytes`): r4's exact receive
        // of 8 got s2's 6 first.
        expect(realEnds).toEqual(modelEnds)
        expect(modelEnds).toEqual([
          ["TIMEOUT", 0],
          ["TIMEOUT", 0],
          ["OK", 5],
          ["OK", 6],
          ["OK", 5],
          ["TIMEOUT", 6],
        ])
        replay(take())
      } finally {
        await driver.close({ shutdownTimeout: 0 })
        for (const p of pairs) await p.close()
      }
    })
  },
)

// ---- 3. Every operation row on the real kernel --------------------------------------------------
//
// Each row of Operations.ts has a case below (CASES, typed by the table's keys, and checked at run
// time): it drives the operation through the Driver's callback API on a traced loop, with a success
// and at least one kernel error, and for the operations that can block (open of a FIFO, connect to a
// full backlog, accept, a read of an empty FIFO) a deadline and a caller's cancel. Every CQE is
// replayed as above; then every request is followed to what the Driver handed its caller, and the
// model's owner rules (Request.delivered) must say the same: the outcome and result, that an fd made
// after the caller stopped waiting is closed before the callback runs (the fd-producing rule), and
// that a request cancelled by closeFd of its fd ends with EBADF.

type OutcomeName = (typeof Request.OUTCOME_NAMES)[number]

/** What the Driver delivered. */
interface Got {
  readonly outcome: OutcomeName
  /** The value (an fd, a count; 0 for an object), -errno with ERROR, the bytes done otherwise. */
  readonly result: number
  /** The error's `bytes` (undefined for a success). */
  readonly bytes: number | undefined
  /** A failed fd-producing request whose kernel op made an fd: that fd was open when the callback ran. */
  readonly madeFdOpen: boolean | undefined
}

const OUTCOME_OF_REASON: Record<string, OutcomeName> = {
  Timeout: "TIMEOUT",
  Cancelled: "CANCELLED",
  Abandoned: "ABANDONED",
  UnexpectedEof: "UNEXPECTED_EOF",
  SystemError: "ERROR",
}

/** One request of a case, followed from its call to its callback. */
interface Tracked {
  readonly name: string
  readonly op: number
  handle: number | undefined
  /** It had a deadline (a request ended without a CQE then timed out before the kernel). */
  readonly deadline: boolean
  /** What the owner knows and the loop does not (Request.Owner). */
  readonly owner: { cancelled: boolean; fdClosing: boolean }
  readonly got: Promise<Got>
  /** The caller's cancel (an abort): counted for the owner only if it started a cancellation. */
  cancel(): void
}

/** Per op: the outcomes the model delivered for requests that reached the kernel, plus "closesFd". */
const coverage = new Map<number, Set<string>>()

/** A child that connects to 127.0.0.1:port and lets go at once; the JS thread waits for it. */
const connectFromChild = (port: number): void => {
  const script = `const s = require("node:net").connect(${port}, "127.0.0.1", () => s.destroy())`
  const r = spawnSync(process.execPath, ["-e", script], { stdio: "ignore", timeout: 10_000 })
  expect(r.status).toBe(0)
}

/**
 * Waits until a thread of this process (an io_uring worker) sleeps in the kernel function `fn`
 * (/proc/self/task/<tid>/wchan), at most 5 s. Where the kernel names no wait channels at all, it
 * waits a moment instead.
 */
const blockedIn = async (fn: string): Promise<void> => {
  let named = false
  for (let i = 0; i < 500; i++) {
    for (const task of readdirSync("/proc/self/task")) {
      let wchan = "0"
      try {
        wchan = readFileSync(`/proc/self/task/${task}/wchan`, "utf8")
      } catch {
        // The thread exited meanwhile.
      }
      if (wchan === fn) return
      if (wchan !== "0" && wchan !== "") named = true
    }
    if (!named && i >= 10) return
    await sleep(10)
  }
  throw new Error(`no thread of this process waits in ${fn}`)
}

const loopback = (port: number): Uint8Array => Sockaddr.encodeIp(Sockaddr.parseIp("127.0.0.1")!, port)

const AF_INET = 2
const SOCK_STREAM = 1
const SOCK_DGRAM = 2

/** A traced Driver, the requests of one case, their trace, and what they leave behind. */
class Scenario {
  readonly driver: Driver
  readonly events: Array<TraceEvent> = []
  readonly tracked: Array<Tracked> = []
  readonly dir = mkdtempSync(join(tmpdir(), "iou-conformance-ops-"))
  private readonly takeTrace: () => Array<TraceEvent>
  private readonly fds = new Set<number>()
  private closed = false

  /** `size`: the ring's size and its waiter capacity (maxInFlight). */
  constructor(size = 16) {
    const { driver, take } = tracedDriver(size, { maxInFlight: size })
    this.driver = driver
    this.takeTrace = take
  }

  /** The events so far: the trace is moved into `events` as it comes. */
  pull(): ReadonlyArray<TraceEvent> {
    for (const e of this.takeTrace()) this.events.push(e)
    return this.events
  }

  path(name: string): string {
    return join(this.dir, name)
  }

  /** An fd the case owns, closed at the end. */
  own(fd: number): number {
    this.fds.add(fd)
    return fd
  }

  /** Calls `submit` with a callback and follows the request; `submit` returns its handle (closeFd: none). */
  track(
    name: string,
    op: number,
    submit: (callback: (error: Error | null, value?: unknown) => void) => number | void,
    deadline = false,
  ): Tracked {
    let resolve!: (got: Got) => void
    const got = new Promise<Got>((done) => (resolve = done))
    const producesFd = BY_OP[op]!.producesFd && !isMultishot(op)
    const t: Tracked = {
      name,
      op,
      handle: undefined,
      deadline,
      owner: { cancelled: false, fdClosing: false },
      got,
      cancel: () => {
        if (this.driver.cancel(t.handle!)) t.owner.cancelled = true
      },
    }
    const handle = submit((error, value) => {
      if (error === null) {
        const result = typeof value === "number" ? value : 0
        if (producesFd) this.own(result)
        resolve({ outcome: "OK", result, bytes: undefined, madeFdOpen: undefined })
        return
      }
      const e = error as IoUringError
      const outcome = OUTCOME_OF_REASON[e.reason]
      expect(outcome, `${name}: ${e.message}`).toBeDefined()
      const result = outcome === "ERROR" ? e.errno! : ((e as { bytes?: number }).bytes ?? 0)
      let madeFdOpen: boolean | undefined
      if (producesFd) {
        const final = this.finalEvent(t)
        if (final !== undefined && final.res >= 0) madeFdOpen = isOpen(final.res)
      }
      resolve({ outcome: outcome!, result, bytes: e.bytes, madeFdOpen })
    })
    t.handle = typeof handle === "number" ? handle : undefined
    this.tracked.push(t)
    return t
  }

  /** The CQE that ended `t` in the loop (IOU_TRACE_COMPLETE), if one did. */
  finalEvent(t: Tracked): TraceEvent | undefined {
    const events = this.pull()
    if (t.handle === undefined) {
      // closeFd has no handle: the cases close one fd at a time, so the i-th close that reached
      // the kernel is the i-th traced close.
      const closes = this.tracked.filter((x) => x.handle === undefined && x.op === t.op)
      const ends = events.filter((e) => e.op === t.op && !e.more && e.decision === IOU_TRACE_COMPLETE)
      return ends[closes.indexOf(t)]
    }
    const slot = t.handle % SLOT_LIMIT
    const generation = Math.floor(t.handle / SLOT_LIMIT)
    for (let i = events.length - 1; i >= 0; i--) {
      const e = events[i]!
      if (e.slot === slot && e.generation === generation && !e.more && e.decision === IOU_TRACE_COMPLETE) return e
    }
    return undefined
  }

  /** Waits for every tracked request, replays the trace, and compares each delivery with the model's. */
  async check(): Promise<void> {
    const gots = await Promise.all(this.tracked.map((t) => t.got))
    replay(this.pull())
    this.tracked.forEach((t, i) => {
      const got = gots[i]!
      const where = `${t.name} (delivered ${JSON.stringify(got)})`
      const final = this.finalEvent(t)
      let r: Request.Request
      let cancelOutcome: number
      if (final === undefined) {
        // Ended before the kernel: the caller's cancel or closeFd while queued, or a due deadline.
        expect(t.owner.cancelled || t.owner.fdClosing || t.deadline, `${where}: ended without a CQE`).toBe(true)
        r = Request.make({ op: t.op })
        cancelOutcome = t.owner.cancelled || t.owner.fdClosing ? Request.OUTCOME_CANCELLED : Request.OUTCOME_TIMEOUT
        Request.end(r, cancelOutcome)
      } else {
        expect(final.op, where).toBe(t.op)
        r = Request.make({ op: final.op, flags: final.flags, length: final.total })
        r.done = final.done
        cancelOutcome = CANCEL_OUTCOME[final.cancel]!
        expect(Request.onCqe(r, cancelOutcome, final.poll && final.res >= 0 ? -Errno.EAGAIN : final.res), where).toBe(
          true,
        )
      }
      const d = Request.delivered(r, cancelOutcome, t.owner)
      expect([Request.OUTCOME_NAMES[d.outcome], d.result, d.bytes], where).toEqual([got.outcome, got.result, got.bytes])
      // The fd-producing rule: an fd made for a caller who stopped waiting is closed, before its callback.
      expect(got.madeFdOpen, `${where}: the fd nobody wants`).toBe(d.closesFd >= 0 ? false : undefined)
      if (final === undefined) return
      const seen = coverage.get(t.op) ?? new Set<string>()
      seen.add(Request.OUTCOME_NAMES[d.outcome]!)
      if (d.closesFd >= 0) seen.add("closesFd")
      if (t.owner.fdClosing) seen.add("fdClosing")
      coverage.set(t.op, seen)
    })
  }

  async close(): Promise<void> {
    if (!this.closed) await this.driver.close({ shutdownTimeout: 0 })
    this.closed = true
    for (const fd of this.fds) if (isOpen(fd)) closeSync(fd)
    rmSync(this.dir, { recursive: true, force: true })
  }

  /** Closes the Driver now (its shutdown cutoff at once), for a case about the cutoff. */
  async shutdown(): Promise<void> {
    this.closed = true
    await this.driver.close({ shutdownTimeout: 0 })
  }

  // Set-up steps, untracked (their CQEs are still replayed).

  socket(type = SOCK_STREAM): Promise<number> {
    return new Promise((done, fail) =>
      this.driver.submitSocket(AF_INET, type, 0, 0, (e, fd) => (e ? fail(e) : done(this.own(fd)))),
    )
  }

  async listener(backlog?: number): Promise<{ fd: number; port: number }> {
    const l = await this.driver.listen({ host: "127.0.0.1", port: 0, ...(backlog === undefined ? {} : { backlog }) })
    return { fd: this.own(l.fd), port: (l.localAddress as { port: number }).port }
  }

  async connect(port: number): Promise<number> {
    return this.own((await this.driver.connect({ host: "127.0.0.1", port })).fd)
  }

  fifo(name = "fifo"): string {
    const path = this.path(name)
    execFileSync("mkfifo", [path])
    return path
  }

  file(name: string, content: string | Uint8Array = ""): string {
    const path = this.path(name)
    writeFileSync(path, content)
    return path
  }
}

const NO_FD = 1_000_000
const OP = Request

interface Case {
  /** The outcomes (and "closesFd", "fdClosing") the model must have delivered for requests that reached the kernel. */
  readonly requires: ReadonlyArray<string>
  /** The ring's size (and waiter capacity), 16 unless given. */
  readonly size?: number
  readonly run: (s: Scenario) => Promise<void>
}

/** One case per row of the operation table: a row without one fails to compile, and the check below. */
const CASES: { readonly [M in Operations.Method]: Case } = {
  nop: {
    requires: ["OK"],
    run: async (s) => {
      s.track("nop", OP.OP_NOP, (cb) => s.driver.submitNop(0, cb))
      s.track("nop with a deadline", OP.OP_NOP, (cb) => s.driver.submitNop(Driver.now() + 10_000, cb), true)
    },
  },
  readAt: {
    requires: ["OK", "ERROR", "UNEXPECTED_EOF", "TIMEOUT", "CANCELLED"],
    run: async (s) => {
      const fd = s.own(openSync(s.file("ten", pattern(10)), "r"))
      const d = s.driver
      const bufs = (...sizes: Array<number>) => sizes.map((n) => new Uint8Array(n))
      s.track("vectored readAt", OP.OP_READ_AT, (cb) => d.submitReadAt(fd, bufs(4, 4), 0, 8, false, 0, cb))
      s.track("vectored readAt past the end", OP.OP_READ_AT, (cb) =>
        d.submitReadAt(fd, bufs(8, 8), 0, 16, false, 0, cb),
      )
      s.track("exact vectored readAt past the end", OP.OP_READ_AT, (cb) =>
        d.submitReadAt(fd, bufs(8, 8), 0, 16, true, 0, cb),
      )
      s.track("readAt of no fd", OP.OP_READ_AT, (cb) => d.submitReadAt(NO_FD, bufs(4, 4), 0, 8, false, 0, cb))
      // An empty FIFO (opened read-write: the open does not wait for a writer) blocks a read.
      const fifo = s.own(openSync(s.fifo(), "r+"))
      s.track(
        "vectored readAt of an empty FIFO past its deadline",
        OP.OP_READ_AT,
        (cb) => d.submitReadAt(fifo, bufs(4, 4), 0, 8, false, Driver.now() + 100, cb),
        true,
      )
      const cancelled = s.track("vectored readAt of an empty FIFO, cancelled", OP.OP_READ_AT, (cb) =>
        d.submitReadAt(fifo, bufs(4, 4), 0, 8, false, 0, cb),
      )
      // A FIFO read that got 3 of its 8 bytes, then its deadline: TIMEOUT with the 3 (the error's bytes).
      const fed = s.own(openSync(s.fifo("fed"), "r+"))
      s.track(
        "vectored readAt of a FIFO that got 3 bytes, past its deadline",
        OP.OP_READ_AT,
        (cb) => d.submitReadAt(fed, bufs(2, 6), 0, 8, false, Driver.now() + 200, cb),
        true,
      )
      writeSync(fed, pattern(3))
      await sleep(20)
      cancelled.cancel()
    },
  },
  writeAt: {
    requires: ["OK", "ERROR"],
    run: async (s) => {
      const fd = s.own(openSync(s.file("w"), "r+"))
      const ro = s.own(openSync(s.file("ro"), "r"))
      s.track("writeAt", OP.OP_WRITE_AT, (cb) => s.driver.submitWriteAt(fd, [pattern(5), pattern(7)], 0, 0, cb))
      s.track("writeAt of a read-only fd", OP.OP_WRITE_AT, (cb) => s.driver.submitWriteAt(ro, pattern(5), 0, 0, cb))
    },
  },
  send: {
    requires: ["OK", "ERROR"],
    run: async (s) => {
      const p = await tcpPair()
      s.own(p.a)
      s.own(p.b)
      const file = s.own(openSync(s.file("f"), "r+"))
      s.track("send", OP.OP_SEND, (cb) => s.driver.submitSend(p.a, pattern(100), 0, cb))
      s.track("send on a file", OP.OP_SEND, (cb) => s.driver.submitSend(file, pattern(100), 0, cb))
    },
  },
  recv: {
    requires: ["OK", "ERROR", "TIMEOUT"],
    run: async (s) => {
      const p = await tcpPair()
      s.own(p.a)
      s.own(p.b)
      const file = s.own(openSync(s.file("f"), "r+"))
      const d = s.driver
      s.track("recv", OP.OP_RECV, (cb) => d.submitRecv(p.b, new Uint8Array(8), 0, 8, false, 0, cb))
      await d.send(p.a, Buffer.from("abc"))
      s.track("recv on a file", OP.OP_RECV, (cb) => d.submitRecv(file, new Uint8Array(8), 0, 8, false, 0, cb))
      s.track(
        "recv past its deadline",
        OP.OP_RECV,
        (cb) => d.submitRecv(p.a, new Uint8Array(8), 0, 8, false, Driver.now() + 100, cb),
        true,
      )
      // An exact recv that got 3 of its 8 bytes before the peer reset: ERROR with bytes 3.
      const q = await tcpPair()
      s.own(q.b)
      const requeued = d.stats().requeued
      const reset = s.track("exact recv that got 3 bytes before a reset", OP.OP_RECV, (cb) =>
        d.submitRecv(q.b, new Uint8Array(8), 0, 8, true, 0, cb),
      )
      await d.send(q.b, Buffer.from("?")) // unread by q.a: its close is then a reset
      await d.send(q.a, Buffer.from("abc"))
      for (let i = 0; i < 500 && d.stats().requeued === requeued; i++) await sleep(2)
      closeSync(q.a)
      // Linux hands over the queued bytes before the reset, whether the loop took them first or not.
      expect(await reset.got).toMatchObject({ outcome: "ERROR", result: -osConstants.errno.ECONNRESET, bytes: 3 })
    },
  },
  sync: {
    requires: ["OK", "ERROR"],
    run: async (s) => {
      const fd = s.own(openSync(s.file("f", "x"), "r+"))
      s.track("sync", OP.OP_SYNC, (cb) => s.driver.submitSync(fd, true, 0, cb))
      s.track("sync of no fd", OP.OP_SYNC, (cb) => s.driver.submitSync(NO_FD, false, 0, cb))
    },
  },
  socket: {
    requires: ["OK", "ERROR"],
    run: async (s) => {
      s.track("socket", OP.OP_SOCKET, (cb) => s.driver.submitSocket(AF_INET, SOCK_STREAM, 0, 0, cb))
      // A stream socket of the UDP protocol: EPROTONOSUPPORT from the kernel.
      s.track("socket of a bad protocol", OP.OP_SOCKET, (cb) => s.driver.submitSocket(AF_INET, SOCK_STREAM, 17, 0, cb))
    },
  },
  bind: {
    requires: ["OK", "ERROR"],
    run: async (s) => {
      const listener = await s.listener()
      const a = await s.socket()
      const b = await s.socket()
      s.track("bind", OP.OP_BIND, (cb) => s.driver.submitBind(a, loopback(0), 0, cb))
      s.track("bind to a port in use", OP.OP_BIND, (cb) => s.driver.submitBind(b, loopback(listener.port), 0, cb))
    },
  },
  listen: {
    requires: ["OK", "ERROR"],
    run: async (s) => {
      const tcp = await s.socket()
      const udp = await s.socket(SOCK_DGRAM)
      s.track("listen", OP.OP_LISTEN, (cb) => s.driver.submitListen(tcp, 16, 0, cb))
      s.track("listen on a datagram socket", OP.OP_LISTEN, (cb) => s.driver.submitListen(udp, 16, 0, cb))
    },
  },
  connect: {
    requires: ["OK", "ERROR", "TIMEOUT", "CANCELLED"],
    run: async (s) => {
      const d = s.driver
      const open = await s.listener()
      const gone = await s.listener()
      await d.closeFd(gone.fd)
      const a = await s.socket()
      s.track("connect", OP.OP_CONNECT, (cb) => d.submitConnect(a, loopback(open.port), 0, cb))
      const refused = await s.socket()
      s.track("connect to a closed port", OP.OP_CONNECT, (cb) => d.submitConnect(refused, loopback(gone.port), 0, cb))
      // Backlog 0: one connection fills the accept queue, and the kernel drops the next SYNs.
      const full = await s.listener(0)
      await s.connect(full.port)
      const timed = await s.socket()
      s.track(
        "connect to a full backlog past its deadline",
        OP.OP_CONNECT,
        (cb) => d.submitConnect(timed, loopback(full.port), Driver.now() + 100, cb),
        true,
      )
      const aborted = await s.socket()
      const cancelled = s.track("connect to a full backlog, cancelled", OP.OP_CONNECT, (cb) =>
        d.submitConnect(aborted, loopback(full.port), 0, cb),
      )
      await sleep(20)
      cancelled.cancel()
    },
  },
  accept: {
    requires: ["OK", "ERROR", "TIMEOUT", "CANCELLED", "ABANDONED", "closesFd", "fdClosing"],
    run: async (s) => {
      const d = s.driver
      const l = await s.listener()
      s.track("accept", OP.OP_ACCEPT, (cb) => d.submitAccept(l.fd, 0, cb))
      await s.connect(l.port)
      const notListening = await s.socket()
      s.track("accept on a socket that does not listen", OP.OP_ACCEPT, (cb) => d.submitAccept(notListening, 0, cb))
      const timed = s.track(
        "accept past its deadline",
        OP.OP_ACCEPT,
        (cb) => d.submitAccept(l.fd, Driver.now() + 100, cb),
        true,
      )
      const cancelled = s.track("accept, cancelled", OP.OP_ACCEPT, (cb) => d.submitAccept(l.fd, 0, cb))
      await sleep(30)
      cancelled.cancel()
      await Promise.all([timed.got, cancelled.got])
      // The fd-producing rule: the connection arrives while this thread waits for the child, and
      // the cancel follows before the Driver delivered the accept (the kernel made the fd: success
      // won the race, or the Driver took the caller's cancel first). The fd is closed, never handed out.
      const raced = s.track("accept whose caller cancelled after the kernel made the fd", OP.OP_ACCEPT, (cb) =>
        d.submitAccept(l.fd, 0, cb),
      )
      await sleep(20)
      connectFromChild(l.port)
      raced.cancel()
      await raced.got
      // closeFd of the listener after a connection arrived: the accept it cancels ends with EBADF,
      // and the fd the kernel made for it is closed.
      const l2 = await s.listener()
      const closing = s.track("accept on a listener closeFd closes", OP.OP_ACCEPT, (cb) => d.submitAccept(l2.fd, 0, cb))
      await sleep(20)
      connectFromChild(l2.port)
      closing.owner.fdClosing = true
      s.track("closeFd of the listener", OP.OP_CLOSE, (cb) => d.submitCloseFd(l2.fd, cb))
      await closing.got
      // The shutdown cutoff: an accept nobody connects to ends ABANDONED; one whose connection
      // arrived while this thread waited ends as the loop found it (success reaped before the
      // cutoff, or, had the cutoff's cancel lost, ABANDONED with its fd closed).
      const l3 = await s.listener()
      const l4 = await s.listener()
      s.track(
        "accept at the shutdown cutoff",
        OP.OP_ACCEPT,
        (cb) => d.submitAccept(l3.fd, Driver.now() + 60_000, cb),
        true,
      )
      s.track("accept connected at the shutdown cutoff", OP.OP_ACCEPT, (cb) => d.submitAccept(l4.fd, 0, cb))
      await sleep(20)
      connectFromChild(l4.port)
      await s.shutdown()
    },
  },
  shutdownSocket: {
    requires: ["OK", "ERROR"],
    run: async (s) => {
      const p = await tcpPair()
      s.own(p.a)
      s.own(p.b)
      const lone = await s.socket()
      s.track("shutdown", OP.OP_SHUTDOWN, (cb) => s.driver.submitShutdown(p.a, "write", 0, cb))
      s.track("shutdown of an unconnected socket", OP.OP_SHUTDOWN, (cb) => s.driver.submitShutdown(lone, "both", 0, cb))
    },
  },
  open: {
    requires: ["OK", "ERROR", "TIMEOUT", "CANCELLED", "closesFd"],
    run: async (s) => {
      const d = s.driver
      const file = s.file("f", "x")
      s.track("open", OP.OP_OPEN, (cb) => d.submitOpen(file, "r", 0o666, 0, cb))
      s.track("open of a missing file", OP.OP_OPEN, (cb) => d.submitOpen(s.path("missing"), "r", 0o666, 0, cb))
      s.track("exclusive open of a file that exists", OP.OP_OPEN, (cb) => d.submitOpen(file, "wx", 0o666, 0, cb))
      s.track("open of a directory for writing", OP.OP_OPEN, (cb) => d.submitOpen(s.dir, "w", 0o666, 0, cb))
      // A FIFO's open for writing (O_CREAT: io_uring hands it to a worker at once; its first,
      // non-blocking try would open a reader without waiting) waits for a reader that never comes.
      const fifo = s.fifo()
      const timed = s.track(
        "open of a FIFO past its deadline",
        OP.OP_OPEN,
        (cb) => d.submitOpen(fifo, "w", 0, Driver.now() + 100, cb),
        true,
      )
      const cancelled = s.track("open of a FIFO, cancelled", OP.OP_OPEN, (cb) => d.submitOpen(fifo, "w", 0, 0, cb))
      await blockedIn("wait_for_partner")
      cancelled.cancel()
      await Promise.all([timed.got, cancelled.got])
      // The fd-producing rule: once the open waits in the kernel a reader comes, this thread waits
      // while the kernel completes the open (with the reader there, its wait ends in success even
      // if the cancel reaches it first), then the caller cancels: the fd the kernel made is closed,
      // never handed out.
      const raced = s.track("open of a FIFO whose caller cancelled after the kernel made the fd", OP.OP_OPEN, (cb) =>
        d.submitOpen(fifo, "w", 0, 0, cb),
      )
      await blockedIn("wait_for_partner")
      s.own(openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK))
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20)
      raced.cancel()
    },
  },
  closeFd: {
    requires: ["OK", "ERROR"],
    size: 1,
    run: async (s) => {
      const d = s.driver
      const fd = openSync(s.file("f"), "r")
      await new Promise((done) =>
        s.track("closeFd", OP.OP_CLOSE, (cb) => d.submitCloseFd(fd, (e, v) => done(cb(e, v)))),
      )
      await new Promise((done) =>
        s.track("closeFd of no fd", OP.OP_CLOSE, (cb) => d.submitCloseFd(NO_FD, (e, v) => done(cb(e, v)))),
      )
      // Reads of a FIFO whose fd closeFd closes, each cancelled first and ended with EBADF: one
      // blocked in the kernel, one in the loop's inbound queue, the rest in the Driver's
      // backpressure queue (a size-1 ring: one waiter, one inbound entry).
      const fifo = openSync(s.fifo(), "r+")
      const reads = ["in the kernel", "in the inbound queue", "in the backpressure queue", "in it too"].map((where) =>
        s.track(`readAt of an fd closeFd closes, ${where}`, OP.OP_READ_AT, (cb) =>
          d.submitReadAt(fifo, new Uint8Array(4), 0, 4, false, 0, cb),
        ),
      )
      await sleep(20)
      for (const read of reads) read.owner.fdClosing = true
      s.track("closeFd of an fd with a pending read", OP.OP_CLOSE, (cb) => d.submitCloseFd(fifo, cb))
      // A request on the fd while it closes is refused before the kernel, with EBADF too.
      const refused = s.track("readAt of an fd while closeFd closes it", OP.OP_READ_AT, (cb) =>
        d.submitReadAt(fifo, new Uint8Array(4), 0, 4, false, 0, cb),
      )
      refused.owner.fdClosing = true
      await Promise.all(reads.map((read) => read.got))
      // The first reached the kernel, those in the backpressure queue never did (the one in the
      // inbound queue may be admitted before its cancel is, on the thread engine).
      const reached = reads.map((read) => s.finalEvent(read) !== undefined)
      expect([reached[0], reached[2], reached[3]]).toEqual([true, false, false])
    },
  },
  stat: {
    requires: ["OK", "ERROR"],
    run: async (s) => {
      const d = s.driver
      const file = s.file("f", "abc")
      const fd = s.own(openSync(file, "r"))
      s.track("stat by path", OP.OP_STAT, (cb) => d.submitStat(file, true, 0, cb))
      s.track("stat by fd", OP.OP_STAT, (cb) => d.submitStat(fd, true, 0, cb))
      s.track("stat of a missing path", OP.OP_STAT, (cb) => d.submitStat(s.path("missing"), true, 0, cb))
      s.track("stat through a file", OP.OP_STAT, (cb) => d.submitStat(join(file, "x"), true, 0, cb))
    },
  },
  truncate: {
    requires: ["OK", "ERROR"],
    run: async (s) => {
      const fd = s.own(openSync(s.file("f", "abcdef"), "r+"))
      const ro = s.own(openSync(s.file("ro", "abc"), "r"))
      s.track("truncate", OP.OP_TRUNCATE, (cb) => s.driver.submitTruncate(fd, 2, 0, cb))
      s.track("truncate of a read-only fd", OP.OP_TRUNCATE, (cb) => s.driver.submitTruncate(ro, 1, 0, cb))
    },
  },
  allocate: {
    requires: ["OK", "ERROR"],
    run: async (s) => {
      const fd = s.own(openSync(s.file("f"), "r+"))
      const fifo = s.own(openSync(s.fifo(), "r+"))
      s.track("allocate", OP.OP_ALLOCATE, (cb) => s.driver.submitAllocate(fd, 0, 8192, false, false, 0, cb))
      s.track("allocate on a FIFO", OP.OP_ALLOCATE, (cb) => s.driver.submitAllocate(fifo, 0, 8192, false, false, 0, cb))
    },
  },
  unlink: {
    requires: ["OK", "ERROR"],
    run: async (s) => {
      const d = s.driver
      const file = s.file("f")
      const dir = s.path("d")
      mkdirSync(dir)
      s.track("unlink", OP.OP_UNLINK, (cb) => d.submitUnlink(file, false, 0, cb))
      s.track("unlink of a directory (rmdir)", OP.OP_UNLINK, (cb) => d.submitUnlink(dir, true, 0, cb))
      s.track("unlink of a missing path", OP.OP_UNLINK, (cb) => d.submitUnlink(s.path("missing"), false, 0, cb))
      s.track("unlink of a directory as a file", OP.OP_UNLINK, (cb) => d.submitUnlink(s.dir, false, 0, cb))
    },
  },
  rename: {
    requires: ["OK", "ERROR"],
    run: async (s) => {
      const d = s.driver
      const a = s.file("a")
      const b = s.file("b")
      s.track("rename", OP.OP_RENAME, (cb) => d.submitRename(a, s.path("c"), false, 0, cb))
      s.track("rename of a missing path", OP.OP_RENAME, (cb) =>
        d.submitRename(s.path("missing"), s.path("x"), false, 0, cb),
      )
      s.track("rename onto a name that exists, noReplace", OP.OP_RENAME, (cb) => d.submitRename(b, s.dir, true, 0, cb))
    },
  },
  mkdir: {
    requires: ["OK", "ERROR"],
    run: async (s) => {
      const d = s.driver
      s.track("mkdir", OP.OP_MKDIR, (cb) => d.submitMkdir(s.path("d"), 0o755, 0, cb))
      s.track("mkdir of a name that exists", OP.OP_MKDIR, (cb) => d.submitMkdir(s.dir, 0o755, 0, cb))
      s.track("mkdir under a missing parent", OP.OP_MKDIR, (cb) => d.submitMkdir(s.path("no/d"), 0o755, 0, cb))
    },
  },
  symlink: {
    requires: ["OK", "ERROR"],
    run: async (s) => {
      const d = s.driver
      s.track("symlink", OP.OP_SYMLINK, (cb) => d.submitSymlink("anywhere", s.path("l"), 0, cb))
      s.track("symlink onto a name that exists", OP.OP_SYMLINK, (cb) => d.submitSymlink("anywhere", s.dir, 0, cb))
    },
  },
  link: {
    requires: ["OK", "ERROR"],
    run: async (s) => {
      const d = s.driver
      const file = s.file("f")
      s.track("link", OP.OP_LINK, (cb) => d.submitLink(file, s.path("g"), 0, cb))
      s.track("link onto a name that exists", OP.OP_LINK, (cb) => d.submitLink(file, s.dir, 0, cb))
      s.track("link of a missing path", OP.OP_LINK, (cb) => d.submitLink(s.path("missing"), s.path("h"), 0, cb))
    },
  },
  recvMany: {
    requires: ["OK", "ERROR", "CANCELLED"],
    run: async (s) => {
      const p = await tcpPair()
      const q = await tcpPair()
      for (const fd of [p.a, p.b, q.a, q.b]) s.own(fd)
      const file = s.own(openSync(s.file("f"), "r+"))
      const d = s.driver
      const none = (): void => {}
      s.track("recvMany to end of stream", OP.OP_RECV_MANY, (cb) => d.submitRecvMany(p.b, 0, none, cb))
      await d.send(p.a, Buffer.from("abc"))
      p.closeA()
      s.track("recvMany on a file", OP.OP_RECV_MANY, (cb) => d.submitRecvMany(file, 0, none, cb))
      const cancelled = s.track("recvMany, cancelled", OP.OP_RECV_MANY, (cb) => d.submitRecvMany(q.b, 0, none, cb))
      await sleep(20)
      cancelled.cancel()
    },
  },
  acceptMany: {
    requires: ["ERROR", "CANCELLED"],
    run: async (s) => {
      const d = s.driver
      const l = await s.listener()
      const notListening = await s.socket()
      const accepted: Array<number> = []
      const many = s.track("acceptMany, cancelled", OP.OP_ACCEPT_MANY, (cb) =>
        d.submitAcceptMany(l.fd, 0, (c) => accepted.push(s.own(c.fd)), cb),
      )
      await s.connect(l.port)
      await s.connect(l.port)
      while (accepted.length < 2) await sleep(5)
      many.cancel()
      s.track("acceptMany on a socket that does not listen", OP.OP_ACCEPT_MANY, (cb) =>
        d.submitAcceptMany(notListening, 0, () => {}, cb),
      )
    },
  },
}

describe.skipIf(!supported)(
  `every operation row replayed through @iou/core${supported ? "" : ` (skipped: ${reason})`}`,
  () => {
    it("every row of the operation table has a replay case", () => {
      expect(Object.keys(CASES).sort()).toEqual(Object.keys(OPERATIONS).sort())
    })

    for (const [method, c] of Object.entries(CASES) as Array<[Operations.Method, Case]>) {
      it(`${method}: every CQE and every delivery as the model decides (${c.requires.join(", ")})`, async () => {
        const s = new Scenario(c.size)
        try {
          await c.run(s)
          await s.check()
          const op = OPERATIONS[method].op
          expect([method, [...(coverage.get(op) ?? [])].sort()]).toEqual([
            method,
            expect.arrayContaining([...c.requires]),
          ])
        } finally {
          await s.close()
        }
      })
    }
  },
)
