/**
 * The pending table: every request the Driver holds, from the call that made it until its
 * completion is delivered, one slot each (a struct of arrays). Holding the request's buffers here is
 * what keeps the memory the kernel may write alive (GC-safe) until then.
 *
 * Slots are reused through a free list. Each take bumps the slot's generation, and a request is
 * named by the pair: to the caller by its RequestHandle (generation * SLOT_LIMIT + slot), to the
 * loop by its tag (the slot and the generation, the two halves of the staging record's tag), so a
 * stale handle or tag can never match the slot's next occupant. This file is the only place that
 * codec is spelled, and where the handles of requests of several steps are made (compositeHandle).
 *
 * The columns are declared once, in COLUMNS (numbers, one typed array each) and REFERENCES (objects,
 * one plain array each); allocating and growing walk those lists. Releasing a slot, once per
 * request, stores into each reference column by name instead (a walk costs a load and a check per
 * column on every completion); the table's test releases a slot with every column of REFERENCE_NAMES
 * set, so a column added to the list and not emptied there fails it.
 */
import type { Site } from "./IoUringError.ts"
import type { Data } from "./types.ts"

/** A handle is generation * SLOT_LIMIT + slot; the native tag is (generation << 32) | slot. */
export const SLOT_LIMIT = 2 ** 24
const GENERATION_LIMIT = 2 ** 28
let nextCompositeHandle = -1

/**
 * The handle of a request of several steps (Sockets.ts's listen, connect and accept, ReadFile.ts's
 * callback form), each step a request of this table: negative, so it never names a slot; one
 * counter for all of them, so that cancel finds each in one registry or the other.
 */
export const compositeHandle = (): number =>
  nextCompositeHandle === -Number.MAX_SAFE_INTEGER ? (nextCompositeHandle = -1) : nextCompositeHandle--

/** fds below this are counted per fd (countOnFd): Linux's default limit of open files per process (nr_open). */
export const COUNTED_FDS = 2 ** 20

// Slot states.
export const FREE = 0
/** In the backpressure queue, waiting for room in the inbound queue. */
export const QUEUED = 1
/** Taken by iou_loop_submit; its completion will come from the loop. */
export const SUBMITTED = 2
/** Submitted, and a cancel was sent to the loop. */
export const CANCELLING = 3
/** Ended without the loop (cancelled while queued, abandoned, refused); delivery is scheduled. */
export const LOCAL = 4

// What a completion calls.
export const KIND_CALLBACK = 0
export const KIND_PROMISE_NUMBER = 1
export const KIND_PROMISE_VOID = 2

/** The callback, or the promise's resolve. */
export type Resolve = ((error: Error | null, result: number) => void) | ((value: never) => void)

/** The numeric columns: each a typed array of this kind. */
const COLUMNS = {
  generation: Uint32Array,
  state: Uint8Array,
  op: Uint8Array,
  flags: Uint8Array,
  kind: Uint8Array,
  fd: Int32Array,
  positionLo: Uint32Array,
  positionHi: Uint32Array,
  offset: Uint32Array,
  length: Uint32Array,
  /** The operation's arguments beyond fd, buffer and position (include/iou.h struct iou_request). */
  arg: Uint32Array,
  arg2: Uint32Array,
  extentLo: Uint32Array,
  extentHi: Uint32Array,
  deadline: Float64Array,
  /** 1: closeFd cancelled it (its fd is being closed): it ends with EBADF, not an AbortError. */
  fdClosed: Uint8Array,
  /** 1: the request acts on its fd (counted in the table's per-fd counts until it is released). */
  onFdCounted: Uint8Array,
  /**
   * 1: an fd the request makes is marked to be closed on exit (Requests.closeOnExit) before the
   * Driver takes it from its completion (Delivery.fromLoop), with nothing in between for a thread's
   * end to interrupt (a caller's closeOnExit, readFile's open).
   */
  markFd: Uint8Array,
}

