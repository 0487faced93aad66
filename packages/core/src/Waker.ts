/**
 * Waker: the producer -> loop wake protocol (the C `waker.c`), as a state machine over one 32-bit
 * word (also the futex word) and the eventfd counter. Every atomic step is a separate function so
 * that interleavings of producers and the loop can be explored exhaustively (test/Waker.test.ts).
 * The word, as in packages/native/csrc/waker.h:
 *
 * ```
 * bit 0      WAITING_ON_FUTEX    the loop is (about to be) parked in FUTEX_WAIT on this word
 * bit 1      WAITING_ON_EVENTFD  the loop is (about to be) blocked in io_uring_enter
 * bit 2      WAKE_SIGNALLED      a wake was claimed for this epoch (latched until disarm)
 * bits 3..31 submission sequence (29 bits, wrapping): requests published by producers
 * ```
 *
 * Producer side (the Driver's thread), after putting requests in the inbound queue:
 * - `publish` = `publishSequence` (fetch_add, release; pairs with the loop's acquire in `pending`
 *   and `arm`, so a loop that sees the sequence sees the request), then `wake` only if the previous
 *   word had a wait bit without WAKE_SIGNALLED.
 * - `wake` (also the out-of-band path of close and cancel, which keep the sequence) = `claimWake`
 *   (fetch_or WAKE_SIGNALLED, release; pairs with `disarm`'s acquire), then, only if this call set
 *   the bit, the syscall the previous wait bit asks for (`wakeAction`): an eventfd write
 *   (`signal`) or a FUTEX_WAKE (`futexWake`). Unarmed, the bit stays latched and the next arm or
 *   park does not sleep. So one syscall at most per armed epoch.
 *
 * Loop side:
 * - `arm` (fetch_or WAITING_ON_EVENTFD) before a blocking io_uring_enter, returning the snapshot;
 *   it blocks only if `isStillIdle` (no latch, sequence == processed), or at waiter capacity unless
 *   `isLatched`. The wait ends on a CQE, including the wake poll's (eventfd readable).
 * - `armIdle` (fetch_or WAITING_ON_FUTEX) when nothing is in flight, then FUTEX_WAIT(snapshot)
 *   only if still idle; the kernel refuses to sleep if the word changed since (`futexWouldSleep`).
 * - `disarm` (fetch_and ~7, acquire): clears the wait bits and the latch (the C `iou__waker_disarm`).
 * - `acknowledge`: on each wake-poll CQE, reads (drains) the eventfd counter.
 * - `pending(processed)`: the sequence is ahead of `processed` by less than half the domain (a
 *   larger distance means it lags: the loop took a request whose publish has not landed yet).
 *
 * Why no wake-up is lost: arming and reading the sequence are one atomic step. A publish or wake
 * before it shows in the snapshot (the loop does not sleep). One after it sees the wait bit, so it,
 * or an earlier waker of the same epoch, makes the syscall: eventfd readiness persists until
 * acknowledged and ends io_uring_enter through the multishot poll; a FUTEX_WAKE finds the loop
 * asleep, or the word changed before FUTEX_WAIT compared it, so the loop does not sleep.
 */
import { fail } from "./Invariant.ts"

export const WAITING_ON_FUTEX = 1
export const WAITING_ON_EVENTFD = 2
export const WAKE_SIGNALLED = 4
export const WAIT_BITS = 3
export const SUBMISSION_SHIFT = 3
export const SUBMISSION_INCREMENT = 1 << SUBMISSION_SHIFT
export const SUBMISSION_SEQ_MASK = 0x1fff_ffff
/** Half the sequence domain: distances at or beyond it are "lagging", not pending. */
export const HALF_SUBMISSION_DOMAIN = 0x1000_0000

/** What a wake that claimed WAKE_SIGNALLED must do. */
export const WAKE_NONE = 0
export const WAKE_EVENTFD = 1
export const WAKE_FUTEX = 2

