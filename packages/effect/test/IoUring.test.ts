/**
 * The IoUring service on the real kernel: every operation's success and typed failures, deadlines
 * through the option and through Effect.timeout, and cancellation by interruption leaving nothing
 * pending in the Driver.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { closeSync } from "node:fs"
import { Cause, Effect, Exit, Fiber } from "effect"
import { probe } from "@iou/native"
import { IoUring, IoUringError, NodeIoUring } from "@iou/effect"
import { closedFd, scratchFile } from "./files.ts"
import { tcpPair } from "./sockets.ts"

const supported = probe().supported
const text = (s: string) => new TextEncoder().encode(s)
const decode = (b: Uint8Array) => new TextDecoder().decode(b)

/** A socket the ring made, closed (close(2)) when the test's scope closes: the caller owns it. */
const owned = <A extends { readonly fd: number }, E, R>(make: Effect.Effect<A, E, R>) =>
  Effect.acquireRelease(make, (value) => Effect.sync(() => closeSync(value.fd)))

/** Waits until the ring holds at least `n` requests in flight. */
const inFlight = (n: number) =>
  Effect.gen(function* () {
    const io = yield* IoUring
    while ((yield* io.stats).outstanding < n) yield* Effect.sleep(1)
  })

describe.skipIf(!supported)("IoUring (real kernel)", () => {
  layer(NodeIoUring.layer({ size: 64, shutdownTimeout: 2000 }), { timeout: 30_000, excludeTestServices: true })(
    (it) => {
      it.effect("nop completes and is counted", () =>
        Effect.gen(function* () {
          const io = yield* IoUring
          const before = yield* io.stats
          yield* io.nop
          yield* io.nop
          const after = yield* io.stats
          assert.isAtLeast(after.submitted - before.submitted, 2)
          assert.isAtLeast(after.completed - before.completed, 2)
        }),
      )

      it.effect("writeAt then readAt round-trip at a position, including vectored writes and sync", () =>
        Effect.gen(function* () {
          const io = yield* IoUring
          const file = yield* scratchFile()
          yield* io.writeAt(file.fd, text("hello, "), 0)
          yield* io.writeAt(file.fd, [text("io_"), text("uring")], 7n)
          yield* io.sync(file.fd)
          yield* io.sync(file.fd, { dataOnly: true })
          const buffer = new Uint8Array(32)
          const n = yield* io.readAt(file.readOnlyFd, buffer, 0)
          assert.strictEqual(decode(buffer.subarray(0, n)), "hello, io_uring")
          const part = new Uint8Array(5)
          assert.strictEqual(yield* io.readAt(file.fd, part, 10, { length: 5, exact: true }), 5)
          assert.strictEqual(decode(part), "uring")
        }),
      )

      it.effect("readAt at end of file reads 0; with exact it fails with UnexpectedEof", () =>
        Effect.gen(function* () {
          const io = yield* IoUring
          const file = yield* scratchFile(text("abc"))
          assert.strictEqual(yield* io.readAt(file.fd, new Uint8Array(8), 3), 0)
          assert.strictEqual(yield* io.readAt(file.fd, new Uint8Array(8), 1), 2)
          const error = yield* Effect.flip(io.readAt(file.fd, new Uint8Array(8), 0, { exact: true }))
          assert.instanceOf(error, IoUringError)
          assert.strictEqual(error.reason._tag, "UnexpectedEof")
          assert.strictEqual(error.code, "ERR_IOU_UNEXPECTED_EOF")
          assert.strictEqual(error.reason._tag === "UnexpectedEof" && error.reason.bytes, 3)
        }),
      )

      it.effect("operations on a closed fd fail with SystemError EBADF and Node's fields", () =>
        Effect.gen(function* () {
          const io = yield* IoUring
          const fd = closedFd()
          const read = yield* Effect.flip(io.readAt(fd, new Uint8Array(4), 0))
          assert.strictEqual(read.reason._tag, "SystemError")
          assert.strictEqual(read.code, "EBADF")
          assert.strictEqual(read.errno, -9)
          assert.strictEqual(read.syscall, "read")
          assert.strictEqual(read.fd, fd)
          assert.match(read.message, /EBADF/)
          const write = yield* Effect.flip(io.writeAt(fd, text("x"), 0))
          assert.strictEqual(write.code, "EBADF")
          assert.strictEqual(write.syscall, "write")
          const sync = yield* Effect.flip(io.sync(fd))
          assert.strictEqual(sync.code, "EBADF")
          const send = yield* Effect.flip(io.send(fd, text("x")))
          assert.strictEqual(send.code, "EBADF")
          const recv = yield* Effect.flip(io.recv(fd, new Uint8Array(4)))
          assert.strictEqual(recv.code, "EBADF")
          assert.strictEqual(recv.syscall, "recv")
        }),
      )

      it.effect("writeAt on a read-only fd fails with EBADF; send on a file with ENOTSOCK", () =>
        Effect.gen(function* () {
          const io = yield* IoUring
          const file = yield* scratchFile()
          const write = yield* Effect.flip(io.writeAt(file.readOnlyFd, text("x"), 0))
          assert.strictEqual(write.code, "EBADF")
          const send = yield* Effect.flip(io.send(file.fd, text("x")))
          assert.strictEqual(send.reason._tag, "SystemError")
          assert.strictEqual(send.code, "ENOTSOCK")
          assert.match(send.message, /not a socket/)
        }),
      )

      it.effect("send and recv carry bytes over a socket; exact recv fills its range", () =>
        Effect.gen(function* () {
          const io = yield* IoUring
          const { a, b } = yield* tcpPair
          yield* io.send(a, text("ping"))
          const buffer = new Uint8Array(16)
          const n = yield* io.recv(b, buffer)
          assert.strictEqual(decode(buffer.subarray(0, n)), "ping")
          yield* io.send(b, [text("po"), text("ng!")])
          const exact = new Uint8Array(8)
          assert.strictEqual(yield* io.recv(a, exact, { offset: 3, length: 5, exact: true }), 5)
          assert.strictEqual(decode(exact.subarray(3)), "pong!")
        }),
      )

      it.effect("recv succeeds with 0 when the peer closed; exact recv fails with UnexpectedEof", () =>
        Effect.gen(function* () {
          const io = yield* IoUring
          const pair = yield* tcpPair
          yield* io.send(pair.b, text("ab"))
          pair.closeB()
          const error = yield* Effect.flip(io.recv(pair.a, new Uint8Array(4), { exact: true }))
          assert.strictEqual(error.reason._tag, "UnexpectedEof")
          assert.strictEqual(error.reason._tag === "UnexpectedEof" && error.reason.bytes, 2)
          assert.strictEqual(yield* io.recv(pair.a, new Uint8Array(4)), 0)
        }),
      )

      it.effect("the timeout option is the request's deadline in the loop: Timeout, counted, nothing left", () =>
        Effect.gen(function* () {
          const io = yield* IoUring
          const { a } = yield* tcpPair
          const before = yield* io.stats
          const started = Date.now()
          const error = yield* Effect.flip(io.recv(a, new Uint8Array(4), { timeout: "50 millis" }))
          const elapsed = Date.now() - started
          assert.strictEqual(error.reason._tag, "Timeout")
          assert.strictEqual(error.code, "ETIMEDOUT")
          assert.isAtLeast(elapsed, 40)
          assert.isBelow(elapsed, 2000)
          assert.strictEqual((yield* io.stats).outstanding, 0)
          const after = yield* io.stats
          assert.strictEqual(after.timedOut - before.timedOut, 1)
          assert.strictEqual(after.pendingOperations, 0)
          const now = yield* Effect.flip(io.readAt(a, new Uint8Array(1), 0, { timeout: 0 }))
          assert.strictEqual(now.reason._tag, "Timeout")
        }),
      )

      it.effect("an exact recv past its timeout: Timeout with the bytes it received, which are in the buffer", () =>
        Effect.gen(function* () {
          const io = yield* IoUring
          const { a, b } = yield* tcpPair
          const buffer = new Uint8Array(16)
          const fiber = yield* Effect.forkChild(io.recv(a, buffer, { exact: true, timeout: "1 second" }))
          yield* io.send(b, text("partial"))
          const error = yield* Effect.flip(Fiber.join(fiber))
          assert.strictEqual(error.reason._tag, "Timeout")
          assert.strictEqual(error.reason._tag === "Timeout" && error.reason.bytes, 7)
          assert.strictEqual(decode(buffer.subarray(0, 7)), "partial")
          const silent = yield* Effect.flip(io.recv(a, new Uint8Array(4), { timeout: "10 millis" }))
          assert.strictEqual(silent.reason._tag === "Timeout" && silent.reason.bytes, 0)
        }),
      )

      it.effect(
        "an exact recv that the peer's reset ends after part of the range: SystemError with the bytes received",
        () =>
          Effect.gen(function* () {
            const io = yield* IoUring
            const { a, b, closeB } = yield* tcpPair
            const buffer = new Uint8Array(16)
            const before = (yield* io.stats).requeued
            const fiber = yield* Effect.forkChild(io.recv(a, buffer, { exact: true }))
            yield* io.send(a, text("?")) // unread by b: closing b then resets the connection
            yield* io.send(b, text("part"))
            while ((yield* io.stats).requeued === before) yield* Effect.sleep("2 millis")
            closeB()
            const error = yield* Effect.flip(Fiber.join(fiber))
            assert.strictEqual(error.code, "ECONNRESET")
            assert.strictEqual(error.reason._tag === "SystemError" && error.reason.bytes, 4)
            assert.strictEqual(decode(buffer.subarray(0, 4)), "part")
          }),
      )

      it.effect("Effect.timeout around recv cancels the request in the kernel", () =>
        Effect.gen(function* () {
          const io = yield* IoUring
          const { a, b } = yield* tcpPair
          const before = yield* io.stats
          const exit = yield* Effect.exit(io.recv(a, new Uint8Array(4)).pipe(Effect.timeout("30 millis")))
          assert.isTrue(Exit.isFailure(exit) && Cause.isTimeoutError(Cause.squash(exit.cause)))
          // The interruption waited for the request to end: the Driver holds nothing right after it.
          assert.strictEqual((yield* io.stats).outstanding, 0)
          const after = yield* io.stats
          assert.strictEqual(after.pendingOperations, 0)
          assert.strictEqual(after.cancelled - before.cancelled, 1)
          // The cancelled recv consumed nothing: the next one gets the bytes.
          yield* io.send(b, text("late"))
          const buffer = new Uint8Array(8)
          const n = yield* io.recv(a, buffer, { timeout: "2 seconds" })
          assert.strictEqual(decode(buffer.subarray(0, n)), "late")
        }),
      )

      it.effect("Fiber.interrupt of a blocked recv returns once the kernel let go of the buffer", () =>
        Effect.gen(function* () {
          const io = yield* IoUring
          const { a } = yield* tcpPair
          const fiber = yield* Effect.forkChild(io.recv(a, new Uint8Array(4)))
          yield* inFlight(1)
          yield* Fiber.interrupt(fiber)
          assert.strictEqual((yield* io.stats).outstanding, 0)
          assert.strictEqual((yield* io.stats).pendingOperations, 0)
          const exit = yield* Fiber.await(fiber)
          assert.isTrue(Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause))
        }),
      )

      it.effect("listen, accept, connect and shutdownSocket make a connection of ring requests alone", () =>
        Effect.gen(function* () {
          const io = yield* IoUring
          const listener = yield* owned(io.listen({ host: "127.0.0.1", port: 0 }))
          const port = (listener.localAddress as { port: number }).port
          const accepted = yield* Effect.forkChild(owned(io.accept(listener)))
          const client = yield* owned(io.connect({ host: "127.0.0.1", port }, { noDelay: true, timeout: "5 seconds" }))
          const server = yield* Fiber.join(accepted)
          assert.deepStrictEqual(client.remoteAddress, { address: "127.0.0.1", family: "IPv4", port })
          assert.deepStrictEqual(server.remoteAddress, client.localAddress)
          yield* io.send(client.fd, text("hi"))
          yield* io.shutdownSocket(client.fd, "write")
          const buffer = new Uint8Array(4)
          assert.strictEqual(yield* io.recv(server.fd, buffer, { length: 2, exact: true }), 2)
          assert.strictEqual(yield* io.recv(server.fd, buffer), 0)
        }),
      )

      it.effect(
        "a refused connect and a port in use fail with SystemError (ECONNREFUSED from connect, EADDRINUSE from bind)",
        () =>
          Effect.gen(function* () {
            const io = yield* IoUring
            const listener = yield* owned(io.listen({ host: "127.0.0.1", port: 0 }))
            const port = (listener.localAddress as { port: number }).port
            const inUse = yield* Effect.flip(io.listen({ host: "127.0.0.1", port }))
            assert.strictEqual(inUse.code, "EADDRINUSE")
            assert.strictEqual(inUse.syscall, "bind")
            const gone = yield* io.listen({ host: "127.0.0.1", port: 0 })
            closeSync(gone.fd)
            const refused = yield* Effect.flip(
              io.connect({ host: "127.0.0.1", port: (gone.localAddress as { port: number }).port }),
            )
            assert.strictEqual(refused.code, "ECONNREFUSED")
            assert.strictEqual(refused.syscall, "connect")
            // node:net's fields: the endpoint, not the (closed) socket's fd.
            assert.strictEqual(inUse.address, "127.0.0.1")
            assert.strictEqual(inUse.port, port)
            assert.strictEqual(refused.address, "127.0.0.1")
            assert.strictEqual(refused.port, (gone.localAddress as { port: number }).port)
            assert.strictEqual(refused.fd, undefined)
            assert.include(refused.message, `connect to 127.0.0.1:${refused.port}`)
          }),
      )

      it.effect("Fiber.interrupt of a pending accept cancels it in the kernel and leaves nothing pending", () =>
        Effect.gen(function* () {
          const io = yield* IoUring
          const listener = yield* owned(io.listen({ host: "127.0.0.1", port: 0 }))
          const fiber = yield* Effect.forkChild(io.accept(listener))
          yield* inFlight(1)
          yield* Fiber.interrupt(fiber)
          assert.strictEqual((yield* io.stats).outstanding, 0)
          assert.strictEqual((yield* io.stats).pendingOperations, 0)
          const exit = yield* Fiber.await(fiber)
          assert.isTrue(Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause))
        }),
      )

      it.effect("Effect.race: the losing recv is cancelled", () =>
        Effect.gen(function* () {
          const io = yield* IoUring
          const { a } = yield* tcpPair
          const winner = yield* Effect.race(
            io.recv(a, new Uint8Array(4)).pipe(Effect.as("recv")),
            Effect.succeed("sleep").pipe(Effect.delay(20)),
          )
          assert.strictEqual(winner, "sleep")
          assert.strictEqual((yield* io.stats).outstanding, 0)
          assert.strictEqual((yield* io.stats).pendingOperations, 0)
        }),
      )

      it.effect("interrupting 1,000 concurrent operations leaves nothing pending", () =>
        Effect.gen(function* () {
          const io = yield* IoUring
          const pairs = [yield* tcpPair, yield* tcpPair, yield* tcpPair, yield* tcpPair]
          const before = yield* io.stats
          const fiber = yield* Effect.forkChild(
            Effect.forEach(
              Array.from({ length: 1000 }, (_, i) => i),
              (i) => io.recv(pairs[i % pairs.length]!.a, new Uint8Array(8)),
              { concurrency: "unbounded", discard: true },
            ),
          )
          yield* inFlight(1000)
          yield* Fiber.interrupt(fiber)
          assert.strictEqual((yield* io.stats).outstanding, 0)
          const after = yield* io.stats
          assert.strictEqual(after.pendingOperations, 0)
          assert.strictEqual(after.cancelled - before.cancelled, 1000)
          // The ring still works.
          yield* io.nop
        }),
      )

      it.effect("invalid arguments are defects, not IoUringErrors", () =>
        Effect.gen(function* () {
          const io = yield* IoUring
          const exits: Array<Exit.Exit<unknown, unknown>> = [
            yield* Effect.exit(io.readAt(-1, new Uint8Array(4), 0)),
            yield* Effect.exit(io.readAt(0, new Uint8Array(4), -1)),
            yield* Effect.exit(io.recv(0, new Uint8Array(4), { offset: 3, length: 4 })),
            yield* Effect.exit(io.send(0, text("x"), { timeout: -1 })),
          ]
          for (const exit of exits) {
            assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause) && !Cause.hasFails(exit.cause))
          }
          // Also where reading the argument throws: built lazily, the Effect dies when run.
          const accept = io.accept(null as unknown as number)
          const exit = yield* Effect.exit(accept)
          assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause) && !Cause.hasFails(exit.cause))
        }),
      )

      it.effect("a recvMany whose onChunk throws dies with that error once its receive ended in the kernel", () =>
        Effect.gen(function* () {
          const io = yield* IoUring
          const { a, b } = yield* tcpPair
          const bug = new Error("bug in onChunk")
          let calls = 0
          const receiving = yield* Effect.forkChild(
            Effect.exit(
              io.recvMany(b, () => {
                calls++
                throw bug
              }),
            ),
          )
          yield* inFlight(1)
          yield* io.send(a, text("one"))
          const exit = yield* Fiber.join(receiving)
          assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
          assert.strictEqual(Cause.squash((exit as Exit.Failure<unknown, unknown>).cause), bug)
          assert.strictEqual(calls, 1)
          assert.strictEqual((yield* io.stats).outstanding, 0)
        }),
      )
    },
  )

  layer(NodeIoUring.layer({ size: 2, shutdownTimeout: 0 }), { timeout: 30_000, excludeTestServices: true })((it) => {
    it.effect("Effect.timeout of a recv waiting behind a full ring returns at once, without a free slot", () =>
      Effect.gen(function* () {
        const io = yield* IoUring
        const { a } = yield* tcpPair
        // Two blocking recvs fill the loop's waiters; the third waits in its inbound queue.
        const blockers = [
          yield* Effect.forkChild(io.recv(a, new Uint8Array(4))),
          yield* Effect.forkChild(io.recv(a, new Uint8Array(4))),
        ]
        yield* inFlight(2)
        yield* Effect.sleep(20)
        const started = Date.now()
        const exit = yield* Effect.exit(io.recv(a, new Uint8Array(4)).pipe(Effect.timeout("30 millis")))
        assert.isTrue(Exit.isFailure(exit) && Cause.isTimeoutError(Cause.squash(exit.cause)))
        assert.isBelow(Date.now() - started, 1000)
        assert.strictEqual((yield* io.stats).outstanding, 2)
        for (const fiber of blockers) yield* Fiber.interrupt(fiber)
        assert.strictEqual((yield* io.stats).outstanding, 0)
      }),
    )
  })

  it.effect("operations after the layer's scope closed fail with Closed", () =>
    Effect.gen(function* () {
      const io = yield* Effect.scoped(NodeIoUring.make({ size: 8 }))
      const error = yield* Effect.flip(io.nop)
      assert.strictEqual(error.reason._tag, "Closed")
      assert.strictEqual(error.code, "ERR_IOU_CLOSED")
    }),
  )
})
