// Run by IoUringSocket.test.ts in a process of its own: a worker serves with IoUringSocketServer
// (NodeIoUring.layer) and holds one connection; the worker is terminated. Prints, per engine (with
// and without the latency histograms), whether the connection's other end read end of stream and
// whether the port can be listened on again (the binding closed the listener and the connection:
// the Driver's closeOnExit). Then, per engine, a worker whose IoUring connect is still in flight (to
// a listener whose backlog is full) when it is terminated: how many sockets the process has more
// afterwards (0: the socket was marked from its start).
import { Driver } from "@iou/native"
import { fdsNaming, LAYERS, startWorker } from "./workerChildren.mjs"

const body = `
const { Effect } = await import("effect")
const { IoUringSocketServer, NodeIoUring } = await import("@iou/effect")
const { parentPort, workerData } = await import("node:worker_threads")
const program = Effect.gen(function* () {
  const server = yield* IoUringSocketServer.make({ host: "127.0.0.1", port: 0 })
  parentPort.postMessage(server.address.port)
  return yield* server.run(() => Effect.andThen(Effect.sync(() => parentPort.postMessage("connected")), Effect.never))
})
const layer = NodeIoUring.layer({ engine: workerData.engine }, { latencyHistograms: workerData.histograms })
Effect.runFork(Effect.scoped(program).pipe(Effect.provide(layer)))
`
const ring = Driver.open()
const results = []
for (const [engine, histograms] of LAYERS) {
  const worker = startWorker(body, { engine, histograms })
  const port = await new Promise((d) => worker.once("message", d))
  const connected = new Promise((d) => worker.once("message", d))
  const client = await ring.connect({ host: "127.0.0.1", port })
  await connected
  await worker.terminate()
  const end = await ring.recv(client.fd, Buffer.alloc(1), { timeout: 2000 }).then(
    (n) => (n === 0 ? "eof" : "data"),
    (e) => e.code,
  )
  await ring.closeFd(client.fd)
  const again = await ring.listen({ host: "127.0.0.1", port }).then(
    (l) => ring.closeFd(l.fd).then(() => "port free"),
    (e) => e.code,
  )
  results.push(`${engine}${histograms ? " histograms" : ""} ${end} ${again}`)
}

const connecting = `
const { Effect } = await import("effect")
const { IoUring, NodeIoUring } = await import("@iou/effect")
const { parentPort, workerData } = await import("node:worker_threads")
const program = Effect.flatMap(Effect.service(IoUring), (io) => io.connect({ host: "127.0.0.1", port: workerData.port }))
Effect.runFork(program.pipe(Effect.provide(NodeIoUring.layer({ engine: workerData.engine }))))
setTimeout(() => parentPort.postMessage("connecting"), 200)
`
const sockets = () => fdsNaming((target) => target.startsWith("socket:"))
const full = await ring.listen({ host: "127.0.0.1", port: 0, backlog: 0 })
const fill = new AbortController()
const port = full.localAddress.port
for (let i = 0; i < 4; i++) ring.connect({ host: "127.0.0.1", port }, { signal: fill.signal }).catch(() => {})
await new Promise((d) => setTimeout(d, 200))
for (const engine of ["inline", "thread"]) {
  const before = sockets()
  const worker = startWorker(connecting, { engine, port })
  await new Promise((d) => worker.once("message", d))
  await worker.terminate()
  results.push(`${engine} connecting ${sockets() - before}`)
}
fill.abort()
await ring.close()
console.log(JSON.stringify(results))
