/**
 * A TCP echo server whose connections are served by recv/send on the ring.
 *
 *   npm run -w examples echo            # listens on 127.0.0.1:7007
 *   nc 127.0.0.1 7007                   # type lines, get them back; Ctrl-C the server to stop
 *   HOST=::1 PORT=0 npm run -w examples echo   # another address; port 0: any free one (logged)
 *
 * Environment: HOST (default 127.0.0.1), PORT (default 7007; 0: any free port), IDLE_TIMEOUT
 * (default 30 seconds), SEND_TIMEOUT (default 5 seconds). A port that is taken, an address this
 * machine does not have or a bad setting ends the program with one line on stderr and exit code 1.
 *
 * Each connection is one fiber: recv with an idle deadline, send with a send deadline, both
 * enforced by the loop's timeout wheel (no JS timers); the log says which one closed a connection.
 * Ctrl-C interrupts the main fiber
 * (NodeRuntime.runMain): every connection fiber is interrupted, which cancels its pending recv in
 * the kernel, the sockets are closed, and the ring's layer drains and closes last.
 */
import { fileURLToPath } from "node:url"
import { runMain } from "@effect/platform-node/NodeRuntime"
import { Config, Data, Duration, Effect, FiberSet, Schema, type Scope } from "effect"
import { IoUring, NodeIoUring, type IoUringError } from "@iou/effect"
import { fail } from "./cli.ts"
import { formatAddress, listen, type Connection, type ListenError } from "./sockets.ts"

export interface EchoOptions {
  /** Default 127.0.0.1. */
  readonly host?: string
  /** 0: any free port. */
  readonly port: number
  /** A connection that sends nothing for this long is closed (the recv deadline). */
  readonly idleTimeout: Duration.Input
  /** A connection whose peer does not take the echo within this long is closed (the send deadline). Default 5 seconds. */
  readonly sendTimeout?: Duration.Input
  /** Called once the server listens, with its port. */
  readonly onListening?: (port: number) => Effect.Effect<void>
}

/** Which of the connection's deadlines passed; the message says so. */
class DeadlinePassed extends Data.TaggedError("DeadlinePassed")<{ readonly message: string }> {}

const format = (duration: Duration.Input) => Duration.format(Duration.fromInputUnsafe(duration))

/** The request's Timeout, and only that, becomes DeadlinePassed with `message`. */
const deadline = (message: string) => (error: IoUringError) =>
  error.reason._tag === "Timeout" ? new DeadlinePassed({ message }) : error

/** Echoes everything received on `conn` until the peer closes it or one of its deadlines passes. */
const echo = (conn: Connection, idleTimeout: Duration.Input, sendTimeout: Duration.Input) =>
  Effect.gen(function* () {
    const io = yield* IoUring
    const buffer = new Uint8Array(64 * 1024)
    let total = 0
    while (true) {
      const n = yield* io
        .recv(conn.fd, buffer, { timeout: idleTimeout })
        .pipe(Effect.mapError(deadline(`idle: nothing received for ${format(idleTimeout)} (recv deadline), closing`)))
      if (n === 0) break
      yield* io
        .send(conn.fd, buffer.subarray(0, n), { timeout: sendTimeout })
        .pipe(
          Effect.mapError(
            deadline(`the peer did not take the echo within ${format(sendTimeout)} (send deadline), closing`),
          ),
        )
      total += n
    }
    yield* Effect.logInfo(`${conn.remote}: closed by the peer after ${total} bytes echoed`)
  }).pipe(
    Effect.catchTags({
      DeadlinePassed: (passed) => Effect.logInfo(`${conn.remote}: ${passed.message}`),
      IoUringError: (error) => Effect.logWarning(`${conn.remote}: ${error.message}`),
    }),
    Effect.ensuring(conn.close),
  )

/** Serves until interrupted; each connection runs in its own fiber, all interrupted on exit. */
export const serve = (options: EchoOptions): Effect.Effect<never, ListenError, IoUring | Scope.Scope> =>
  Effect.gen(function* () {
    const listener = yield* listen(options.port, options.host)
    const connections = yield* FiberSet.make()
    yield* options.onListening?.(listener.port) ??
      Effect.logInfo(`echo server on ${formatAddress(listener.host, listener.port)}`)
    while (true) {
      // A failed accept (out of file descriptors, a connection reset first) ends no server.
      const conn = yield* listener.accept.pipe(
        Effect.catchTags({
          IoUringError: (error) => Effect.as(Effect.logWarning(`accept: ${error.message}`), undefined),
        }),
      )
      if (conn === undefined) continue
      yield* FiberSet.run(connections, echo(conn, options.idleTimeout, options.sendTimeout ?? "5 seconds"))
    }
  })

/** Config.Port without its lower bound: 0 asks for any free port. */
const PortOrZero = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65535 }))

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const main = Effect.gen(function* () {
    const host = yield* Config.String("HOST").pipe(Config.withDefault("127.0.0.1"))
    const port = yield* Config.schema(PortOrZero, "PORT").pipe(Config.withDefault(7007))
    const idleTimeout = yield* Config.Duration("IDLE_TIMEOUT").pipe(Config.withDefault(Duration.seconds(30)))
    const sendTimeout = yield* Config.Duration("SEND_TIMEOUT").pipe(Config.withDefault(Duration.seconds(5)))
    return yield* serve({ host, port, idleTimeout, sendTimeout })
  }).pipe(
    Effect.scoped,
    Effect.onInterrupt(() => Effect.logInfo("shutting down: connections interrupted, ring draining")),
    Effect.provide(NodeIoUring.layerConfig),
    Effect.catchTags({
      ListenError: (error) => fail("echo", error.message),
      ConfigError: (error) => fail("echo", error.message),
      IoUringError: (error) => fail("echo", error.message),
    }),
  )
  runMain(main)
}
