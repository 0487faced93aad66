/**
 * InlineWake: the inline engine's wake handshake (the C `engine_inline.c` and `ring.c`'s
 * `iou__ring_eventfd_signals`), as a state machine whose every atomic step is a function, so that
 * test/InlineWake.test.ts can explore the interleavings of the owner's pass with the kernel
 * exhaustively. It is the seed's arm-and-recheck in its inline form.
 *
 * The kernel, for each piece of work (a CQE, or with DEFER_TASKRUN task work that only entering the
 * ring runs): `queueWork` (the work becomes visible and IORING_SQ_TASKRUN is set: an atomic
 * read-modify-write, a full barrier), then `signalIfEnabled` (it reads the CQ flags and writes the
 * registered eventfd unless IORING_CQ_EVENTFD_DISABLED is set).
 *
 * The owner (the JS thread), in one pass started because the eventfd was readable (or by a
 * publish): `disableSignals` (its own enter and reaping would only announce CQEs it is about to
 * handle), `handle` (enter: task work runs, every CQE present is handled), `enableSignals` (a
 * sequentially consistent exchange: a full barrier), then `recheck`: work it can see now (the flag
 * or a CQE) gets a self-written eventfd, so the host loop calls again after its other callbacks.
 *
 * Why no wake-up is lost: a piece of work whose `signalIfEnabled` ran while signals were off was
 * queued before that step, so before `enableSignals`; both sides have a full barrier between their
 * write and their read, so the owner's `recheck`, after `enableSignals`, sees the work (or `handle`
 * already took it). Work whose signal step runs after `enableSignals` signals itself.
 */

export interface InlineWake {
  /** Work queued by the kernel that the owner has not handled. */
  queued: number
  /** IORING_SQ_TASKRUN: set by queueWork, cleared by the owner's enter. */
  taskrun: boolean
  /** IORING_CQ_EVENTFD_DISABLED cleared. */
  signalsOn: boolean
  /** The registered eventfd's counter: readable when above 0. */
  eventfd: number
}

/** Signals are on between passes. */
export const make = (): InlineWake => ({ queued: 0, taskrun: false, signalsOn: true, eventfd: 0 })

// ---- The kernel ------------------------------------------------------------------------------

export const queueWork = (w: InlineWake): void => {
  w.queued++
  w.taskrun = true
}

export const signalIfEnabled = (w: InlineWake): void => {
  if (w.signalsOn) w.eventfd++
}

// ---- The owner ---------------------------------------------------------------------------------

/** The host loop saw the eventfd readable and read its counter. */
export const acknowledge = (w: InlineWake): void => {
  w.eventfd = 0
}

export const disableSignals = (w: InlineWake): void => {
  w.signalsOn = false
}

/** io_uring_enter with GETEVENTS, then every CQE: everything queued so far is handled. */
export const handle = (w: InlineWake): void => {
  w.queued = 0
  w.taskrun = false
}

export const enableSignals = (w: InlineWake): void => {
  w.signalsOn = true
}

/** The recheck: work the owner can see now is announced by writing the eventfd itself. */
export const recheck = (w: InlineWake): void => {
  if (w.taskrun || w.queued > 0) w.eventfd++
}

/** The owner's pass, step by step, in order. */
export const PASS: ReadonlyArray<(w: InlineWake) => void> = [disableSignals, handle, enableSignals, recheck]

/** A wake-up is lost when work is queued and nothing will make the host loop call the owner. */
export const lostWake = (w: InlineWake): boolean => w.queued > 0 && w.eventfd === 0
