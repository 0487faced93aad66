/**
 * `npm run demo`: a short, self-contained run of every example on this machine's kernel.
 *
 * 1. probe(): what the kernel offers (the only step when io_uring is refused here);
 * 2. the echo server on an ephemeral port, a client on the ring exchanging a few messages, then the
 *    server interrupted (its pending recvs cancelled in the kernel);
 * 3. a copy of a generated 8 MiB file with 8 requests in flight, verified byte for byte;
 * 4. the /metrics endpoint scraped once while work runs, printed in part.
 *
 * Exits 0 when everything worked, 1 otherwise.
 */
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { randomBytes } from "node:crypto"
import { runMain } from "@effect/platform-node/NodeRuntime"
import { Console, Deferred, Effect, Fiber } from "effect"
import { probe } from "@iou/native"
import { IoUring, IoUringMetrics, NodeIoUring } from "@iou/effect"
import { serve } from "./echo-server.ts"
import { copyFile, progressBar } from "./file-copy.ts"
import { makeRegistry, serveMetrics, work } from "./metrics-server.ts"
import { connect } from "./sockets.ts"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const echoDemo = Effect.gen(function* () {
  yield* Console.log("\n== echo server: recv/send on the ring ==")
  const io = yield* IoUring
  const listening = yield* Deferred.make<number>()
  const server = yield* Effect.forkChild(
    serve({
      port: 0,
      idleTimeout: "5 seconds",
      onListening: (port) => Deferred.succeed(listening, port).pipe(Effect.asVoid),
    }).pipe(Effect.scoped),
  )
  const port = yield* Deferred.await(listening)
  yield* Console.log(`listening on 127.0.0.1:${port}`)
  const client = yield* connect(port)
  for (const message of ["hello", "io_uring", "from Effect"]) {
    const bytes = encoder.encode(message)
    yield* io.send(client.fd, bytes, { timeout: "2 seconds" })
    const reply = new Uint8Array(bytes.length)
    yield* io.recv(client.fd, reply, { exact: true, timeout: "2 seconds" })
    yield* Console.log(`  sent ${JSON.stringify(message)}, echoed ${JSON.stringify(decoder.decode(reply))}`)
    if (decoder.decode(reply) !== message) return yield* Effect.die(new Error("the echo differs"))
  }
  // The server's connection fiber now waits in recv: interrupting the server cancels it in the kernel.
  const before = yield* io.stats
  yield* Fiber.interrupt(server)
  const after = yield* io.stats
  yield* Console.log(
    `server interrupted: requests in flight ${before.inFlight} before, ${after.inFlight} after; cancelled in the kernel: ${after.cancelled - before.cancelled}`,
  )
  yield* client.close
}).pipe(Effect.scoped)

const copyDemo = Effect.gen(function* () {
  yield* Console.log("\n== file copy: readAt/writeAt, 8 requests in flight ==")
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "iou-demo-"))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })),
  )
  const source = path.join(dir, "source.bin")
  const destination = path.join(dir, "copy.bin")
  const data = randomBytes(8 * 1024 * 1024 + 12345)
  fs.writeFileSync(source, data)
  const bar = progressBar()
  const started = Date.now()
  const bytes = yield* copyFile(source, destination, { chunkSize: 256 * 1024, inFlight: 8, onProgress: bar })
  const ms = Date.now() - started
  const same = Buffer.compare(data, fs.readFileSync(destination)) === 0
  yield* Console.log(`copied ${bytes} bytes in ${ms} ms; identical to the source: ${same ? "yes" : "NO"}`)
  if (!same) return yield* Effect.die(new Error("the copy differs from the source"))
}).pipe(Effect.scoped)

const get = (url: string) =>
  Effect.callback<string, Error>((resume) => {
    const request = http.get(url, (response) => {
      let body = ""
      response.setEncoding("utf8")
      response.on("data", (chunk: string) => (body += chunk))
      response.on("end", () => resume(Effect.succeed(body)))
    })
    request.on("error", (error) => resume(Effect.fail(error)))
    return Effect.sync(() => request.destroy())
  })

const metricsDemo = Effect.gen(function* () {
  yield* Console.log("\n== /metrics: prom-client, read from the Driver's stats on scrape ==")
  const registry = makeRegistry()
  yield* IoUringMetrics.register(registry)
  const server = yield* serveMetrics(registry, 0)
  const worker = yield* Effect.forkChild(work)
  yield* Effect.sleep("200 millis")
  const url = `http://127.0.0.1:${server.port}/metrics`
  const text = yield* get(url)
  yield* Fiber.interrupt(worker)
  const lines = text.split("\n").filter((line) => line.startsWith("iou_"))
  yield* Console.log(`GET ${url}: ${text.split("\n").length} lines, ${lines.length} iou_ series, among them:`)
  for (const line of lines) yield* Console.log(`  ${line}`)
}).pipe(Effect.scoped)

const p = probe()
console.log(`kernel ${p.kernel}: io_uring ${p.supported ? "usable" : `refused (${p.reason})`}`)
console.log(`SINGLE_ISSUER + DEFER_TASKRUN: ${p.singleIssuer ? "accepted" : "not accepted"}`)
console.log(`opcodes: ${p.opcodes.length} supported`)

if (p.supported) {
  const main = Effect.all([echoDemo, copyDemo, metricsDemo], { discard: true }).pipe(
    Effect.andThen(Console.log("\nall demos done; the ring closes with the layer's scope")),
    Effect.provide(NodeIoUring.layer({ shutdownTimeout: 2000 })),
    Effect.timeout("60 seconds"),
  )
  runMain(main)
} else {
  console.log("io_uring is refused on this machine, so the ring demos are skipped (the probe above says why)")
}
