/**
 * The wire: the Driver's side of the two records it shares with the binding (binding/loop.h).
 *
 * - The staging record: each request is written here once, field by field, just before
 *   Loop.submit(data) reads it (one record, reused; the binding copies it into the inbound queue).
 * - The completion area: an array of completion records that the binding fills before each
 *   dispatch(count, final); the Driver reads record `i` with the accessors below.
 *
 * The byte offsets are binding/loop.h's (static_assert'ed there), written here once as constants so
 * that each access is a constant index; the first Wire compares them with the layout the addon
 * exports (binding.ts `wireLayout()`) and refuses to be made if any differs (constants.test.ts
 * checks the same).
 */
import { type WireLayout, wireLayout } from "./binding.ts"
import type { PendingTable } from "./PendingTable.ts"

// binding/loop.h's record sizes in bytes, and each field as an index into the typed array that
// reads it (its byte offset / the array's element size).
const STAGE_BYTES = 64
const COMPLETION_BYTES = 16
const STAGE_SLOT = 0
const STAGE_GENERATION = 1
const STAGE_POSITION_LO = 2
const STAGE_POSITION_HI = 3
const STAGE_LENGTH = 4
const STAGE_FD = 5 // Int32Array
const STAGE_OP = 6
const STAGE_FLAGS = 7
const STAGE_OFFSET = 8
const STAGE_ARG = 9
const STAGE_DEADLINE_MS = 5 // Float64Array
const STAGE_ARG2 = 12
const STAGE_EXTENT_LO = 13
const STAGE_EXTENT_HI = 14
const COMPLETION_WORDS = 4 // per record, in 32-bit words
const COMPLETION_SLOT = 0
const COMPLETION_GENERATION = 1
const COMPLETION_RESULT = 2 // Int32Array
const COMPLETION_OUTCOME = 12 // Uint8Array
const COMPLETION_FLAGS = 13 // Uint8Array
const COMPLETION_HALVES = 8 // per record, in 16-bit halves
const COMPLETION_BUFFER = 7 // Uint16Array

/** The constants above as the addon's layout gives them, in CONSTANTS' order. */
const fromAddon = (l: WireLayout): ReadonlyArray<number> => [
  l.STAGE_BYTES,
  l.COMPLETION_BYTES,
  l.STAGE_SLOT / 4,
  l.STAGE_GENERATION / 4,
  l.STAGE_POSITION_LO / 4,
  l.STAGE_POSITION_HI / 4,
  l.STAGE_LENGTH / 4,
  l.STAGE_FD / 4,
  l.STAGE_OP / 4,
  l.STAGE_FLAGS / 4,
  l.STAGE_OFFSET / 4,
  l.STAGE_ARG / 4,
  l.STAGE_DEADLINE_MS / 8,
  l.STAGE_ARG2 / 4,
  l.STAGE_EXTENT_LO / 4,
  l.STAGE_EXTENT_HI / 4,
  l.COMPLETION_BYTES / 4,
  l.COMPLETION_SLOT / 4,
  l.COMPLETION_GENERATION / 4,
  l.COMPLETION_RESULT / 4,
  l.COMPLETION_OUTCOME,
  l.COMPLETION_FLAGS,
  l.COMPLETION_BYTES / 2,
  l.COMPLETION_BUFFER / 2,
]

const CONSTANTS = [
  STAGE_BYTES,
  COMPLETION_BYTES,
  STAGE_SLOT,
  STAGE_GENERATION,
  STAGE_POSITION_LO,
  STAGE_POSITION_HI,
  STAGE_LENGTH,
  STAGE_FD,
  STAGE_OP,
  STAGE_FLAGS,
  STAGE_OFFSET,
  STAGE_ARG,
  STAGE_DEADLINE_MS,
  STAGE_ARG2,
  STAGE_EXTENT_LO,
  STAGE_EXTENT_HI,
  COMPLETION_WORDS,
  COMPLETION_SLOT,
  COMPLETION_GENERATION,
  COMPLETION_RESULT,
  COMPLETION_OUTCOME,
  COMPLETION_FLAGS,
  COMPLETION_HALVES,
  COMPLETION_BUFFER,
]

let checked = false

/** Throws unless the addon's layout gives the constants above (checked once per process). */
export const checkWireLayout = (): void => {
  if (checked) return
  const want = fromAddon(wireLayout())
  CONSTANTS.forEach((c, i) => {
    if (c !== want[i])
      throw new Error(`binding/loop.h and Wire.ts disagree: constant ${i} is ${c} here, ${want[i]} there`)
  })
  checked = true
}

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
  private readonly doneU16: Uint16Array

  constructor(capacity: number) {
    checkWireLayout()
    this.capacity = capacity
    this.staging = new ArrayBuffer(STAGE_BYTES)
    this.stageU32 = new Uint32Array(this.staging)
    this.stageI32 = new Int32Array(this.staging)
    this.stageF64 = new Float64Array(this.staging)
    this.completions = new ArrayBuffer(capacity * COMPLETION_BYTES)
    this.doneU32 = new Uint32Array(this.completions)
    this.doneI32 = new Int32Array(this.completions)
    this.doneU8 = new Uint8Array(this.completions)
    this.doneU16 = new Uint16Array(this.completions)
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
    s[STAGE_ARG] = table.arg[slot]!
    s[STAGE_ARG2] = table.arg2[slot]!
    s[STAGE_EXTENT_LO] = table.extentLo[slot]!
    s[STAGE_EXTENT_HI] = table.extentHi[slot]!
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

  /** Completion `i`'s provided buffer (with IOU_COMPLETION_BUFFER). */
  buffer(i: number): number {
    return this.doneU16[i * COMPLETION_HALVES + COMPLETION_BUFFER]!
  }
}
