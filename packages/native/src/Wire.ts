/**
 * The wire: the Driver's side of the two records it shares with the binding (binding/loop.h).
 *
 * - The staging record: each request is written here once, field by field, just before
 *   Loop.submit(data) reads it (one record, reused; the binding copies it into the inbound queue).
 * - The completion area: an array of completion records that the binding fills before each
 *   dispatch(count, final); the Driver reads record `i` with the accessors below.
 *
 * Every offset comes from the addon (binding.ts `WIRE`), named here once as an index into the
 * typed array that reads that field; a misaligned offset stops the module from loading.
 */
import { WIRE } from "./binding.ts"
import type { PendingTable } from "./PendingTable.ts"

const index = (byteOffset: number, width: number, name: string): number => {
  if (byteOffset % width !== 0) throw new Error(`binding/loop.h: ${name} at byte ${byteOffset} is not ${width}-aligned`)
  return byteOffset / width
}

// The staging record, as indices of the typed array of each field's width.
const STAGE_SLOT = index(WIRE.STAGE_SLOT, 4, "STAGE_SLOT")
const STAGE_GENERATION = index(WIRE.STAGE_GENERATION, 4, "STAGE_GENERATION")
const STAGE_POSITION_LO = index(WIRE.STAGE_POSITION_LO, 4, "STAGE_POSITION_LO")
const STAGE_POSITION_HI = index(WIRE.STAGE_POSITION_HI, 4, "STAGE_POSITION_HI")
const STAGE_LENGTH = index(WIRE.STAGE_LENGTH, 4, "STAGE_LENGTH")
const STAGE_FD = index(WIRE.STAGE_FD, 4, "STAGE_FD")
const STAGE_OP = index(WIRE.STAGE_OP, 4, "STAGE_OP")
const STAGE_FLAGS = index(WIRE.STAGE_FLAGS, 4, "STAGE_FLAGS")
const STAGE_OFFSET = index(WIRE.STAGE_OFFSET, 4, "STAGE_OFFSET")
const STAGE_DEADLINE_MS = index(WIRE.STAGE_DEADLINE_MS, 8, "STAGE_DEADLINE_MS")

// One completion record, as indices of the typed array of each field's width, plus its stride in
// each width.
const COMPLETION_WORDS = index(WIRE.COMPLETION_BYTES, 4, "COMPLETION_BYTES")
const COMPLETION_BYTES = WIRE.COMPLETION_BYTES
const COMPLETION_SLOT = index(WIRE.COMPLETION_SLOT, 4, "COMPLETION_SLOT")
const COMPLETION_GENERATION = index(WIRE.COMPLETION_GENERATION, 4, "COMPLETION_GENERATION")
const COMPLETION_RESULT = index(WIRE.COMPLETION_RESULT, 4, "COMPLETION_RESULT")
const COMPLETION_OUTCOME = WIRE.COMPLETION_OUTCOME
const COMPLETION_FLAGS = WIRE.COMPLETION_FLAGS

export class Wire {
  /** The staging record's memory, handed to the binding's Loop. */
  readonly staging: ArrayBuffer
  /** The completion area's memory, handed to the binding's Loop. */
  readonly completions: ArrayBuffer
  /** Completion records per dispatch at most. */
  readonly capacity: number

  private readonly stageU32: Uint32Array
  private readonly stageI32: Int32Array
  private readonly stageF64: Float64Array
  private readonly doneU32: Uint32Array
  private readonly doneI32: Int32Array
  private readonly doneU8: Uint8Array

  constructor(capacity: number) {
    this.capacity = capacity
    this.staging = new ArrayBuffer(WIRE.STAGE_BYTES)
    this.stageU32 = new Uint32Array(this.staging)
    this.stageI32 = new Int32Array(this.staging)
    this.stageF64 = new Float64Array(this.staging)
    this.completions = new ArrayBuffer(capacity * COMPLETION_BYTES)
    this.doneU32 = new Uint32Array(this.completions)
    this.doneI32 = new Int32Array(this.completions)
    this.doneU8 = new Uint8Array(this.completions)
  }

  /** Writes the request in `slot` of the pending table into the staging record. */
  stage(table: PendingTable, slot: number): void {
    const s = this.stageU32
    s[STAGE_SLOT] = slot
    s[STAGE_GENERATION] = table.generation[slot]!
    s[STAGE_POSITION_LO] = table.positionLo[slot]!
    s[STAGE_POSITION_HI] = table.positionHi[slot]!
    s[STAGE_LENGTH] = table.length[slot]!
    this.stageI32[STAGE_FD] = table.fd[slot]!
    s[STAGE_OP] = table.op[slot]!
    s[STAGE_FLAGS] = table.flags[slot]!
    s[STAGE_OFFSET] = table.offset[slot]!
    this.stageF64[STAGE_DEADLINE_MS] = table.deadline[slot]!
  }

  /** Completion `i`'s slot: the low half of its tag. */
  slot(i: number): number {
    return this.doneU32[i * COMPLETION_WORDS + COMPLETION_SLOT]!
  }

  /** Completion `i`'s generation: the high half of its tag. */
  generation(i: number): number {
    return this.doneU32[i * COMPLETION_WORDS + COMPLETION_GENERATION]!
  }

  /** Completion `i`'s result: bytes transferred, or -errno. */
  result(i: number): number {
    return this.doneI32[i * COMPLETION_WORDS + COMPLETION_RESULT]!
  }

  /** Completion `i`'s IOU_OUTCOME_*. */
  outcome(i: number): number {
    return this.doneU8[i * COMPLETION_BYTES + COMPLETION_OUTCOME]!
  }

  /** Completion `i`'s IOU_COMPLETION_* flags. */
  flags(i: number): number {
    return this.doneU8[i * COMPLETION_BYTES + COMPLETION_FLAGS]!
  }
}
