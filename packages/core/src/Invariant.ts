/**
 * Invariant violations: internal logic errors of the loop, never expected failures. The seed panics
 * on them (killing the loop thread) and the C loop aborts with a message; the model throws an
 * `InvariantError` so tests can assert that a transition refuses to act (for example on a stale
 * waiter id) without changing any state.
 *
 * Callers build the message only on the failing path (`if (!ok) fail(...)`), so hot paths do not
 * allocate a string per transition.
 */

export class InvariantError extends Error {
  override readonly name = "InvariantError"
}

/** Throws an InvariantError. */
export const fail = (message: string): never => {
  throw new InvariantError(message)
}
