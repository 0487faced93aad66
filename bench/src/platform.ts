/**
 * Effect's platform services on the ring against @effect/platform-node's: the `FileSystem` of
 * `IoUringFileSystem.layer` (over `NodeIoUring.layer`, one Driver per engine, the run's config)
 * against `NodeFileSystem.layer`, and `IoUringSocketServer` against `NodeSocketServer`. Every
 * variant goes through the public layers only, so whatever those layers do on the ring or on node
 * is what is measured.
 *
 *   readFile:  `FileSystem.readFile` of 4 KiB files (the `files` suite's set), 64 fibers
 *   stream:    `FileSystem.stream` of the page-cached data file, whole, default chunk size (MiB/s)
 *   File.read: 4 KiB reads at random 4 KiB-aligned positions (`{ position }`) of one open file, 64 fibers
 *   echo:      a SocketServer whose handler echoes every chunk, against the C peer echoing back, on
 *              16 and 256 connections: each connection a 64-byte ping-pong started by the server
 */
import { Effect, Fiber, Layer, ManagedRuntime, Stream } from "effect"
import * as FileSystem from "effect/FileSystem"
import * as SocketServer from "effect/socket/SocketServer"
import type * as Socket from "effect/socket/Socket"
import type { Suite } from "./context.ts"
import { Offsets } from "./files.ts"
import type { Comparison, Sample, Variant } from "./harness.ts"
import { baselineModule, driverConfig, withEngine } from "./ring.ts"
import type { Engine } from "./ring.ts"
import { prepareFiles } from "./smallfiles.ts"
import { spawnPeer, tcpPeerCommand } from "./tcp.ts"

export const NODE_FS = "NodeFileSystem.layer"
export const RING_FS = "IoUringFileSystem.layer"
export const NODE_SERVER = "NodeSocketServer"
export const RING_SERVER = "IoUringSocketServer"
const FIBERS = 64
const MSG = 64
const MIB = 1024 * 1024

type Runtime<R> = ManagedRuntime.ManagedRuntime<R, unknown>

/** `depth` fibers, each running `op(slot)` one after the other until `budgetMs` has passed. */
const fiberLoop = <R>(
  rt: Runtime<R>,
  depth: number,
  budgetMs: number,
  op: (slot: number) => Effect.Effect<unknown, unknown, R>,
): Promise<Sample> =>
  rt.runPromise(
    Effect.suspend(() => {
      let ops = 0
      let stop = false
      const t0 = performance.now()
      const end = t0 + budgetMs
      const worker = (slot: number) =>
        Effect.whileLoop({
          while: () => !stop,
          body: () => op(slot),
          step: () => {
            if ((++ops & 63) === 0 && performance.now() >= end) stop = true
          },
        })
      return Effect.map(
        Effect.all(
          Array.from({ length: depth }, (_, i) => worker(i)),
          { concurrency: "unbounded", discard: true },
        ),
        () => ({ ops, seconds: (performance.now() - t0) / 1000 }),
      )
    }),
  )

const withFs = <A, E, R>(f: (fs: FileSystem.FileSystem) => Effect.Effect<A, E, R>) =>
  Effect.flatMap(Effect.service(FileSystem.FileSystem), f)

/**
 * One SocketServer echo variant: the server runs in `rt` for the whole suite; the peer connects
 * `n` connections. Between rounds every connection holds its last message (parked), so the
 * variant costs nothing while the others run; a round releases them (or sends the first ping).
 */
