// The install test: installs the packages as a user would and uses them. Run from .ci/run with the
// pinned Node (`node_modules/.bin/node scripts/install-test.mjs`).
//
// 1. Packs @iou/core, @iou/native and @iou/effect from this checkout (prepack builds dist/ and the
//    prebuilt addon) and checks each tarball holds exactly what users need: no tests, no
//    dist/.tsbuildinfo, no build/ directory, the prebuilt addon for this Node's ABI.
// 2. Installs the tarballs into a fresh project outside the repository, once normally and once with
//    --ignore-scripts (so the prebuilt addon is what loads), from the npm cache where it can.
// 3. Runs a small Driver program and a small Effect program in each, type-checks a user's
//    TypeScript file against the packed types, and checks that @iou/effect still imports and fails
//    its layer with "Unavailable" when @iou/native is absent (as on a non-Linux machine).
// 4. Runs the Driver program and Effect's FileSystem on the oldest Node release the engines field
//    allows (when that is not this Node), on the prebuilt addon of its ABI (what that release does
//    to buffers under requests, oldest-node-test.mjs checks with the reliability tests).
//
// Prints "ok - <check>" / "not ok - <check>" lines and, last, "install: N passed, N failed".
import { execFileSync, spawnSync } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { downloadNode, oldestVersion } from "./oldest-node.mjs"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..")
const bin = join(root, "node_modules", ".bin")
const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` }
const work = mkdtempSync(join(tmpdir(), "iou-install-test-"))
let passed = 0
let failed = 0

const check = (name, fn) => {
  try {
    const note = fn()
    passed++
    console.log(`ok - ${name}${note ? ` (${note})` : ""}`)
  } catch (error) {
    failed++
    console.log(`not ok - ${name}\n${String(error?.stack ?? error).replace(/^/gm, "    ")}`)
  }
}
const assert = (condition, message) => {
  if (!condition) throw new Error(message)
}
const run = (cmd, args, cwd, extra = {}) => {
  const r = spawnSync(cmd, args, { cwd, env: { ...env, ...extra }, encoding: "utf8", timeout: 300_000 })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}\n${r.stdout}\n${r.stderr}`)
  return r.stdout
}

// ---- 1. pack ------------------------------------------------------------------------------------

const packDir = join(work, "tarballs")
mkdirSync(packDir)
const packages = ["@iou/core", "@iou/native", "@iou/effect"]
const packed = {}
check("npm pack builds and packs every package from the checkout", () => {
  const out = run("npm", ["pack", "--json", "--pack-destination", packDir, ...packages.flatMap((p) => ["-w", p])], root)
  // Lifecycle scripts print to the same stdout; the JSON is the last top-level array.
  const json = JSON.parse(out.slice(out.lastIndexOf("\n[\n") + 1))
  for (const entry of json)
    packed[entry.name] = { file: join(packDir, entry.filename), paths: entry.files.map((f) => f.path) }
  assert(
    packages.every((p) => packed[p]),
    `missing tarballs: ${JSON.stringify(Object.keys(packed))}`,
  )
})

