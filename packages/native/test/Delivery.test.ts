/**
 * Delivery's fd-producing rule against @iou/core's model of it (Request.delivered), for the
 * completions the kernel produces only by a race: a loop cancel (a deadline, the caller's, the
 * shutdown cutoff) that lost to the operation's success, IOU_COMPLETION_CANCEL_LOST with the
 * outcome the cancel asked for. The conformance replay (conformance.test.ts) follows the same rule
 * on the real kernel where the Driver's own cancel state decides it; here the loop's completion is
 * written by hand, and the fd it names is a real one, which must be closed (as the binding's
 * closeUntaken does: its flag cleared in the same call) before the request ends.
 */
import { closeSync, openSync } from "node:fs"
import { Request } from "@iou/core"
import { describe, expect, it } from "vitest"
import {
  IOU_COMPLETION_CANCEL_LOST,
  IOU_COMPLETION_CANCEL_OUTCOME_SHIFT,
  IOU_COMPLETION_FD,
  IOU_OUTCOME_ABANDONED,
  IOU_OUTCOME_CANCELLED,
  IOU_OUTCOME_OK,
  IOU_OUTCOME_TIMEOUT,
} from "../src/binding.ts"
import { wireLayout } from "../src/binding.ts"
import { Delivery } from "../src/Delivery.ts"
import type { IoUringError } from "../src/IoUringError.ts"
import { BY_OP, OPERATIONS } from "../src/Operations.ts"
import * as Pending from "../src/PendingTable.ts"
import type { Shutdown } from "../src/Shutdown.ts"
import { Wire } from "../src/Wire.ts"
import { isOpen } from "./helpers.ts"

const OUTCOME_OF_REASON: Record<string, number> = {
  Timeout: Request.OUTCOME_TIMEOUT,
  Cancelled: Request.OUTCOME_CANCELLED,
  Abandoned: Request.OUTCOME_ABANDONED,
  SystemError: Request.OUTCOME_ERROR,
}

/** Completion 0's IOU_COMPLETION_FD flag as the binding reads it after the dispatch. */
const fdFlagOf = (wire: Wire): number =>
  new DataView(wire.completions).getUint8(wireLayout().COMPLETION_FLAGS) & IOU_COMPLETION_FD

/** As the binding's closeUntaken for the one completion of `wire`: close(2) and the flag cleared. */
const closeUntakenOf =
  (wire: () => Wire) =>
  (i: number): void => {
    const v = new DataView(wire().completions)
    const at = i * wireLayout().COMPLETION_BYTES
    v.setUint8(at + wireLayout().COMPLETION_FLAGS, v.getUint8(at + wireLayout().COMPLETION_FLAGS) & ~IOU_COMPLETION_FD)
    closeSync(v.getInt32(at + wireLayout().COMPLETION_RESULT, true))
  }

/**
 * A Delivery over `table` for an open Driver, with nothing after local completions: a closeFd the
 * ring will not run is done with close(2), as the Driver's closeUnmarked does; every mark is taken;
 * an unwanted fd is closed as the binding's closeUntaken closes it, in the completion of `wire`.
 */
const deliveryOver = (table: Pending.PendingTable, wire: () => Wire = () => new Wire(1)): Delivery =>
  new Delivery(
    table,
    { closing: false } as Shutdown,
    () => {},
    (fd) => (closeSync(fd), null),
    () => true,
    closeUntakenOf(wire),
  )

/** One completion record, written where the binding writes it. */
const wireOf = (slot: number, generation: number, result: number, flags: number): Wire => {
  const wire = new Wire(1)
  const layout = wireLayout()
  const v = new DataView(wire.completions)
  v.setUint32(layout.COMPLETION_SLOT, slot, true)
  v.setUint32(layout.COMPLETION_GENERATION, generation, true)
  v.setInt32(layout.COMPLETION_RESULT, result, true)
  v.setUint8(layout.COMPLETION_OUTCOME, IOU_OUTCOME_OK)
  v.setUint8(layout.COMPLETION_FLAGS, flags)
  return wire
}