const echoServerVariant = async (
  name: string,
  rt: Runtime<SocketServer.SocketServer>,
  n: number,
  cleanups: Array<() => Promise<void>>,
): Promise<Variant> => {
  let messages = 0
  let stop = true
  let connected = 0
  let onConnected: (() => void) | undefined
  const parked: Array<() => void> = []
  let parkedAll: (() => void) | undefined
  const ping = new Uint8Array(MSG).fill(0x62)
  const handler = (socket: Socket.Socket) =>
    Effect.scoped(
      Effect.gen(function* () {
        const { pull } = yield* socket.reader
        const { write, writeAll } = yield* socket.writer
        const park = () =>
          Effect.promise(
            () =>
              new Promise<void>((resolve) => {
                parked.push(resolve)
                if (parked.length === n) parkedAll?.()
              }),
          )
        if (++connected === n) onConnected?.()
        yield* park()
        yield* write(ping)
        let got = 0
        for (;;) {
          const chunks = yield* pull
          for (const c of chunks) got += c.length
          messages += Math.floor(got / MSG)
          got %= MSG
          if (stop) yield* park()
          yield* writeAll(chunks as unknown as [Uint8Array, ...Array<Uint8Array>])
        }
      }),
    )
  const server = await rt.runPromise(Effect.service(SocketServer.SocketServer))
  const port = (server.address as { port: number }).port
  const fiber = rt.runFork(server.run(handler))
  const allConnected = new Promise<void>((resolve) => (onConnected = resolve))
  const peer = spawnPeer(tcpPeerCommand(), "echo", port, n)
  await Promise.race([allConnected, peer.failed, peer.early])
  peer.early.catch(() => undefined)
  await new Promise<void>((resolve) => {
    parkedAll = resolve
    if (parked.length === n) resolve()
  })
  cleanups.push(async () => {
    await rt.runPromise(Fiber.interrupt(fiber))
    await peer.stop()
  })
  return {
    name,
    run: async (budgetMs) => {
      messages = 0
      stop = false
      const t0 = performance.now()
      const done = new Promise<void>((resolve) => (parkedAll = resolve))
      for (const release of parked.splice(0)) release()
      await new Promise((resolve) => setTimeout(resolve, budgetMs))
      stop = true
      await done
      return { ops: messages, seconds: (performance.now() - t0) / 1000 }
    },
  }
}

