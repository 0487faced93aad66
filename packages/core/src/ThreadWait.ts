/**
 * ThreadWait: how the thread engine's loop waits at the end of an iteration (the C
 * `thread_wait.c`, step 6 of `loop.c`), as a pure decision: the facts the iteration ends with in,
 * one named outcome out. The outcomes mirror the C `enum iou__wait` with only the case changed
 * (`SubmitOnly` is `IOU_WAIT_SUBMIT_ONLY`), the facts `struct iou__wait_facts` (`stagingLeft` is
 * `staging_left`); packages/native/test/ThreadWait.conformance.test.ts runs every combination
 * through both and requires the same outcome.
 *
 * The rules, first match wins:
 *
 * 1. Disconnected (closing, inbound queue empty) -> `Drain`.
 * 2. The SQ is full, or it filled while pending cancels, ready-queue entries or the wake re-arm were
 *    still queued -> `SubmitOnly`, even at waiter capacity: waiting for a CQE then could wait on the
 *    very op a queued cancel targets (the model's departure from the seed, see Loop).
 * 3. No wake poll (IOPOLL: POLL_ADD is not allowed there): fully idle -> `Park`, else `SubmitOnly`
 *    (nothing could end a blocking enter when the owner publishes).
 * 4. Fully idle (drained, no waiter) -> `SpinThenPark`, or `Park` when spinning is off or the owner
 *    is on the loop's only CPU.
 * 5. Drained with waiters in flight while the owner is in the middle of a turn -> `OwnerTurn`,
 *    unless spinning is off, the owner is on the loop's only CPU, or the turn wait already ran out
 *    and no request was taken since. A turn that outlasts the budget ends in `Block`.
 * 6. Otherwise: at waiter capacity -> `BlockAtCapacity`, drained with waiters in flight -> `Block`.
 *
 * "The owner is on the loop's only CPU" (`oneCpu && ownerOnLoopCpu`): nothing the owner would
 * publish can arrive while the loop polls for it, so the loop never spins or waits for the turn
 * then; on a loop that may run elsewhere the CPU match says little and is ignored.
 */
import * as Loop from "./Loop.ts"

export type Wait =
  /** Shutdown: let in-flight work finish (the drain phase) and exit. */
  | { readonly _tag: "Drain" }
  /** io_uring_enter without waiting, then go round again. */
  | { readonly _tag: "SubmitOnly" }
  /** FUTEX_WAIT on the waker's word unless work or a wake is there (Waker.armIdle); no spin. */
  | { readonly _tag: "Park" }
  /** Poll the published sequence for the spinner's budget, then `Park` and adapt the budget. */
  | { readonly _tag: "SpinThenPark" }
  /** Submit what is staged and poll briefly for the end of the owner's turn; `Block` if it outlasts the budget. */
  | { readonly _tag: "OwnerTurn" }
  /** Arm the waker; wait in io_uring_enter for one CQE (until the next deadline) unless work was published or a wake latched. */
  | { readonly _tag: "Block" }
  /**
   * As `Block`, but published work is no reason to stay awake (it cannot be admitted): only a latched wake is, or a
   * request pushed since the queued deadlines were folded (the C loop's engine_thread.c; the wait's bound must know its
   * deadline).
   */
  | { readonly _tag: "BlockAtCapacity" }

export const Drain: Wait = { _tag: "Drain" }
export const SubmitOnly: Wait = { _tag: "SubmitOnly" }
export const Park: Wait = { _tag: "Park" }
export const SpinThenPark: Wait = { _tag: "SpinThenPark" }
export const OwnerTurn: Wait = { _tag: "OwnerTurn" }
export const Block: Wait = { _tag: "Block" }
export const BlockAtCapacity: Wait = { _tag: "BlockAtCapacity" }

/** Every outcome, in the order of the C enum. */
export const all: ReadonlyArray<Wait> = [Drain, SubmitOnly, Park, SpinThenPark, OwnerTurn, Block, BlockAtCapacity]

/** What the iteration ends with (the C `struct iou__wait_facts`). */
export interface Facts {
  readonly fill: Loop.FillResult
  /** Pending cancels, ready-queue entries or the wake re-arm are still queued (the SQ filled first). */
  readonly stagingLeft: boolean
  /** The ring watches the waker's eventfd (false with IOPOLL). */
  readonly wakePoll: boolean
  /** The waiter slab is not empty. */
  readonly waitersInFlight: boolean
  /** The idle spin budget is above 0: the idle spin and the turn wait may poll. */
  readonly spinEnabled: boolean
  /** Between the owner's early publish and the publish that ends its turn. */
  readonly ownerInTurn: boolean
  /** The turn wait ran out and the loop has taken no request since. */
  readonly turnWaitSpent: boolean
  /** The loop thread is confined to one CPU. */
  readonly oneCpu: boolean
  /** The owner last published from the CPU the loop runs on. */
  readonly ownerOnLoopCpu: boolean
}

/** The decision (the C `iou__wait_decide`). Pure. */
export const decide = (f: Facts): Wait => {
  if (f.fill === Loop.Disconnected) return Drain
  if (f.fill === Loop.AtSubmissionQueueCapacity || f.stagingLeft) return SubmitOnly
  const idle = f.fill === Loop.Drained && !f.waitersInFlight
  if (!f.wakePoll) return idle ? Park : SubmitOnly
  // A poll on the owner's CPU would only keep the owner from running.
  const mayPoll = f.spinEnabled && !(f.oneCpu && f.ownerOnLoopCpu)
  if (idle) return mayPoll ? SpinThenPark : Park
  if (f.fill === Loop.Drained && mayPoll && f.ownerInTurn && !f.turnWaitSpent) return OwnerTurn
  return f.fill === Loop.AtWaiterCapacity ? BlockAtCapacity : Block
}
