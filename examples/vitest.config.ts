import { defineProject } from "vitest/config"

// The examples are programs, not a library: their one test runs `npm run demo`'s program as a child.
export default defineProject({
  test: { name: "examples", include: ["test/**/*.test.ts"], testTimeout: 60_000 },
})
