/**
 * IoUringSocket and IoUringSocketServer run the socket behaviour suite with the same expectations as
 * @effect/platform-node's NodeSocket and NodeSocketServer (which run it here too, so that the suite
 * itself is checked against the reference). And they really use the ring: every operation of
 * `internal/netOps.ts` (the only way the socket modules reach the kernel) moves the ring's
 * `submitted` counter. A TCP server's `noDelay` and `keepAlive` reach the Driver's listen and the
 * connections it accepts.
 */
import * as fs from "node:fs"
import * as net from "node:net"
import { randomBytes } from "node:crypto"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as NodeSocketServer from "@effect/platform-node/NodeSocketServer"
import { afterAll, beforeAll } from "vitest"
import { assert, describe, it, layer } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Fiber, Layer } from "effect"
import * as Socket from "effect/socket/Socket"
import { Driver, probe } from "@iou/native"
import { IoUring, IoUringSocket, IoUringSocketServer, NodeIoUring } from "@iou/effect"
import * as NetOps from "../src/internal/netOps.ts"
import * as Errors from "../src/internal/errors.ts"
import { binding } from "../../native/src/binding.ts"
import { FakeDriver, nativeError, openFake } from "./FakeDriver.ts"
import { childResult } from "./children.ts"
import { socketSuite } from "./socket.suite.ts"

const supported = probe().supported

/**
 * A node:net server in the scope whose one connection is paused: it reads nothing until resumed, so
 * the kernel's buffers fill and a large send blocks. `peer` is that connection, `peerClosed` its end.
 */
