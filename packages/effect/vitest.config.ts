import { defaultServerConditions } from "vite"
import { defineProject } from "vitest/config"

// Tests resolve workspace packages to their TypeScript sources through the @iou/source condition.
export default defineProject({
  ssr: { resolve: { conditions: ["@iou/source", ...defaultServerConditions] } },
  test: { name: "effect", include: ["test/**/*.test.ts"] },
})
