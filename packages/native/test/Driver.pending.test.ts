/**
 * The Driver's pure TypeScript parts (pending table, backpressure queue, stale handles, local
 * cancellation, shutdown of the backpressure queue) against a simulated native loop whose inbound queue and completions the
 * test drives by hand. No kernel involved.
 */
import { closeSync, openSync } from "node:fs"
import { constants } from "node:os"
import { Config } from "@iou/core"
import { describe, expect, it, vi } from "vitest"
import {
  IOU_COMPLETION_CANCEL_LOST,
  IOU_COMPLETION_CANCEL_OUTCOME_SHIFT,
  IOU_COMPLETION_FD,
  IOU_COMPLETION_KERNEL_HELD,
  IOU_FLAG_DATA_ONLY,
  IOU_FLAG_EXACT,
  IOU_OUTCOME_ABANDONED,
  IOU_OUTCOME_CANCELLED,
  IOU_OUTCOME_OK,
  IOU_OUTCOME_TIMEOUT,
  type NativeLoop,
  type NativeStats,
  type TraceEvent,
  wireLayout,
} from "../src/binding.ts"
import { CHECK_INTERVAL_MS } from "../src/Credentials.ts"
import { Driver, SLOT_LIMIT } from "../src/Driver.ts"
import { OPERATIONS } from "../src/Operations.ts"
import { RELEASE_WAIT_MS } from "../src/Shutdown.ts"
import { THREAD_PUSHES_BEFORE_BATCHES } from "../src/Submission.ts"
import { isOpen } from "./helpers.ts"

const WIRE = wireLayout()
const IOU_OP_NOP = OPERATIONS.nop.op
const IOU_OP_READ_AT = OPERATIONS.readAt.op

interface Taken {
  readonly slot: number
  readonly generation: number
  readonly op: number
  readonly flags: number
  readonly fd: number
  readonly length: number
  readonly position: number
  readonly deadline: number
  readonly data: unknown
}

/** A native loop simulated in JS: an inbound queue of `size`, completions posted by the test. */
class SimulatedLoop implements NativeLoop {
  readonly inbound: Array<Taken> = []
  readonly cancels: Array<[number, number]> = []
  publishes = 0
  /** Publishes that leave the owner's turn open (iou_loop_publish_early). */
  earlyPublishes = 0
  closedWith: number | undefined
  destroyed = false
  /** destroy() keeps the loop (its thread still leaving the kernel); released() says true from look `releasedAt` on (0: never). */
  keeps = false
  releasedAt = 1
  looks = 0
  private readonly stage: DataView
  private readonly done: DataView

  readonly size: number
  private readonly dispatch: (count: number, final: boolean) => void

