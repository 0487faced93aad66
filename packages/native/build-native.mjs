// Gets the addon in place, offline where it can: node-gyp is pointed at headers already on disk
// (--nodedir) when some are the running Node's own version; only when none are does node-gyp fetch
// that version's headers itself.
//
//   node build-native.mjs                   the install script: in an installed package, use the
//                                           addon in place when it loads here and is for this
//                                           Node's ABI, else compile; in a checkout (test/
//                                           exists), or with IOU_BUILD_FROM_SOURCE=1 (or npm's
//                                           npm_config_build_from_source=true), always compile
//   node build-native.mjs --prebuild        prepack: prebuildify for the running Node's ABI into
//                                           prebuilds/linux-x64/node.abi<N>.glibc.node
//   node build-native.mjs --clean-prebuilds postpack: removes prebuilds/ again, so that a stale
//                                           prebuild never hides a change to the C sources
//
// The addon uses V8's API besides Node-API (binding/wire.cc holds each request's BackingStore), so a
// compiled addon works in one Node ABI only, though any Node loads it: it exports the ABI it was
// compiled for (moduleVersion), prebuilds are tagged with it, and an addon already in place is kept
// only when it loads and its moduleVersion is the running Node's; otherwise this compiles. A failed
// compile in an installed package prints the reason and exits 0, so that `npm install` succeeds
// without a compiler and probe() explains what is missing; in a checkout it fails the install.
//
// Header search order: the running node's own prefix, the platform package beside the registry
// `node` package's bin/node (node_modules/node/bin/node is a hard link to the binary of
// node_modules/node/node_modules/node-linux-<arch>, which holds include/node), the same package in
// this checkout's node_modules, then /usr and /usr/local. A directory counts only when its
// include/node/node_version.h is the running Node's version: the headers must be those of the Node
// that will load the addon, and npm runs install scripts with that Node.
import { spawnSync } from "node:child_process"
import { copyFileSync, existsSync, readFileSync, readdirSync, realpathSync, rmSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)
const mode = process.argv[2] ?? "--install"
const checkout = existsSync(join(here, "test"))

if (mode === "--clean-prebuilds") {
  rmSync(join(here, "prebuilds"), { recursive: true, force: true })
  process.exit(0)
}

/** The Node version whose headers are in `dir` (include/node/node_version.h), or undefined. */
const headersVersion = (dir) => {
  let text
  try {
    text = readFileSync(join(dir, "include", "node", "node_version.h"), "utf8")
  } catch {
    return undefined
  }
  const part = (name) => new RegExp(`^#define NODE_${name}_VERSION (\\d+)`, "m").exec(text)?.[1]
  const [major, minor, patch] = [part("MAJOR"), part("MINOR"), part("PATCH")]
  return major && minor && patch ? `${major}.${minor}.${patch}` : undefined
}

const nodedir = (() => {
  const root = resolve(here, "..", "..")
  const candidates = [
    dirname(dirname(realpathSync(process.execPath))),
    join(dirname(process.execPath), "..", "node_modules", `node-linux-${process.arch}`),
    join(root, "node_modules", "node", "node_modules", `node-linux-${process.arch}`),
    "/usr",
    "/usr/local",
  ]
  return candidates.find(
    (dir) => existsSync(join(dir, "include", "node", "node_api.h")) && headersVersion(dir) === process.versions.node,
  )
})()
if (!nodedir) {
  console.log(`build-native: no headers of node ${process.versions.node} on disk; node-gyp fetches them`)
}
// node-gyp lets an inherited npm_config_nodedir (a user's npm config) win over --nodedir, so set both.
const env = nodedir ? { ...process.env, npm_config_nodedir: nodedir } : process.env

if (mode === "--prebuild") {
  const prebuildify = require("prebuildify")
  console.log(
    `build-native: prebuildify for node ${process.versions.node} (ABI ${process.versions.modules}), headers in ${nodedir ?? "node-gyp's download"}`,
  )
  if (nodedir) process.env.npm_config_nodedir = nodedir
  prebuildify(
    {
      cwd: here,
      targets: [{ runtime: "node", target: process.versions.node }],
      napi: false,
      tagLibc: true,
      strip: true,
    },
    (error) => {
      if (error) {
        console.error(`build-native: prebuildify failed: ${error.message ?? error}`)
        process.exit(1)
      }
      // prebuildify moves build/Release/iou.node into prebuilds/; copy it back so that the checkout
      // still loads its own build once postpack has removed prebuilds/.
      const dir = join(here, "prebuilds", `${process.platform}-${process.arch}`)
      const built = readdirSync(dir).find((f) => f.includes(`.abi${process.versions.modules}.`))
      if (built) copyFileSync(join(dir, built), join(here, "build", "Release", "iou.node"))
    },
  )
} else {
  if (!checkout && process.env.npm_config_build_from_source !== "true" && process.env.IOU_BUILD_FROM_SOURCE !== "1") {
    try {
      const path = require("node-gyp-build").path(here)
      const built = require(path).moduleVersion
      if (built === Number(process.versions.modules)) {
        console.log(`build-native: using ${path}`)
        process.exit(0)
      }
      console.log(
        `build-native: ${path} is for Node ABI ${built ?? "unknown"}, not ${process.versions.modules}: compiling`,
      )
    } catch {
      // No prebuild for this platform, Node ABI or libc (or it does not load): compile.
    }
  }
  const args = ["rebuild", "-j", "2"]
  if (nodedir) args.push(`--nodedir=${nodedir}`)
  console.log(`build-native: node-gyp ${args.join(" ")}`)
  const result = spawnSync("node-gyp", args, { stdio: "inherit", cwd: here, env })
  const status = result.error ? 1 : (result.status ?? 1)
  if (result.error) console.error(`build-native: could not run node-gyp: ${result.error.message}`)
  if (status !== 0 && !checkout) {
    console.warn(
      "build-native: @iou/native's addon could not be compiled (it needs python3, make and a C/C++ compiler " +
        "with C++20). The package is installed without it: probe() says so and Driver.open fails with " +
        "ERR_IOU_UNAVAILABLE. Install the toolchain, then run `npm rebuild @iou/native`.",
    )
    process.exit(0)
  }
  process.exit(status)
}
