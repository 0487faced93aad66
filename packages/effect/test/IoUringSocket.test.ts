/**
 * IoUringSocket and IoUringSocketServer run the socket behaviour suite with the same expectations as
 * @effect/platform-node's NodeSocket and NodeSocketServer (which run it here too, so that the suite
 * itself is checked against the reference). And they really use the ring: every operation of
 * `internal/netOps.ts` (the only way the socket modules reach the kernel) moves the ring's
 * `submitted` counter.
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as NodeSocketServer from "@effect/platform-node/NodeSocketServer"
import { assert, describe, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { probe } from "@iou/native"
import { IoUring, IoUringSocket, IoUringSocketServer, NodeIoUring } from "@iou/effect"
import * as NetOps from "../src/internal/netOps.ts"
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

describe.skipIf(!supported)("IoUringSocket and IoUringSocketServer on the ring", () => {
  layer(NodeIoUring.layer({ size: 64, shutdownTimeout: 2000 }), { timeout: 30_000, excludeTestServices: true })(
    (it) => {
      it.effect(
        "every socket operation (listen, accept, connect, recv, send, shutdown, close) submits to the ring",
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
            yield* measured("send", ops.send(client, new TextEncoder().encode("ping")))
            const buffer = new Uint8Array(16)
            const n = yield* measured("recv", ops.recv(server, buffer))
            assert.strictEqual(new TextDecoder().decode(buffer.subarray(0, n)), "ping")
            yield* measured("shutdownWrite", ops.shutdownWrite(client))
            assert.strictEqual(yield* ops.recv(server, buffer), 0, "the peer reads end of stream after shutdownWrite")
            yield* measured("shutdownRead", ops.shutdownRead(server))
            yield* measured("close", ops.close(client))
            yield* measured("close", ops.close(server))
            yield* measured("closeListener", ops.closeListener(listener))

            const all: Record<keyof NetOps.NetOps, true> = {
              listen: true,
              accept: true,
              connect: true,
              recv: true,
              send: true,
              shutdownWrite: true,
              shutdownRead: true,
              close: true,
              closeListener: true,
            }
            for (const op of Object.keys(all) as Array<keyof NetOps.NetOps>) {
              assert.isTrue((moved[op] ?? 0) > 0, `${op}: ${moved[op] ?? 0} requests submitted to the ring`)
            }
          }),
      )
    },
  )
})
