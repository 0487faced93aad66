/**
 * The behaviour of effect/socket's Socket and SocketServer (effect 4.1), as one suite any
 * implementation runs with the same expectations: @effect/platform-node's NodeSocket and
 * NodeSocketServer, and IoUringSocket and IoUringSocketServer. Each test runs over TCP on 127.0.0.1
 * and over a Unix socket.
 */
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { once } from "node:events"
import { spawn } from "node:child_process"
import { randomBytes, createHash } from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Fiber, Layer, Scope } from "effect"
import * as Socket from "effect/socket/Socket"
import type * as SocketServer from "effect/socket/SocketServer"
import * as NetAddress from "effect/net/NetAddress"

/** An implementation under test; `layer` provides what its constructors need. */
export interface SocketImplementation<R> {
  readonly layer: Layer.Layer<R, unknown>
  readonly makeNet: (
    options: { readonly host: string; readonly port: number } | { readonly path: string },
  ) => Effect.Effect<Socket.Socket, never, R>
  readonly makeServer: (
    options: { readonly host: string; readonly port: number } | { readonly path: string },
  ) => Effect.Effect<SocketServer.SocketServer["Service"], SocketServer.SocketServerError, R | Scope.Scope>
  /**
   * How a reset that arrives behind unread data ends the reader: "error" (SocketReadError
   * ECONNRESET), or "close" (SocketCloseError), what NodeSocket gives on a Node whose libuv took a
   * short read after POLLHUP for end of stream (before libuv 1.52, Node 24.16). Default "error".
   */
  readonly resetBehindData?: "error" | "close" | undefined
}

type Transport = "TCP" | "Unix"

const listenOptions = (transport: Transport) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      if (transport === "TCP") return { options: { host: "127.0.0.1", port: 0 } as const, dir: undefined }
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "iou-sock-"))
      return { options: { path: path.join(dir, "s.sock") }, dir }
    }),
    ({ dir }) => Effect.sync(() => dir !== undefined && fs.rmSync(dir, { recursive: true, force: true })),
  ).pipe(Effect.map(({ options }) => options))

/** Where a client connects to reach `server`. */
const target = (server: SocketServer.SocketServer["Service"]) =>
  NetAddress.isUnixPathAddress(server.address)
    ? { path: server.address.path }
    : { host: "127.0.0.1", port: (server.address as NetAddress.InetAddress).port }

/** node:net options for a raw peer of `server`. */
const rawTarget = (server: SocketServer.SocketServer["Service"]): net.NetConnectOpts => {
  const t = target(server)
  return "path" in t ? { path: t.path } : { host: t.host, port: t.port }
}

const concat = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => Buffer.concat(chunks.map((c) => Buffer.from(c)))
const text = (s: string) => new TextEncoder().encode(s)
const decode = (b: Uint8Array) => new TextDecoder().decode(b)

/** Pulls until the peer's end of stream (SocketCloseError 1000); other errors fail. */
const readToEnd = (pull: Effect.Effect<ReadonlyArray<Uint8Array | string>, Socket.SocketError>) =>
  Effect.gen(function* () {
    const chunks: Array<Uint8Array> = []
    while (true) {
      const result = yield* Effect.result(pull)
      if (result._tag === "Success") {
        for (const c of result.success) chunks.push(typeof c === "string" ? text(c) : c)
        continue
      }
      const reason = result.failure.reason
      if (reason._tag === "SocketCloseError" && reason.code === 1000) return concat(chunks)
      return yield* Effect.fail(result.failure)
    }
  })

/** Pulls until at least `n` bytes arrived. */
const readAtLeast = (pull: Effect.Effect<ReadonlyArray<Uint8Array | string>, Socket.SocketError>, n: number) =>
  Effect.gen(function* () {
    const chunks: Array<Uint8Array> = []
    let total = 0
    while (total < n) {
      for (const c of yield* pull) {
        const bytes = typeof c === "string" ? text(c) : c
        chunks.push(bytes)
        total += bytes.byteLength
      }
    }
    return concat(chunks)
  })

