/**
 * The wire: the Driver's side of the two records it shares with the binding (binding/loop.h).
 *
 * - The staging area: STAGE_RECORDS records; each request is written into one, field by field,
 *   just before Loop.submit(data) (record 0) or Loop.submitStaged(count, datas) (records 0 to
 *   count - 1) reads it and writes its verdict back (the binding copies it into the inbound queue).
 * - The completion area: an array of completion records that the binding fills before each
 *   dispatch(count, final); the Driver reads record `i` with load(i), and takes its fd with takeFd(i).
 *
 * The byte offsets are binding/loop.h's (static_assert'ed there), written here once as constants so
 * that each access is a constant index; the first Wire compares them with the layout the addon
 * exports (binding.ts `wireLayout()`) and refuses to be made if any differs (constants.test.ts
 * checks the same).
 */
import { IOU_COMPLETION_FD, type WireLayout, wireLayout } from "./binding.ts"
import type { PendingTable } from "./PendingTable.ts"

// binding/loop.h's record sizes in bytes, and each field as an index into the typed array that
// reads it (its byte offset / the array's element size).
const STAGE_BYTES = 64
/** Records in the staging area. */
export const STAGE_RECORDS = 32
const STAGE_WORDS = 16 // per record, in 32-bit words
const COMPLETION_BYTES = 24
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
const STAGE_VERDICT = 15 // Int32Array
const COMPLETION_WORDS = 6 // per record, in 32-bit words
const COMPLETION_SLOT = 0
const COMPLETION_GENERATION = 1
const COMPLETION_RESULT = 2 // Int32Array
const COMPLETION_OUTCOME = 12 // Uint8Array
const COMPLETION_FLAGS = 13 // Uint8Array
const COMPLETION_HALVES = 12 // per record, in 16-bit halves
const COMPLETION_BUFFER = 7 // Uint16Array
const COMPLETION_DONE = 4

/** Each constant above beside what the addon's layout gives for it: [name, here, addon]. */
const agreement = (l: WireLayout): ReadonlyArray<readonly [string, number, number]> => [
  ["STAGE_BYTES", STAGE_BYTES, l.STAGE_BYTES],
  ["STAGE_RECORDS", STAGE_RECORDS, l.STAGE_RECORDS],
  ["STAGE_WORDS", STAGE_WORDS, l.STAGE_BYTES / 4],
  ["COMPLETION_BYTES", COMPLETION_BYTES, l.COMPLETION_BYTES],
  ["STAGE_SLOT", STAGE_SLOT, l.STAGE_SLOT / 4],
  ["STAGE_GENERATION", STAGE_GENERATION, l.STAGE_GENERATION / 4],
  ["STAGE_POSITION_LO", STAGE_POSITION_LO, l.STAGE_POSITION_LO / 4],
  ["STAGE_POSITION_HI", STAGE_POSITION_HI, l.STAGE_POSITION_HI / 4],
  ["STAGE_LENGTH", STAGE_LENGTH, l.STAGE_LENGTH / 4],
  ["STAGE_FD", STAGE_FD, l.STAGE_FD / 4],
  ["STAGE_OP", STAGE_OP, l.STAGE_OP / 4],
  ["STAGE_FLAGS", STAGE_FLAGS, l.STAGE_FLAGS / 4],
  ["STAGE_OFFSET", STAGE_OFFSET, l.STAGE_OFFSET / 4],
  ["STAGE_ARG", STAGE_ARG, l.STAGE_ARG / 4],
  ["STAGE_DEADLINE_MS", STAGE_DEADLINE_MS, l.STAGE_DEADLINE_MS / 8],
  ["STAGE_ARG2", STAGE_ARG2, l.STAGE_ARG2 / 4],
  ["STAGE_EXTENT_LO", STAGE_EXTENT_LO, l.STAGE_EXTENT_LO / 4],
  ["STAGE_EXTENT_HI", STAGE_EXTENT_HI, l.STAGE_EXTENT_HI / 4],
  ["STAGE_VERDICT", STAGE_VERDICT, l.STAGE_VERDICT / 4],
  ["COMPLETION_WORDS", COMPLETION_WORDS, l.COMPLETION_BYTES / 4],
  ["COMPLETION_SLOT", COMPLETION_SLOT, l.COMPLETION_SLOT / 4],
  ["COMPLETION_GENERATION", COMPLETION_GENERATION, l.COMPLETION_GENERATION / 4],
  ["COMPLETION_RESULT", COMPLETION_RESULT, l.COMPLETION_RESULT / 4],
  ["COMPLETION_OUTCOME", COMPLETION_OUTCOME, l.COMPLETION_OUTCOME],
  ["COMPLETION_FLAGS", COMPLETION_FLAGS, l.COMPLETION_FLAGS],
  ["COMPLETION_HALVES", COMPLETION_HALVES, l.COMPLETION_BYTES / 2],
  ["COMPLETION_BUFFER", COMPLETION_BUFFER, l.COMPLETION_BUFFER / 2],
  ["COMPLETION_DONE", COMPLETION_DONE, l.COMPLETION_DONE / 4],
]

