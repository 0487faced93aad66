import { fc, test } from "@fast-check/vitest"
import { describe, expect, it } from "vitest"
import * as Waker from "../src/Waker.ts"

// An explicit-state model of producers and the loop, every atomic Waker step one transition.
// Producers: enqueue, publishSequence, claimWake, then the syscall (eventfd write or FUTEX_WAKE)
// per request. An optional closer posts a message and wakes out of band (close / cancel). The loop:
// take requests and messages, recheck `pending`, then either the eventfd path (arm, block until the
// eventfd is readable, acknowledge) or the futex path (armIdle, FUTEX_WAIT that sleeps only if the
// word still equals the snapshot, until a FUTEX_WAKE), then disarm. Both paths are explored at
// every iteration.
interface World {
  word: number
  eventfd: number
  queue: number
  taken: number
  processed: number
  loop: number
  snapshot: number
  /** A FUTEX_WAKE reached the sleeping loop. */
  token: boolean
  producers: Array<[pc: number, left: number]>
  closer: number
  message: boolean
  seen: boolean
  /** Syscalls claimed in the current epoch. */
  claims: number
}

const LOOP_TAKE = 0
const LOOP_CHECK = 1
const LOOP_ARM = 2
const LOOP_BLOCKED = 3
const LOOP_DISARM = 4
const LOOP_ARM_IDLE = 5
const LOOP_FUTEX_WAIT = 6
const LOOP_SLEEPING = 7
const SIGNAL = 3
const FUTEX_WAKE = 4
const DONE = 9

interface Variant {
  /** The loop's decision after arming; the real one is Waker.isStillIdle. */
  readonly mayBlock: (snapshot: number, processed: number) => boolean
  /** FUTEX_WAIT's compare; the real one is Waker.futexWouldSleep. */
  readonly futexSleeps: (w: Waker.Waker, snapshot: number) => boolean
}
const REAL: Variant = { mayBlock: Waker.isStillIdle, futexSleeps: Waker.futexWouldSleep }

const waker = (s: World): Waker.Waker => ({ word: s.word, eventfd: s.eventfd, writes: 0, futexWakes: 0 })
const clone = (s: World): World => ({ ...s, producers: s.producers.map(([pc, left]) => [pc, left]) })

/** The step after a claim: the syscall it must make, or the next request. */
const afterClaim = (s: World, previous: number): number => {
  const action = Waker.wakeAction(previous)
  if (action === Waker.WAKE_NONE) return -1
  s.claims++
  return action === Waker.WAKE_EVENTFD ? SIGNAL : FUTEX_WAKE
}

/** The syscall step of a producer or the closer. */
const syscall = (s: World, w: Waker.Waker, pc: number): void => {
  if (pc === SIGNAL) Waker.signal(w)
  else if (s.loop === LOOP_SLEEPING) s.token = true // a FUTEX_WAKE with nobody asleep does nothing
}

