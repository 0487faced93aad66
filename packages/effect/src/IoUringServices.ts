/**
 * IoUringServices: one Layer that gives an Effect program its platform services on io_uring where
 * the kernel allows it, and @effect/platform-node's where it does not.
 *
 * ```ts
 * import { NodeRuntime } from "@effect/platform-node"
 * import { IoUringServices } from "@iou/effect"
 *
 * NodeRuntime.runMain(program.pipe(Effect.provide(IoUringServices.layer())))
 * ```
 *
 * Building the layer asks @iou/native's `probe(config)` whether a ring with `config` can open here:
 *
 * - **io_uring**: it opens the ring (closed with the layer's scope, as `NodeIoUring.layer`) and
 *   provides `IoUring`, `FileSystem` (the ring-side FileSystem, `options.fileSystem`), `Net`
 *   (IoUringSocket / IoUringSocketServer), and the rest of `NodeServices` (Path, Stdio, Terminal,
 *   ChildProcessSpawner).
 * - **node**: where the kernel refuses io_uring, lacks a feature the loop needs, or @iou/native or
 *   its addon is missing (or the ring's setup is refused after all), it logs the reason once as a
 *   warning and provides `NodeServices.layer`, `Net` over NodeSocket / NodeSocketServer, and an
 *   `IoUring` whose every operation fails with `Unavailable` and that reason.
 *
 * Either way `Backend` says which is active and why, and the gauge `iou_backend_active` is 1 for
 * the active backend (attribute `backend`: `io_uring` or `node`) and 0 for the other.
 * `IOU_SIMULATE_MISSING` (see @iou/native) makes the probe report a refusal, to try the fallback.
 *
 * @effect/platform-node is an optional peer dependency: it is imported when this layer is built, and
 * where it is not installed the layer dies with an error that says to install it.
 *
 * @since 0.0.0
 */
import { type DriverConfig, type DriverStats, Operations } from "@iou/core"
import { Context, Effect, Layer, Metric, type Scope } from "effect"
import type { FileSystem } from "effect/FileSystem"
import type { Path } from "effect/Path"
import type { ChildProcessSpawner } from "effect/process/ChildProcessSpawner"
import type * as Socket from "effect/socket/Socket"
import type * as SocketServer from "effect/socket/SocketServer"
import type { Stdio } from "effect/Stdio"
import type { Terminal } from "effect/Terminal"
import { IoUring } from "./IoUring.ts"
import { IoUringError, reasonOf } from "./IoUringError.ts"
import * as IoUringSocket from "./IoUringSocket.ts"
import * as IoUringSocketServer from "./IoUringSocketServer.ts"
import * as NodeIoUring from "./NodeIoUring.ts"
import * as RingLayers from "./internal/ringLayers.ts"

/**
 * Which services the layer provides, and why: `reason` is the probe's explanation when `kind` is
 * `"node"`.
 *
 * @since 0.0.0
 */
export class Backend extends Context.Service<
  Backend,
  { readonly kind: "io_uring" | "node"; readonly reason: string | undefined }
>()("@iou/effect/IoUringServices/Backend") {}

/**
 * Sockets on the active backend: `makeNet` as `NodeSocket.makeNet` / `IoUringSocket.makeNet`,
 * `makeServer` as `NodeSocketServer.make` / `IoUringSocketServer.make`.
 *
 * @since 0.0.0
 */
export class Net extends Context.Service<
  Net,
  {
    readonly makeNet: (options: IoUringSocket.NetOptions) => Effect.Effect<Socket.Socket>
    readonly makeServer: (
      options: IoUringSocketServer.ServerOptions,
    ) => Effect.Effect<SocketServer.SocketServer["Service"], SocketServer.SocketServerError, Scope.Scope>
  }
>()("@iou/effect/IoUringServices/Net") {}

/**
 * What the layer provides.
 *
 * @since 0.0.0
 */
export type IoUringServices = IoUring | Backend | Net | FileSystem | Path | Stdio | Terminal | ChildProcessSpawner

/**
 * @since 0.0.0
 */
export interface Options extends NodeIoUring.LayerOptions {
  /** The ring's config (and what the probe checks). */
  readonly config?: DriverConfig | undefined
  /** The FileSystem on the ring side; default: the package's (see the README). */
  readonly fileSystem?: Layer.Layer<FileSystem, never, IoUring> | undefined
}

