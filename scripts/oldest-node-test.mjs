// The test projects whose behaviour depends on Node's release, run on the oldest release the
// packages support (oldest-node.mjs): effect (node:net's answers beside the ring's, the reference
// sockets' included) and examples (the programs' own output, on a Node that runs .ts files). The
// native projects depend on the addon's ABI, which install-test.mjs checks on that release. Run from
// .ci/run with the pinned Node after `npm test` built the packages; skipped (nothing counted) when
// the pinned Node is that release.
//
// Prints vitest's output and, last, "oldest-node: N passed, N failed".
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { downloadNode, oldestVersion } from "./oldest-node.mjs"

const PROJECTS = ["effect", "examples"]

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
  const result = join(work, "vitest.json")
  const args = [join(root, "node_modules", "vitest", "vitest.mjs"), "run"]
  for (const p of PROJECTS) args.push("--project", p)
  args.push("--reporter=default", "--reporter=json", `--outputFile.json=${result}`)
  console.log(`oldest-node: ${PROJECTS.join(", ")} on node ${version}`)
  // That node first on PATH: the tests' child processes run process.execPath, npm scripts `node`.
  const r = spawnSync(node, args, {
    cwd: root,
    env: { ...env, PATH: `${dirname(node)}:${env.PATH}` },
    stdio: "inherit",
    timeout: 900_000,
  })
  try {
    const json = JSON.parse(readFileSync(result, "utf8"))
    passed = json.numPassedTests
    failed = json.numFailedTests + (json.numRuntimeErrorTestSuites ?? 0)
  } catch {
    // no result file: vitest did not run
  }
  if (r.status !== 0 && failed === 0) failed = 1
} catch (error) {
  console.log(String(error?.stack ?? error))
  failed = 1
} finally {
  rmSync(work, { recursive: true, force: true })
}
console.log(`oldest-node: ${passed} passed, ${failed} failed`)
process.exit(failed === 0 ? 0 : 1)
