// The oldest Node release the packages support: the version `engines` names in
// packages/native/package.json (">=24.0.0"), and that release's binary from the registry's
// node-linux-<arch> package. Used by install-test.mjs (the packed packages on that release) and
// oldest-node-test.mjs (the test projects whose behaviour depends on the release).
import { spawnSync } from "node:child_process"
import { mkdirSync, readFileSync } from "node:fs"
import { join } from "node:path"

/** The version engines names (e.g. "24.0.0"), or undefined when it is not of the form ">=X.Y.Z". */
export const oldestVersion = (root) =>
  /^>=\s*(\d+\.\d+\.\d+)$/.exec(
    JSON.parse(readFileSync(join(root, "packages", "native", "package.json"), "utf8")).engines.node,
  )?.[1]

/**
 * Downloads that release's node binary into `dir` (npm pack of node-linux-<arch>@<version>, then its
 * bin/node alone) and returns its path. `env` is the environment npm runs in. Throws on failure.
 */
export const downloadNode = (version, dir, env = process.env) => {
  mkdirSync(dir, { recursive: true })
  const sh = (cmd, args) => {
    const r = spawnSync(cmd, args, { cwd: dir, env, encoding: "utf8", timeout: 300_000 })
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}\n${r.stdout}\n${r.stderr}`)
    return r.stdout
  }
  const out = sh("npm", ["pack", `node-linux-${process.arch}@${version}`, "--json", "--pack-destination", dir])
  const tarball = JSON.parse(out)[0].filename
  sh("tar", ["xzf", join(dir, tarball), "-C", dir, "--strip-components=1", "package/bin/node"])
  return join(dir, "bin", "node")
}
