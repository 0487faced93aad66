// The tests whose outcome depends on Node's release, run on the oldest release the packages
// support (oldest-node.mjs): the effect project (node:net's answers beside the ring's, the reference
// sockets' included), the examples project (the programs' own output, on a Node that runs .ts
// files) and the native project's reliability tests (what V8 does to a buffer detached, resized or
// collected under a request, workers and teardown: Node 22's V8 freed such memory). The addon's ABI
// on that release install-test.mjs checks. Run from .ci/run with the pinned Node after `npm test`
// built the packages; skipped (nothing counted) when the pinned Node is that release.
//
// Prints vitest's output and, last, "oldest-node: N passed, N failed".
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { downloadNode, oldestVersion } from "./oldest-node.mjs"

/** One vitest run each: its projects, and the files it is limited to (none: all of theirs). */
const RUNS = [
  { projects: ["effect", "examples"], files: [] },
  { projects: ["native"], files: ["test/Driver.reliability.test.ts"] },
]

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..")
const env = { ...process.env, PATH: `${join(root, "node_modules", ".bin")}:${process.env.PATH}` }
const version = oldestVersion(root)
if (version === undefined || version === process.versions.node) {
  console.log(`oldest-node: skipped (the pinned Node ${process.versions.node} is the oldest supported)`)
  console.log("oldest-node: 0 passed, 0 failed")
  process.exit(0)
}

const work = mkdtempSync(join(tmpdir(), "iou-oldest-node-"))
let passed = 0
let failed = 0
try {
  const node = downloadNode(version, work, env)
  RUNS.forEach(({ projects, files }, i) => {
    const result = join(work, `vitest-${i}.json`)
    const args = [join(root, "node_modules", "vitest", "vitest.mjs"), "run", ...files]
    for (const p of projects) args.push("--project", p)
    args.push("--reporter=default", "--reporter=json", `--outputFile.json=${result}`)
    console.log(`oldest-node: ${[projects.join(", "), ...files].join(": ")} on node ${version}`)
    // That node first on PATH: the tests' child processes run process.execPath, npm scripts `node`.
    const r = spawnSync(node, args, {
      cwd: root,
      env: { ...env, PATH: `${dirname(node)}:${env.PATH}` },
      stdio: "inherit",
      timeout: 900_000,
    })
    let runFailed = 0
    try {
      const json = JSON.parse(readFileSync(result, "utf8"))
      passed += json.numPassedTests
      runFailed = json.numFailedTests + (json.numRuntimeErrorTestSuites ?? 0)
    } catch {
      // no result file: vitest did not run
    }
    failed += r.status !== 0 && runFailed === 0 ? 1 : runFailed
  })
} catch (error) {
  console.log(String(error?.stack ?? error))
  failed += 1
} finally {
  rmSync(work, { recursive: true, force: true })
}
console.log(`oldest-node: ${passed} passed, ${failed} failed`)
process.exit(failed === 0 ? 0 : 1)
