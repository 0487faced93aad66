// Gets the addon in place, offline: node-gyp is always pointed at headers already on disk
// (--nodedir), so it never downloads a headers tarball.
//
//   node build-native.mjs                   the install script: in an installed package, use the
//                                           prebuilt addon when one loads here, else compile; in a
//                                           checkout (test/ exists), always compile
//   node build-native.mjs --prebuild        prepack: prebuildify for the running Node's ABI into
//                                           prebuilds/linux-x64/node.abi<N>.glibc.node
//   node build-native.mjs --clean-prebuilds postpack: removes prebuilds/ again, so that a stale
//                                           prebuild never hides a change to the C sources
//
// The addon uses V8's API besides Node-API (binding/wire.cc holds each request's BackingStore), so a
// compiled addon loads in one Node ABI only: prebuilds are tagged with it and node-gyp-build picks
// the one matching the running Node, or compiles. A failed compile in an installed package prints
// the reason and exits 0, so that `npm install` succeeds without a compiler and probe() explains what
// is missing; in a checkout it fails the install.
//
// Header search order: the running node's own prefix (the pinned Node 24 when npm runs this through
// node_modules/.bin), the registry `node` package's platform binary, then /usr. Those headers must
// be those of the Node that will load the addon: npm runs install scripts with that Node.
import { spawnSync } from "node:child_process"
import { copyFileSync, existsSync, readdirSync, realpathSync, rmSync } from "node:fs"
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

const nodedir = (() => {
  const root = resolve(here, "..", "..")
  const candidates = [
    dirname(dirname(realpathSync(process.execPath))),
    join(root, "node_modules", "node", "node_modules", `node-linux-${process.arch}`),
    "/usr",
    "/usr/local",
  ]
  return candidates.find((dir) => existsSync(join(dir, "include", "node", "node_api.h")))
})()
// node-gyp lets an inherited npm_config_nodedir (a user's npm config) win over --nodedir, so set both.
const env = nodedir ? { ...process.env, npm_config_nodedir: nodedir } : process.env

if (mode === "--prebuild") {
  if (!nodedir) {
    console.error("build-native: no Node headers found on disk; refusing to let node-gyp download them")
    process.exit(1)
  }
  const prebuildify = require("prebuildify")
  console.log(
    `build-native: prebuildify for node ${process.versions.node} (ABI ${process.versions.modules}), headers in ${nodedir}`,
  )
  process.env.npm_config_nodedir = nodedir
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
  if (!checkout && process.env.npm_config_build_from_source !== "true") {
    try {
      const path = require("node-gyp-build").path(here)
      require(path)
      console.log(`build-native: using ${path}`)
      process.exit(0)
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
