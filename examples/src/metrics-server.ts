/**
 * An HTTP /metrics endpoint (node:http) serving a prom-client registry that holds the ring's
 * metrics, while work runs on the ring.
 *
 *   npm run -w examples metrics         # http://127.0.0.1:9464/metrics (PORT=… to change; 0: any free port)
 *   curl -s 127.0.0.1:9464/metrics | grep ^iou_
 *
 * The collectors read the Driver's stats at scrape time; nothing is counted on the I/O path. Each
 * series' HELP line says what it counts; the outcomes of requests are counted apart:
 * `iou_failed_total` (errors), `iou_timed_out_total`, `iou_cancelled_total`, `iou_abandoned_total`.
 * Ctrl-C stops the work, unregisters the metrics, closes the HTTP server and then the ring.
 */
import * as http from "node:http"
import * as fs from "node:fs"
import { once } from "node:events"
import { fileURLToPath } from "node:url"
import { runMain } from "@effect/platform-node/NodeRuntime"
import { Config, Effect, Schedule, Schema, type Scope } from "effect"
import * as Prom from "prom-client"
import { IoUring, IoUringMetrics, NodeIoUring } from "@iou/effect"
import * as util from "node:util"
import { fail } from "./cli.ts"
import { formatAddress, ListenError } from "./sockets.ts"

/**
 * Serves `registry` at GET /metrics on 127.0.0.1:`port` (0: any free port) until the scope closes;
 * a port node:http cannot listen on (in use, not allowed) is a ListenError.
 */
export const serveMetrics = (
  registry: Prom.Registry,
  port: number,
): Effect.Effect<{ readonly port: number }, ListenError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      catch: (error) => {
        const code = (error as NodeJS.ErrnoException).code
        const what =
          typeof (error as NodeJS.ErrnoException).errno === "number"
            ? `${util.getSystemErrorMessage((error as NodeJS.ErrnoException).errno!)} (${code})`
            : String(code ?? error)
        return new ListenError({
          host: "127.0.0.1",
          port,
          code,
          message: `cannot listen on ${formatAddress("127.0.0.1", port)}: ${what}`,
          cause: error,
        })
      },
      try: async () => {
        const server = http.createServer((request, response) => {
          if (request.method !== "GET" || request.url !== "/metrics") {
            response.writeHead(404).end("try GET /metrics\n")
            return
          }
          registry.metrics().then(
            (text) => response.writeHead(200, { "content-type": registry.contentType }).end(text),
            (error: unknown) => response.writeHead(500).end(String(error)),
          )
        })
        server.listen(port, "127.0.0.1")
        await once(server, "listening")
        return server
      },
    }),
    (server) =>
      Effect.promise(
        () =>
          new Promise<void>((resolve) => {
            server.close(() => resolve())
            server.closeAllConnections()
          }),
      ),
  ).pipe(Effect.map((server) => ({ port: (server.address() as { port: number }).port })))

/**
 * Some work for the metrics to show: nops, reads of /dev/zero, and one request per round whose
 * deadline has already passed (it ends as a timeout: iou_timed_out_total, not iou_failed_total).
 */
export const work: Effect.Effect<void, never, IoUring | Scope.Scope> = Effect.gen(function* () {
  const io = yield* IoUring
  const fd = yield* Effect.acquireRelease(
    Effect.sync(() => fs.openSync("/dev/zero", "r")),
    (fd) => Effect.sync(() => fs.closeSync(fd)),
  )
  const buffer = new Uint8Array(4096)
  const round = Effect.all(
    [
      Effect.all(
        Array.from({ length: 16 }, () => io.nop),
        { concurrency: "unbounded", discard: true },
      ),
      Effect.all(
        Array.from({ length: 16 }, (_, i) => io.readAt(fd, buffer.subarray(i * 256, (i + 1) * 256), i * 256)),
        { concurrency: "unbounded", discard: true },
      ),
      io.readAt(fd, buffer, 0, { timeout: 0 }).pipe(Effect.ignore),
    ],
    { discard: true },
  ).pipe(Effect.ignore)
  yield* round.pipe(Effect.repeat(Schedule.spaced("20 millis")))
})

/** A registry with Node's default process metrics; the ring's are added by IoUringMetrics.register. */
export const makeRegistry = (): Prom.Registry => {
  const registry = new Prom.Registry()
  Prom.collectDefaultMetrics({ register: registry })
  return registry
}

/** Config.Port without its lower bound: 0 asks for any free port. */
const PortOrZero = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65535 }))

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const main = Effect.gen(function* () {
    const port = yield* Config.schema(PortOrZero, "PORT").pipe(Config.withDefault(9464))
    const registry = makeRegistry()
    yield* IoUringMetrics.register(registry)
    const server = yield* serveMetrics(registry, port)
    yield* Effect.logInfo(`metrics on http://127.0.0.1:${server.port}/metrics`)
    yield* work
  }).pipe(
    Effect.scoped,
    Effect.provide(NodeIoUring.layerConfig),
    Effect.catchTags({
      ListenError: (error) => fail("metrics", error.message),
      ConfigError: (error) => fail("metrics", error.message),
      IoUringError: (error) => fail("metrics", error.message),
    }),
  )
  runMain(main)
}
