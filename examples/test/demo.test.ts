/**
 * The demo the README tells a new user to run first, run as that user would (a child process of
 * this Node), so that it cannot rot: every example in it (the echo server and a client on the ring,
 * the file copy, the metrics endpoint) must work and the program must exit 0. `--conditions` makes
 * the workspace packages resolve to their TypeScript sources, as in the packages' own tests, so a
 * stale build cannot hide a break.
 */
import { spawnSync } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { expect, it } from "vitest"
import { probe } from "@iou/native"

const examples = path.join(path.dirname(fileURLToPath(import.meta.url)), "..")

it("npm run demo: every example runs on the real kernel and the program exits 0", () => {
  const r = spawnSync(process.execPath, ["--conditions=@iou/source", path.join("src", "demo.ts")], {
    cwd: examples,
    encoding: "utf8",
    timeout: 50_000,
  })
  const output = `${r.stdout}\n${r.stderr}`
  expect(r.error, output).toBeUndefined()
  expect(r.status, output).toBe(0)
  if (!probe().supported) {
    // Where the kernel refuses io_uring the demo stops after the probe, and says so.
    expect(output).toContain("io_uring is refused on this machine")
    return
  }
  expect(output).toContain("== echo server: recv/send on the ring ==")
  expect(output).toContain("all demos done")
})
