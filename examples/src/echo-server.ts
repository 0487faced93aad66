/**
 * A TCP echo server whose connections are served by recv/send on the ring.
 *
 *   npm run -w examples echo            # listens on 127.0.0.1:7007 (PORT=… to change)
 *   nc 127.0.0.1 7007                   # type lines, get them back; Ctrl-C the server to stop
 *
 * Each connection is one fiber: recv with an idle deadline, send with a write deadline, both
 * enforced by the loop's timeout wheel (no JS timers). Ctrl-C interrupts the main fiber
 * (NodeRuntime.runMain): every connection fiber is interrupted, which cancels its pending recv in
 * the kernel, the sockets are closed, and the ring's layer drains and closes last.
 */
import { fileURLToPath } from "node:url"
import { runMain } from "@effect/platform-node/NodeRuntime"
import { Config, Duration, Effect, FiberSet, type Scope } from "effect"
import { IoUring, NodeIoUring, type IoUringError } from "@iou/effect"
import { listen, type Connection } from "./sockets.ts"

export interface EchoOptions {
  /** 0: any free port. */
  readonly port: number
  /** A connection that sends nothing for this long is closed. */
  readonly idleTimeout: Duration.Input
  /** Called once the server listens, with its port. */
  readonly onListening?: (port: number) => Effect.Effect<void>
}

/** Echoes everything received on `conn` until the peer closes it or it idles out. */
const echo = (conn: Connection, idleTimeout: Duration.Input) =>
  Effect.gen(function* () {
    const io = yield* IoUring
    const buffer = new Uint8Array(64 * 1024)
    let total = 0
    while (true) {
      const n = yield* io.recv(conn.fd, buffer, { timeout: idleTimeout })
      if (n === 0) break
      yield* io.send(conn.fd, buffer.subarray(0, n), { timeout: "5 seconds" })
      total += n
    }
    yield* Effect.logInfo(`${conn.remote}: closed by the peer after ${total} bytes echoed`)
  }).pipe(
    Effect.catchTag("IoUringError", (error: IoUringError) =>
      error.reason === "Timeout"
        ? Effect.logInfo(`${conn.remote}: idle for ${Duration.format(Duration.fromInputUnsafe(idleTimeout))}, closing`)
        : Effect.logWarning(`${conn.remote}: ${error.message}`),
    ),
    Effect.ensuring(conn.close),
  )

/** Serves until interrupted; each connection runs in its own fiber, all interrupted on exit. */
export const serve = (options: EchoOptions): Effect.Effect<never, never, IoUring | Scope.Scope> =>
  Effect.gen(function* () {
    const listener = yield* listen(options.port)
    const connections = yield* FiberSet.make()
    yield* options.onListening?.(listener.port) ?? Effect.logInfo(`echo server on 127.0.0.1:${listener.port}`)
    while (true) {
      const conn = yield* listener.accept
      yield* FiberSet.run(connections, echo(conn, options.idleTimeout))
    }
  })

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const main = Effect.gen(function* () {
    const port = yield* Config.Port("PORT").pipe(Config.withDefault(7007))
    return yield* serve({ port, idleTimeout: "30 seconds" })
  }).pipe(
    Effect.scoped,
    Effect.onInterrupt(() => Effect.logInfo("shutting down: connections interrupted, ring draining")),
    Effect.provide(NodeIoUring.layerConfig),
  )
  runMain(main)
}