export const platformSuite: Suite = {
  id: "platform",
  description:
    "Effect's FileSystem and SocketServer on the ring against @effect/platform-node's: readFile, stream, File.read, echo",
  build: async (ctx) => {
    let mod: Record<string, unknown>
    let nodeFs: Layer.Layer<FileSystem.FileSystem>
    let nodeServer: (o: { port: number; host: string }) => Layer.Layer<SocketServer.SocketServer, unknown>
    try {
      mod = (await import("@iou/effect")) as Record<string, unknown>
      nodeFs = ((await import("@effect/platform-node/NodeFileSystem")) as { layer: typeof nodeFs }).layer
      nodeServer = ((await import("@effect/platform-node/NodeSocketServer")) as { layer: typeof nodeServer }).layer
    } catch (e) {
      const reason = `@iou/effect or @effect/platform-node did not load (${e instanceof Error ? e.message : String(e)})`
      return {
        comparisons: [],
        direct: [
          async () => ({
            id: "platform",
            title: "Effect platform services (skipped)",
            unit: "ops/s",
            kind: "throughput" as const,
            variants: [],
            notes: [reason],
          }),
        ],
      }
    }
    type Layers = {
      readonly NodeIoUring: { layer: (c: unknown) => Layer.Layer<never, unknown> }
      readonly IoUringFileSystem: { layer: Layer.Layer<FileSystem.FileSystem, never, never> }
      readonly IoUringSocketServer: {
        layer: (o: { port: number; host: string }) => Layer.Layer<SocketServer.SocketServer, unknown, never>
      }
    }
    // The engine "baseline" runs the other checkout's layers (BENCH_BASELINE), the others this one's.
    const layersOf = new Map<Engine, Layers>()
    const engines: Array<Engine> = []
    for (const engine of ctx.engines) {
      const m =
        engine === "baseline"
          ? ((await import(baselineModule("effect")).catch(() => ({}))) as Record<string, unknown>)
          : mod
      if (m["IoUringFileSystem"] === undefined || m["IoUringSocketServer"] === undefined) continue
      layersOf.set(engine, m as unknown as Layers)
      engines.push(engine)
    }
    const layers = (engine: Engine): Layers => layersOf.get(engine)!
    const runtimes: Array<Runtime<unknown>> = []
    const runtime = <R>(layer: Layer.Layer<R, unknown>): Runtime<R> => {
      const rt = ManagedRuntime.make(layer)
      runtimes.push(rt as Runtime<unknown>)
      return rt
    }
    const ringLayer = (engine: Engine) => layers(engine).NodeIoUring.layer(driverConfig(engine))
    const fsRuntimes: Array<{ name: string; rt: Runtime<FileSystem.FileSystem> }> = [
      { name: NODE_FS, rt: runtime(nodeFs) },
      ...engines.map((engine) => ({
        name: withEngine(RING_FS, engine),
        rt: runtime(
          Layer.provide(
            layers(engine).IoUringFileSystem.layer,
            ringLayer(engine),
          ) as Layer.Layer<FileSystem.FileSystem>,
        ),
      })),
    ]
    const files = prepareFiles(4096)
    const dataFile = ctx.dataFile()
    const comparisons: Array<Comparison> = []

    comparisons.push({
      id: "effect-readfile-4k",
      title: `Effect FileSystem.readFile of 4 KiB files, ${FIBERS} fibers`,
      unit: "files/s",
      baseline: NODE_FS,
      variants: fsRuntimes.map(({ name, rt }) => ({
        name,
        run: (budget) => {
          const next = Array.from({ length: FIBERS }, (_, s) => s)
          return fiberLoop(rt, FIBERS, budget, (s) => {
            const i = next[s]!
            next[s] = (i + FIBERS) % files.length
            return withFs((fs) => fs.readFile(files[i]!))
          })
        },
      })),
      notes: ["target: IoUringFileSystem ≥ 2× NodeFileSystem"],
    })

    comparisons.push({
      id: "effect-stream",
      title: "Effect FileSystem.stream of the page-cached 256 MiB file, whole (default chunk size)",
      unit: "MiB/s",
      scale: 1 / MIB,
      baseline: NODE_FS,
      variants: fsRuntimes.map(({ name, rt }) => ({
        name,
        run: (budget) =>
          rt.runPromise(
            withFs((fs) =>
              Effect.suspend(() => {
                let bytes = 0
                const t0 = performance.now()
                const once = Stream.runForEach(fs.stream(dataFile), (chunk) =>
                  Effect.sync(() => {
                    bytes += chunk.length
                  }),
                )
                return Effect.map(
                  Effect.whileLoop({
                    while: () => performance.now() - t0 < budget,
                    body: () => once,
                    step: () => undefined,
                  }),
                  () => ({ ops: bytes, seconds: (performance.now() - t0) / 1000 }),
                )
              }),
            ),
          ),
      })),
      notes: [
        "one stream reads the whole 256 MiB file; a round runs whole streams until its time is up",
        "target: ≥ 1.5×",
      ],
    })

    comparisons.push({
      id: "effect-file-read-4k",
      title: `Effect File.read of 4 KiB at random positions, ${FIBERS} fibers on one open file`,
      unit: "ops/s",
      baseline: NODE_FS,
      variants: fsRuntimes.map(({ name, rt }) => ({
        name,
        run: (budget) =>
          rt.runPromise(
            Effect.scoped(
              withFs((fs) =>
                Effect.flatMap(fs.open(dataFile, { flag: "r" }), (file) => {
                  const offsets = new Offsets()
                  const bufs = Array.from({ length: FIBERS }, () => new Uint8Array(4096))
                  return Effect.promise(() =>
                    fiberLoop(rt, FIBERS, budget, (s) => file.read(bufs[s]!, { position: BigInt(offsets.next()) })),
                  )
                }),
              ),
            ),
          ),
      })),
      notes: ["the file is opened once per round (one open in thousands of reads)", "target: ≥ 3×"],
    })

    const cleanups: Array<() => Promise<void>> = []
    for (const n of [16, 256]) {
      const variants: Array<Variant> = [
        await echoServerVariant(NODE_SERVER, runtime(nodeServer({ port: 0, host: "127.0.0.1" })), n, cleanups),
      ]
      for (const engine of engines) {
        variants.push(
          await echoServerVariant(
            withEngine(RING_SERVER, engine),
            runtime(
              Layer.provide(
                layers(engine).IoUringSocketServer.layer({ port: 0, host: "127.0.0.1" }),
                ringLayer(engine),
              ) as Layer.Layer<SocketServer.SocketServer, unknown>,
            ),
            n,
            cleanups,
          ),
        )
      }
      comparisons.push({
        id: `effect-echo-${n}`,
        title: `Effect SocketServer echo, 64-byte ping-pong, ${n} connections`,
        unit: "msg/s",
        baseline: NODE_SERVER,
        variants,
        notes: [
          "the peer is tools/tcp-peer.c echoing back; the server's handler reads with socket.reader's pull and writes with the writer's writeAll",
          "target: ≥ 1.5×",
        ],
      })
    }
    return {
      comparisons,
      cleanup: async () => {
        for (const c of cleanups) await c().catch(() => undefined)
        for (const rt of runtimes) await rt.dispose().catch(() => undefined)
      },
    }
  },
}
