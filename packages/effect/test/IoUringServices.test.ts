/**
 * IoUringServices.layer: on a kernel that allows io_uring it opens the ring and provides the ring's
 * services; where io_uring is refused or the addon is missing (simulated with IOU_SIMULATE_MISSING)
 * it provides @effect/platform-node's, logs the reason once, and says which backend is active
 * through the Backend service and the iou_backend_active gauge.
 */
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Logger, Metric } from "effect"
import { afterEach, vi } from "vitest"
import * as FileSystem from "effect/FileSystem"
import { probe } from "@iou/native"
import { IoUring, IoUringServices } from "@iou/effect"
import { childResult } from "./children.ts"

const simulating = (missing: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      process.env["IOU_SIMULATE_MISSING"] = missing
    }),
    () =>
      Effect.sync(() => {
        delete process.env["IOU_SIMULATE_MISSING"]
      }),
  )

/** Messages logged while `effect` runs. */
const capturingLogs = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.suspend(() => {
    const messages: Array<string> = []
    const logger = Logger.make((options) => {
      messages.push(String(options.message))
    })
    return effect.pipe(
      Effect.provide(Logger.layer([logger])),
      Effect.map((a) => [a, messages] as const),
    )
  })

const freshRegistry = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.suspend(() => Effect.provideService(effect, Metric.MetricRegistry, new Map()))

const gauge = (backend: string) =>
  Effect.map(Metric.snapshot, (snapshots) => {
    const found = snapshots.find(
      (s) => s.id === IoUringServices.BACKEND_METRIC && s.attributes?.["backend"] === backend,
    )
    return (found?.state as { value?: number } | undefined)?.value
  })

/** Uses every service the layer provides: FileSystem, Net (an echo over a server), IoUring. */
const useServices = Effect.gen(function* () {
  const backend = yield* IoUringServices.Backend
  const fs = yield* FileSystem.FileSystem
  const dir = yield* fs.makeTempDirectoryScoped({ directory: os.tmpdir() })
  yield* fs.writeFileString(path.join(dir, "a"), "on the platform")
  const read = yield* fs.readFileString(path.join(dir, "a"))
  const net = yield* IoUringServices.Net
  const server = yield* net.makeServer({ host: "127.0.0.1", port: 0 })
  yield* Effect.forkScoped(
    server.run((socket) =>
      Effect.scoped(
        Effect.gen(function* () {
          const { pull } = yield* socket.reader
          const { write } = yield* socket.writer
          for (const chunk of yield* pull) yield* write(chunk)
        }),
      ),
    ),
  )
  const port = (server.address as { port: number }).port
  const client = yield* net.makeNet({ host: "127.0.0.1", port })
  const { pull } = yield* client.reader
  const { write } = yield* client.writer
  yield* write("ping")
  const echoed = new TextDecoder().decode((yield* pull)[0] as Uint8Array)
  const io = yield* IoUring
  const nop = yield* Effect.result(io.nop)
  return { backend, read, echoed, nop, stats: yield* io.stats }
})

describe("IoUringServices where io_uring is refused", () => {
  it.effect.each([
    ["IO_URING:EPERM", "EPERM"],
    ["ADDON", "the native addon is not built"],
  ])("IOU_SIMULATE_MISSING=%s: Node's services, the reason logged once, Backend and gauge say node", ([missing, why]) =>
    Effect.gen(function* () {
      yield* simulating(missing!)
      const [result, logs] = yield* capturingLogs(
        Effect.gen(function* () {
          const used = yield* useServices
          return { ...used, nodeGauge: yield* gauge("node"), ringGauge: yield* gauge("io_uring") }
        }).pipe(Effect.scoped, Effect.provide(IoUringServices.layer())),
      )
      assert.strictEqual(result.backend.kind, "node")
      assert.include(result.backend.reason, why!)
      assert.strictEqual(result.read, "on the platform")
      assert.strictEqual(result.echoed, "ping")
      assert.isTrue(result.nop._tag === "Failure" && result.nop.failure.reason._tag === "Unavailable")
      assert.strictEqual(result.nodeGauge, 1)
      assert.strictEqual(result.ringGauge, 0)
      const warnings = logs.filter((m) => m.includes("io_uring is not used"))
      assert.strictEqual(warnings.length, 1)
      assert.include(warnings[0], why!)
    }).pipe(freshRegistry),
  )
})

