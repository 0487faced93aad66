// The list of vitest projects: one per package, and the examples (their demo runs as a test). The
// Driver's own suite and the conformance replay run a second time on the thread engine
// (native-thread) and on the inline engine's other wake mode (native-eventfd); the native project
// runs them on the default engine, inline, with its default wake. vitest 5 ignores
// this file on its own; the root vitest.config.ts imports it as `test.projects`.
import { defaultServerConditions } from "vite"

/** The native files that run again on the thread engine and on the eventfd wake. */
const ENGINE_SUITE = [
  "test/Driver.test.ts",
  "test/Driver.sockets.test.ts",
  "test/Driver.files.test.ts",
  "test/Driver.readFile.test.ts",
  "test/Driver.recvMany.test.ts",
  "test/Driver.acceptMany.test.ts",
  "test/Driver.starvation.test.ts",
  "test/conformance.test.ts",
]

export default [
  "packages/core",
  "packages/native",
  {
    root: "./packages/native",
    ssr: { resolve: { conditions: ["@iou/source", ...defaultServerConditions] } },
    test: {
      name: "native-thread",
      include: ENGINE_SUITE,
      env: { IOU_TEST_ENGINE: "thread" },
    },
  },
  {
    // The same suite on the inline engine's other wake mode (an eventfd registered with the ring).
    root: "./packages/native",
    ssr: { resolve: { conditions: ["@iou/source", ...defaultServerConditions] } },
    test: {
      name: "native-eventfd",
      include: ENGINE_SUITE,
      env: { IOU_TEST_INLINE_WAKE: "eventfd" },
    },
  },
  "packages/effect",
  "examples",
]