const allowed = {
  "@iou/core": [/^(README\.md|package\.json)$/, /^dist\/[A-Za-z]+\.(js|d\.ts|js\.map)$/, /^src\/[A-Za-z]+\.ts$/],
  "@iou/native": [
    /^(README\.md|package\.json|binding\.gyp|build-native\.mjs)$/,
    /^dist\/[A-Za-z]+\.(js|d\.ts|js\.map)$/,
    /^src\/[A-Za-z]+\.ts$/,
    /^csrc\/[a-z_]+\.[ch]$/,
    /^include\/iou\.h$/,
    /^binding\/[a-z_]+\.(cc|h)$/,
    /^prebuilds\/linux-x64\/[^/]+\.abi\d+\.glibc\.node$/,
  ],
  "@iou/effect": [
    /^(README\.md|package\.json)$/,
    /^dist\/(internal\/)?[A-Za-z]+\.(js|d\.ts|js\.map)$/,
    /^src\/(internal\/)?[A-Za-z]+\.ts$/,
  ],
}
const required = {
  "@iou/core": ["dist/index.js", "dist/index.d.ts"],
  "@iou/native": ["dist/index.js", "dist/index.d.ts", "binding.gyp", "include/iou.h", "csrc/loop.c", "binding/loop.cc"],
  "@iou/effect": ["dist/index.js", "dist/index.d.ts"],
}
for (const name of packages) {
  check(`${name}'s tarball holds exactly what users need`, () => {
    const paths = packed[name]?.paths ?? []
    const stray = paths.filter((p) => !allowed[name].some((re) => re.test(p)))
    assert(stray.length === 0, `unexpected files: ${stray.join(", ")}`)
    const absent = required[name].filter((p) => !paths.includes(p))
    assert(absent.length === 0, `missing files: ${absent.join(", ")}`)
    if (name === "@iou/native") {
      const abi = `.abi${process.versions.modules}.glibc.node`
      assert(
        paths.some((p) => p.endsWith(abi)),
        `no prebuilt addon for this Node's ABI (${abi})`,
      )
    }
    return `${paths.length} files`
  })
}
check("postpack leaves no prebuilds/ in the checkout", () =>
  assert(!existsSync(join(root, "packages", "native", "prebuilds")), "packages/native/prebuilds is still there"),
)

// ---- 2, 3. install and use -----------------------------------------------------------------------

const DRIVER_PROGRAM = `
import { mkdtempSync, openSync, closeSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Driver, probe } from "@iou/native"
const p = probe()
if (!p.supported) {
  if (/addon/.test(p.reason)) { console.error(p.reason); process.exit(1) }
  console.log("skip: " + p.reason); process.exit(0)
}
const dir = mkdtempSync(join(tmpdir(), "iou-user-"))
const fd = openSync(join(dir, "f"), "w+")
const ring = Driver.open({ size: 8 })
await ring.writeAt(fd, new TextEncoder().encode("hello"), 0)
const buffer = new Uint8Array(5)
const n = await ring.readAt(fd, buffer, 0)
await ring.close()
closeSync(fd)
rmSync(dir, { recursive: true })
if (new TextDecoder().decode(buffer.subarray(0, n)) !== "hello") process.exit(1)
console.log("ok")
`
const EFFECT_PROGRAM = `
import { Effect } from "effect"
import * as Prom from "prom-client"
import { probe } from "@iou/native"
import { IoUring, IoUringMetrics, NodeIoUring } from "@iou/effect"
if (!probe().supported && !/addon/.test(probe().reason)) { console.log("skip: " + probe().reason); process.exit(0) }
const registry = new Prom.Registry()
const program = Effect.gen(function* () {
  const io = yield* IoUring
  yield* IoUringMetrics.register(registry)
  yield* io.nop
  return (yield* Effect.promise(() => registry.metrics())).includes("iou_submitted_total")
}).pipe(Effect.scoped, Effect.provide(NodeIoUring.layer({ size: 8, shutdownTimeout: 1000 })))
const ok = await Effect.runPromise(program)
console.log(ok ? "ok" : "no metrics")
process.exit(ok ? 0 : 1)
`
// The self-contained layer: Effect's FileSystem through IoUringServices, on the ring where it opens
// and on @effect/platform-node's services where it cannot (expected backend as argv[2]).
const SERVICES_PROGRAM = `
import { Effect, FileSystem } from "effect"
import { IoUringServices } from "@iou/effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
const dir = mkdtempSync(join(tmpdir(), "iou-services-"))
const program = Effect.gen(function* () {
  const fs = yield* FileSystem.FileSystem
  const backend = yield* IoUringServices.Backend
  yield* fs.writeFileString(join(dir, "f"), "hello")
  const text = yield* fs.readFileString(join(dir, "f"))
  return backend.kind + " " + text
}).pipe(Effect.provide(IoUringServices.layer()), Effect.scoped)
const out = await Effect.runPromise(program)
rmSync(dir, { recursive: true })
console.log(out)
process.exit(out === process.argv[2] + " hello" ? 0 : 1)
`
const USER_TS = `
import { Driver, IoUringError, probe, type DriverStats, type Probe } from "@iou/native"
import { IoUring, IoUringMetrics, NodeIoUring } from "@iou/effect"
import { Effect, Layer } from "effect"

const p: Probe = probe({ ioPoll: false })
const reason: string | undefined = p.reason
export const open = (): Driver => Driver.open({ size: 8 })
export const isUnavailable = (e: unknown): boolean => e instanceof IoUringError && e.code === "ERR_IOU_UNAVAILABLE"
export const program: Effect.Effect<DriverStats, never, IoUring> = Effect.gen(function* () {
  const io = yield* IoUring
  return yield* io.stats
})
export const layer: Layer.Layer<IoUring, unknown> = NodeIoUring.layer({ size: 8 })
export const snapshot = IoUringMetrics.snapshot
void reason
`
// skipLibCheck off, so that the packed .d.ts files are checked too; effect's own types need the DOM
// lib (CryptoKey), as they do in any user's project that checks libraries.
const USER_TSCONFIG = {
  compilerOptions: {
    target: "ES2022",
    lib: ["ES2022", "DOM"],
    module: "NodeNext",
    moduleResolution: "NodeNext",
    types: ["node"],
    strict: true,
    noEmit: true,
    skipLibCheck: false,
  },
  files: ["user.ts"],
}

