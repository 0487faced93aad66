import { defaultServerConditions } from "vite"
import { defineProject } from "vitest/config"

// The examples are programs, not a library: their tests run the programs as child processes
// (test/programs.ts), as a user would. The tests' own imports resolve workspace packages to their
// TypeScript sources, as in the packages.
export default defineProject({
  ssr: { resolve: { conditions: ["@iou/source", ...defaultServerConditions] } },
  test: { name: "examples", include: ["test/**/*.test.ts"], testTimeout: 60_000 },
})