/** The gauge that says which backend is active: 1 for it, 0 for the other. */
export const BACKEND_METRIC = "iou_backend_active"

const backendGauge = (backend: "io_uring" | "node") =>
  Metric.gauge(BACKEND_METRIC, {
    description: "1 for the platform services' active backend (io_uring or node), 0 for the other",
    attributes: { backend },
  })

/** The Backend service, and the gauge set while the layer lives (both series back to 0 after it). */
const announce = (kind: "io_uring" | "node", reason: string | undefined): Layer.Layer<Backend> =>
  Layer.effect(
    Backend,
    Effect.acquireRelease(
      Effect.gen(function* () {
        yield* Metric.update(backendGauge("io_uring"), kind === "io_uring" ? 1 : 0)
        yield* Metric.update(backendGauge("node"), kind === "node" ? 1 : 0)
        return Backend.of({ kind, reason })
      }),
      () => Effect.andThen(Metric.update(backendGauge("io_uring"), 0), Metric.update(backendGauge("node"), 0)),
    ),
  )

const ZERO_STATS: DriverStats = {
  pendingOperations: 0,
  outstanding: 0,
  inFlight: 0,
  submitted: 0,
  completed: 0,
  failed: 0,
  timedOut: 0,
  cancelled: 0,
  requeued: 0,
  sqesStaged: 0,
  enters: 0,
  wakes: 0,
  cqOverflow: 0,
  cqKernelOverflow: 0,
  recvBuffersEmpty: 0,
  abandoned: 0,
  quarantinedBytes: 0,
}

/** The IoUring service where there is no ring: every operation fails with Unavailable and `reason`. */
const unavailable = (reason: string): IoUring["Service"] => {
  const fail = Effect.fail(
    new IoUringError({
      reason: reasonOf("Unavailable", undefined, reason),
      code: "ERR_IOU_UNAVAILABLE",
      message: `io_uring is unavailable on this machine (ERR_IOU_UNAVAILABLE): ${reason}`,
    }),
  )
  // Every operation of the service (Operations' rows) fails alike; `stats` reads zeros.
  const service: Record<string, unknown> = { nop: fail, stats: Effect.succeed(ZERO_STATS) }
  for (const method of Object.keys(Operations.OPERATIONS)) if (method !== "nop") service[method] = () => fail
  return service as IoUring["Service"]
}

/** Why a ring with `config` cannot open here (@iou/native's probe), or undefined if it can. */
const refusal = (config: DriverConfig): Effect.Effect<string | undefined> =>
  Effect.promise(() =>
    import("@iou/native").then(
      (native) => {
        const probe = native.probe(config)
        // Out of fds for now is not io_uring refused: the ring's own open then fails with it
        // (as NodeIoUring.layer does), where falling back would switch backends for good.
        if (probe.supported || probe.setupError === "EMFILE" || probe.setupError === "ENFILE") return undefined
        return probe.reason ?? "the probe gave no reason"
      },
      (error: unknown) =>
        `@iou/native could not be loaded (${error instanceof Error ? error.message : String(error)})` +
        // On Linux the package should be there: the detail says what went wrong, not the platform.
        (process.platform === "linux"
          ? ""
          : "; it is an optional dependency of @iou/effect that installs on Linux only"),
    ),
  )

/**
 * What the layer dies with when @effect/platform-node cannot be imported: it is an optional peer
 * dependency, so a program that uses this layer without installing it is told to install it. The
 * import's own error follows, for the case where the package is there but broken.
 */
/** Whether `error` (or an error it wraps, as a loader or a test's mock does) is a missing module. */
const moduleNotFound = (error: unknown): boolean => {
  for (let e = error, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if ((e as { code?: unknown }).code === "ERR_MODULE_NOT_FOUND") return true
  }
  return false
}

const platformNodeError = (error: unknown): Error => {
  const detail = error instanceof Error ? error.message : String(error)
  return moduleNotFound(error)
    ? new Error(
        "IoUringServices.layer needs @effect/platform-node, an optional peer dependency of @iou/effect: install it " +
          `(\`npm install @effect/platform-node\`) to use IoUringServices.layer (importing it failed: ${detail})`,
        { cause: error },
      )
    : new Error(`IoUringServices.layer could not import @effect/platform-node: ${detail}`, { cause: error })
}