/** The reference columns: each a plain array of this type, emptied when the slot is released. */
const REFERENCES = {
  data: undefined as Data | undefined,
  resolve: undefined as Resolve | undefined,
  reject: undefined as ((error: unknown) => void) | undefined,
  signal: undefined as AbortSignal | undefined,
  onAbort: undefined as (() => void) | undefined,
  /** A path operation's paths and, where it differs from its row's, its syscall: what its errors carry. */
  site: undefined as Site | undefined,
  /** Turns a successful result into the value delivered (stat: the stats read from its statx buffer). */
  map: undefined as ((result: number) => unknown) | undefined,
  /** recvMany: called with each chunk before the request's one completion. */
  onChunk: undefined as ((chunk: Uint8Array) => void) | undefined,
  /** acceptMany: called with each accepted fd before the request's one completion. */
  onFd: undefined as ((fd: number) => void) | undefined,
}

type Numbers = { -readonly [K in keyof typeof COLUMNS]: InstanceType<(typeof COLUMNS)[K]> }
type References = { readonly [K in keyof typeof REFERENCES]: Array<(typeof REFERENCES)[K]> }

const NUMBER_NAMES = Object.keys(COLUMNS) as Array<keyof typeof COLUMNS>
export const REFERENCE_NAMES = Object.keys(REFERENCES) as Array<keyof typeof REFERENCES>

/** A validated 64-bit value's low and high 32 bits (the wire carries it as two uint32 halves). */
const low32 = (v: number | bigint): number => (typeof v === "number" ? v >>> 0 : Number(v & 0xffffffffn))
const high32 = (v: number | bigint): number => (typeof v === "number" ? Math.floor(v / 4294967296) : Number(v >> 32n))

type Column = Uint8Array | Uint32Array | Int32Array | Float64Array

/** A copy of `a` with `n` elements (the new ones zero). */
const grown = <A extends Column>(a: A, n: number): A => {
  const b = new (a.constructor as new (n: number) => A)(n)
  b.set(a as never)
  return b
}

