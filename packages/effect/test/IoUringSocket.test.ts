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
import { assert, describe, it, layer } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Layer } from "effect"
import { probe } from "@iou/native"
import { IoUring, IoUringSocket, IoUringSocketServer, NodeIoUring } from "@iou/effect"
import * as NetOps from "../src/internal/netOps.ts"
import * as Errors from "../src/internal/errors.ts"
import { binding } from "../../native/src/binding.ts"
import { FakeDriver, nativeError, openFake } from "./FakeDriver.ts"
import { socketSuite } from "./socket.suite.ts"

const supported = probe().supported

socketSuite("NodeSocket / NodeSocketServer (the reference)", {
  layer: Layer.empty,
  makeNet: (options) => NodeSocket.makeNet(options),
  makeServer: (options) => NodeSocketServer.make(options),
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
          while ((yield* io.stats).outstanding === 0) yield* Effect.sleep("1 millis")
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
        "interrupting a write blocked in the kernel (the peer does not read) cancels the send, and the connection still closes",
        () =>
          Effect.gen(function* () {
            const io = yield* IoUring
            let closed: () => void = () => {}
            const peerClosed = new Promise<void>((resolve) => (closed = resolve))
            let accepted: (connection: net.Socket) => void = () => {}
            const peer = new Promise<net.Socket>((resolve) => (accepted = resolve))
            const server = yield* Effect.acquireRelease(
              Effect.callback<net.Server>((resume) => {
                // Paused: the peer never reads, so the kernel's buffers fill and the send blocks.
                const server = net.createServer({ pauseOnConnect: true }, (connection) => {
                  connection.on("error", () => {})
                  connection.on("close", () => closed())
                  accepted(connection)
                })
                server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
              }),
              (server) => Effect.sync(() => server.close()),
            )
            const port = (server.address() as net.AddressInfo).port
            const fds = () => fs.readdirSync("/proc/self/fd").length
            const fdsBefore = fds()
            yield* Effect.scoped(
              Effect.gen(function* () {
                const socket = yield* IoUringSocket.makeNet({ host: "127.0.0.1", port })
                yield* socket.reader
                const { write } = yield* socket.writer
                const cancelled = (yield* io.stats).cancelled
                const blocked = yield* Effect.forkChild(write(new Uint8Array(64 * 1024 * 1024)))
                while ((yield* io.stats).outstanding === 0) yield* Effect.sleep("1 millis")
                yield* Fiber.interrupt(blocked)
                const after = yield* io.stats
                assert.strictEqual(after.outstanding, 0, "no send is left in the kernel")
                assert.strictEqual(after.cancelled, cancelled + 1, "the send was cancelled")
              }),
            )
            // The scope closed the connection (the writer's release shut its write side down, and
            // nothing pending held its fd open): the peer, reading again, gets what the kernel had
            // taken, then end of stream.
            ;(yield* Effect.promise(() => peer)).resume()
            yield* Effect.promise(() => peerClosed)
            // Node closed its end too: no fd of the connection is left, ours included.
            assert.strictEqual(fds(), fdsBefore)
          }),
      )
    },
  )
})

describe("IoUringSocketServer's noDelay and keepAlive", () => {
  it.live("are passed to the Driver's listen", () => {
    const driver = new FakeDriver()
    return Effect.gen(function* () {
      const opening = yield* Effect.forkChild(
        Effect.scoped(IoUringSocketServer.make({ port: 0, host: "127.0.0.1", noDelay: true, keepAlive: true })),
      )
      while (driver.requests.length === 0) yield* Effect.sleep("1 millis")
      const [request] = driver.requests
      // The listen is in make's uninterruptible acquire: failing it ends make (before any assertion,
      // so that a failed one leaves nothing pending).
      driver.complete(request!.handle, nativeError("EADDRINUSE", { errno: -98, syscall: "bind" }))
      const exit = yield* Fiber.await(opening)
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(request!.op, "listen")
      const target = request!.args[0] as { host?: string; port?: number; noDelay?: boolean; keepAlive?: boolean }
      assert.deepStrictEqual(
        { host: target.host, port: target.port, noDelay: target.noDelay, keepAlive: target.keepAlive },
        { host: "127.0.0.1", port: 0, noDelay: true, keepAlive: true },
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
})