let checked = false

/** Throws unless the addon's layout gives the constants above (checked once per process). */
export const checkWireLayout = (): void => {
  if (checked) return
  for (const [name, here, addon] of agreement(wireLayout())) {
    if (here !== addon) throw new Error(`binding/loop.h and Wire.ts disagree: ${name} is ${here} here, ${addon} there`)
  }
  checked = true
}

export class Wire {
  /** The staging record's memory, handed to the binding's Loop. */
  readonly staging: ArrayBuffer
  /** The completion area's memory, handed to the binding's Loop. */
  readonly completions: ArrayBuffer
  /** Completion records per dispatch at most. */
  readonly capacity: number

  // The completion record load() read last.
  /** Its slot: the low half of its tag. */
  slot = 0
  /** Its generation: the high half of its tag. */
  generation = 0
  /** Its result: bytes transferred, or -errno. */
  result = 0
  /** Its IOU_OUTCOME_*. */
  outcome = 0
  /** Its IOU_COMPLETION_* flags. */
  flags = 0
  /** Its provided buffer's id (with IOU_COMPLETION_BUFFER). */
  buffer = 0

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
    this.staging = new ArrayBuffer(STAGE_RECORDS * STAGE_BYTES)
    this.stageU32 = new Uint32Array(this.staging)
    this.stageI32 = new Int32Array(this.staging)
    this.stageF64 = new Float64Array(this.staging)
    this.completions = new ArrayBuffer(capacity * COMPLETION_BYTES)
    this.doneU32 = new Uint32Array(this.completions)
    this.doneI32 = new Int32Array(this.completions)
    this.doneU8 = new Uint8Array(this.completions)
    this.doneU16 = new Uint16Array(this.completions)
  }

  /** Writes the request in `slot` of the pending table into staging record `record`. */
  stage(table: PendingTable, slot: number, record: number): void {
    const s = this.stageU32
    const w = record * STAGE_WORDS
    s[w + STAGE_SLOT] = slot
    s[w + STAGE_GENERATION] = table.generation[slot]!
    s[w + STAGE_POSITION_LO] = table.positionLo[slot]!
    s[w + STAGE_POSITION_HI] = table.positionHi[slot]!
    s[w + STAGE_LENGTH] = table.length[slot]!
    this.stageI32[w + STAGE_FD] = table.fd[slot]!
    s[w + STAGE_OP] = table.op[slot]!
    s[w + STAGE_FLAGS] = table.flags[slot]!
    s[w + STAGE_OFFSET] = table.offset[slot]!
    s[w + STAGE_ARG] = table.arg[slot]!
    s[w + STAGE_ARG2] = table.arg2[slot]!
    s[w + STAGE_EXTENT_LO] = table.extentLo[slot]!
    s[w + STAGE_EXTENT_HI] = table.extentHi[slot]!
    this.stageF64[record * (STAGE_BYTES / 8) + STAGE_DEADLINE_MS] = table.deadline[slot]!
  }

  /** Staging record `record`'s verdict, as submitStaged wrote it: 1 taken, 0 no room, -errno refused. */
  verdict(record: number): number {
    return this.stageI32[record * STAGE_WORDS + STAGE_VERDICT]!
  }

  /**
   * Reads completion record `i` into the fields above (the Driver reads one record at a time, each
   * just after loading it).
   */
  load(i: number): void {
    const w = i * COMPLETION_WORDS
    const b = i * COMPLETION_BYTES
    this.slot = this.doneU32[w + COMPLETION_SLOT]!
    this.generation = this.doneU32[w + COMPLETION_GENERATION]!
    this.result = this.doneI32[w + COMPLETION_RESULT]!
    this.outcome = this.doneU8[b + COMPLETION_OUTCOME]!
    this.flags = this.doneU8[b + COMPLETION_FLAGS]!
    this.buffer = this.doneU16[i * COMPLETION_HALVES + COMPLETION_BUFFER]!
  }

  /**
   * Completion record `i`'s bytes done (what moved before the error, with IOU_OUTCOME_ERROR): read
   * apart from load(), only for a completion that failed.
   */
  doneOf(i: number): number {
    return this.doneU32[i * COMPLETION_WORDS + COMPLETION_DONE]!
  }

  /**
   * Completion record `i`'s fd is the Driver's from now on: clears its IOU_COMPLETION_FD, which
   * tells the binding that the fd reached the Driver (it closes the fds of a chunk the Driver could
   * not finish: the worker was terminated).
   */
  takeFd(i: number): void {
    this.doneU8[i * COMPLETION_BYTES + COMPLETION_FLAGS]! &= ~IOU_COMPLETION_FD
  }
}