const pausedPeer = Effect.gen(function* () {
  let accepted: (connection: net.Socket) => void = () => {}
  const peer = new Promise<net.Socket>((resolve) => (accepted = resolve))
  let closed: () => void = () => {}
  const peerClosed = new Promise<void>((resolve) => (closed = resolve))
  const server = yield* Effect.acquireRelease(
    Effect.callback<net.Server>((resume) => {
      const server = net.createServer({ pauseOnConnect: true }, (connection) => {
        connection.on("error", () => {})
        connection.on("close", () => closed())
        accepted(connection)
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) => Effect.sync(() => server.close()),
  )
  return { port: (server.address() as net.AddressInfo).port, peer, peerClosed }
})

/** Node's libuv reports a reset behind a short read as the error it is from 1.52 on (Node 24.16). */
const [uvMajor = 0, uvMinor = 0] = process.versions.uv.split(".").map(Number)

socketSuite("NodeSocket / NodeSocketServer (the reference)", {
  layer: Layer.empty,
  makeNet: (options) => NodeSocket.makeNet(options),
  makeServer: (options) => NodeSocketServer.make(options),
  resetBehindData: uvMajor > 1 || (uvMajor === 1 && uvMinor >= 52) ? "error" : "close",
})

socketSuite(
  "IoUringSocket / IoUringSocketServer",
  {
    layer: NodeIoUring.layer({ size: 256, shutdownTimeout: 2000 }),
    makeNet: (options) => IoUringSocket.makeNet(options),
    makeServer: (options) => IoUringSocketServer.make(options),
  },
  !supported,
)

// A kernel older than Linux 6.0 refuses the multishot receive (EINVAL, or ENOBUFS without a
// provided-buffer ring): simulated by a service whose recvMany fails so, the sockets fall back to
// one-shot receives and behave the same.
socketSuite(
  "IoUringSocket / IoUringSocketServer where the kernel refuses the multishot receive",
  {
    layer: Layer.effect(
      IoUring,
      Effect.map(Effect.service(IoUring), (io) =>
        IoUring.of({
          ...io,
          recvMany: (fd) =>
            Errors.failure(nativeError("EINVAL", { errno: -22, syscall: "recv", fd }), "recv", fd, "recvMany"),
        }),
      ),
    ).pipe(Layer.provideMerge(NodeIoUring.layer({ size: 256, shutdownTimeout: 2000 }))),
    makeNet: (options) => IoUringSocket.makeNet(options),
    makeServer: (options) => IoUringSocketServer.make(options),
  },
  !supported,
)

// A Driver that knows the kernel lacks the multishot receive refuses recvMany with ENOSYS (here
// simulated through IOU_SIMULATE_MISSING, which the Driver reads when it opens, per test): the
// sockets take the one-shot receives straight away and behave the same.
describe("where the Driver refuses the multishot receive (IOU_SIMULATE_MISSING=RECV_MULTISHOT)", () => {
  beforeAll(() => {
    process.env["IOU_SIMULATE_MISSING"] = "RECV_MULTISHOT"
  })
  afterAll(() => {
    delete process.env["IOU_SIMULATE_MISSING"]
  })
  socketSuite(
    "IoUringSocket / IoUringSocketServer on a Driver without recvMany",
    {
      layer: NodeIoUring.layer({ size: 256, shutdownTimeout: 2000 }),
      makeNet: (options) => IoUringSocket.makeNet(options),
      makeServer: (options) => IoUringSocketServer.make(options),
    },
    !supported,
  )
})

describe.skipIf(!supported)("IoUringSocket and IoUringSocketServer on the ring", () => {
  layer(NodeIoUring.layer({ size: 64, shutdownTimeout: 2000 }), { timeout: 30_000, excludeTestServices: true })(
    (it) => {
      it.effect(
        "every socket operation (listen, accept, connect, recvMany, send, shutdown, close) submits to the ring",
        () =>
          Effect.gen(function* () {
            const io = yield* IoUring
            const ops = NetOps.make(io)
            const moved: Partial<Record<keyof NetOps.NetOps, number>> = {}
            /** Runs `effect` as `op`, recording how many requests it submitted to the ring. */
            const measured = <A, E>(op: keyof NetOps.NetOps, effect: Effect.Effect<A, E>) =>
              Effect.gen(function* () {
                const before = (yield* io.stats).submitted
                const result = yield* effect
                moved[op] = (moved[op] ?? 0) + (yield* io.stats).submitted - before
                return result
              })

            const listener = yield* measured("listen", ops.listen({ host: "127.0.0.1", port: 0 }))
            assert.strictEqual(listener.address._tag, "Inet")
            const port = (listener.address as { port: number }).port
            // The connection waits in the listener's backlog, so accept is measured alone.
            const client = yield* measured("connect", ops.connect({ host: "127.0.0.1", port, noDelay: true }))
            const server = yield* measured("accept", ops.accept(listener))
            // recvMany: one multishot receive gets the ping, then the peer's end of stream ends it.
            // Measured alone: nothing else runs until its request reached the ring.
            const received: Array<Uint8Array> = []
            const before = (yield* io.stats).submitted
            const receiving = yield* Effect.forkChild(ops.recvMany(server, (chunk) => received.push(chunk)))
            while ((yield* io.stats).submitted === before) yield* Effect.sleep("1 millis")
            moved.recvMany = (yield* io.stats).submitted - before
            yield* measured("send", ops.send(client, new TextEncoder().encode("ping")))
            yield* measured("shutdownWrite", ops.shutdownWrite(client))
            yield* Fiber.join(receiving)
            assert.strictEqual(new TextDecoder().decode(Buffer.concat(received)), "ping")
            yield* measured("close", ops.close(client))
            yield* measured("close", ops.close(server))
            yield* measured("closeListener", ops.closeListener(listener))

            const all: Record<keyof NetOps.NetOps, true> = {
              listen: true,
              accept: true,
              connect: true,
              recvMany: true,
              send: true,
              shutdownWrite: true,
              close: true,
              closeListener: true,
            }
            for (const op of Object.keys(all) as Array<keyof NetOps.NetOps>) {
              assert.isTrue((moved[op] ?? 0) > 0, `${op}: ${moved[op] ?? 0} requests submitted to the ring`)
            }
          }),
      )

      it.effect(
        "a reader nobody pulls stops receiving at its high-water mark, holding the peer back, and loses nothing",
        () =>
          Effect.gen(function* () {
            const io = yield* IoUring
            // More than the kernel's socket buffers on both ends can hold, so the peer can only
            // finish writing if this side keeps receiving.
            const data = randomBytes(64 * 1024 * 1024)
            const peer = yield* Effect.acquireRelease(
              Effect.callback<{ server: net.Server; socket: Promise<net.Socket> }>((resume) => {
                let accepted: (socket: net.Socket) => void = () => {}
                const socket = new Promise<net.Socket>((resolve) => (accepted = resolve))
                const server = net.createServer((connection) => {
                  connection.on("error", () => {})
                  connection.end(data)
                  accepted(connection)
                })
                server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, socket })))
              }),
              ({ server }) => Effect.sync(() => server.close()),
            )
            const port = (peer.server.address() as net.AddressInfo).port
            const socket = yield* IoUringSocket.makeNet({ host: "127.0.0.1", port, highWaterMark: 65536 })
            const { pull } = yield* socket.reader
            const first = yield* pull
            const connection = yield* Effect.promise(() => peer.socket)
            // Nobody pulls: the receive is cancelled at the high-water mark, and nothing stays on the ring.
            while ((yield* io.stats).outstanding > 0) yield* Effect.sleep("5 millis")
            // Unbounded, the receive would have run to the peer's end of stream, after its last write.
            assert.isAbove(connection.writableLength, 0, "the peer is held back: it could not hand over every byte")
            // The next pulls re-arm it; every byte arrives, in order.
            const rest: Array<Uint8Array> = [...(first as ReadonlyArray<Uint8Array>)]
            while (true) {
              const result = yield* Effect.result(pull)
              if (result._tag === "Failure") {
                assert.strictEqual(result.failure.reason._tag, "SocketCloseError")
                break
              }
              rest.push(...(result.success as ReadonlyArray<Uint8Array>))
            }
            const received = Buffer.concat(rest)
            assert.strictEqual(received.byteLength, data.byteLength)
            assert.isTrue(received.equals(data), "the bytes arrive as sent")
          }).pipe(Effect.scoped),
      )

      it.effect("interrupting a blocked pull cancels the receive in the kernel before it returns", () =>
        Effect.gen(function* () {
          const io = yield* IoUring
          const peer = yield* Effect.acquireRelease(
            Effect.callback<{ server: net.Server; socket: Promise<net.Socket> }>((resume) => {
              let accepted: (socket: net.Socket) => void = () => {}
              const socket = new Promise<net.Socket>((resolve) => (accepted = resolve))
              const server = net.createServer((connection) => {
                connection.on("error", () => {})
                accepted(connection)
              })
              server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, socket })))
            }),
            ({ server, socket }) =>
              Effect.promise(async () => {
                ;(await socket).destroy()
                server.close()
              }),
          )
          const port = (peer.server.address() as net.AddressInfo).port
          const socket = yield* IoUringSocket.makeNet({ host: "127.0.0.1", port })
          const { pull } = yield* socket.reader
          const blocked = yield* Effect.forkChild(pull)
          // The receive is armed since the connection opened; the pull waits on it.
          yield* Effect.sleep("10 millis")
          assert.strictEqual((yield* io.stats).outstanding, 1)
          const cancelled = (yield* io.stats).cancelled
          yield* Fiber.interrupt(blocked)
          const after = yield* io.stats
          assert.strictEqual(after.outstanding, 0, "no receive is left in the kernel")
          assert.strictEqual(after.cancelled, cancelled + 1, "the receive was cancelled")
          // The next pull arms it again and gets what the peer sends.
          ;(yield* Effect.promise(() => peer.socket)).write("after")
          assert.strictEqual(new TextDecoder().decode((yield* pull)[0] as Uint8Array), "after")
        }).pipe(Effect.scoped),
      )
      it.effect(
        "an interrupted write is still sent, in the kernel or queued behind a send: the peer gets every byte, in order, the next write after it",
        () =>
          Effect.gen(function* () {
            const io = yield* IoUring
            const { port, peer } = yield* pausedPeer
            const big = randomBytes(16 * 1024 * 1024)
            const middle = new TextEncoder().encode("|middle")
            const tail = new TextEncoder().encode("|tail")
            yield* Effect.scoped(
              Effect.gen(function* () {
                const socket = yield* IoUringSocket.makeNet({ host: "127.0.0.1", port })
                yield* socket.reader
                const { write } = yield* socket.writer
                const cancelled = (yield* io.stats).cancelled
                const blocked = yield* Effect.forkChild(write(big))
                while ((yield* io.stats).outstanding === 0) yield* Effect.sleep("1 millis")
                yield* Effect.sleep("20 millis")
                yield* Fiber.interrupt(blocked)
                // The send is still in the kernel, not cancelled; the next write waits for it.
                assert.strictEqual((yield* io.stats).cancelled, cancelled, "the send was not cancelled")
                // A write queued behind it, interrupted before its turn, keeps its place.
                const queued = yield* Effect.forkChild(write(middle))
                yield* Effect.sleep("5 millis")
                yield* Fiber.interrupt(queued)
                const next = yield* Effect.forkChild(write(tail))
                const connection = yield* Effect.promise(() => peer)
                const received: Array<Buffer> = []
                const all = new Promise<void>((resolve) =>
                  connection.on("data", (chunk: Buffer) => {
                    received.push(chunk)
                    if (Buffer.concat(received).length === big.length + middle.length + tail.length) resolve()
                  }),
                )
                connection.resume()
                yield* Fiber.join(next)
                yield* Effect.promise(() => all)
                assert.isTrue(
                  Buffer.concat(received).equals(Buffer.concat([big, middle, tail])),
                  "every byte, in order",
                )
              }),
            )
          }),
      )

      it.effect(
        "closing the connection cancels a send blocked in the kernel (the peer does not read); no fd is left",
        () =>
          Effect.gen(function* () {
            const io = yield* IoUring
            const { port, peer, peerClosed } = yield* pausedPeer
            const fds = () => fs.readdirSync("/proc/self/fd").length
            const fdsBefore = fds()
            const cancelled = (yield* io.stats).cancelled
            const exit = yield* Effect.scoped(
              Effect.gen(function* () {
                const socket = yield* IoUringSocket.makeNet({ host: "127.0.0.1", port })
                yield* socket.reader
                const { write } = yield* socket.writer
                const blocked = yield* Effect.forkChild(Effect.exit(write(new Uint8Array(64 * 1024 * 1024))))
                // The receive (armed since the connection opened) and the send.
                while ((yield* io.stats).outstanding < 2) yield* Effect.sleep("1 millis")
                const queued = yield* Effect.forkChild(Effect.exit(write(new Uint8Array(8))))
                yield* Effect.sleep("20 millis")
                yield* write(new Socket.CloseEvent(1000))
                return [yield* Fiber.join(blocked), yield* Fiber.join(queued)]
              }),
            )
            // Both writes fail as writes on a closed socket; the send left the kernel.
            for (const e of exit) {
              assert.isTrue(Exit.isFailure(e))
              const error = Cause.squash((e as Exit.Failure<unknown, Socket.SocketError>).cause) as Socket.SocketError
              assert.strictEqual(error.reason._tag, "SocketWriteError")
            }
            const after = yield* io.stats
            assert.strictEqual(after.outstanding, 0, "no send is left in the kernel")
            assert.strictEqual(after.cancelled, cancelled + 2, "the send and the receive were cancelled")
            ;(yield* Effect.promise(() => peer)).resume()
            yield* Effect.promise(() => peerClosed)
            assert.isAtMost(fds(), fdsBefore, "no fd of the connection is left")
          }),
      )

      it.effect(
        "closing the socket's scope lets a send in flight finish, with bytes received and never pulled: the peer gets every byte, then end of stream (as NodeSocket)",
        () =>
          Effect.gen(function* () {
            const size = 32 * 1024 * 1024
            // A peer that greets (bytes this side never pulls) and reads slowly: the write outlives
            // its caller's timeout and the scope.
            const run = (makeNet: typeof IoUringSocket.makeNet) =>
              Effect.gen(function* () {
                let state = { bytes: 0, peer: undefined as net.Socket | undefined }
                let ended: (how: string) => void = () => {}
                const end = new Promise<string>((resolve) => (ended = resolve))
                const server = yield* Effect.acquireRelease(
                  Effect.callback<net.Server>((resume) => {
                    const server = net.createServer((connection) => {
                      connection.write("hello\n")
                      connection.pause()
                      state.peer = connection
                      connection.on("data", (chunk) => (state.bytes += chunk.length))
                      connection.on("end", () => ended("end"))
                      connection.on("error", (error: NodeJS.ErrnoException) => ended(error.code ?? "error"))
                    })
                    server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
                  }),
                  (server) => Effect.sync(() => server.close()),
                )
                const port = (server.address() as net.AddressInfo).port
                yield* Effect.scoped(
                  Effect.gen(function* () {
                    const socket = yield* makeNet({ host: "127.0.0.1", port })
                    yield* socket.reader
                    const { write } = yield* socket.writer
                    yield* Effect.ignore(write(new Uint8Array(size)).pipe(Effect.timeout("50 millis")))
                  }),
                )
                state.peer!.resume()
                return [yield* Effect.promise(() => end), state.bytes] as const
              })
            assert.deepStrictEqual(yield* run(NodeSocket.makeNet), ["end", size], "NodeSocket")
            assert.deepStrictEqual(yield* run(IoUringSocket.makeNet), ["end", size], "IoUringSocket")
          }),
      )

      it.effect(
        "a connection still finishing a send when its ring closes is cut off first: the ring's close does not wait for a peer that never reads, and no fd is left",
        () =>
          Effect.gen(function* () {
            const sockets = () =>
              fs.readdirSync("/proc/self/fd").filter((fd) => {
                try {
                  return fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith("socket:")
                } catch {
                  return false
                }
              }).length
            // The ring's own service and the latency wrapper (whose sockets receive in a fiber).
            for (const latencyHistograms of [false, true]) {
              const { port, peer, peerClosed } = yield* pausedPeer
              const before = sockets()
              const started = Date.now()
              yield* Effect.scoped(
                Effect.gen(function* () {
                  const socket = yield* IoUringSocket.makeNet({ host: "127.0.0.1", port })
                  yield* socket.reader
                  const { write } = yield* socket.writer
                  yield* Effect.ignore(write(new Uint8Array(32 * 1024 * 1024)).pipe(Effect.timeout("50 millis")))
                }),
              ).pipe(Effect.provide(NodeIoUring.layer({ size: 16, shutdownTimeout: 60_000 }, { latencyHistograms })))
              // Not the 60 s of the shutdown drain: the lingering send was cancelled before it.
              assert.isBelow(Date.now() - started, 5_000, `latencyHistograms: ${latencyHistograms}`)
              ;(yield* Effect.promise(() => peer)).resume()
              yield* Effect.promise(() => peerClosed)
              assert.isAtMost(sockets(), before, "the connection's fd is closed")
            }
          }),
      )

      it.effect(
        "each build of one layer is a ring of its own: closing one ring does not cut off another ring's lingering connection",
        () =>
          Effect.gen(function* () {
            const { port, peer } = yield* pausedPeer
            const ring = NodeIoUring.layerWith(
              { open: (config) => Driver.open(config), now: () => Driver.now() },
              { size: 16, shutdownTimeout: 60_000 },
            )
            const size = 8 * 1024 * 1024
            const lingered = yield* Deferred.make<void>()
            const done = yield* Deferred.make<void>()
            const b = yield* Effect.forkChild(
              Effect.gen(function* () {
                yield* Effect.scoped(
                  Effect.gen(function* () {
                    const socket = yield* IoUringSocket.makeNet({ host: "127.0.0.1", port })
                    yield* socket.reader
                    const { write } = yield* socket.writer
                    yield* Effect.ignore(write(new Uint8Array(size)).pipe(Effect.timeout("50 millis")))
                  }),
                )
                yield* Deferred.succeed(lingered, undefined)
                yield* Deferred.await(done) // this ring stays open meanwhile
              }).pipe(Effect.provide(ring)),
            )
            yield* Deferred.await(lingered)
            yield* Effect.void.pipe(Effect.provide(ring)) // another ring of the same layer opens and closes
            const connection = yield* Effect.promise(() => peer)
            let bytes = 0
            const ended = new Promise<string>((resolve) => {
              connection.on("data", (chunk: Buffer) => (bytes += chunk.length))
              connection.on("end", () => resolve("end"))
              connection.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? "error"))
            })
            connection.resume()
            assert.deepStrictEqual([yield* Effect.promise(() => ended), bytes], ["end", size])
            yield* Deferred.succeed(done, undefined)
            yield* Fiber.join(b)
          }),
      )

      it.effect("thousands of writes queued behind a blocked send all fail when the connection closes", () =>
        Effect.gen(function* () {
          const { port } = yield* pausedPeer
          const socket = yield* IoUringSocket.makeNet({ host: "127.0.0.1", port })
          yield* socket.reader
          const { write } = yield* socket.writer
          const blocked = yield* Effect.forkChild(Effect.exit(write(new Uint8Array(32 * 1024 * 1024))))
          yield* Effect.sleep("50 millis")
          const queued: Array<Fiber.Fiber<Exit.Exit<void, Socket.SocketError>>> = []
          for (let i = 0; i < 20_000; i++) queued.push(yield* Effect.forkChild(Effect.exit(write(new Uint8Array(8)))))
          yield* Effect.sleep("50 millis")
          yield* write(new Socket.CloseEvent(1000))
          let failed = 0
          for (const fiber of [blocked, ...queued]) if (Exit.isFailure(yield* Fiber.join(fiber))) failed++
          assert.strictEqual(failed, 20_001)
        }).pipe(Effect.scoped),
      )

      it.effect("a connect that hangs (the listener's backlog is full) is cancelled by a timeout at once", () =>
        Effect.gen(function* () {
          const io = yield* IoUring
          const listener = yield* Effect.acquireRelease(io.listen({ host: "127.0.0.1", port: 0, backlog: 1 }), (l) =>
            Effect.ignore(io.closeFd(l.fd)),
          )
          const port = (listener.localAddress as { port: number }).port
          // Connections nobody accepts fill the backlog: the kernel then drops the next SYNs.
          const fill = Array.from({ length: 8 }, () => net.connect(port, "127.0.0.1").on("error", () => {}))
          yield* Effect.addFinalizer(() => Effect.sync(() => fill.forEach((c) => c.destroy())))
          yield* Effect.sleep("200 millis")
          const started = Date.now()
          const socket = yield* IoUringSocket.makeNet({ host: "127.0.0.1", port })
          const exit = yield* Effect.exit(Effect.scoped(socket.reader).pipe(Effect.timeout("200 millis")))
          assert.isTrue(Exit.isFailure(exit) && Cause.isTimeoutError(Cause.squash(exit.cause)))
          assert.isBelow(Date.now() - started, 5_000)
          // Nothing is left in the kernel (the connect was cancelled; its socket closed by the ring).
          while ((yield* io.stats).outstanding > 0) yield* Effect.sleep("5 millis")
        }).pipe(Effect.scoped),
      )

      it.effect(
        "a Unix path too long is a typed open error; an abstract name listens and its server closes cleanly",
        () =>
          Effect.gen(function* () {
            const long = `/tmp/${"x".repeat(120)}`
            const listen = yield* Effect.exit(Effect.scoped(IoUringSocketServer.make({ path: long })))
            assert.isTrue(Exit.isFailure(listen) && !Cause.hasDies(listen.cause))
            const open = Cause.squash((listen as Exit.Failure<unknown, unknown>).cause) as {
              reason: { _tag: string; cause: { code: string } }
            }
            assert.deepStrictEqual([open.reason._tag, open.reason.cause.code], ["SocketServerOpenError", "EINVAL"])
            const socket = yield* IoUringSocket.makeNet({ path: long })
            const connect = yield* Effect.exit(Effect.scoped(socket.reader))
            assert.isTrue(Exit.isFailure(connect) && !Cause.hasDies(connect.cause))
            const abstract = `\0iou-test-${process.pid}`
            const closed = yield* Effect.exit(
              Effect.scoped(
                Effect.gen(function* () {
                  const server = yield* IoUringSocketServer.make({ path: abstract })
                  assert.strictEqual((server.address as { path: string }).path, abstract)
                }),
              ),
            )
            assert.isTrue(Exit.isSuccess(closed))
          }),
      )

      it.effect("run on a server whose scope closed fails at once and takes none of a later server's connections", () =>
        Effect.gen(function* () {
          const stale = yield* Effect.scoped(IoUringSocketServer.make({ host: "127.0.0.1", port: 0 }))
          // The next server most likely gets the closed listener's fd number.
          const fresh = yield* IoUringSocketServer.make({ host: "127.0.0.1", port: 0 })
          const handled: Array<string> = []
          const served = (name: string) => () => Effect.sync(() => handled.push(name))
          yield* Effect.forkScoped(fresh.run(served("fresh")))
          const exit = yield* Effect.exit(stale.run(served("stale")).pipe(Effect.timeout("2 seconds")))
          assert.isTrue(Exit.isFailure(exit))
          const error = Cause.squash((exit as Exit.Failure<unknown, unknown>).cause) as {
            reason: { _tag: string; cause: { code?: string } }
          }
          assert.deepStrictEqual([error.reason._tag, error.reason.cause.code], ["SocketServerUnknownError", "EBADF"])
          const port = (fresh.address as { port: number }).port
          const clients = Array.from({ length: 4 }, () => net.connect(port, "127.0.0.1").on("error", () => {}))
          yield* Effect.addFinalizer(() => Effect.sync(() => clients.forEach((c) => c.destroy())))
          while (handled.length < 4) yield* Effect.sleep("5 millis")
          assert.deepStrictEqual(handled, ["fresh", "fresh", "fresh", "fresh"])
        }).pipe(Effect.scoped),
      )

      it.effect("an accept that fails for want of fds (EMFILE) does not stop run: the connection is served after", () =>
        Effect.gen(function* () {
          const io = yield* IoUring
          let failures = 2
          // The ring's accept fails as the kernel does when the process is out of fds, twice.
          const flaky = IoUring.of({
            ...io,
            accept: (listener, options) =>
              Effect.suspend(() =>
                failures-- > 0
                  ? Errors.failure(
                      nativeError("EMFILE", { errno: -24, syscall: "accept" }),
                      "accept",
                      undefined,
                      "accept",
                    )
                  : io.accept(listener, options),
              ),
          })
          const server = yield* IoUringSocketServer.make({ host: "127.0.0.1", port: 0 }).pipe(
            Effect.provideService(IoUring, flaky),
          )
          const served = yield* Deferred.make<void>()
          yield* Effect.forkScoped(server.run(() => Deferred.succeed(served, undefined)))
          const port = (server.address as { port: number }).port
          const client = net.connect(port, "127.0.0.1").on("error", () => {})
          yield* Effect.addFinalizer(() => Effect.sync(() => client.destroy()))
          yield* Deferred.await(served)
          assert.strictEqual(failures, -1)
        }).pipe(Effect.scoped),
      )
    },
  )

  it("a worker terminated while it serves or connects leaves neither its listener nor its connections open", () => {
    // In a process of its own, each engine, with and without the latency histograms' wrapper: the
    // worker's SocketServer holds a connection when the worker is terminated; the peer then reads
    // end of stream and the port can be listened on again (as with NodeSocketServer, whose handles
    // Node closes).
    assert.deepStrictEqual(childResult("worker-exit-child.mjs"), [
      "inline eof port free",
      "inline histograms eof port free",
      "thread eof port free",
      "thread histograms eof port free",
      "inline connecting 0",
      "thread connecting 0",
    ])
  }, 60_000)
})

