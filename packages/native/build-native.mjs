// Builds the addon with node-gyp during `npm install` / `npm ci`, offline: node-gyp is pointed at
// headers already on disk (--nodedir) so it never downloads a headers tarball.
//
// Header search order: the running node's own prefix (the pinned Node 24 when npm runs this through
// node_modules/.bin), the registry `node` package's platform binary, then /usr. Node-API addons are
// ABI-stable, so any of them produces an addon that loads in Node >= 22.
import { spawnSync } from "node:child_process"
import { existsSync, realpathSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))
const root = resolve(here, "..", "..")
const candidates = [
  dirname(dirname(realpathSync(process.execPath))),
  join(root, "node_modules", "node", "node_modules", `node-linux-${process.arch}`),
  "/usr",
  "/usr/local",
]
const args = ["rebuild", "-j", "2"]
const nodedir = candidates.find((dir) => existsSync(join(dir, "include", "node", "node_api.h")))
if (nodedir) args.push(`--nodedir=${nodedir}`)
console.log(`build-native: node-gyp ${args.join(" ")}`)
// node-gyp lets an inherited npm_config_nodedir (a user's npm config) win over --nodedir, so set both.
const env = nodedir ? { ...process.env, npm_config_nodedir: nodedir } : process.env
const result = spawnSync("node-gyp", args, { stdio: "inherit", cwd: here, env })
if (result.error) console.error(`build-native: could not run node-gyp: ${result.error.message}`)
process.exit(result.status ?? 1)