describe("Delivery: an fd made after its cancel was asked for", () => {
  const lostTo = [IOU_OUTCOME_TIMEOUT, IOU_OUTCOME_CANCELLED, IOU_OUTCOME_ABANDONED]
  for (const op of [OPERATIONS.accept.op, OPERATIONS.open.op, OPERATIONS.socket.op]) {
    for (const lost of lostTo) {
      for (const [callerCancelled, fdClosing] of [
        [false, false],
        [true, false],
        [true, true],
      ] as const) {
        // The loop's cancel of a caller's (CANCELLED) comes only from a cancel in the Driver.
        if (lost === IOU_OUTCOME_CANCELLED && !callerCancelled) continue
        // closeFd cancels only the operations that act on an fd (accept, on its listener).
        if (fdClosing && !BY_OP[op]!.onFd) continue
        it(`${Request.OP_NAMES[op]}, a lost ${Request.OUTCOME_NAMES[lost]} cancel${callerCancelled ? (fdClosing ? ", closeFd's cancel in the Driver" : ", the caller's cancel in the Driver") : ""}: the fd is closed, the request ends as the model says`, () => {
          const table = new Pending.PendingTable(4)
          const ended: Array<[Error | null, number]> = []
          let wire: Wire | undefined
          const delivery = deliveryOver(table, () => wire!)
          const slot = table.take()
          table.op[slot] = op
          table.fd[slot] = op === OPERATIONS.accept.op ? 3 : -100
          table.kind[slot] = Pending.KIND_CALLBACK
          table.resolve[slot] = (error: Error | null, result: number) => ended.push([error, result])
          // Every request here has a deadline: one abandoned at the shutdown cutoff is still ABANDONED.
          table.deadline[slot] = 1
          table.state[slot] = callerCancelled ? Pending.CANCELLING : Pending.SUBMITTED
          table.fdClosed[slot] = fdClosing ? 1 : 0
          const fd = openSync("/dev/null", "r")
          try {
            const flags = IOU_COMPLETION_FD | IOU_COMPLETION_CANCEL_LOST | (lost << IOU_COMPLETION_CANCEL_OUTCOME_SHIFT)
            wire = wireOf(slot, table.generation[slot]!, fd, flags)
            delivery.fromLoop(wire, 1)
            // Closed, and its flag cleared with it: the binding will not close the number again.
            expect([fdFlagOf(wire), isOpen(fd)]).toEqual([0, false])
          } finally {
            if (isOpen(fd)) closeSync(fd)
          }
          const r = Request.make({ op })
          expect(Request.onCqe(r, lost, fd)).toBe(true)
          const model = Request.delivered(r, lost, { cancelled: callerCancelled && !fdClosing, fdClosing })
          expect(model.closesFd).toBe(fd)
          expect(ended).toHaveLength(1)
          const [error] = ended[0]!
          const e = error as IoUringError
          expect([OUTCOME_OF_REASON[e.reason], e.reason === "SystemError" ? e.errno : 0]).toEqual([
            model.outcome,
            model.outcome === Request.OUTCOME_ERROR ? model.result : 0,
          ])
        })
      }
    }
  }
})

/** A callback open in `table` that the loop took, asking (`mark` 1) or not to have its fd marked. */
const submittedOpen = (table: Pending.PendingTable, mark: number): number => {
  const slot = table.take()
  table.op[slot] = OPERATIONS.open.op
  table.fd[slot] = -100
  table.kind[slot] = Pending.KIND_CALLBACK
  table.state[slot] = Pending.SUBMITTED
  table.markFd[slot] = mark
  return slot
}

