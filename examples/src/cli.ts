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

/** Writes `program: message` on stderr, as one line, and fails with Reported. */
export const fail = (program: string, message: string): Effect.Effect<never, Reported> => {
  const line = message.replace(/\s*\n\s*/g, " ") // a config error's message spans lines
  return Console.error(`${program}: ${line}`).pipe(Effect.andThen(Effect.fail(new Reported({ message: line }))))
}