/** A node:net server on 127.0.0.1 for the scope, each connection handed to `onConnection`; where a client connects. */
const rawPeer = (onConnection: (c: net.Socket) => void) =>
  Effect.gen(function* () {
    const server = net.createServer((c) => {
      c.on("error", () => {})
      onConnection(c)
    })
    yield* Effect.promise(() => new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve)))
    yield* Effect.addFinalizer(() => Effect.sync(() => server.close()))
    return { host: "127.0.0.1", port: (server.address() as net.AddressInfo).port }
  })

/** Echoes until end of stream, then half-closes (releasing the writer). */
const echo = (socket: Socket.Socket) =>
  Effect.scoped(
    Effect.gen(function* () {
      const { pull } = yield* socket.reader
      const { write } = yield* socket.writer
      while (true) {
        const result = yield* Effect.result(pull)
        if (result._tag === "Failure") return
        for (const chunk of result.success) yield* write(chunk)
      }
    }),
  )

export const socketSuite = <R>(name: string, implementation: SocketImplementation<R>, skip = false) =>
  describe.skipIf(skip)(`Socket and SocketServer behaviour: ${name}`, () => {
    const run =
      <A, E>(body: (transport: Transport) => Effect.Effect<A, E, R | Scope.Scope>) =>
      (transport: Transport) =>
        Effect.scoped(body(transport)).pipe(Effect.provide(Layer.fresh(implementation.layer))) as Effect.Effect<
          A,
          unknown
        >

    const transports: ReadonlyArray<Transport> = ["TCP", "Unix"]

    it.live.each(transports)("echo: bytes written come back (%s)", (transport) =>
      run((transport) =>
        Effect.gen(function* () {
          const server = yield* implementation.makeServer(yield* listenOptions(transport))
          yield* Effect.forkScoped(server.run(echo))
          const socket = yield* implementation.makeNet(target(server))
          const { pull } = yield* socket.reader
          const { write, writeAll } = yield* socket.writer
          yield* write(text("hello, "))
          yield* writeAll([text("io_"), "uring"])
          assert.strictEqual(decode(yield* readAtLeast(pull, 15)), "hello, io_uring")
        }),
      )(transport),
    )

    it.live.each(transports)("half-close: the server reads to the end, then still answers (%s)", (transport) =>
      run((transport) =>
        Effect.gen(function* () {
          const server = yield* implementation.makeServer(yield* listenOptions(transport))
          yield* Effect.forkScoped(
            server.run((socket) =>
              Effect.scoped(
                Effect.gen(function* () {
                  const { pull } = yield* socket.reader
                  const { write } = yield* socket.writer
                  const all = yield* readToEnd(pull)
                  yield* write(text(`got ${decode(all)}`))
                }),
              ),
            ),
          )
          const socket = yield* implementation.makeNet(target(server))
          const { pull } = yield* socket.reader
          // Releasing the writer half-closes: the server reads to the end and can still answer.
          yield* Effect.scoped(
            Effect.gen(function* () {
              const { write } = yield* socket.writer
              yield* write(text("one "))
              yield* write(text("two"))
            }),
          )
          assert.strictEqual(decode(yield* readToEnd(pull)), "got one two")
        }),
      )(transport),
    )

    it.live.each(transports)(
      "a CloseEvent closes the connection: the peer reads to the end, our pull ends (%s)",
      (transport) =>
        run((transport) =>
          Effect.gen(function* () {
            const server = yield* implementation.makeServer(yield* listenOptions(transport))
            const received = yield* Deferred.make<string>()
            yield* Effect.forkScoped(
              server.run((socket) =>
                Effect.scoped(
                  Effect.gen(function* () {
                    const { pull } = yield* socket.reader
                    yield* Deferred.succeed(received, decode(yield* readToEnd(pull)))
                  }),
                ),
              ),
            )
            const socket = yield* implementation.makeNet(target(server))
            const { pull } = yield* socket.reader
            const { write } = yield* socket.writer
            yield* write(text("bye"))
            yield* write(new Socket.CloseEvent())
            assert.strictEqual(yield* Deferred.await(received), "bye")
            const error = yield* Effect.flip(pull)
            assert.strictEqual(error.reason._tag, "SocketCloseError")
          }),
        )(transport),
    )

    it.live(
      "a CloseEvent with bytes received and not pulled: code 1000 still lets the pulls take them, then SocketCloseError 1000; a code above 1000 fails them with SocketReadError",
      () =>
        run(() =>
          Effect.gen(function* () {
            // As node:net's destroy() without an error and with one.
            const pulled = (code: number) =>
              Effect.scoped(
                Effect.gen(function* () {
                  const socket = yield* implementation.makeNet(yield* rawPeer((c) => c.write("hi")))
                  const { pull } = yield* socket.reader
                  yield* Effect.sleep("100 millis") // "hi" arrives, nobody pulls it
                  yield* Effect.flatMap(socket.writer, (w) => w.write(new Socket.CloseEvent(code)))
                  const out: Array<string> = []
                  while (true) {
                    const result = yield* Effect.result(pull)
                    if (result._tag === "Failure") {
                      const reason = result.failure.reason
                      out.push(reason._tag === "SocketCloseError" ? `${reason._tag} ${reason.code}` : reason._tag)
                      return out
                    }
                    out.push(decode(concat(result.success as ReadonlyArray<Uint8Array>)))
                  }
                }),
              )
            assert.deepStrictEqual(yield* pulled(1000), ["hi", "SocketCloseError 1000"])
            // NodeSocket reports the error with node:net's 'error' event, a tick later: a pull made at
            // once may still take the bytes first.
            assert.oneOf((yield* pulled(4000)).join(), ["SocketReadError", "hi,SocketReadError"])
          }),
        )("TCP"),
    )

    it.live.each(transports)(
      "a server handler that releases its reader closes the connection while it goes on: the peer reads to the end (%s)",
      (transport) =>
        run((transport) =>
          Effect.gen(function* () {
            const server = yield* implementation.makeServer(yield* listenOptions(transport))
            const handlerDone = yield* Deferred.make<void>()
            yield* Effect.forkScoped(
              server.run((socket) =>
                Effect.scoped(
                  Effect.gen(function* () {
                    // The writer is held until the handler ends: only the reader's release closes.
                    const { write } = yield* socket.writer
                    yield* Effect.scoped(
                      Effect.gen(function* () {
                        yield* socket.reader
                        yield* write(text("hello"))
                      }),
                    )
                    yield* Deferred.await(handlerDone)
                  }),
                ),
              ),
            )
            const socket = yield* implementation.makeNet(target(server))
            const { pull } = yield* socket.reader
            const received = yield* readToEnd(pull).pipe(Effect.timeout("5 seconds"))
            yield* Deferred.succeed(handlerDone, undefined)
            assert.strictEqual(decode(received), "hello")
          }),
        )(transport),
    )

    it.live.each(transports)("large transfers: 8 MiB echoed byte for byte (%s)", (transport) =>
      run((transport) =>
        Effect.gen(function* () {
          const server = yield* implementation.makeServer(yield* listenOptions(transport))
          yield* Effect.forkScoped(server.run(echo))
          const data = randomBytes(8 * 1024 * 1024)
          const socket = yield* implementation.makeNet(target(server))
          const { pull } = yield* socket.reader
          const writing = yield* Effect.forkChild(
            Effect.scoped(
              Effect.gen(function* () {
                const { write } = yield* socket.writer
                for (let offset = 0; offset < data.length; offset += 100_003) {
                  yield* write(data.subarray(offset, Math.min(offset + 100_003, data.length)))
                }
              }),
            ),
          )
          const received = yield* readToEnd(pull)
          yield* Fiber.join(writing)
          assert.strictEqual(received.byteLength, data.byteLength)
          assert.strictEqual(
            createHash("sha256").update(received).digest("hex"),
            createHash("sha256").update(data).digest("hex"),
          )
        }),
      )(transport),
    )

    it.live("abrupt peer reset: the server's pull fails with SocketReadError (ECONNRESET)", () =>
      run(() =>
        Effect.gen(function* () {
          const server = yield* implementation.makeServer(yield* listenOptions("TCP"))
          const outcome = yield* Deferred.make<Socket.SocketError>()
          const reading = yield* Deferred.make<void>()
          yield* Effect.forkScoped(
            server.run((socket) =>
              Effect.scoped(
                Effect.gen(function* () {
                  const { pull } = yield* socket.reader
                  const first = yield* pull
                  assert.strictEqual(decode(concat(first as ReadonlyArray<Uint8Array>)), "x")
                  yield* Deferred.succeed(reading, undefined)
                  const error = yield* Effect.flip(Effect.forever(pull))
                  yield* Deferred.succeed(outcome, error)
                }),
              ),
            ),
          )
          const peer = net.connect(rawTarget(server))
          peer.on("error", () => {})
          yield* Effect.promise(() => once(peer, "connect"))
          peer.write("x")
          yield* Deferred.await(reading)
          peer.resetAndDestroy()
          const error = yield* Deferred.await(outcome)
          assert.strictEqual(error.reason._tag, "SocketReadError")
          const cause = (error.reason as Socket.SocketReadError).cause as { code?: string }
          assert.strictEqual(cause.code, "ECONNRESET")
        }),
      )("TCP"),
    )

    it.live(
      "a reset that a write meets first fails the write and then the pulls, with ECONNRESET, not a clean close",
      () =>
        run(() =>
          Effect.gen(function* () {
            // The peer resets while the client writes more than the socket buffers hold: the kernel
            // reports the reset once, to the write; node:net destroys the socket on it, so the
            // reads end with the same error.
            const { port } = yield* rawPeer((c) => setTimeout(() => c.resetAndDestroy(), 50))
            const socket = yield* implementation.makeNet({ host: "127.0.0.1", port })
            const { pull } = yield* socket.reader
            const { write } = yield* socket.writer
            const written = yield* Effect.flip(write(new Uint8Array(32 * 1024 * 1024)))
            assert.strictEqual(written.reason._tag, "SocketWriteError")
            const read = yield* Effect.flip(Effect.forever(pull))
            assert.strictEqual(read.reason._tag, "SocketReadError")
            // ECONNRESET, or EPIPE where the receive took the reset and the write's error came first.
            const cause = (read.reason as Socket.SocketReadError).cause as { code?: string }
            assert.oneOf(cause.code, ["ECONNRESET", "EPIPE"])
          }),
        )("TCP"),
    )

    it.live(
      "a write that fails after the peer's end of stream, with its data not pulled yet, drops the data and fails the pulls (as node:net's destroy)",
      () =>
        run(() =>
          Effect.gen(function* () {
            // The peer sends, ends and goes away; this side writes without pulling: the first write
            // makes the peer's kernel reset, the second fails (EPIPE).
            const { port } = yield* rawPeer((c) => {
              c.end("data")
              setTimeout(() => c.destroy(), 30)
            })
            const socket = yield* implementation.makeNet({ host: "127.0.0.1", port })
            const { pull } = yield* socket.reader
            const { write } = yield* socket.writer
            yield* Effect.sleep("200 millis")
            yield* write(text("a"))
            yield* Effect.sleep("100 millis")
            const written = yield* Effect.flip(write(text("b")))
            assert.strictEqual(written.reason._tag, "SocketWriteError")
            const read = yield* Effect.flip(pull)
            assert.strictEqual(read.reason._tag, "SocketReadError")
          }),
        )("TCP"),
    )

    it.live(
      "a reset that comes with data nobody pulled yet (the JS thread busy meanwhile): the data, then SocketReadError (ECONNRESET), not a clean close",
      () =>
        run(() =>
          Effect.gen(function* () {
            // The peer is another process, so that it sends while this thread is blocked: 100,000
            // bytes (past the 64 KiB high-water mark, which stops the receive), then a reset.
            const peer = spawn(
              process.execPath,
              [
                "-e",
                `const s = require("node:net").createServer((c) => { c.write("hello"); setTimeout(() => c.write(Buffer.alloc(100000, 7), () => setTimeout(() => c.resetAndDestroy(), 20)), 200) });
               s.listen(0, "127.0.0.1", () => process.stdout.write(s.address().port + "\\n"))`,
              ],
              { stdio: ["ignore", "pipe", "inherit"] },
            )
            yield* Effect.addFinalizer(() => Effect.sync(() => peer.kill()))
            const port = yield* Effect.promise(
              () => new Promise<number>((resolve) => peer.stdout!.once("data", (d) => resolve(Number(String(d))))),
            )
            const socket = yield* implementation.makeNet({ host: "127.0.0.1", port })
            const { pull } = yield* socket.reader
            assert.strictEqual(decode(concat((yield* pull) as ReadonlyArray<Uint8Array>)), "hello")
            yield* Effect.sleep("20 millis")
            Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 600) // the data and the reset arrive now
            // …and are handled with no pull waiting: the bytes pass the high-water mark, which stops the
            // receive at the moment the reset ends it.
            yield* Effect.sleep("300 millis")
            let bytes = 0
            while (true) {
              const result = yield* Effect.result(pull)
              if (result._tag === "Success") {
                for (const c of result.success) bytes += typeof c === "string" ? c.length : c.byteLength
                continue
              }
              assert.strictEqual(bytes, 100000) // every byte the peer sent before its reset
              if (implementation.resetBehindData === "close") {
                assert.strictEqual(result.failure.reason._tag, "SocketCloseError")
                return
              }
              assert.strictEqual(result.failure.reason._tag, "SocketReadError")
              assert.strictEqual(
                ((result.failure.reason as Socket.SocketReadError).cause as { code?: string }).code,
                "ECONNRESET",
              )
              return
            }
          }),
        )("TCP"),
    )

    it.live(
      "a CloseEvent while a write is blocked (the peer does not read): the write ends and the connection closes",
      () =>
        run(() =>
          Effect.gen(function* () {
            const accepted = yield* Deferred.make<net.Socket>()
            const socket = yield* implementation.makeNet(
              yield* rawPeer((c) => {
                c.pause() // reads nothing: the write below blocks
                Deferred.doneUnsafe(accepted, Exit.succeed(c))
              }),
            )
            yield* socket.reader
            const { write } = yield* socket.writer
            const blocked = yield* Effect.forkDetach(write(new Uint8Array(32 << 20)))
            const peer = yield* Deferred.await(accepted)
            yield* Effect.sleep("200 millis")
            assert.isUndefined(blocked.pollUnsafe())
            yield* write(new Socket.CloseEvent(1000))
            const exit = yield* Fiber.await(blocked).pipe(Effect.timeout("2 seconds"))
            const error = Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : undefined
            assert.strictEqual(error?._tag === "Some" ? error.value.reason._tag : "no error", "SocketWriteError")
            // The peer, reading again, reaches the end of the connection.
            const ended = new Promise<void>((resolve) => peer.once("close", () => resolve()))
            peer.resume()
            yield* Effect.promise(() => ended).pipe(Effect.timeout("5 seconds"))
          }),
        )("TCP"),
    )

    it.live("releasing the writer while a write is blocked (the peer does not read) does not wait for it", () =>
      run(() =>
        Effect.gen(function* () {
          const socket = yield* implementation.makeNet(yield* rawPeer((c) => c.pause()))
          yield* socket.reader
          yield* Effect.scoped(
            Effect.gen(function* () {
              const { write } = yield* socket.writer
              yield* Effect.forkDetach(write(new Uint8Array(32 << 20)))
              yield* Effect.sleep("100 millis")
            }),
          ).pipe(Effect.timeout("2 seconds"))
        }),
      )("TCP"),
    )

    it.live("releasing the writer while a write is in flight: the peer gets every byte, then end of stream", () =>
      run(() =>
        Effect.gen(function* () {
          const size = 32 << 20
          const received = yield* Deferred.make<number>()
          const arriving = yield* Deferred.make<void>()
          const socket = yield* implementation.makeNet(
            yield* rawPeer((c) => {
              let bytes = 0
              c.on("data", (d: Buffer) => {
                bytes += d.length
                Deferred.doneUnsafe(arriving, Exit.void)
              })
              c.on("end", () => Deferred.doneUnsafe(received, Exit.succeed(bytes)))
            }),
          )
          yield* socket.reader
          yield* Effect.scoped(
            Effect.gen(function* () {
              const { write } = yield* socket.writer
              yield* Effect.forkDetach(write(new Uint8Array(size)))
              yield* Deferred.await(arriving) // the write is under way (a sleep could end before it starts)
            }),
          )
          assert.strictEqual(yield* Deferred.await(received).pipe(Effect.timeout("5 seconds")), size)
        }),
      )("TCP"),
    )

    it.live.each(transports)(
      "closing the server's scope interrupts live handlers and closes their connections (%s)",
      (transport) =>
        run((transport) =>
          Effect.gen(function* () {
            const serverScope = yield* Scope.make()
            const server = yield* implementation
              .makeServer(yield* listenOptions(transport))
              .pipe(Scope.provide(serverScope))
            const started = yield* Deferred.make<void>()
            const interrupted = yield* Deferred.make<void>()
            yield* server
              .run((socket) =>
                Effect.scoped(
                  Effect.gen(function* () {
                    const { pull } = yield* socket.reader
                    yield* Deferred.succeed(started, undefined)
                    yield* Effect.forever(pull)
                  }),
                ).pipe(Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined))),
              )
              .pipe(Effect.forkIn(serverScope))
            const peer = net.connect(rawTarget(server))
            peer.on("error", () => {})
            const ended = new Promise<void>((resolve) => peer.once("close", () => resolve()))
            yield* Effect.promise(() => once(peer, "connect"))
            yield* Deferred.await(started)
            yield* Scope.close(serverScope, Exit.void)
            yield* Deferred.await(interrupted)
            yield* Effect.promise(() => ended)
            // No longer listening.
            const refused = net.connect(rawTarget(server))
            const [error] = (yield* Effect.promise(() => once(refused, "error"))) as [NodeJS.ErrnoException]
            assert.oneOf(error.code, ["ECONNREFUSED", "ENOENT"])
          }),
        )(transport),
    )

    it.live.each(transports)(
      "interrupting a blocked pull loses nothing: the next pull gets the bytes (%s)",
      (transport) =>
        run((transport) =>
          Effect.gen(function* () {
            const server = yield* implementation.makeServer(yield* listenOptions(transport))
            const go = yield* Deferred.make<void>()
            yield* Effect.forkScoped(
              server.run((socket) =>
                Effect.scoped(
                  Effect.gen(function* () {
                    // Writes wait until the reader opened the connection.
                    yield* socket.reader
                    const { write } = yield* socket.writer
                    yield* Deferred.await(go)
                    yield* write(text("after"))
                    yield* Effect.never
                  }),
                ),
              ),
            )
            const socket = yield* implementation.makeNet(target(server))
            const { pull } = yield* socket.reader
            const blocked = yield* Effect.forkChild(pull)
            yield* Effect.sleep("20 millis")
            yield* Fiber.interrupt(blocked)
            const exit = yield* Fiber.await(blocked)
            assert.isTrue(Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause))
            yield* Deferred.succeed(go, undefined)
            assert.strictEqual(decode(yield* readAtLeast(pull, 5)), "after")
          }),
        )(transport),
    )

    it.live.each(transports)(
      "closing the reader's scope ends a pull blocked in another fiber with SocketCloseError 1006, client and server (%s)",
      (transport) =>
        run((transport) =>
          Effect.gen(function* () {
            /** Opens a reader in a scope of its own, blocks a pull in another fiber, closes the scope: the pull's error. */
            const blockedPullAfterClose = (socket: Socket.Socket) =>
              Effect.gen(function* () {
                const readerScope = yield* Scope.make()
                const { pull } = yield* socket.reader.pipe(Scope.provide(readerScope))
                const blocked = yield* Effect.forkChild(pull)
                yield* Effect.sleep("20 millis")
                yield* Scope.close(readerScope, Exit.void)
                return yield* Effect.flip(Fiber.join(blocked))
              })
            const server = yield* implementation.makeServer(yield* listenOptions(transport))
            const serverSide = yield* Deferred.make<Socket.SocketError>()
            // Neither side writes, so each pull stays blocked until its reader's scope closes; the
            // server's handler goes on after closing its reader (its connection stays open).
            // Only the first connection's handler closes its reader; the second's keeps it open, so
            // that the client's pull on it can end only by the client's own close.
            let connections = 0
            yield* Effect.forkScoped(
              server.run((socket) =>
                ++connections === 1
                  ? Effect.andThen(
                      Effect.flatMap(blockedPullAfterClose(socket), (error) => Deferred.succeed(serverSide, error)),
                      Effect.never,
                    )
                  : Effect.scoped(Effect.andThen(socket.reader, Effect.never)),
              ),
            )
            // The first connection stays open (its reader in the test's scope) while the server's
            // reader closes; the second is closed by the client's own reader's scope.
            yield* Effect.flatMap(implementation.makeNet(target(server)), (socket) => socket.reader)
            const serverError = yield* Deferred.await(serverSide)
            const clientError = yield* Effect.flatMap(implementation.makeNet(target(server)), blockedPullAfterClose)
            for (const error of [serverError, clientError]) {
              assert.strictEqual(error.reason._tag, "SocketCloseError")
              assert.strictEqual((error.reason as Socket.SocketCloseError).code, 1006)
            }
          }),
        )(transport),
    )

    it.live("a Unix server's scope close removes its socket file: a new server listens on the path and answers", () =>
      run(() =>
        Effect.gen(function* () {
          const options = yield* listenOptions("Unix")
          const file = (options as { readonly path: string }).path
          yield* Effect.scoped(Effect.andThen(implementation.makeServer(options), Effect.void))
          assert.isFalse(fs.existsSync(file))
          const server = yield* implementation.makeServer(options)
          yield* Effect.forkScoped(server.run(echo))
          const socket = yield* implementation.makeNet(target(server))
          const { pull } = yield* socket.reader
          const { write } = yield* socket.writer
          yield* write(text("again"))
          assert.strictEqual(decode(yield* readAtLeast(pull, 5)), "again")
        }),
      )("Unix"),
    )

    it.live("a connect to port 0 fails with SocketOpenError (the kernel's refusal), not a defect", () =>
      run(() =>
        Effect.gen(function* () {
          const socket = yield* implementation.makeNet({ host: "127.0.0.1", port: 0 })
          const exit = yield* Effect.exit(Effect.scoped(socket.reader))
          assert.isTrue(Exit.isFailure(exit) && !Cause.hasDies(exit.cause))
          const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
          assert.strictEqual((error as Socket.SocketError).reason._tag, "SocketOpenError")
        }),
      )("TCP"),
    )

    it.live("upgrade on a server connection without credentials fails with SocketUpgradeError", () =>
      run(() =>
        Effect.gen(function* () {
          const server = yield* implementation.makeServer(yield* listenOptions("TCP"))
          const outcome = yield* Deferred.make<Socket.SocketError | "upgraded">()
          yield* Effect.forkScoped(
            server.run((socket) =>
              Effect.scoped(
                Effect.gen(function* () {
                  const { upgrade } = yield* socket.reader
                  const result = yield* Effect.result(upgrade())
                  yield* Deferred.succeed(outcome, result._tag === "Failure" ? result.failure : "upgraded")
                }),
              ),
            ),
          )
          const peer = net.connect(rawTarget(server))
          peer.on("error", () => {})
          const error = yield* Deferred.await(outcome)
          peer.destroy()
          assert.notStrictEqual(error, "upgraded")
          assert.strictEqual((error as Socket.SocketError).reason._tag, "SocketUpgradeError")
        }),
      )("TCP"),
    )

    it.live.each(transports)(
      "connecting where nothing listens fails the reader with SocketOpenError (%s)",
      (transport) =>
        run((transport) =>
          Effect.gen(function* () {
            // A server that listened and closed: its address has no listener now.
            const address = yield* Effect.scoped(
              Effect.map(implementation.makeServer(yield* listenOptions(transport)), target),
            )
            const socket = yield* implementation.makeNet(address)
            const error = yield* Effect.flip(Effect.scoped(socket.reader))
            assert.strictEqual(error.reason._tag, "SocketOpenError")
          }),
        )(transport),
    )
  })
