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