// The columns are the table's own fields (declared by the lists above, not one by one).
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface PendingTable extends Numbers, References {}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class PendingTable {
  /** Slots allocated; grows by doubling up to SLOT_LIMIT. */
  capacity: number
  /** Slots taken and not yet released: the requests the Driver holds. */
  outstanding = 0
  /**
   * One past the highest slot ever taken: every slot in use is below it. The free list is a stack
   * with the never-taken slots at its bottom in order and freed slots pushed on top, so a
   * never-taken slot is handed out only when every slot taken before is in use: this is the most
   * requests ever outstanding at once, and a scan of the slots in use (closeFd's) stops here
   * instead of at the whole capacity.
   */
  reached = 0
  /**
   * Per fd number below COUNTED_FDS, how many slots in use hold a request that acts on that fd
   * (countOnFd): closeFd scans the table only for an fd with some, and stops once it found them all.
   */
  private onFdCounts = new Uint32Array(1024)
  private freeSlots: Int32Array
  private freeTop = 0

  constructor(capacity: number) {
    this.capacity = capacity
    for (const name of NUMBER_NAMES) (this as Numbers)[name] = new COLUMNS[name](capacity) as never
    for (const name of REFERENCE_NAMES) (this as { [K in typeof name]: Array<unknown> })[name] = []
    this.freeSlots = new Int32Array(capacity)
    for (let slot = capacity - 1; slot >= 0; slot--) this.freeSlots[this.freeTop++] = slot
  }

  /**
   * Takes a free slot for a new request (growing the table when none is left) and gives it its
   * next generation; the caller fills the columns. Throws a RangeError beyond SLOT_LIMIT slots.
   */
  take(): number {
    if (this.freeTop === 0) this.grow()
    const slot = this.freeSlots[--this.freeTop]!
    if (slot >= this.reached) this.reached = slot + 1
    let generation = this.generation[slot]! + 1
    if (generation >= GENERATION_LIMIT) generation = 1
    this.generation[slot] = generation
    this.outstanding++
    return slot
  }

  /**
   * Takes a slot (take()) and fills the columns every request has; `onFd`: the operation acts on
   * `fd` (Operations.ts), so the request is counted on it (countOnFd) when `fd` is one.
   */
  fill(
    op: number,
    flags: number,
    fd: number,
    data: Data | undefined,
    position: number | bigint,
    offset: number,
    length: number,
    deadline: number,
    onFd: boolean,
  ): number {
    const slot = this.take()
    this.op[slot] = op
    this.flags[slot] = flags
    this.fd[slot] = fd
    this.setPosition(slot, position)
    this.offset[slot] = offset
    this.length[slot] = length
    this.deadline[slot] = deadline
    this.fdClosed[slot] = 0
    this.markFd[slot] = 0
    this.data[slot] = data
    if (fd >= 0 && onFd) this.countOnFd(slot)
    return slot
  }

  /** Sets the slot's position columns from a validated position (number or bigint). */
  setPosition(slot: number, position: number | bigint): void {
    this.positionLo[slot] = low32(position)
    this.positionHi[slot] = high32(position)
  }

  /** Sets the slot's operation-specific arguments (include/iou.h struct iou_request: arg, arg2, extent). */
  setArgs(slot: number, arg: number, arg2: number, extent: number | bigint): void {
    this.arg[slot] = arg
    this.arg2[slot] = arg2
    this.extentLo[slot] = low32(extent)
    this.extentHi[slot] = high32(extent)
  }

  /**
   * Counts the request in `slot` as one acting on its fd (column `fd`, set), until it is released.
   * An fd from COUNTED_FDS on is not counted (no real fd is that high by default; a caller's bad
   * number must not grow the counts to gigabytes): closeFd scans the whole table for it.
   */
  countOnFd(slot: number): void {
    const fd = this.fd[slot]!
    if (fd >= COUNTED_FDS) return
    if (fd >= this.onFdCounts.length) {
      const n = Math.max(fd + 1, this.onFdCounts.length * 2)
      const counts = new Uint32Array(n)
      counts.set(this.onFdCounts)
      this.onFdCounts = counts
    }
    this.onFdCounts[fd]!++
    this.onFdCounted[slot] = 1
  }

  /** How many slots in use hold a request that acts on `fd` (countOnFd); -1 for an fd not counted. */
  onFdCount(fd: number): number {
    if (fd >= COUNTED_FDS) return -1
    return fd < this.onFdCounts.length ? this.onFdCounts[fd]! : 0
  }

  /** Frees the slot: its references are dropped (the kernel is done with them) and it is FREE. */
  release(slot: number): void {
    if (this.onFdCounted[slot] === 1) {
      this.onFdCounts[this.fd[slot]!]!--
      this.onFdCounted[slot] = 0
    }
    this.data[slot] = undefined
    this.resolve[slot] = undefined
    this.reject[slot] = undefined
    this.signal[slot] = undefined
    this.onAbort[slot] = undefined
    this.site[slot] = undefined
    this.map[slot] = undefined
    this.onChunk[slot] = undefined
    this.onFd[slot] = undefined
    this.state[slot] = FREE
    this.freeSlots[this.freeTop++] = slot
    this.outstanding--
  }

  /** The caller's handle of the request in `slot`. */
  handleOf(slot: number): number {
    return this.generation[slot]! * SLOT_LIMIT + slot
  }

  /** Sets `markFd` of the live request `handle` (nothing when it names none). */
  markFdOf(handle: unknown): void {
    const slot = this.slotOf(handle)
    if (slot >= 0) this.markFd[slot] = 1
  }

  /** The slot a handle names, or -1 when it names no live request (stale, malformed, unknown). */
  slotOf(handle: unknown): number {
    if (typeof handle !== "number" || !Number.isSafeInteger(handle) || handle <= 0) return -1
    const slot = handle % SLOT_LIMIT
    return this.holds(slot, (handle - slot) / SLOT_LIMIT) ? slot : -1
  }

  /** True when (slot, generation), a tag's two halves, names the slot's current occupant. */
  holds(slot: number, generation: number): boolean {
    return slot < this.capacity && this.generation[slot] === generation
  }

  private grow(): void {
    const old = this.capacity
    if (old >= SLOT_LIMIT) throw new RangeError(`more than ${SLOT_LIMIT} requests outstanding`)
    const n = Math.min(old * 2, SLOT_LIMIT)
    this.capacity = n
    for (const name of NUMBER_NAMES) (this as Numbers)[name] = grown(this[name], n) as never
    this.freeSlots = grown<Int32Array>(this.freeSlots, n)
    for (let slot = n - 1; slot >= old; slot--) this.freeSlots[this.freeTop++] = slot
  }
}