/** Every successor of a state (one per enabled thread and choice). */
const successors = (s: World, variant: Variant): Array<World> => {
  const out: Array<World> = []
  const loopStep = (move: (n: World, w: Waker.Waker) => boolean) => {
    const n = clone(s)
    const w = waker(n)
    if (!move(n, w)) return
    n.word = w.word
    n.eventfd = w.eventfd
    out.push(n)
  }
  switch (s.loop) {
    case LOOP_TAKE:
      loopStep((n) => {
        if (n.message && !n.seen) n.seen = true
        else if (n.queue > n.taken) {
          n.taken++
          n.processed = Waker.nextProcessed(n.processed)
        } else n.loop = LOOP_CHECK
        return true
      })
      break
    case LOOP_CHECK:
      if (Waker.pending(waker(s), s.processed)) {
        loopStep((n) => ((n.loop = LOOP_TAKE), true))
      } else {
        loopStep((n) => ((n.loop = LOOP_ARM), true))
        loopStep((n) => ((n.loop = LOOP_ARM_IDLE), true))
      }
      break
    case LOOP_ARM:
      loopStep((n, w) => {
        n.snapshot = Waker.arm(w)
        n.claims = 0
        n.loop = variant.mayBlock(n.snapshot, n.processed) ? LOOP_BLOCKED : LOOP_DISARM
        return true
      })
      break
    case LOOP_BLOCKED:
      loopStep((n, w) => {
        if (w.eventfd === 0) return false
        Waker.acknowledge(w)
        n.loop = LOOP_DISARM
        return true
      })
      break
    case LOOP_ARM_IDLE:
      loopStep((n, w) => {
        n.snapshot = Waker.armIdle(w)
        n.claims = 0
        n.loop = variant.mayBlock(n.snapshot, n.processed) ? LOOP_FUTEX_WAIT : LOOP_DISARM
        return true
      })
      break
    case LOOP_FUTEX_WAIT:
      loopStep((n, w) => ((n.loop = variant.futexSleeps(w, n.snapshot) ? LOOP_SLEEPING : LOOP_DISARM), true))
      break
    case LOOP_SLEEPING:
      loopStep((n) => {
        if (!n.token) return false
        n.token = false
        n.loop = LOOP_DISARM
        return true
      })
      break
    case LOOP_DISARM:
      loopStep((n, w) => {
        Waker.disarm(w)
        n.loop = LOOP_TAKE
        return true
      })
      break
  }
  // Producers: 0 enqueue, 1 publish, 2 claim, 3 eventfd write, 4 FUTEX_WAKE.
  s.producers.forEach(([pc], i) => {
    if (pc === DONE) return
    const n = clone(s)
    const w = waker(n)
    const p = n.producers[i]!
    const nextRequest = () => {
      p[1]--
      p[0] = p[1] > 0 ? 0 : DONE
    }
    if (pc === 0) {
      n.queue++
      p[0] = 1
    } else if (pc === 1) {
      if (Waker.needsWake(Waker.publishSequence(w))) p[0] = 2
      else nextRequest()
    } else if (pc === 2) {
      const next = afterClaim(n, Waker.claimWake(w))
      if (next < 0) nextRequest()
      else p[0] = next
    } else {
      syscall(n, w, pc)
      nextRequest()
    }
    n.word = w.word
    n.eventfd = w.eventfd
    out.push(n)
  })
  // The closer: 0 post the message, 1 claim, then the syscall.
  if (s.closer !== DONE) {
    const n = clone(s)
    const w = waker(n)
    if (n.closer === 0) {
      n.message = true
      n.closer = 1
    } else if (n.closer === 1) {
      const next = afterClaim(n, Waker.claimWake(w))
      n.closer = next < 0 ? DONE : next
    } else {
      syscall(n, w, n.closer)
      n.closer = DONE
    }
    n.word = w.word
    n.eventfd = w.eventfd
    out.push(n)
  }
  return out
}

const key = (s: World): string =>
  [
    s.word,
    s.eventfd,
    s.queue,
    s.taken,
    s.processed,
    s.loop,
    s.snapshot,
    +s.token,
    s.closer,
    +s.message,
    +s.seen,
    s.claims,
    ...s.producers.flat(),
  ].join(",")

const initial = (items: ReadonlyArray<number>, closer: boolean, start = 0): World => ({
  word: (start * Waker.SUBMISSION_INCREMENT) >>> 0,
  eventfd: 0,
  queue: 0,
  taken: 0,
  processed: start,
  loop: LOOP_TAKE,
  snapshot: 0,
  token: false,
  producers: items.map((n) => [0, n]),
  closer: closer ? 0 : DONE,
  message: false,
  seen: false,
  claims: 0,
})

const total = (s: World) => s.producers.reduce((sum, [, n]) => sum + n, 0)