describe.skipIf(!probe().supported)("IoUringServices where io_uring is allowed (real kernel)", () => {
  it.live("opens the ring: sockets move on it, Backend and gauge say io_uring, nothing is logged", () =>
    Effect.gen(function* () {
      const [result, logs] = yield* capturingLogs(
        Effect.gen(function* () {
          const before = yield* Effect.flatMap(Effect.service(IoUring), (io) => io.stats)
          const used = yield* useServices
          return { ...used, before, nodeGauge: yield* gauge("node"), ringGauge: yield* gauge("io_uring") }
        }).pipe(Effect.scoped, Effect.provide(IoUringServices.layer({ config: { size: 64 } }))),
      )
      assert.strictEqual(result.backend.kind, "io_uring")
      assert.strictEqual(result.backend.reason, undefined)
      assert.strictEqual(result.read, "on the platform")
      assert.strictEqual(result.echoed, "ping")
      assert.isTrue(result.nop._tag === "Success")
      // Two sends and at least two receives went through the ring, and the nop.
      assert.isAtLeast(result.stats.submitted - result.before.submitted, 5)
      assert.strictEqual(result.ringGauge, 1)
      assert.strictEqual(result.nodeGauge, 0)
      assert.deepStrictEqual(
        logs.filter((m) => m.includes("io_uring is not used")),
        [],
      )
    }).pipe(freshRegistry),
  )

  it("a process out of fds gets the ring's EMFILE, not Node's services for good", () => {
    // In a process of its own: the test runner's fds are not ours to exhaust.
    assert.deepStrictEqual(childResult("emfile-child.mjs"), { failed: true, code: "EMFILE" })
  }, 60_000)

  it.live("a nested build's FileSystem runs on its own ring, not the outer one's", () =>
    Effect.gen(function* () {
      const outer = yield* IoUring
      const moved = (io: IoUring["Service"]) => Effect.map(io.stats, (s) => s.submitted)
      const [outerBefore, innerMoved] = [
        yield* moved(outer),
        yield* Effect.gen(function* () {
          const inner = yield* IoUring
          const fs = yield* FileSystem.FileSystem
          const before = yield* moved(inner)
          yield* fs.readFileString("/proc/self/status")
          return (yield* moved(inner)) - before
        }).pipe(Effect.provide(IoUringServices.layer({ config: { size: 16 } }))),
      ]
      assert.isAtLeast(innerMoved, 3, "open, read and close on the inner ring")
      assert.strictEqual((yield* moved(outer)) - outerBefore, 0, "nothing on the outer ring")
    }).pipe(Effect.provide(IoUringServices.layer({ config: { size: 8 } }))),
  )

  it.live("a ring restricted to one class of operations carries only that class's service", () =>
    Effect.gen(function* () {
      const moved = Effect.flatMap(Effect.service(IoUring), (io) => Effect.map(io.stats, (s) => s.submitted))
      const socketsOnly = yield* Effect.gen(function* () {
        const before = yield* moved
        const fs = yield* FileSystem.FileSystem
        const text = yield* fs.readFileString("/proc/self/status") // on Node's FileSystem
        const afterFiles = yield* moved
        const used = yield* useServices // its files on Node's, its sockets on the ring
        return { text, filesMoved: afterFiles - before, used, socketsMoved: (yield* moved) - afterFiles }
      }).pipe(Effect.scoped, Effect.provide(IoUringServices.layer({ config: { size: 8, operations: "sockets" } })))
      assert.match(socketsOnly.text, /^Name:/)
      assert.strictEqual(socketsOnly.filesMoved, 0)
      assert.strictEqual(socketsOnly.used.echoed, "ping")
      assert.isAtLeast(socketsOnly.socketsMoved, 3, "listen, accept, connect, send and receive on the ring")
      const filesOnly = yield* Effect.gen(function* () {
        const fs = yield* FileSystem.FileSystem
        const dir = yield* fs.makeTempDirectoryScoped({ directory: os.tmpdir() })
        const before = yield* moved
        yield* fs.writeFileString(path.join(dir, "f"), "on the ring")
        const read = yield* fs.readFileString(path.join(dir, "f"))
        const afterFiles = yield* moved
        const used = yield* useServices
        return { read, filesMoved: afterFiles - before, used }
      }).pipe(Effect.scoped, Effect.provide(IoUringServices.layer({ config: { size: 8, operations: "files" } })))
      assert.strictEqual(filesOnly.read, "on the ring")
      assert.isAtLeast(filesOnly.filesMoved, 4, "a writeFile and a readFile on the ring")
      assert.strictEqual(filesOnly.used.echoed, "ping") // on Node's sockets
      assert.strictEqual(filesOnly.used.read, "on the platform")
    }),
  )

  it.live("the gauge goes back to 0 for both backends once the layer's scope closed", () =>
    Effect.gen(function* () {
      const inside = yield* Effect.gen(function* () {
        return [yield* gauge("io_uring"), yield* gauge("node")]
      }).pipe(Effect.provide(IoUringServices.layer({ config: { size: 8 } })))
      assert.deepStrictEqual(inside, [1, 0])
      assert.deepStrictEqual([yield* gauge("io_uring"), yield* gauge("node")], [0, 0])
    }).pipe(freshRegistry),
  )

  it.effect("the ring-side FileSystem is the one given as the fileSystem option", () =>
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      assert.strictEqual(yield* fs.exists("/definitely/not/here"), true)
    }).pipe(
      Effect.provide(
        IoUringServices.layer({
          config: { size: 8 },
          fileSystem: FileSystem.layerNoop({ exists: () => Effect.succeed(true) }),
        }),
      ),
    ),
  )
})

describe("IoUringServices without @effect/platform-node (an optional peer dependency)", () => {
  const MODULES = [
    "@effect/platform-node/NodeServices",
    "@effect/platform-node/NodeSocket",
    "@effect/platform-node/NodeSocketServer",
  ]
  afterEach(() => {
    for (const name of MODULES) vi.doUnmock(name)
    vi.resetModules()
    delete process.env["IOU_SIMULATE_MISSING"]
  })

  // Each module of the package fails to import as Node's loader fails for a package that is absent;
  // the layer is imported afresh so that its dynamic imports see the mocks.
  it.each([
    ["on the ring", undefined],
    ["on the fallback", "ADDON"],
  ])("%s, the layer dies with an error that says to install it", async (_, missing) => {
    if (missing !== undefined) process.env["IOU_SIMULATE_MISSING"] = missing
    for (const name of MODULES) {
      vi.doMock(name, () => {
        throw Object.assign(new Error(`Cannot find package '@effect/platform-node' imported from ${name}`), {
          code: "ERR_MODULE_NOT_FOUND",
        })
      })
    }
    vi.resetModules()
    const fresh = (await import("@iou/effect")).IoUringServices
    const exit = await Effect.runPromiseExit(Effect.scoped(Layer.build(fresh.layer({ config: { size: 8 } }))))
    assert.isTrue(Exit.isFailure(exit))
    const defect = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
    assert.instanceOf(defect, Error)
    assert.include((defect as Error).message, "install it (`npm install @effect/platform-node`)")
  })
})