  constructor(
    size: number,
    dispatch: (count: number, final: boolean) => void,
    staging: ArrayBuffer,
    completions: ArrayBuffer,
  ) {
    this.size = size
    this.dispatch = dispatch
    this.stage = new DataView(staging)
    this.done = new DataView(completions)
  }
  returnBuffers(): number {
    return 0
  }
  open(): number {
    return 0
  }
  submit(data: unknown, publishEarly?: boolean): number {
    if (this.closedWith !== undefined) return -108
    if (this.inbound.length >= this.size) return 0
    if (publishEarly === true) {
      this.publishes++
      this.earlyPublishes++
    }
    this.take(0, data)
    return 1
  }
  /** submitStaged calls, and what the next staged request of a given op is answered (a refusal). */
  stagedCalls = 0
  refuseStagedOp: number | undefined
  submitStaged(count: number, datas: ReadonlyArray<unknown>): number {
    if (this.closedWith !== undefined) return -108
    this.stagedCalls++
    for (let i = 0; i < count; i++) {
      const full = this.inbound.length >= this.size
      const refused = this.stage.getUint32(i * WIRE.STAGE_BYTES + WIRE.STAGE_OP, true) === this.refuseStagedOp
      this.stage.setInt32(i * WIRE.STAGE_BYTES + WIRE.STAGE_VERDICT, full ? 0 : refused ? -22 : 1, true)
      if (full) return i
      if (!refused) this.take(i, datas[i])
    }
    return count
  }
  /** Staging record `record` into the inbound queue. */
  private take(record: number, data: unknown): void {
    const s = this.stage
    const at = record * WIRE.STAGE_BYTES
    this.inbound.push({
      slot: s.getUint32(at + WIRE.STAGE_SLOT, true),
      generation: s.getUint32(at + WIRE.STAGE_GENERATION, true),
      position:
        s.getUint32(at + WIRE.STAGE_POSITION_LO, true) + s.getUint32(at + WIRE.STAGE_POSITION_HI, true) * 2 ** 32,
      length: s.getUint32(at + WIRE.STAGE_LENGTH, true),
      fd: s.getInt32(at + WIRE.STAGE_FD, true),
      op: s.getUint32(at + WIRE.STAGE_OP, true),
      flags: s.getUint32(at + WIRE.STAGE_FLAGS, true),
      deadline: s.getFloat64(at + WIRE.STAGE_DEADLINE_MS, true),
      data,
    })
  }
  publish(): void {
    this.publishes++
  }
  /** Checks of the process's credentials, and what they answer. */
  credentialsChecks = 0
  credentialsDiffer = false
  /** The closeOnExit calls, in order: [fd, on]. */
  readonly markCalls: Array<[number, boolean]> = []
  closeOnExit(fd: number, on: boolean): number {
    this.markCalls.push([fd, on])
    return 0
  }
  /** As the binding's: close(2) (the marks are not simulated). */
  closeMarked(fd: number): number {
    try {
      closeSync(fd)
      return 0
    } catch (error) {
      return (error as { errno?: number }).errno ?? -constants.errno.EBADF
    }
  }
  /** The fds closeUntaken closed, in order. */
  readonly untaken: Array<number> = []
  /** As the binding's: close(2) of completion i's fd, its flag cleared (the marks are not simulated). */
  closeUntaken(i: number): number {
    const at = i * WIRE.COMPLETION_BYTES
    const flags = this.done.getUint8(at + WIRE.COMPLETION_FLAGS)
    if ((flags & IOU_COMPLETION_FD) === 0) return -constants.errno.EBADF
    this.done.setUint8(at + WIRE.COMPLETION_FLAGS, flags & ~IOU_COMPLETION_FD)
    const fd = this.done.getInt32(at + WIRE.COMPLETION_RESULT, true)
    this.untaken.push(fd)
    return this.closeMarked(fd)
  }
  credentialsChanged(): boolean {
    this.credentialsChecks++
    return this.credentialsDiffer
  }
  cancel(slot: number, generation: number): number {
    this.cancels.push([slot, generation])
    return 0
  }
  close(ms: number): number {
    this.closedWith = ms
    return 0
  }
  destroy(): number {
    this.destroyed = true
    return this.keeps ? 1 : 0
  }
  released(): boolean {
    this.looks++
    return this.releasedAt !== 0 && this.looks >= this.releasedAt
  }
  stats(): NativeStats {
    return {
      submitted: 0,
      completed: 0,
      failed: 0,
      timedOut: 0,
      cancelled: 0,
      requeued: 0,
      sqesStaged: 0,
      enters: 0,
      wakes: 0,
      cqOverflow: 0,
      cqKernelOverflow: 0,
      abandoned: 0,
      pendingOperations: this.inbound.length,
      singleIssuer: true,
    }
  }
  poll(): void {}
  enableTrace(): void {}
  takeTrace(): Array<TraceEvent> {
    return []
  }

  /** Completes the oldest `n` inbound requests (or the given ones) with (result, outcome). */
  complete(
    entries: ReadonlyArray<{ taken: Taken; result: number; outcome: number; flags?: number }>,
    final = false,
  ): void {
    entries.forEach(({ taken, result, outcome, flags }, i) => {
      const at = i * WIRE.COMPLETION_BYTES
      this.done.setUint32(at + WIRE.COMPLETION_SLOT, taken.slot, true)
      this.done.setUint32(at + WIRE.COMPLETION_GENERATION, taken.generation, true)
      this.done.setInt32(at + WIRE.COMPLETION_RESULT, result, true)
      this.done.setUint8(at + WIRE.COMPLETION_OUTCOME, outcome)
      this.done.setUint8(at + WIRE.COMPLETION_FLAGS, flags ?? 0)
      const index = this.inbound.indexOf(taken)
      if (index >= 0) this.inbound.splice(index, 1)
    })
    this.dispatch(entries.length, final)
  }
  completeOldest(n: number, result = 0, outcome = IOU_OUTCOME_OK): void {
    this.complete(this.inbound.slice(0, n).map((taken) => ({ taken, result, outcome })))
  }
}

