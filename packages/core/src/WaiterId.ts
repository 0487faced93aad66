/**
 * WaiterId: the identity of one occupancy of one waiter slot, and its packing into an SQE's 64-bit
 * `user_data`, laid out exactly as the seed does:
 *
 * ```
 * bit 63       cancel marker: 0 on operation SQEs/CQEs, 1 on the ASYNC_CANCEL aimed at that operation
 * bits 32..62  generation (31 bits, wraps modulo 2^31)
 * bits 0..31   slot index
 * 2^64 - 1     WAKE_USER_DATA, reserved for the eventfd wake poll (checked before decoding)
 * ```
 *
 * Inside the model a WaiterId is a plain number (no allocation on hot paths): `generation *
 * 2^INDEX_BITS_MODEL + index`. Slot indices are below MAX_RING_SIZE (2^15), so 16 bits hold them
 * and the number stays an exact integer (31 + 16 = 47 bits). The `user_data` boundary is a bigint,
 * as is the C `uint64_t`. `user_data` whose index does not fit a slab decodes to `NONE`, which every
 * Waiters operation treats as out of range (stale), never as a live slot.
 */

/** A waiter identity (slot index + generation), as a number. */
export type WaiterId = number

/** The generation's 31 bits, above the 32-bit slot index inside `user_data`. */
export const GENERATION_MASK = 0x7fff_ffff
/** Marks the `user_data` of an ASYNC_CANCEL SQE (and of its CQE). */
export const CANCEL_BIT = 1n << 63n
/** The wake poll's `user_data`; never a waiter because indices are bounded by the slab capacity. */
export const WAKE_USER_DATA = 0xffff_ffff_ffff_ffffn

/** Indices the model can represent (>= MAX_RING_SIZE). */
const INDEX_LIMIT = 0x1_0000

/** No waiter: an out-of-range id, never equal to a live one. */
export const NONE: WaiterId = -1

/** Packs a slot index and a generation (masked to 31 bits). */
export const make = (index: number, generation: number): WaiterId => {
  if (!(index >= 0 && index < INDEX_LIMIT && Number.isInteger(index))) {
    throw new RangeError(`waiter index ${index} outside [0, ${INDEX_LIMIT})`)
  }
  return (generation & GENERATION_MASK) * INDEX_LIMIT + index
}

export const index = (id: WaiterId): number => id % INDEX_LIMIT

export const generation = (id: WaiterId): number => Math.floor(id / INDEX_LIMIT)

/** The generation a slot gets when it is freed: +1, wrapping from 2^31 - 1 to 0. */
export const nextGeneration = (generation: number): number => (generation + 1) & GENERATION_MASK

/** `user_data` of the operation SQEs of this waiter (cancel marker clear). */
export const userData = (id: WaiterId): bigint => (BigInt(generation(id)) << 32n) | BigInt(index(id))

/** `user_data` of the ASYNC_CANCEL SQE aimed at this waiter (cancel marker set). */
export const cancelUserData = (id: WaiterId): bigint => userData(id) | CANCEL_BIT

/** True when `user_data` carries the cancel marker. Check WAKE_USER_DATA first. */
export const isCancel = (userData: bigint): boolean => (userData & CANCEL_BIT) !== 0n

/**
 * The waiter a `user_data` names (cancel marker stripped), or NONE when its index is beyond any
 * slab. Check WAKE_USER_DATA first: it is not a waiter.
 */
export const fromUserData = (userData: bigint): WaiterId => {
  const index = Number(userData & 0xffff_ffffn)
  if (index >= INDEX_LIMIT) return NONE
  const generation = Number((userData >> 32n) & BigInt(GENERATION_MASK))
  return generation * INDEX_LIMIT + index
}
