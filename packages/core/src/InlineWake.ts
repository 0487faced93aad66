/**
 * InlineWake: the inline engine's wake handshake (the C `engine_inline.c` and `ring.c`'s
 * `iou__ring_eventfd_signals`), as a state machine whose every atomic step is a function, so that
 * test/InlineWake.test.ts can explore the interleavings of the owner's pass with the kernel
 * exhaustively. It is the seed's arm-and-recheck in its inline form.
 *
 * The kernel queues two kinds of work, each an actor of two steps (`taskWork()`, `cqe()`): first
 * the work becomes visible (an atomic read-modify-write, a full barrier), then the kernel reads the
 * CQ flags and writes the registered eventfd unless IORING_CQ_EVENTFD_DISABLED is set.
 *
 * - Task work (DEFER_TASKRUN: only entering the ring runs it) goes on a list and sets
 *   IORING_SQ_TASKRUN; the kernel signals only when the list stops being empty, so a second piece
 *   queued before an enter ran the first signals nothing.
 * - A CQE goes into the CQ, and each one signals; when the CQ is full (it holds `CQ_ENTRIES` here)
 *   the kernel holds it back on its overflow list, sets IORING_SQ_CQ_OVERFLOW and signals nothing
 *   (the CQ tail did not move); the next enter hands it over as room allows.
 *
 * The owner (the JS thread), in one pass started because the eventfd was readable (or by a
 * publish or the deadline timer): `disableSignals` (its own enter and reaping would only announce
 * CQEs it is about to handle), `handle` (enter: task work runs, held-back CQEs move into the CQ;
 * then every CQE present is handled), `enableSignals` (a sequentially consistent exchange: a full
 * barrier), then `recheck`: work it can see now (the task-work flag, the overflow flag, a CQE, or
 * an enter it still owes) gets a self-written eventfd, so the host loop calls again after its other
 * callbacks. The faults of the C fault-injection build take `handle`'s place (`passWith`):
 * `enterFails` (EINTR, EAGAIN, EBUSY before anything ran: the pass owes an enter, the C
 * `enter_again`) and `handlePartly` (the enter ran, the reap saw the CQ empty: a CQE seen late).
 *
 * Why no wake-up is lost: work whose signal step ran while signals were off was queued before that
 * step, so before `enableSignals`; both sides have a full barrier between their write and their
 * read, so the owner's `recheck` sees it (or `handle` already took it). Work whose signal step runs
 * after `enableSignals` signals itself, unless the kernel stays silent for it: task work behind
 * unrun task work, whose flag the recheck saw or whose own signal announced it; a CQE held back,
 * behind a full CQ whose CQEs were announced the same way, and whose flag the next pass's recheck
 * sees. A pass that met a fault leaves its work where the recheck looks, so it needs no rule of its
 * own: it ends, and the recheck announces it.
 *
 * The other mode, the ring fd under the host loop's poll (`RingFd` below, IOU_INLINE_WAKE_RINGFD),
 * has no signal to switch: the kernel announces its work by the CQ itself, which the ring fd
 * reports readable for as long as it holds entries (level-triggered), and a completion's task work
 * (COOP_TASKRUN) runs when the owner's thread next leaves a syscall, the host loop's poll included,
 * and posts its CQE there. What the kernel does not announce is the owner's own work: a cancel
 * taken from JavaScript, SQEs a bounded pass left to submit. Those get a pass due at once (the
 * owner's timer at 0), set by the cancel and by the pass's recheck.
 */

export interface InlineWake {
  /** Task work queued and not yet run by an enter. */
  taskWork: number
  /** CQEs in the CQ, not yet handled. */
  cqes: number
  /** CQEs the kernel holds back for want of CQ room (its overflow list). */
  heldBack: number
  /** IORING_SQ_TASKRUN: set when task work is queued, cleared by the owner's enter. */
  taskrun: boolean
  /** IORING_SQ_CQ_OVERFLOW: set while the kernel holds CQEs back. */
  overflow: boolean
  /** The owner's enter failed transiently this pass (the C `enter_again`). */
  enterAgain: boolean
  /** IORING_CQ_EVENTFD_DISABLED cleared. */
  signalsOn: boolean
  /** The registered eventfd's counter: readable when above 0. */
  eventfd: number
}

