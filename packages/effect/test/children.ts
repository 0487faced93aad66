/**
 * The test children (`*-child.mjs`): each runs in a process of its own, on the TypeScript sources
 * (the `@iou/source` condition, which its workers inherit), and prints its result as JSON on its
 * last line.
 */
import { execFileSync } from "node:child_process"
import * as path from "node:path"

/** Runs the child script `name` of this folder and returns what its last line says. */
export const childResult = (name: string): unknown => {
  const child = path.join(import.meta.dirname, name)
  const out = execFileSync(process.execPath, ["--conditions=@iou/source", child], { encoding: "utf8" })
  return JSON.parse(out.trim().split("\n").pop()!)
}
