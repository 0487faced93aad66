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
