/**
 * Waker: the producer -> loop wake protocol (the C `waker.c`), as a state machine over one 32-bit
 * word and the eventfd counter, with every atomic step a separate function so that interleavings
 * of producers and the loop can be explored exhaustively (see test/Waker.test.ts).
 *
 * ```
 * bit 0      SLEEP_INTENT    the loop is (about to be) blocked in io_uring_enter, waiting for a CQE
 * bit 1      WAKE_SIGNALLED  an eventfd write was claimed for this armed epoch, or a wake latched
 * bits 2..31 submission sequence (30 bits, wrapping): requests published by producers
 * ```
 *
 * Producer side (the Driver's thread), after putting a request in the inbound queue:
 * - `publish` = `publishSequence` (fetch_add SUBMISSION_INCREMENT, release; pairs with the loop's
 *   acquire in `pending`/`arm`, so a loop that sees the sequence sees the request), then, only if
 *   the previous word had SLEEP_INTENT without WAKE_SIGNALLED, `wake`.
 * - `wake` (also the out-of-band path of close and cancel, which do not bump the sequence) =
 *   `claimWake` (fetch_or WAKE_SIGNALLED, release; pairs with `disarm`'s acquire), then `signal`
 *   (the eventfd write) only if this call set the bit and the loop was armed. Only the first waker
 *   of an armed epoch writes; a wake while unarmed stays latched and makes the next arm not sleep.
 *
 * Loop side:
 * - `arm` (fetch_or SLEEP_INTENT) returns the snapshot; the loop blocks only if `isStillIdle`:
 *   no latched wake and the sequence equals what it has processed. With waiters at capacity it
 *   blocks unless `isLatched` (more published requests cannot be admitted anyway).
 * - `disarm` (fetch_and ~3, acquire) after the wait returns: clears the intent and the latch.
 * - `acknowledge` on each wake-poll CQE: reads (drains) the eventfd counter.
 * - `pending(processed)`: the sequence is ahead of `processed` by less than half the domain (a
 *   larger distance means it lags: the loop took a request whose publish has not landed yet).
 *
 * Why no wake-up is lost: arming and reading the sequence are one atomic step. A publish before the
 * arm shows in the snapshot (the loop does not block). A publish after the arm sees SLEEP_INTENT, so
 * it (or an earlier publisher of the same epoch) claims the wake and writes the eventfd, whose
 * readiness persists until acknowledged and ends the wait through the multishot wake poll.
 */
import { fail } from "./Invariant.ts"

export const SLEEP_INTENT = 1
export const WAKE_SIGNALLED = 2
export const SUBMISSION_INCREMENT = 4
export const SUBMISSION_SEQ_MASK = 0x3fff_ffff
/** Half the sequence domain: distances at or beyond it are "lagging", not pending. */
export const HALF_SUBMISSION_SEQUENCE_DOMAIN = 0x2000_0000

export interface Waker {
  /** The shared word (uint32). */
  word: number
  /** The eventfd counter (what a read would return). */
  eventfd: number
  /** eventfd writes so far (the `wakes` counter of the stats). */
  writes: number
}

export const make = (): Waker => ({ word: 0, eventfd: 0, writes: 0 })

/** The submission sequence of a word. */
export const sequence = (word: number): number => word >>> 2

/** The sequence producers have published. */
export const submitted = (w: Waker): number => sequence(w.word)

/** Producer step 1: bumps the sequence; returns the previous word. */
export const publishSequence = (w: Waker): number => {
  const previous = w.word
  w.word = (previous + SUBMISSION_INCREMENT) >>> 0
  return previous
}

/** Whether a publish that saw `previous` must go on to `wake`. */
export const needsWake = (previous: number): boolean =>
  (previous & SLEEP_INTENT) !== 0 && (previous & WAKE_SIGNALLED) === 0

/** Wake step 1: latches WAKE_SIGNALLED; returns the previous word. */
export const claimWake = (w: Waker): number => {
  const previous = w.word
  w.word = (previous | WAKE_SIGNALLED) >>> 0
  return previous
}

/** Whether a wake that saw `previous` claimed the epoch's single eventfd write. */
export const needsSignal = (previous: number): boolean =>
  (previous & WAKE_SIGNALLED) === 0 && (previous & SLEEP_INTENT) !== 0

/** Wake step 2: the eventfd write. */
export const signal = (w: Waker): void => {
  w.eventfd++
  w.writes++
}

/** Out-of-band wake (close, cancel) and publish's slow path. Returns true if it wrote the eventfd. */
export const wake = (w: Waker): boolean => {
  if (!needsSignal(claimWake(w))) return false
  signal(w)
  return true
}

/** Makes one more request visible to the loop and wakes it if it is armed. */
export const publish = (w: Waker): void => {
  if (needsWake(publishSequence(w))) wake(w)
}

/** Loop: declares the intent to block; returns the snapshot (the word with SLEEP_INTENT set). */
export const arm = (w: Waker): number => {
  const previous = w.word
  if ((previous & SLEEP_INTENT) !== 0) fail("arm while already armed")
  w.word = (previous | SLEEP_INTENT) >>> 0
  return w.word
}

/** A wake (close, cancel, or a publisher's claim) is latched in the snapshot. */
export const isLatched = (snapshot: number): boolean => (snapshot & WAKE_SIGNALLED) !== 0

/** The loop may block: nothing published beyond `processed` and no latched wake. */
export const isStillIdle = (snapshot: number, processed: number): boolean =>
  !isLatched(snapshot) && sequence(snapshot) === processed

/** Loop: after the wait, clears the intent and the latch (the sequence stays). */
export const disarm = (w: Waker): void => {
  w.word = (w.word & ~(SLEEP_INTENT | WAKE_SIGNALLED)) >>> 0
}

/** Loop: on a wake-poll CQE, drains the eventfd; returns what the read returned (0: nothing). */
export const acknowledge = (w: Waker): number => {
  const count = w.eventfd
  w.eventfd = 0
  return count
}

/** The published sequence is ahead of `processed` (half-range compare, wrapping). */
export const pending = (w: Waker, processed: number): boolean => {
  const delta = (submitted(w) - processed) & SUBMISSION_SEQ_MASK
  return delta !== 0 && delta < HALF_SUBMISSION_SEQUENCE_DOMAIN
}

/** The loop's processed sequence after taking one more request. */
export const nextProcessed = (processed: number): number => (processed + 1) & SUBMISSION_SEQ_MASK
