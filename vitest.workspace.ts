// The list of vitest projects: one per package, and the examples (their demo runs as a test).
// vitest 5 ignores this file on its own; the root vitest.config.ts imports it as `test.projects`.
export default ["packages/core", "packages/native", "packages/effect", "examples"]