/** The model's CQ: small, so that a second CQE is held back. */
export const CQ_ENTRIES = 1

/** Signals are on between passes. */
export const make = (): InlineWake => ({
  taskWork: 0,
  cqes: 0,
  heldBack: 0,
  taskrun: false,
  overflow: false,
  enterAgain: false,
  signalsOn: true,
  eventfd: 0,
})

type Step = (w: InlineWake) => void

// ---- The kernel ------------------------------------------------------------------------------

const signalIfEnabled = (w: InlineWake): void => {
  if (w.signalsOn) w.eventfd++
}

/** One piece of task work: queued (signalling only onto an empty list), then the signal step. */
export const taskWork = (): ReadonlyArray<Step> => {
  let first = false
  return [
    (w) => {
      first = w.taskWork === 0
      w.taskWork++
      w.taskrun = true
    },
    (w) => {
      if (first) signalIfEnabled(w)
    },
  ]
}

/** One CQE: posted into the CQ (or held back when it is full), then the signal step. */
export const cqe = (): ReadonlyArray<Step> => {
  let posted = false
  return [
    (w) => {
      posted = w.cqes < CQ_ENTRIES
      if (posted) {
        w.cqes++
      } else {
        w.heldBack++
        w.overflow = true
      }
    },
    (w) => {
      if (posted) signalIfEnabled(w)
    },
  ]
}

// ---- The owner ---------------------------------------------------------------------------------

/** The host loop saw the eventfd readable and read its counter. */
export const acknowledge = (w: InlineWake): void => {
  w.eventfd = 0
}

export const disableSignals = (w: InlineWake): void => {
  w.signalsOn = false
}

/** io_uring_enter with GETEVENTS: task work runs, held-back CQEs move into the CQ as room allows. */
const enter = (w: InlineWake): void => {
  w.taskWork = 0
  w.taskrun = false
  const moved = Math.min(w.heldBack, CQ_ENTRIES - w.cqes)
  w.cqes += moved
  w.heldBack -= moved
  w.overflow = w.heldBack > 0
  w.enterAgain = false
}

/** An enter, then every CQE in the CQ is handled. */
export const handle = (w: InlineWake): void => {
  enter(w)
  w.cqes = 0
}

/** The enter failed with EINTR, EAGAIN or EBUSY before running anything: the pass owes one. */
export const enterFails = (w: InlineWake): void => {
  w.enterAgain = true
}

/** The enter ran, and the reap saw the CQ empty: its CQEs stay for a later look. */
export const handlePartly = (w: InlineWake): void => {
  enter(w)
}

export const enableSignals = (w: InlineWake): void => {
  w.signalsOn = true
}

/** The recheck: work the owner can see now is announced by writing the eventfd itself. */
export const recheck = (w: InlineWake): void => {
  if (w.taskrun || w.overflow || w.enterAgain || w.cqes > 0) w.eventfd++
}

/** The pass with `fault` in `handle`'s place. */
export const passWith = (fault: Step): ReadonlyArray<Step> => [disableSignals, fault, enableSignals, recheck]

/** The owner's pass, step by step, in order. */
export const PASS: ReadonlyArray<Step> = passWith(handle)

/** A wake-up is lost when work is left and nothing will make the host loop call the owner. */
export const lostWake = (w: InlineWake): boolean => (w.taskWork > 0 || w.cqes > 0 || w.heldBack > 0) && w.eventfd === 0

// ---- The ring-fd wake (IOU_INLINE_WAKE_RINGFD) ------------------------------------------------

export interface RingFd {
  /** CQEs posted and not reaped: the ring fd is readable while there are any. */
  cqes: number
  /** Completions whose task work has not run yet (it posts their CQEs). */
  taskWork: number
  /** IORING_SQ_TASKRUN: set with the task work, cleared when it runs. */
  taskrun: boolean
  /** Work only the owner knows of: cancels taken from JavaScript, SQEs left to submit. */
  own: number
  /** A pass is due at once (iou_loop_timeout_ns answers 0; the owner's timer runs it). */
  due: boolean
}

export const makeRingFd = (): RingFd => ({ cqes: 0, taskWork: 0, taskrun: false, own: 0, due: false })