describe("IoUringSocketServer's noDelay, keepAlive and ipv6Only", () => {
  it.live("are passed to the Driver's listen", () => {
    const driver = new FakeDriver()
    return Effect.gen(function* () {
      const opening = yield* Effect.forkChild(
        Effect.scoped(
          IoUringSocketServer.make({ port: 0, host: "127.0.0.1", noDelay: true, keepAlive: true, ipv6Only: true }),
        ),
      )
      while (driver.requests.length === 0) yield* Effect.sleep("1 millis")
      const [request] = driver.requests
      // The listen is in make's uninterruptible acquire: failing it ends make (before any assertion,
      // so that a failed one leaves nothing pending).
      driver.complete(request!.handle, nativeError("EADDRINUSE", { errno: -98, syscall: "bind" }))
      const exit = yield* Fiber.await(opening)
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(request!.op, "listen")
      const target = request!.args[0] as {
        host?: string
        port?: number
        noDelay?: boolean
        keepAlive?: boolean
        ipv6Only?: boolean
      }
      assert.deepStrictEqual(
        {
          host: target.host,
          port: target.port,
          noDelay: target.noDelay,
          keepAlive: target.keepAlive,
          ipv6Only: target.ipv6Only,
        },
        { host: "127.0.0.1", port: 0, noDelay: true, keepAlive: true, ipv6Only: true },
      )
    }).pipe(Effect.provide(Layer.fresh(NodeIoUring.layerWith(openFake(driver)))))
  })

  it.live.skipIf(!supported)(
    "a connection the server accepts has TCP_NODELAY and SO_KEEPALIVE when asked, neither otherwise",
    () => {
      // The fds the ring's accept hands to the server, so the test can read their options.
      const accepted: Array<number> = []
      const recording = Layer.effect(
        IoUring,
        Effect.map(Effect.service(IoUring), (io) =>
          IoUring.of({
            ...io,
            accept: (listener, options) =>
              Effect.tap(io.accept(listener, options), (connection) => Effect.sync(() => accepted.push(connection.fd))),
          }),
        ),
      ).pipe(Layer.provideMerge(NodeIoUring.layer({ size: 64, shutdownTimeout: 2000 })))
      const k = binding.sockets.constants
      const flags = (fd: number) => [
        binding.sockets.getsockopt(fd, k["IPPROTO_TCP"]!, k["TCP_NODELAY"]!) > 0,
        binding.sockets.getsockopt(fd, k["SOL_SOCKET"]!, k["SO_KEEPALIVE"]!) > 0,
      ]
      /** The options of the one connection a server made with `options` accepts, read while its handler runs. */
      const acceptedFlags = (options: { noDelay?: boolean; keepAlive?: boolean }) =>
        Effect.scoped(
          Effect.gen(function* () {
            const server = yield* IoUringSocketServer.make({ port: 0, host: "127.0.0.1", ...options })
            const read = yield* Deferred.make<Array<boolean>>()
            yield* server
              .run(() => Deferred.succeed(read, flags(accepted[accepted.length - 1]!)))
              .pipe(Effect.forkScoped)
            const port = (server.address as { port: number }).port
            const client = net.connect(port, "127.0.0.1")
            client.on("error", () => {})
            yield* Effect.addFinalizer(() => Effect.sync(() => client.destroy()))
            return yield* Deferred.await(read)
          }),
        )
      return Effect.gen(function* () {
        assert.deepStrictEqual(yield* acceptedFlags({ noDelay: true, keepAlive: true }), [true, true])
        assert.deepStrictEqual(yield* acceptedFlags({ noDelay: true }), [true, false])
        assert.deepStrictEqual(yield* acceptedFlags({}), [false, false])
      }).pipe(Effect.provide(recording))
    },
  )

  it.live.skipIf(!supported)("a server with ipv6Only on `::` refuses IPv4 clients and serves IPv6 ones", () => {
    /** How a node:net client to `host` fares: "connected", or its error's code. */
    const client = (host: string, port: number) =>
      Effect.callback<string>((resume) => {
        const socket = net.connect(port, host)
        socket.once("connect", () => resume(Effect.succeed("connected")))
        socket.once("error", (error: NodeJS.ErrnoException) => resume(Effect.succeed(error.code ?? "error")))
        return Effect.sync(() => socket.destroy())
      })
    return Effect.gen(function* () {
      const server = yield* IoUringSocketServer.make({ host: "::", port: 0, ipv6Only: true })
      yield* server.run(() => Effect.never).pipe(Effect.forkScoped)
      const port = (server.address as { port: number }).port
      assert.strictEqual(yield* client("127.0.0.1", port), "ECONNREFUSED")
      assert.strictEqual(yield* client("::1", port), "connected")
    }).pipe(Effect.scoped, Effect.provide(NodeIoUring.layer({ size: 64, shutdownTimeout: 2000 })))
  })
})
