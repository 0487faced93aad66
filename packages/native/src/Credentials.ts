/**
 * When a Driver compares the process's credentials with those its ring was opened with (the
 * comparison costs three syscalls: binding `credentialsChanged()`, csrc/credentials.c).
 *
 * A change made through Node's own setters (`process.setuid`, `setgid`, `seteuid`, `setegid`,
 * `setgroups`, `initgroups`) is seen at once: the first Driver wraps each setter so that its return
 * (or throw) bumps `setterCalls`, and the next request compares. A change made behind Node's back
 * (native code) is seen by a comparison at the first request of a JS turn once CHECK_INTERVAL_MS has
 * passed since the last. Otherwise a request costs a compare, and the first of a turn a clock read,
 * not three syscalls.
 */

import * as Clock from "./Clock.ts"

/** The longest a change made by native code goes unnoticed, in ms. */
export const CHECK_INTERVAL_MS = 1

const SETTERS = ["setuid", "setgid", "seteuid", "setegid", "setgroups", "initgroups"] as const

let setterCalls = 0
let wrapped = false

/** Wraps Node's credential setters once per process (they are absent in workers: nothing to wrap). */
const wrapSetters = (): void => {
  if (wrapped) return
  wrapped = true
  const target = process as unknown as Record<string, unknown>
  for (const name of SETTERS) {
    const setter = target[name]
    if (typeof setter !== "function") continue
    target[name] = function (this: unknown, ...args: Array<unknown>): unknown {
      try {
        return setter.apply(this, args)
      } finally {
        setterCalls++
      }
    }
  }
}

/** One Driver's side: whether it is time to compare (`due`), then the comparison's outcome. */
export class CredentialsWatch {
  private seenCalls = setterCalls
  private checkedAt = -Infinity

  constructor() {
    wrapSetters()
  }

  /**
   * Whether to compare now (the watch then starts again): a setter ran since the last comparison, or,
   * for the first request of a JS turn (`turnStart`), CHECK_INTERVAL_MS passed.
   */
  due(turnStart: boolean): boolean {
    if (this.seenCalls === setterCalls) {
      if (!turnStart) return false
      const now = Clock.now()
      if (now - this.checkedAt < CHECK_INTERVAL_MS) return false
      this.checkedAt = now
      return true
    }
    this.seenCalls = setterCalls
    this.checkedAt = Clock.now()
    return true
  }
}