/** The kernel: a socket completion queues task work for the owner (COOP_TASKRUN | TASKRUN_FLAG). */
export const completeInKernel = (w: RingFd): void => {
  w.taskWork++
  w.taskrun = true
}

/** The kernel, when the owner's thread leaves a syscall: its task work runs and posts CQEs. */
const runTaskWork = (w: RingFd): void => {
  w.cqes += w.taskWork
  w.taskWork = 0
  w.taskrun = false
}

/** The owner, from JavaScript: a cancel (iou__inline_wake: a pass due at once). */
export const cancel = (w: RingFd): void => {
  w.own++
  w.due = true
}

/** The same cancel without its due pass: what the recheck alone cannot save. */
export const cancelUnannounced = (w: RingFd): void => {
  w.own++
}

/** The pass starts: the pass now due is this one. */
export const startPass = (w: RingFd): void => {
  w.due = false
}

/** io_uring_enter (task work runs as it returns), then every CQE and the owner's own work. */
export const enterAndReap = (w: RingFd): void => {
  runTaskWork(w)
  w.cqes = 0
  w.own = 0
}

/** A pass that ran out of rounds: SQEs staged and not yet submitted. */
export const leaveSqes = (w: RingFd): void => {
  w.own++
}

/** The recheck: work the owner can see now gets a pass due at once. */
export const recheckRingFd = (w: RingFd): void => {
  if (w.cqes > 0 || w.taskrun || w.own > 0) w.due = true
}

/** The owner's pass, step by step, in order. */
export const PASS_RINGFD: ReadonlyArray<(w: RingFd) => void> = [startPass, enterAndReap, recheckRingFd]

/**
 * The host loop goes to sleep in its poll: a syscall, so pending task work runs first (it
 * interrupts the wait) and its CQEs make the fd readable. A wake-up is lost when work is left that
 * neither a readable ring fd nor a due pass announces.
 */
export const lostWakeRingFd = (w: RingFd): boolean => {
  runTaskWork(w)
  const pending = w.cqes > 0 || w.own > 0
  return pending && !(w.cqes > 0 || w.due)
}

// ---- The publish budget (engine_inline.c's iou__inline_publish) ---------------------------------
//
// Each of the owner's JS turns ends with a publish that runs a pass, and the pass delivers what
// completed at once (a nop, a page-cache read); a completion's callback may submit the next request
// and end its turn again before the host loop gets control back, so a chain of such requests would
// run for ever inside one host-loop callback. Publishes run at most PUBLISH_PASSES passes between
// two calls of the loop's own host-loop callbacks (readiness or timer; publishes made from other
// callbacks count too); past it a publish runs no pass and announces its requests (either wake:
// the eventfd written, or a pass due at once), so the host loop runs its timers and other I/O, then
// the callback whose pass takes them.

/** Passes publishes may run between two of the loop's host-loop callbacks (the C IOU_INLINE_PUBLISH_PASSES). */
export const PUBLISH_PASSES = 256

export interface Turns {
  /** Passes run by publishes since the host loop's last callback (the C publish_passes). */
  passes: number
  /** Requests submitted and not taken by a pass yet (the inbound queue). */
  queued: number
  /** The host loop was asked to call back (iou__inline_wake). */
  announced: boolean
}

export const makeTurns = (): Turns => ({ passes: 0, queued: 0, announced: false })

/** The owner submits a request (it waits in the inbound queue for a pass). */
export const submit = (t: Turns): void => {
  t.queued++
}

/** The owner's turn ends: a pass (which takes every queued request), or past the budget the wake. Whether a pass ran. */
export const publish = (t: Turns): boolean => {
  if (t.passes >= PUBLISH_PASSES) {
    t.announced = true
    return false
  }
  t.passes++
  t.queued = 0
  return true
}

/** The host loop's callback (the fd readable, or the timer): a new host-loop turn and its pass. */
export const hostCallback = (t: Turns): void => {
  t.passes = 0
  t.queued = 0
  t.announced = false
}

/** A request is lost when it waits and nothing will make the host loop call the owner. */
export const lostRequest = (t: Turns): boolean => t.queued > 0 && !t.announced