/** Imports a module of @effect/platform-node, dying with platformNodeError where that fails. */
const platformNode = <A>(load: () => Promise<A>): Effect.Effect<A> =>
  Effect.promise(() =>
    load().catch((error: unknown) => {
      throw platformNodeError(error)
    }),
  )

/** Why the Driver refused io_uring: its explanation without the code it starts with. */
const unavailableReason = (error: IoUringError): string => {
  const message = error.cause instanceof Error ? error.cause.message : error.message
  return message.replace(/^ERR_IOU_UNAVAILABLE: /, "")
}

const fallback = (reason: string): Layer.Layer<IoUringServices> =>
  Layer.unwrap(
    Effect.gen(function* () {
      const NodeServices = yield* platformNode(() => import("@effect/platform-node/NodeServices"))
      const net = yield* nodeNet()
      yield* Effect.logWarning(`io_uring is not used: ${reason}; the program runs on @effect/platform-node's services`)
      return Layer.mergeAll(
        NodeServices.layer,
        Layer.succeed(IoUring, unavailable(reason)),
        net,
        announce("node", reason),
      )
    }),
  )

/** Net over @effect/platform-node's sockets. */
const nodeNet = (): Effect.Effect<Layer.Layer<Net>> =>
  Effect.map(
    platformNode(() =>
      Promise.all([import("@effect/platform-node/NodeSocket"), import("@effect/platform-node/NodeSocketServer")]),
    ),
    ([NodeSocket, NodeSocketServer]) =>
      Layer.succeed(
        Net,
        Net.of({
          makeNet: (options) => NodeSocket.makeNet(options),
          makeServer: (options) => NodeSocketServer.make(options),
        }),
      ),
  )

/**
 * The services over the ring `io`. A ring restricted to one class of operations (the config's
 * `operations`) carries only that class's service: the other stays @effect/platform-node's.
 */
const onRing = (io: IoUring["Service"], options: Options): Layer.Layer<IoUringServices> =>
  Layer.unwrap(
    Effect.gen(function* () {
      const NodeServices = yield* platformNode(() => import("@effect/platform-node/NodeServices"))
      const operations = options.config?.operations ?? "all"
      const ring = Layer.succeed(IoUring, io)
      const net =
        operations === "files"
          ? yield* nodeNet()
          : Layer.succeed(
              Net,
              Net.of({
                makeNet: (netOptions) => Effect.provideService(IoUringSocket.makeNet(netOptions), IoUring, io),
                makeServer: (serverOptions) =>
                  Effect.provideService(IoUringSocketServer.make(serverOptions), IoUring, io),
              }),
            )
      // The ring-side FileSystem comes after NodeServices so that it is the one provided. Fresh: a
      // layer value is memoized by reference, and a nested build must not get the FileSystem built
      // over an outer ring.
      const files =
        operations === "sockets"
          ? Layer.empty
          : Layer.provide(Layer.fresh(options.fileSystem ?? RingLayers.fileSystem), ring)
      return Layer.mergeAll(NodeServices.layer, files, ring, net, announce("io_uring", undefined))
    }),
  )

/**
 * The platform services on io_uring, or on @effect/platform-node where io_uring is refused (see the
 * module's documentation). Fails only with what `NodeIoUring.layer` fails with other than
 * `Unavailable`.
 *
 * @since 0.0.0
 */
export const layer = (options: Options = {}): Layer.Layer<IoUringServices, IoUringError> =>
  Layer.unwrap(
    Effect.gen(function* () {
      const config = options.config ?? {}
      const refused = yield* refusal(config)
      if (refused !== undefined) return fallback(refused)
      // The ring lives in this layer's scope. A setup the probe passed can still be refused.
      const opened = yield* Effect.result(NodeIoUring.make(config, options))
      if (opened._tag === "Failure") {
        const error = opened.failure
        // The Driver's own explanation (the error's cause), as on the probe's path.
        if (error.reason._tag === "Unavailable") return fallback(unavailableReason(error))
        return yield* Effect.fail(error)
      }
      return onRing(opened.success, options)
    }),
  )