const tarballs = packages.map((p) => packed[p]?.file).filter(Boolean)
const userDeps = ["effect@^4.1.0", "@effect/platform-node@^4.1.0", "prom-client@^15.1.3", "@types/node@^22"]

/** The addon file node-gyp-build loads for the installed @iou/native in `nativeDir`. */
const addonPath = (nativeDir) =>
  execFileSync("node", ["-e", `console.log(require("node-gyp-build").path(${JSON.stringify(nativeDir)}))`], {
    cwd: nativeDir,
    env,
    encoding: "utf8",
  }).trim()

const project = (label, installArgs) => {
  const dir = join(work, label)
  mkdirSync(dir)
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: `iou-user-${label}`, private: true, type: "module" }))
  writeFileSync(join(dir, "driver.mjs"), DRIVER_PROGRAM)
  writeFileSync(join(dir, "effect.mjs"), EFFECT_PROGRAM)
  writeFileSync(join(dir, "services.mjs"), SERVICES_PROGRAM)
  writeFileSync(join(dir, "user.ts"), USER_TS)
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify(USER_TSCONFIG))
  let installed = false
  check(`${label}: npm install ${installArgs.join(" ")} of the tarballs in a fresh project`, () => {
    run(
      "npm",
      ["install", "--prefer-offline", "--no-audit", "--no-fund", ...installArgs, ...tarballs, ...userDeps],
      dir,
    )
    installed = true
  })
  if (!installed) return dir
  check(`${label}: a Driver program writes and reads a file`, () => run("node", ["driver.mjs"], dir).trim())
  check(`${label}: an Effect program runs a nop and registers prom-client metrics`, () =>
    run("node", ["effect.mjs"], dir).trim(),
  )
  check(`${label}: IoUringServices.layer gives Effect's FileSystem on the ring`, () =>
    run("node", ["services.mjs", "io_uring"], dir).trim(),
  )
  check(`${label}: the addon that loads is the prebuilt one (no compiler was needed)`, () => {
    const nativeDir = join(dir, "node_modules", "@iou", "native")
    const path = addonPath(nativeDir)
    assert(path.includes(`${join("prebuilds", "linux-x64")}`), `loaded ${path}`)
    assert(!existsSync(join(nativeDir, "build")), "a build/ directory was made on install")
    return path.slice(nativeDir.length + 1)
  })
  check(`${label}: a user's TypeScript file type-checks against the packed types`, () => {
    run(join(bin, "tsc"), ["-p", "."], dir)
  })
  return dir
}

const withScripts = project("scripts", [])
const noScripts = project("ignore-scripts", ["--ignore-scripts"])

// ---- 4. the oldest Node release the package supports --------------------------------------------