export interface Waker {
  /** The shared word (uint32). */
  word: number
  /** The eventfd counter (what a read would return). */
  eventfd: number
  /** Syscalls made by wakes: eventfd writes and futex wakes (the `wakes` counter of the stats). */
  writes: number
  futexWakes: number
}

export const make = (): Waker => ({ word: 0, eventfd: 0, writes: 0, futexWakes: 0 })

/** The submission sequence of a word. */
export const sequence = (word: number): number => word >>> SUBMISSION_SHIFT

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
  (previous & WAIT_BITS) !== 0 && (previous & WAKE_SIGNALLED) === 0

/** Wake step 1: latches WAKE_SIGNALLED; returns the previous word. */
export const claimWake = (w: Waker): number => {
  const previous = w.word
  w.word = (previous | WAKE_SIGNALLED) >>> 0
  return previous
}

/** The syscall a wake that saw `previous` must make: none (already claimed, or unarmed), eventfd or futex. */
export const wakeAction = (previous: number): number => {
  if ((previous & WAKE_SIGNALLED) !== 0) return WAKE_NONE
  if ((previous & WAITING_ON_FUTEX) !== 0) return WAKE_FUTEX
  if ((previous & WAITING_ON_EVENTFD) !== 0) return WAKE_EVENTFD
  return WAKE_NONE
}

/** Wake step 2 (eventfd path): the eventfd write. */
export const signal = (w: Waker): void => {
  w.eventfd++
  w.writes++
}

/** Wake step 2 (futex path): FUTEX_WAKE of the parked loop. */
export const futexWake = (w: Waker): void => {
  w.futexWakes++
  w.writes++
}

/** Out-of-band wake (close, cancel) and publish's slow path; returns the action it took. */
export const wake = (w: Waker): number => {
  const action = wakeAction(claimWake(w))
  if (action === WAKE_EVENTFD) signal(w)
  else if (action === WAKE_FUTEX) futexWake(w)
  return action
}

/** Makes one more request visible to the loop and wakes it if it is armed. */
export const publish = (w: Waker): void => {
  if (needsWake(publishSequence(w))) wake(w)
}

const armWith = (w: Waker, bit: number): number => {
  const previous = w.word
  if ((previous & WAIT_BITS) !== 0) fail("arm while a wait bit is already set")
  w.word = (previous | bit) >>> 0
  return w.word
}

/** Loop: announces a blocking io_uring_enter; returns the snapshot. */
export const arm = (w: Waker): number => armWith(w, WAITING_ON_EVENTFD)

/** Loop, nothing in flight: announces a futex park; returns the snapshot FUTEX_WAIT compares with. */
export const armIdle = (w: Waker): number => armWith(w, WAITING_ON_FUTEX)

/** FUTEX_WAIT(word, snapshot) sleeps only while the word still equals the snapshot. */
export const futexWouldSleep = (w: Waker, snapshot: number): boolean => w.word === snapshot

/** A wake (close, cancel, or a publisher's claim) is latched in the snapshot. */
export const isLatched = (snapshot: number): boolean => (snapshot & WAKE_SIGNALLED) !== 0

/** The loop may sleep: nothing published beyond `processed` and no latched wake. */
export const isStillIdle = (snapshot: number, processed: number): boolean =>
  !isLatched(snapshot) && sequence(snapshot) === processed

/** Loop: after the wait, clears the wait bits and the latch; the sequence stays (the C `iou__waker_disarm`). */
export const disarm = (w: Waker): void => {
  w.word = (w.word & ~(WAIT_BITS | WAKE_SIGNALLED)) >>> 0
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
  return delta !== 0 && delta < HALF_SUBMISSION_DOMAIN
}

/** The loop's processed sequence after taking one more request. */
export const nextProcessed = (processed: number): number => (processed + 1) & SUBMISSION_SEQ_MASK