const open = (size: number): { driver: Driver; loop: SimulatedLoop } => {
  let loop: SimulatedLoop | undefined
  const driver = new Driver(Config.resolve({ size }), (dispatch, staging, completions) => {
    loop = new SimulatedLoop(size, dispatch, staging, completions)
    return loop
  })
  return { driver, loop: loop! }
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

describe("the Driver's pending table and backpressure queue (simulated loop)", () => {
  it("queues requests beyond the inbound queue in a FIFO and pushes them in order as completions free room", async () => {
    const { driver, loop } = open(2)
    const order: Array<number> = []
    const handles = Array.from({ length: 5 }, (_, i) => driver.submitNop(0, () => order.push(i)))
    expect(new Set(handles).size).toBe(5)
    await Promise.resolve() // the turn's end: its staged requests are handed over
    expect(loop.inbound.length).toBe(2)
    expect(driver.stats().outstanding).toBe(5)
    // inFlight: the deprecated name of the same count, kept for one release.
    expect(driver.stats().inFlight).toBe(5)
    loop.completeOldest(1)
    expect(loop.inbound.length).toBe(2)
    loop.completeOldest(2)
    expect(loop.inbound.length).toBe(2)
    loop.completeOldest(2)
    expect(order).toEqual([0, 1, 2, 3, 4])
    expect(driver.stats().outstanding).toBe(0)
  })

  it("publishes on the first submit of a JS turn (early: the turn goes on) and once at its end, however many requests were submitted", async () => {
    const { driver, loop } = open(64)
    for (let i = 0; i < 10; i++) driver.submitNop(0, () => {})
    expect(loop.publishes).toBe(1)
    expect(loop.earlyPublishes).toBe(1)
    await Promise.resolve()
    expect(loop.publishes).toBe(2) // the end of the turn: iou_loop_publish
    expect(loop.earlyPublishes).toBe(1)
    for (let i = 0; i < 10; i++) driver.submitNop(0, () => {})
    await Promise.resolve()
    expect(loop.publishes).toBe(4)
    expect(loop.earlyPublishes).toBe(2)
    loop.completeOldest(20)
  })

  it("compares the process's credentials at the first turn, after one of Node's setters ran and when the interval passed, not per turn; refuses for good once they changed", async () => {
    const now = vi.spyOn(performance, "now")
    let clock = 1_000_000
    now.mockImplementation(() => clock)
    try {
      const { driver, loop } = open(64)
      for (let i = 0; i < 10; i++) driver.submitNop(0, () => {})
      expect(loop.credentialsChecks).toBe(1)
      await Promise.resolve()
      for (let i = 0; i < 10; i++) driver.submitNop(0, () => {})
      expect(loop.credentialsChecks).toBe(1) // a new turn within the interval: no syscalls
      // One of Node's setters (to the same uid: allowed, nothing changes): compared at the next request, mid-turn too.
      process.setuid?.(process.getuid!())
      driver.submitNop(0, () => {})
      expect(loop.credentialsChecks).toBe(process.setuid ? 2 : 1)
      const before = loop.credentialsChecks
      await Promise.resolve()
      clock += CHECK_INTERVAL_MS
      driver.submitNop(0, () => {})
      expect(loop.credentialsChecks).toBe(before + 1) // the interval passed: native code may have changed them
      await Promise.resolve()
      clock += CHECK_INTERVAL_MS
      loop.credentialsDiffer = true
      await expect(driver.nop()).rejects.toMatchObject({ code: "ERR_IOU_CREDENTIALS_CHANGED" })
      loop.credentialsDiffer = false
      clock += CHECK_INTERVAL_MS
      await expect(driver.nop()).rejects.toMatchObject({ code: "ERR_IOU_CREDENTIALS_CHANGED" })
      expect(loop.credentialsChecks).toBe(before + 2) // refused from then on without asking again
      expect(loop.inbound.length).toBe(22)
      loop.completeOldest(22)
    } finally {
      now.mockRestore()
    }
  })

  it("while requests wait for room, reads the clock once per JS turn, not per request, and sees a change made by native code at the next turn, completions or not", async () => {
    const now = vi.spyOn(performance, "now")
    let clock = 1_000_000
    now.mockImplementation(() => clock)
    try {
      const { driver, loop } = open(4)
      const errors: Array<string> = []
      // Each completion submits the next nop, while nops made earlier still wait for room.
      const again = (error: Error | null): void => {
        if (error !== null) errors.push((error as { code?: string }).code ?? error.message)
        else driver.submitNop(0, again)
      }
      for (let i = 0; i < 12; i++) driver.submitNop(0, again)
      await Promise.resolve()
      expect(loop.inbound.length).toBe(4)
      expect(driver.stats().outstanding).toBe(12)
      const reads = now.mock.calls.length
      loop.completeOldest(4) // one turn: four callbacks, four new requests, each behind those waiting
      expect(now.mock.calls.length - reads).toBe(1)
      expect(driver.stats().outstanding).toBe(12)
      await tick()
      // A later turn with no completion before it (a timer's, say): its first request compares.
      const checks = loop.credentialsChecks
      clock += CHECK_INTERVAL_MS
      loop.credentialsDiffer = true
      await expect(driver.nop()).rejects.toMatchObject({ code: "ERR_IOU_CREDENTIALS_CHANGED" })
      expect(loop.credentialsChecks).toBe(checks + 1)
      for (let i = 0; i < 3; i++) {
        loop.completeOldest(4)
        await tick()
      }
      expect(errors).toEqual(Array(12).fill("ERR_IOU_CREDENTIALS_CHANGED"))
      expect(driver.stats().outstanding).toBe(0)
    } finally {
      now.mockRestore()
    }
  })

  it("passes position halves, length, fd and deadline through the staging area", () => {
    const { driver, loop } = open(4)
    const buffer = Buffer.alloc(100)
    driver.submitReadAt(7, buffer, 2n ** 40n + 5n, 50, false, 1234.5, () => {})
    const taken = loop.inbound[0]!
    expect(taken.op).toBe(IOU_OP_READ_AT)
    expect(taken.fd).toBe(7)
    expect(taken.length).toBe(50)
    expect(taken.position).toBe(2 ** 40 + 5)
    expect(taken.deadline).toBe(1234.5)
    expect(taken.data).toBe(buffer)
  })

  it("inline engine: a turn's requests after the first reach the loop in batches (one call per staging area, and at the turn's end), in order", async () => {
    const { driver, loop } = open(256)
    const order: Array<number> = []
    for (let i = 0; i < 70; i++) driver.submitNop(0, () => order.push(i))
    // the first at once; then a full staging area (32) twice
    expect(loop.inbound.length).toBe(1 + 2 * WIRE.STAGE_RECORDS)
    expect(loop.stagedCalls).toBe(2)
    await Promise.resolve() // the turn's end hands over the rest
    expect(loop.inbound.length).toBe(70)
    expect(loop.stagedCalls).toBe(3)
    expect(loop.inbound.map((r) => r.slot)).toEqual([...new Set(loop.inbound.map((r) => r.slot))])
    loop.completeOldest(70)
    expect(order).toEqual(Array.from({ length: 70 }, (_, i) => i))
  })

  it("inline engine: a staged request is handed to the loop before its cancel, and one the binding refuses ends with its error", async () => {
    const { driver, loop } = open(16)
    driver.submitNop(0, () => {})
    const results: Array<Error | null> = []
    const staged = driver.submitNop(0, (error) => results.push(error))
    expect(loop.inbound.length).toBe(1)
    expect(driver.cancel(staged)).toBe(true)
    expect(loop.inbound.length).toBe(2) // handed over first: the loop knows what the cancel names
    expect(loop.cancels).toEqual([[loop.inbound[1]!.slot, loop.inbound[1]!.generation]])
    loop.completeOldest(2)
    await Promise.resolve()
    loop.refuseStagedOp = OPERATIONS.nop.op
    driver.submitNop(0, () => {})
    driver.submitNop(0, (error) => results.push(error))
    await Promise.resolve()
    await tick()
    expect(results.map((e) => (e as { code?: string } | null)?.code)).toEqual([undefined, "EINVAL"])
    loop.completeOldest(1)
  })

  it("thread engine: a turn's first requests reach the loop as they are submitted, those past THREAD_PUSHES_BEFORE_BATCHES in batches, in order", async () => {
    let loop: SimulatedLoop | undefined
    const driver = new Driver(Config.resolve({ size: 128, engine: "thread" }), (dispatch, staging, completions) => {
      loop = new SimulatedLoop(128, dispatch, staging, completions)
      return loop
    })
    const order: Array<number> = []
    const pushes = THREAD_PUSHES_BEFORE_BATCHES
    for (let i = 0; i < pushes; i++) driver.submitNop(0, () => order.push(i))
    expect(loop!.inbound.length).toBe(pushes) // each as it was submitted
    expect(loop!.stagedCalls).toBe(0)
    for (let i = pushes; i < pushes + WIRE.STAGE_RECORDS + 5; i++) driver.submitNop(0, () => order.push(i))
    expect(loop!.inbound.length).toBe(pushes + WIRE.STAGE_RECORDS) // one full staging area
    expect(loop!.stagedCalls).toBe(1)
    await Promise.resolve() // the turn's end hands over the rest
    const total = pushes + WIRE.STAGE_RECORDS + 5
    expect(loop!.inbound.length).toBe(total)
    expect(loop!.stagedCalls).toBe(2)
    loop!.completeOldest(total)
    expect(order).toEqual(Array.from({ length: total }, (_, i) => i))
    // The next turn starts again one by one.
    driver.submitNop(0, () => {})
    expect(loop!.inbound.length).toBe(1)
    expect(loop!.stagedCalls).toBe(2)
    loop!.completeOldest(1)
  })

  it("cancels a request still in the FIFO locally with an AbortError, without asking the loop", async () => {
    const { driver, loop } = open(1)
    driver.submitNop(0, () => {})
    const results: Array<unknown> = []
    const queued = driver.submitNop(0, (error) => results.push(error))
    expect(driver.cancel(queued)).toBe(true)
    expect(driver.cancel(queued)).toBe(false)
    expect(loop.cancels).toEqual([])
    await tick()
    expect(results).toHaveLength(1)
    expect((results[0] as Error).name).toBe("AbortError")
    expect((results[0] as { code: string }).code).toBe("ABORT_ERR")
    expect(driver.stats().cancelled).toBe(1)
    // the cancelled entry is skipped when room frees up
    loop.completeOldest(1)
    expect(loop.inbound).toEqual([])
  })

  it("asks the loop to cancel a submitted request and waits for its completion", async () => {
    const { driver, loop } = open(4)
    const results: Array<[Error | null, number]> = []
    const handle = driver.submitNop(0, (error, result) => results.push([error, result]))
    expect(driver.cancel(handle)).toBe(true)
    expect(loop.cancels).toEqual([[handle % SLOT_LIMIT, Math.floor(handle / SLOT_LIMIT)]])
    expect(driver.cancel(handle)).toBe(false)
    expect(results).toEqual([])
    loop.completeOldest(1, -125, IOU_OUTCOME_CANCELLED)
    expect(results[0]![0]!.name).toBe("AbortError")
  })

  it("a stale handle does not cancel the slot's next occupant", () => {
    const { driver, loop } = open(4)
    const first = driver.submitNop(0, () => {})
    loop.completeOldest(1)
    const second = driver.submitNop(0, () => {})
    expect(second % SLOT_LIMIT).toBe(first % SLOT_LIMIT)
    expect(second).not.toBe(first)
    expect(driver.cancel(first)).toBe(false)
    expect(loop.cancels).toEqual([])
    expect(driver.cancel(second)).toBe(true)
  })

  it("a completion with a stale tag is ignored and the live request is untouched", async () => {
    const { driver, loop } = open(4)
    driver.submitNop(0, () => {})
    const stale = loop.inbound[0]!
    loop.completeOldest(1)
    let calls = 0
    driver.submitNop(0, () => calls++)
    await Promise.resolve() // the turn's end: its staged requests are handed over
    loop.complete([{ taken: stale, result: 0, outcome: IOU_OUTCOME_OK }])
    expect(calls).toBe(0)
    expect(driver.stats().outstanding).toBe(1)
    loop.completeOldest(1)
    expect(calls).toBe(1)
  })

  it("grows the pending table beyond its initial capacity", () => {
    const { driver, loop } = open(1)
    let done = 0
    for (let i = 0; i < 1000; i++) driver.submitNop(0, () => done++)
    expect(driver.stats().outstanding).toBe(1000)
    while (loop.inbound.length > 0) loop.completeOldest(1)
    expect(done).toBe(1000)
  })

  it("keeps dispatching the batch when one callback throws, and reports the exception as uncaught", async () => {
    const { driver, loop } = open(4)
    const seen: Array<number> = []
    driver.submitNop(0, () => {
      seen.push(0)
      throw new Error("user bug")
    })
    driver.submitNop(0, () => seen.push(1))
    await Promise.resolve() // the turn's end: its staged requests are handed over
    const uncaught = new Promise<unknown>((resolve) => process.once("uncaughtException", resolve))
    loop.completeOldest(2)
    expect(seen).toEqual([0, 1])
    expect(((await uncaught) as Error).message).toBe("user bug")
  })

  it("admits FIFO requests before closing the loop, and abandons them at the shutdown timeout", async () => {
    const { driver, loop } = open(1)
    const errors: Array<string | undefined> = []
    const record = (error: Error | null) => errors.push((error as { code?: string } | null)?.code)
    driver.submitNop(0, record)
    driver.submitNop(0, record)
    driver.submitNop(0, record)
    const closed = driver.close({ shutdownTimeout: 30 })
    expect(loop.closedWith).toBeUndefined()
    loop.completeOldest(1)
    expect(loop.inbound.length).toBe(1)
    expect(loop.closedWith).toBeUndefined()
    await new Promise((resolve) => setTimeout(resolve, 60))
    expect(loop.closedWith).toBe(0)
    expect(errors).toEqual([undefined, "ERR_IOU_ABANDONED"])
    loop.complete([{ taken: loop.inbound[0]!, result: 0, outcome: IOU_OUTCOME_ABANDONED }], true)
    expect(await closed).toEqual({ completed: 1, abandoned: 2 })
    expect(loop.destroyed).toBe(true)
    expect(driver.stats().abandoned).toBe(1)
  })

  it("quarantines the buffers of an abandoned request only when the kernel may still hold them", async () => {
    const { driver, loop } = open(2)
    const errors: Array<string | undefined> = []
    const record = (error: Error | null) => errors.push((error as { code?: string } | null)?.code)
    driver.submitRecv(5, new Uint8Array(100), 0, 100, false, 0, record)
    driver.submitRecv(6, new Uint8Array(7), 0, 7, false, 0, record)
    await tick()
    const [landed, held] = loop.inbound
    const closed = driver.close({ shutdownTimeout: 0 })
    // The first one's cancel landed within the loop's grace; the second one's did not.
    loop.complete([{ taken: landed!, result: 0, outcome: IOU_OUTCOME_ABANDONED }])
    expect(driver.stats().quarantinedBytes).toBe(0)
    loop.complete(
      [{ taken: held!, result: 0, outcome: IOU_OUTCOME_ABANDONED, flags: IOU_COMPLETION_KERNEL_HELD }],
      true,
    )
    expect(await closed).toEqual({ completed: 0, abandoned: 2 })
    expect(errors).toEqual(["ERR_IOU_ABANDONED", "ERR_IOU_ABANDONED"])
    expect(driver.stats().quarantinedBytes).toBe(7)
  })

  it("close() waits for a loop destroy() kept (its thread still leaving the kernel) until released() says it is freed, at most RELEASE_WAIT_MS, and not at all after an abandonment", async () => {
    const settle = async (setup: (loop: SimulatedLoop) => void, abandon = false) => {
      const { driver, loop } = open(2)
      setup(loop)
      let abandoned: Error | null = null
      if (abandon) driver.submitNop(0, (e) => (abandoned = e))
      await tick()
      const t0 = performance.now()
      const closed = driver.close({ shutdownTimeout: abandon ? 0 : 1000 })
      if (abandon) loop.complete([{ taken: loop.inbound[0]!, result: 0, outcome: IOU_OUTCOME_ABANDONED }], true)
      else loop.complete([], true)
      const result = await closed
      return { result, ms: performance.now() - t0, looks: loop.looks, abandoned: (abandoned as Error | null) !== null }
    }
    // Freed on the third look: close() resolves then.
    const third = await settle((loop) => ((loop.keeps = true), (loop.releasedAt = 3)))
    expect([third.result, third.looks]).toEqual([{ completed: 0, abandoned: 0 }, 3])
    // Never freed: close() gives up after RELEASE_WAIT_MS.
    const never = await settle((loop) => ((loop.keeps = true), (loop.releasedAt = 0)))
    expect(never.result).toEqual({ completed: 0, abandoned: 0 })
    expect(never.ms).toBeGreaterThanOrEqual(RELEASE_WAIT_MS)
    expect(never.looks).toBeGreaterThan(3)
    // Kept, but the shutdown abandoned a request (the kernel may hold the thread for long): no look.
    const abandonedRun = await settle((loop) => ((loop.keeps = true), (loop.releasedAt = 0)), true)
    expect([abandonedRun.result, abandonedRun.looks, abandonedRun.abandoned]).toEqual([
      { completed: 0, abandoned: 1 },
      0,
      true,
    ])
    // Not kept: no look either.
    const notKept = await settle(() => undefined)
    expect(notKept.looks).toBe(0)
  })

  it("closes the loop as soon as the FIFO holds only requests cancelled while queued", async () => {
    const { driver, loop } = open(1)
    driver.submitNop(0, () => {})
    const queued = driver.submitNop(0, () => {})
    driver.cancel(queued)
    await tick()
    const closed = driver.close()
    expect(loop.closedWith).toBe(-1)
    loop.completeOldest(1)
    loop.complete([], true)
    expect(await closed).toEqual({ completed: 1, abandoned: 0 })
  })

  it("rejects calls on a closing Driver with ERR_IOU_CLOSED", async () => {
    const { driver, loop } = open(4)
    driver.closeOnExit(8)
    const closed = driver.close()
    expect(loop.closedWith).toBe(-1)
    await expect(driver.nop()).rejects.toMatchObject({ code: "ERR_IOU_CLOSED", syscall: "nop" })
    const error = await new Promise<Error | null>((resolve) => driver.submitNop(0, (e) => resolve(e)))
    expect((error as { code?: string }).code).toBe("ERR_IOU_CLOSED")
    // close() drops the marks: marking on a closing Driver is refused, unmarking is not.
    expect(() => driver.closeOnExit(7)).toThrow(expect.objectContaining({ code: "ERR_IOU_CLOSED", fd: 7 }))
    expect(loop.markCalls).toEqual([[8, true]])
    driver.closeOnExit(8, false)
    expect(loop.markCalls).toEqual([
      [8, true],
      [8, false],
    ])
    loop.complete([], true)
    expect(await closed).toEqual({ completed: 0, abandoned: 0 })
  })

  it("acceptMany: the connection that ended it as its deadline's cancel lost is handed over, not closed as unwanted", async () => {
    // The kernel ends a multishot accept with one last connection (its CQ full, say); the loop's
    // cancel for the deadline lost to it (IOU_COMPLETION_CANCEL_LOST). The caller still takes
    // connections: this one goes to it (Requests.ended), so the Driver must not close its fd.
    const { driver, loop } = open(8)
    const next = driver.acceptMany(3, { timeout: 1 })[Symbol.asyncIterator]().next()
    next.catch(() => undefined)
    await Promise.resolve()
    const taken = loop.inbound[0]!
    expect(taken.op).toBe(OPERATIONS.acceptMany.op)
    const fd = openSync("/dev/null", "r") // not a socket: the Driver refuses it as a connection, closing it once
    const lost =
      IOU_COMPLETION_FD | IOU_COMPLETION_CANCEL_LOST | (IOU_OUTCOME_TIMEOUT << IOU_COMPLETION_CANCEL_OUTCOME_SHIFT)
    loop.complete([{ taken, result: fd, outcome: IOU_OUTCOME_OK, flags: lost }])
    expect(loop.untaken).toEqual([])
    expect(isOpen(fd)).toBe(false)
  })

  it("gives each op its number and flags in the staging area", async () => {
    const { driver, loop } = open(16)
    const buffer = Buffer.alloc(8)
    const cb = () => {}
    driver.submitNop(0, cb)
    driver.submitReadAt(3, buffer, 0, 8, true, 0, cb)
    driver.submitWriteAt(3, buffer, 0, 0, cb)
    driver.submitSend(4, buffer, 0, cb)
    driver.submitRecv(4, buffer, 0, 8, false, 0, cb)
    driver.submitSync(3, true, 0, cb)
    driver.submitSync(3, false, 0, cb)
    await Promise.resolve() // the turn's end hands over what is staged after the first
    expect(loop.inbound.map((r) => [r.op, r.flags])).toEqual([
      [IOU_OP_NOP, 0],
      [IOU_OP_READ_AT, IOU_FLAG_EXACT],
      [OPERATIONS.writeAt.op, 0],
      [OPERATIONS.send.op, 0],
      [OPERATIONS.recv.op, 0],
      [OPERATIONS.sync.op, IOU_FLAG_DATA_ONLY],
      [OPERATIONS.sync.op, 0],
    ])
    // Seven operations, seven numbers: none of them stages as another.
    expect(new Set(loop.inbound.slice(0, 6).map((r) => r.op)).size).toBe(6)
  })
})