// package.json's engines (">=24.0.0"): that release itself, from the registry's node-linux-<arch>
// package, loads the prebuilt addon of its ABI (compiled on the packing Node's newer headers), with
// no compiler, and runs the programs.
const oldest = oldestVersion(root)
if (oldest !== undefined && oldest !== process.versions.node) {
  const label = `node ${oldest}`
  let oldNode
  let abi
  check(`${label}: the registry's node binary of that release`, () => {
    const dir = join(work, `node-${oldest}`)
    const node = downloadNode(oldest, dir, env)
    abi = run(node, ["-p", "process.versions.modules"], dir).trim()
    oldNode = node
    return `${run(node, ["--version"], dir).trim()}, ABI ${abi}`
  })
  if (oldNode !== undefined) {
    check(`${label}: the native tarball holds a prebuilt addon for its ABI (${abi})`, () =>
      assert(
        (packed["@iou/native"]?.paths ?? []).some((p) => p.endsWith(`.abi${abi}.glibc.node`)),
        `no prebuilds/linux-x64/*.abi${abi}.glibc.node`,
      ),
    )
    check(`${label}: in the ignore-scripts project, the addon that loads is that prebuilt one`, () => {
      const nativeDir = join(noScripts, "node_modules", "@iou", "native")
      const path = run(
        oldNode,
        ["-e", `console.log(require("node-gyp-build").path(${JSON.stringify(nativeDir)}))`],
        nativeDir,
      ).trim()
      assert(path.endsWith(`.abi${abi}.glibc.node`), `loaded ${path}`)
      return path.slice(nativeDir.length + 1)
    })
    check(`${label}: a Driver program writes and reads a file`, () => run(oldNode, ["driver.mjs"], noScripts).trim())
    check(`${label}: IoUringServices.layer gives Effect's FileSystem on the ring`, () =>
      run(oldNode, ["services.mjs", "io_uring"], noScripts).trim(),
    )
  }
}

// The package's own switch for a compile where a prebuilt addon would load (build-native.mjs):
// npm rebuild runs the install script, which compiles into build/Release, the directory
// node-gyp-build looks in before prebuilds/.
check("scripts: IOU_BUILD_FROM_SOURCE=1 npm rebuild compiles the addon, and a Driver program loads it", () => {
  const out = run("npm", ["rebuild", "@iou/native", "--foreground-scripts"], withScripts, {
    IOU_BUILD_FROM_SOURCE: "1",
  })
  assert(/build-native: node-gyp rebuild/.test(out), `the install script did not compile:\n${out}`)
  const nativeDir = join(withScripts, "node_modules", "@iou", "native")
  assert(existsSync(join(nativeDir, "build", "Release", "iou.node")), "no build/Release/iou.node")
  const path = addonPath(nativeDir)
  assert(path.includes(join("build", "Release")), `loaded ${path}`)
  return `${path.slice(nativeDir.length + 1)}: ${run("node", ["driver.mjs"], withScripts).trim()}`
})

check("without @iou/native installed, @iou/effect imports and its layer fails with Unavailable", () => {
  rmSync(join(noScripts, "node_modules", "@iou", "native"), { recursive: true, force: true })
  const program = `
import { Effect, Layer } from "effect"
import { NodeIoUring } from "@iou/effect"
const error = await Effect.runPromise(Effect.flip(Layer.build(NodeIoUring.layer())).pipe(Effect.scoped))
console.log(error.reason._tag + ": " + error.message)
process.exit(error.reason._tag === "Unavailable" && /@iou\\/native could not be loaded/.test(error.message) ? 0 : 1)
`
  writeFileSync(join(noScripts, "absent.mjs"), program)
  return run("node", ["absent.mjs"], noScripts).trim().slice(0, 60) + "…"
})

check("without @iou/native installed, IoUringServices.layer falls back to @effect/platform-node's services", () =>
  run("node", ["services.mjs", "node"], noScripts).trim(),
)

rmSync(work, { recursive: true, force: true })
console.log(`install: ${passed} passed, ${failed} failed`)
process.exit(failed === 0 ? 0 : 1)