describe("Delivery: an fd a request asked to have marked (closeOnExit)", () => {
  it("is marked while its completion still flags it (a thread that ends in between leaves it to the binding), then taken; others are not marked", () => {
    const layout = wireLayout()
    for (const mark of [1, 0]) {
      const table = new Pending.PendingTable(4)
      let wire: Wire | undefined
      const marks: Array<[number, number]> = []
      const flagsNow = (): number => new DataView(wire!.completions).getUint8(layout.COMPLETION_FLAGS)
      const delivery = new Delivery(
        table,
        { closing: false } as Shutdown,
        () => {},
        (fd) => (closeSync(fd), null),
        (fd) => (marks.push([fd, flagsNow() & IOU_COMPLETION_FD]), true),
        closeUntakenOf(() => wire!),
      )
      const slot = submittedOpen(table, mark)
      const ended: Array<number> = []
      table.resolve[slot] = (_: Error | null, fd: number) => ended.push(fd)
      wire = wireOf(slot, table.generation[slot]!, 7, IOU_COMPLETION_FD)
      delivery.fromLoop(wire, 1)
      expect([marks, flagsNow() & IOU_COMPLETION_FD, ended]).toEqual([
        mark === 1 ? [[7, IOU_COMPLETION_FD]] : [],
        0,
        [7],
      ])
    }
  })

  it("whose mark the binding refused (its thread's environment is ending) stays flagged for the binding to close, and its request does not end", () => {
    const table = new Pending.PendingTable(4)
    const delivery = new Delivery(
      table,
      { closing: false } as Shutdown,
      () => {},
      (fd) => (closeSync(fd), null),
      () => false,
      () => {},
    )
    const ended: Array<number> = []
    const wires: Array<Wire> = []
    for (const mark of [1, 0]) {
      const slot = submittedOpen(table, mark)
      table.resolve[slot] = (_: Error | null, fd: number) => ended.push(fd)
      const wire = wireOf(slot, table.generation[slot]!, 7 + mark, IOU_COMPLETION_FD)
      delivery.fromLoop(wire, 1)
      wires.push(wire)
    }
    // The one that asked for no mark is taken and delivered as usual.
    expect([wires.map(fdFlagOf), ended]).toEqual([[IOU_COMPLETION_FD, 0], [7]])
  })

  it("is marked after a closeFd of the same number whose close the kernel ran lets go of it (a mark skips a closing fd)", () => {
    const table = new Pending.PendingTable(4)
    const closingAtMark: Array<boolean> = []
    const delivery: Delivery = new Delivery(
      table,
      { closing: false } as Shutdown,
      () => {},
      (fd) => (closeSync(fd), null),
      (fd) => (closingAtMark.push(delivery.closingFds.has(fd)), true),
      () => {},
    )
    delivery.closingFds.set(7, { waiting: 0, onIdle: () => {}, inKernel: true })
    const slot = submittedOpen(table, 1)
    table.resolve[slot] = () => {}
    delivery.fromLoop(wireOf(slot, table.generation[slot]!, 7, IOU_COMPLETION_FD), 1)
    expect(closingAtMark).toEqual([false])
  })
})

describe("Delivery: a closeFd waits for the requests it counted", () => {
  it("a closeFd that a request's callback starts is not counted down by that request, which had ended", () => {
    const table = new Pending.PendingTable(4)
    const delivery = deliveryOver(table)
    const fd = 5
    const read = (): number => {
      const slot = table.take()
      table.op[slot] = OPERATIONS.readAt.op
      table.fd[slot] = fd
      table.kind[slot] = Pending.KIND_CALLBACK
      table.state[slot] = Pending.SUBMITTED
      return slot
    }
    const a = read()
    const b = read()
    const idle: Array<string> = []
    // A's callback starts a closeFd of the fd, which counts the one request still on it: B.
    table.resolve[a] = () => {
      delivery.closingFds.set(fd, { waiting: 1, onIdle: () => idle.push("idle"), inKernel: false })
    }
    table.resolve[b] = () => {}
    delivery.finish(a, null, 1)
    expect([delivery.closingFds.get(fd)?.waiting, idle]).toEqual([1, []])
    delivery.finish(b, null, 1)
    expect([delivery.closingFds.get(fd)?.waiting, idle]).toEqual([0, ["idle"]])
  })
})

describe("Delivery: an fd number the kernel hands out again", () => {
  it("ends a closing whose close is in the kernel (the close has happened), and only such a closing", () => {
    const table = new Pending.PendingTable(4)
    const delivery = deliveryOver(table)
    const opened = (fd: number): void => {
      const slot = table.take()
      table.op[slot] = OPERATIONS.open.op
      table.fd[slot] = -100
      table.kind[slot] = Pending.KIND_CALLBACK
      table.state[slot] = Pending.SUBMITTED
      table.resolve[slot] = () => {}
      delivery.finish(slot, null, fd)
    }
    const waiting = { waiting: 1, onIdle: () => {}, inKernel: false }
    const closing = { waiting: 0, onIdle: () => {}, inKernel: true }
    delivery.closingFds.set(7, waiting)
    delivery.closingFds.set(8, closing)
    // 7's close has not gone to the kernel: the number cannot have been handed out again (a
    // completion naming it would be a stale one), and the closing stays.
    opened(7)
    opened(8)
    expect([delivery.closingFds.get(7), delivery.closingFds.has(8)]).toEqual([waiting, false])
  })
})
