/** The wire alone: each staged field lands at binding/loop.h's offset; completions read back from theirs. */
import { describe, expect, it } from "vitest"
import { wireLayout } from "../src/binding.ts"
import { PendingTable } from "../src/PendingTable.ts"
import { Wire } from "../src/Wire.ts"

const WIRE = wireLayout()

describe("Wire", () => {
  it("stages a request field by field at the offsets the addon exports", () => {
    const t = new PendingTable(4)
    t.take()
    const slot = t.take()
    t.op[slot] = 4
    t.flags[slot] = 1
    t.fd[slot] = 0x7fffffff
    t.setPosition(slot, 2n ** 62n + 5n)
    t.offset[slot] = 3
    t.length[slot] = 100
    t.deadline[slot] = 123456.75
    const wire = new Wire(8)
    wire.stage(t, slot, 0)
    const v = new DataView(wire.staging)
    expect(wire.staging.byteLength).toBe(WIRE.STAGE_RECORDS * WIRE.STAGE_BYTES)
    expect(v.getUint32(WIRE.STAGE_SLOT, true)).toBe(slot)
    expect(v.getUint32(WIRE.STAGE_GENERATION, true)).toBe(t.generation[slot])
    expect(v.getUint32(WIRE.STAGE_POSITION_LO, true)).toBe(5)
    expect(v.getUint32(WIRE.STAGE_POSITION_HI, true)).toBe(2 ** 30)
    expect(v.getUint32(WIRE.STAGE_LENGTH, true)).toBe(100)
    expect(v.getInt32(WIRE.STAGE_FD, true)).toBe(0x7fffffff)
    expect(v.getUint32(WIRE.STAGE_OP, true)).toBe(4)
    expect(v.getUint32(WIRE.STAGE_FLAGS, true)).toBe(1)
    expect(v.getUint32(WIRE.STAGE_OFFSET, true)).toBe(3)
    expect(v.getFloat64(WIRE.STAGE_DEADLINE_MS, true)).toBe(123456.75)
  })

  it("stages into any record of the staging area, and reads back the verdict the binding writes", () => {
    const t = new PendingTable(4)
    const slot = t.take()
    t.op[slot] = 4
    t.length[slot] = 7
    t.deadline[slot] = 99.5
    const wire = new Wire(8)
    const last = WIRE.STAGE_RECORDS - 1
    wire.stage(t, slot, last)
    const v = new DataView(wire.staging)
    const at = last * WIRE.STAGE_BYTES
    expect(v.getUint32(at + WIRE.STAGE_SLOT, true)).toBe(slot)
    expect(v.getUint32(at + WIRE.STAGE_LENGTH, true)).toBe(7)
    expect(v.getFloat64(at + WIRE.STAGE_DEADLINE_MS, true)).toBe(99.5)
    expect(v.getUint32(WIRE.STAGE_LENGTH, true)).toBe(0) // record 0 untouched
    v.setInt32(at + WIRE.STAGE_VERDICT, -22, true)
    expect(wire.verdict(last)).toBe(-22)
  })

  it("reads each completion record's fields from the offsets the addon exports", () => {
    const wire = new Wire(4)
    expect(wire.completions.byteLength).toBe(4 * WIRE.COMPLETION_BYTES)
    const v = new DataView(wire.completions)
    const at = 2 * WIRE.COMPLETION_BYTES
    v.setBigUint64(at, (7n << 32n) | 9n, true) // the tag: generation 7, slot 9
    v.setInt32(at + WIRE.COMPLETION_RESULT, -104, true)
    v.setUint8(at + WIRE.COMPLETION_OUTCOME, 5)
    v.setUint8(at + WIRE.COMPLETION_FLAGS, 1)
    v.setUint16(at + WIRE.COMPLETION_BUFFER, 513, true)
    wire.load(2)
    expect([wire.slot, wire.generation, wire.result, wire.outcome, wire.flags, wire.buffer]).toEqual([
      9, 7, -104, 5, 1, 513,
    ])
    wire.load(1)
    expect([wire.slot, wire.result, wire.outcome, wire.buffer]).toEqual([0, 0, 0, 0])
  })
})