/** Explores every interleaving; returns the number of states and the first lost wake-up found. */
const explore = (items: ReadonlyArray<number>, closer: boolean, variant: Variant, start = 0) => {
  const init = initial(items, closer, start)
  const want = total(init)
  const seen = new Set<string>([key(init)])
  const stack = [init]
  let lost: World | undefined
  let maxClaims = 0
  while (stack.length > 0 && lost === undefined) {
    const s = stack.pop()!
    const next = successors(s, variant)
    maxClaims = Math.max(maxClaims, s.claims)
    if (next.length === 0) {
      // Nothing can move: the loop sleeps with nobody left to wake it.
      if (s.taken !== want || (s.message && !s.seen)) lost = s
      continue
    }
    for (const n of next) {
      const k = key(n)
      if (!seen.has(k)) {
        seen.add(k)
        stack.push(n)
      }
    }
  }
  return { states: seen.size, lost, maxClaims }
}

describe("Waker", () => {
  it("publish bumps the sequence; an armed publish writes the eventfd; acknowledge and disarm keep the sequence", () => {
    const w = Waker.make()
    Waker.publish(w)
    expect([Waker.submitted(w), w.writes]).toEqual([1, 0])
    const snapshot = Waker.arm(w)
    expect(Waker.isStillIdle(snapshot, 1)).toBe(true)
    Waker.publish(w)
    expect([Waker.submitted(w), w.eventfd, w.writes]).toEqual([2, 1, 1])
    expect(Waker.acknowledge(w)).toBe(1)
    Waker.disarm(w)
    expect(w.word).toBe(2 * Waker.SUBMISSION_INCREMENT)
    expect(Waker.acknowledge(w)).toBe(0)
  })

  it("pending compares directionally within half the sequence domain, across the wrap", () => {
    const w = Waker.make()
    Waker.publish(w)
    expect(Waker.pending(w, 0)).toBe(true)
    expect(Waker.pending(w, 1)).toBe(false)
    expect(Waker.pending(w, 2)).toBe(false)
    w.word = (Waker.HALF_SUBMISSION_DOMAIN * Waker.SUBMISSION_INCREMENT) >>> 0
    expect(Waker.pending(w, 0)).toBe(false)
    w.word = 0
    expect(Waker.pending(w, Waker.SUBMISSION_SEQ_MASK)).toBe(true)
    expect(Waker.nextProcessed(Waker.SUBMISSION_SEQ_MASK)).toBe(0)
  })

  it("a wake while unarmed keeps the sequence, stays latched and makes the next arm not block", () => {
    const w = Waker.make()
    expect(Waker.wake(w)).toBe(Waker.WAKE_NONE)
    expect([Waker.submitted(w), w.writes]).toEqual([0, 0])
    const snapshot = Waker.arm(w)
    expect(Waker.isLatched(snapshot)).toBe(true)
    expect(Waker.isStillIdle(snapshot, 0)).toBe(false)
    Waker.disarm(w)
    expect(Waker.isLatched(Waker.arm(w))).toBe(false)
  })

  it("a publish before arming makes the loop not block, without an eventfd write", () => {
    const w = Waker.make()
    Waker.publish(w)
    const snapshot = Waker.arm(w)
    expect(Waker.isStillIdle(snapshot, 0)).toBe(false)
    expect(Waker.isLatched(snapshot)).toBe(false)
    expect(w.writes).toBe(0)
  })

  it("publishers and wakes of one armed epoch write the eventfd once", () => {
    const w = Waker.make()
    Waker.arm(w)
    for (let i = 0; i < 4; i++) Waker.publish(w)
    Waker.wake(w)
    expect([Waker.submitted(w), w.eventfd, w.writes]).toEqual([4, 1, 1])
  })

  it("each unarmed wake is consumed by the next arm, with no eventfd writes while unarmed", () => {
    const w = Waker.make()
    for (let epoch = 0; epoch < 3; epoch++) {
      Waker.wake(w)
      expect(Waker.isLatched(Waker.arm(w))).toBe(true)
      Waker.disarm(w)
    }
    expect(w.writes).toBe(0)
  })

  it("the sequence wraps from its largest value through 0", () => {
    const w = Waker.make()
    w.word = (Waker.SUBMISSION_SEQ_MASK * Waker.SUBMISSION_INCREMENT) >>> 0
    Waker.publish(w)
    expect(Waker.submitted(w)).toBe(0)
    expect(Waker.pending(w, Waker.SUBMISSION_SEQ_MASK)).toBe(true)
    Waker.publish(w)
    expect(Waker.submitted(w)).toBe(1)
  })

  it("arming twice is an invariant violation", () => {
    const w = Waker.make()
    Waker.arm(w)
    expect(() => Waker.arm(w)).toThrow()
  })

  it.each([
    [[1], false],
    [[2], true],
    [[1, 1], true],
    [[2, 2], false],
    [[1, 1, 1], false],
    [[1, 1, 1], true],
    [[2, 1], true],
  ] as const)("no wake-up is lost in any interleaving of the loop with producers %j (closer: %s)", (items, closer) => {
    const { lost, maxClaims, states } = explore(items, closer, REAL)
    expect(lost).toBeUndefined()
    expect(maxClaims).toBeLessThanOrEqual(1)
    expect(states).toBeGreaterThan(10)
  })

  it("no wake-up is lost across the sequence wrap-around", () => {
    const { lost } = explore([2, 1], true, REAL, Waker.SUBMISSION_SEQ_MASK - 1)
    expect(lost).toBeUndefined()
  })

  it("the exhaustive check finds the lost wake-up of a loop that sleeps without rechecking the sequence", () => {
    const { lost } = explore([1], false, { ...REAL, mayBlock: (snapshot) => !Waker.isLatched(snapshot) })
    expect(lost).toBeDefined()
    expect(lost!.taken).toBe(0)
  })

  it("the exhaustive check finds the lost wake-up of a FUTEX_WAIT that does not compare the word", () => {
    const { lost } = explore([1], false, { ...REAL, futexSleeps: () => true })
    expect(lost).toBeDefined()
    expect(lost!.loop).toBe(LOOP_SLEEPING)
  })

  it("a wake of a parked loop is a FUTEX_WAKE, of an io_uring_enter an eventfd write, of neither only a latch", () => {
    const w = Waker.make()
    expect(Waker.wake(w)).toBe(Waker.WAKE_NONE)
    Waker.disarm(w)
    Waker.armIdle(w)
    expect(Waker.wake(w)).toBe(Waker.WAKE_FUTEX)
    expect(Waker.wake(w)).toBe(Waker.WAKE_NONE)
    Waker.disarm(w)
    Waker.arm(w)
    expect(Waker.wake(w)).toBe(Waker.WAKE_EVENTFD)
    expect([w.futexWakes, w.eventfd, w.writes]).toEqual([1, 1, 2])
  })

  it("a publish after the futex arm makes FUTEX_WAIT refuse the stale snapshot", () => {
    const w = Waker.make()
    const snapshot = Waker.armIdle(w)
    expect(Waker.isStillIdle(snapshot, 0)).toBe(true)
    Waker.publish(w)
    expect(Waker.futexWouldSleep(w, snapshot)).toBe(false)
    expect(w.word & 7).toBe(Waker.WAITING_ON_FUTEX | Waker.WAKE_SIGNALLED)
  })

  test.prop(
    [
      fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 4 }),
      fc.boolean(),
      fc.array(fc.nat(), { minLength: 1, maxLength: 400 }),
      fc.constantFrom(0, Waker.SUBMISSION_SEQ_MASK - 3),
    ],
    { numRuns: 150 },
  )(
    "random schedules of up to 4 producers never lose a wake-up and count every publish once",
    (items, closer, picks, start) => {
      let s = initial(items, closer, start)
      const want = total(s)
      for (let i = 0; ; i++) {
        const next = successors(s, REAL)
        if (next.length === 0) break
        expect(s.claims).toBeLessThanOrEqual(1)
        s = next[picks[i % picks.length]! % next.length]!
        if (i > 5000) break
      }
      // Run everything that can still run, loop last, until nothing moves.
      for (let guard = 0; guard < 5000; guard++) {
        const next = successors(s, REAL)
        if (next.length === 0) break
        s = next[next.length - 1]!
      }
      expect(s.taken).toBe(want)
      expect((Waker.sequence(s.word) - start) & Waker.SUBMISSION_SEQ_MASK).toBe(want)
      expect(!s.message || s.seen).toBe(true)
    },
  )
})
