/**
 * How the example programs end on an expected failure: one line on stderr that says what went
 * wrong, and exit code 1, with no stack trace (a refused argument or a busy port is not a bug).
 * Defects still reach runMain's error report with their stack.
 */
import { Console, Data, Effect, Runtime } from "effect"

/** A failure already told to the user; runMain exits with code 1 and does not log it again. */
export class Reported extends Data.TaggedError("Reported")<{ readonly message: string }> {
  override readonly [Runtime.errorReported] = false
}

/** Writes `program: message` on stderr and fails with Reported. */
export const fail = (program: string, message: string): Effect.Effect<never, Reported> =>
  Console.error(`${program}: ${message}`).pipe(Effect.andThen(Effect.fail(new Reported({ message }))))
