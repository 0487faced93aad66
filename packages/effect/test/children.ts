/**
 * The test children (`*-child.mjs`): each runs in a process of its own, on the TypeScript sources
 * (the `@iou/source` condition, which its workers inherit), and prints its result as JSON on its
 * last line.
 */
import { execFileSync } from "node:child_process"
import * as path from "node:path"

/**
 * The V8 flag the children run with, for their workers (why: WORKER_SAFE_V8_FLAGS in
 * packages/native/test/helpers.ts; the one abort it prevents on the CI host was in
 * worker-close-exit-child.mjs).
 */
const WORKER_SAFE_V8_FLAGS = ["--no-memory-protection-keys"]

/** Runs the child script `name` of this folder and returns what its last line says. */
export const childResult = (name: string): unknown => {
  const child = path.join(import.meta.dirname, name)
  const out = execFileSync(process.execPath, [...WORKER_SAFE_V8_FLAGS, "--conditions=@iou/source", child], {
    encoding: "utf8",
  })
  return JSON.parse(out.trim().split("\n").pop()!)
}
