import { describe, expect, it } from "vitest"
import { Effect } from "effect"

describe("effect", () => {
  it("runs an Effect program on the pinned toolchain", async () => {
    expect(await Effect.runPromise(Effect.succeed(2).pipe(Effect.map((n) => n + 1)))).toBe(3)
  })
})
