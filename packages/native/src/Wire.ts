/**
 * The wire: the Driver's side of the two records it shares with the binding (binding/loop.h).
 *
 * - The staging record: each request is written here once, field by field, just before
 *   Loop.submit(data) reads it (one record, reused; the binding copies it into the inbound queue).
 * - The completion area: an array of completion records that the binding fills before each
 *   dispatch(count, final); the Driver reads record `i` with the accessors below.
 *
 * Every offset comes from the addon (binding.ts `wireLayout()`), named here once as an index into
 * the typed array that reads that field; a misaligned offset stops the first Wire from being made.
 */
import { type WireLayout, wireLayout } from "./binding.ts"
import type { PendingTable } from "./PendingTable.ts"

const index = (byteOffset: number, width: number, name: string): number => {
  if (byteOffset % width !== 0) throw new Error(`binding/loop.h: ${name} at byte ${byteOffset} is not ${width}-aligned`)
  return byteOffset / width
}

/**
 * The staging record's fields, as indices of the typed array of each field's width; one completion
 * record's fields likewise, plus its stride in each width.
 */
type Indices = WireLayout & { readonly COMPLETION_WORDS: number; readonly COMPLETION_HALVES: number }

let indices: Indices | undefined

/** The addon's layout as indices: read when the first Wire is made, since importing must not load the addon. */
const indicesOf = (): Indices => {
  if (indices !== undefined) return indices
  const w = wireLayout()
  indices = {
    STAGE_BYTES: w.STAGE_BYTES,
    STAGE_SLOT: index(w.STAGE_SLOT, 4, "STAGE_SLOT"),
    STAGE_GENERATION: index(w.STAGE_GENERATION, 4, "STAGE_GENERATION"),
    STAGE_POSITION_LO: index(w.STAGE_POSITION_LO, 4, "STAGE_POSITION_LO"),
    STAGE_POSITION_HI: index(w.STAGE_POSITION_HI, 4, "STAGE_POSITION_HI"),
    STAGE_LENGTH: index(w.STAGE_LENGTH, 4, "STAGE_LENGTH"),
    STAGE_FD: index(w.STAGE_FD, 4, "STAGE_FD"),
    STAGE_OP: index(w.STAGE_OP, 4, "STAGE_OP"),
    STAGE_FLAGS: index(w.STAGE_FLAGS, 4, "STAGE_FLAGS"),
    STAGE_OFFSET: index(w.STAGE_OFFSET, 4, "STAGE_OFFSET"),
    STAGE_ARG: index(w.STAGE_ARG, 4, "STAGE_ARG"),
    STAGE_ARG2: index(w.STAGE_ARG2, 4, "STAGE_ARG2"),
    STAGE_EXTENT_LO: index(w.STAGE_EXTENT_LO, 4, "STAGE_EXTENT_LO"),
    STAGE_EXTENT_HI: index(w.STAGE_EXTENT_HI, 4, "STAGE_EXTENT_HI"),
    STAGE_DEADLINE_MS: index(w.STAGE_DEADLINE_MS, 8, "STAGE_DEADLINE_MS"),
    COMPLETION_WORDS: index(w.COMPLETION_BYTES, 4, "COMPLETION_BYTES"),
    COMPLETION_BYTES: w.COMPLETION_BYTES,
    COMPLETION_SLOT: index(w.COMPLETION_SLOT, 4, "COMPLETION_SLOT"),
    COMPLETION_GENERATION: index(w.COMPLETION_GENERATION, 4, "COMPLETION_GENERATION"),
    COMPLETION_RESULT: index(w.COMPLETION_RESULT, 4, "COMPLETION_RESULT"),
    COMPLETION_OUTCOME: w.COMPLETION_OUTCOME,
    COMPLETION_FLAGS: w.COMPLETION_FLAGS,
    COMPLETION_BUFFER: index(w.COMPLETION_BUFFER, 2, "COMPLETION_BUFFER"),
    COMPLETION_HALVES: index(w.COMPLETION_BYTES, 2, "COMPLETION_BYTES"),
  }
  return indices
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
  private readonly at: Indices

  constructor(capacity: number) {
    const at = indicesOf()
    this.at = at
    this.capacity = capacity
    this.staging = new ArrayBuffer(at.STAGE_BYTES)
    this.stageU32 = new Uint32Array(this.staging)
    this.stageI32 = new Int32Array(this.staging)
    this.stageF64 = new Float64Array(this.staging)
    this.completions = new ArrayBuffer(capacity * at.COMPLETION_BYTES)
    this.doneU32 = new Uint32Array(this.completions)
    this.doneI32 = new Int32Array(this.completions)
    this.doneU8 = new Uint8Array(this.completions)
    this.doneU16 = new Uint16Array(this.completions)
  }

  /** Writes the request in `slot` of the pending table into the staging record. */
  stage(table: PendingTable, slot: number): void {
    const s = this.stageU32
    const at = this.at
    s[at.STAGE_SLOT] = slot
    s[at.STAGE_GENERATION] = table.generation[slot]!
    s[at.STAGE_POSITION_LO] = table.positionLo[slot]!
    s[at.STAGE_POSITION_HI] = table.positionHi[slot]!
    s[at.STAGE_LENGTH] = table.length[slot]!
    this.stageI32[at.STAGE_FD] = table.fd[slot]!
    s[at.STAGE_OP] = table.op[slot]!
    s[at.STAGE_FLAGS] = table.flags[slot]!
    s[at.STAGE_OFFSET] = table.offset[slot]!
    s[at.STAGE_ARG] = table.arg[slot]!
    s[at.STAGE_ARG2] = table.arg2[slot]!
    s[at.STAGE_EXTENT_LO] = table.extentLo[slot]!
    s[at.STAGE_EXTENT_HI] = table.extentHi[slot]!
    this.stageF64[at.STAGE_DEADLINE_MS] = table.deadline[slot]!
  }

  /** Completion `i`'s slot: the low half of its tag. */
  slot(i: number): number {
    return this.doneU32[i * this.at.COMPLETION_WORDS + this.at.COMPLETION_SLOT]!
  }

  /** Completion `i`'s generation: the high half of its tag. */
  generation(i: number): number {
    return this.doneU32[i * this.at.COMPLETION_WORDS + this.at.COMPLETION_GENERATION]!
  }

  /** Completion `i`'s result: bytes transferred, or -errno. */
  result(i: number): number {
    return this.doneI32[i * this.at.COMPLETION_WORDS + this.at.COMPLETION_RESULT]!
  }

  /** Completion `i`'s IOU_OUTCOME_*. */
  outcome(i: number): number {
    return this.doneU8[i * this.at.COMPLETION_BYTES + this.at.COMPLETION_OUTCOME]!
  }

  /** Completion `i`'s IOU_COMPLETION_* flags. */
  flags(i: number): number {
    return this.doneU8[i * this.at.COMPLETION_BYTES + this.at.COMPLETION_FLAGS]!
  }

  /** Completion `i`'s provided buffer (with IOU_COMPLETION_BUFFER). */
  buffer(i: number): number {
    return this.doneU16[i * this.at.COMPLETION_HALVES + this.at.COMPLETION_BUFFER]!
  }
}
