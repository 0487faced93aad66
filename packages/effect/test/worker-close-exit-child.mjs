// Run by IoUringFileSystem.ring.test.ts in a process of its own: a worker closes the scope of its
// IoUringFileSystem layer while fibers of its own loop on writeFile and readFile of one file, then
// ends at once (process.exit). Each chain those fibers run opens its fd and sends its next step
// from the open's callback; a step sent after the layer's Driver began closing is refused on the
// next tick, and the chain closes its fd from that refusal. The Driver's close() resolves only
// after that (a turn after its final delivery), so the worker's exit finds no fd of theirs open.
// Prints, per engine (with and without the latency histograms), how many fds on the file the
// workers left (0).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fdsNaming, LAYERS, startWorker } from "./workerChildren.mjs"

const WORKERS = 3

const body = `
const { Context, Effect, Exit, Layer, Scope } = await import("effect")
const FileSystem = await import("effect/FileSystem")
const { IoUringFileSystem, NodeIoUring } = await import("@iou/effect")
const { workerData } = await import("node:worker_threads")
const ring = NodeIoUring.layer({ engine: workerData.engine }, { latencyHistograms: workerData.histograms })
const scope = Effect.runSync(Scope.make())
const context = await Effect.runPromise(Layer.buildWithScope(IoUringFileSystem.layer.pipe(Layer.provideMerge(ring)), scope))
const fs = Context.get(context, FileSystem.FileSystem)
const data = new Uint8Array(4096)
for (let i = 0; i < 3; i++) {
  Effect.runFork(Effect.ignore(Effect.forever(fs.writeFile(workerData.file, data))))
  Effect.runFork(Effect.ignore(Effect.forever(fs.readFile(workerData.file))))
}
await Effect.runPromise(Scope.close(scope, Exit.void))
process.exit(0)
`
const dir = mkdtempSync(join(tmpdir(), "iou-worker-close-"))
const file = join(dir, "f")
writeFileSync(file, "x".repeat(4096))
const onFile = () => fdsNaming((target) => target === file)
const results = []
for (const [engine, histograms] of LAYERS) {
  const before = onFile()
  for (let i = 0; i < WORKERS; i++) {
    const worker = startWorker(body, { engine, histograms, file })
    await new Promise((d) => worker.once("exit", d))
  }
  results.push(`${engine}${histograms ? " histograms" : ""} ${onFile() - before}`)
}
rmSync(dir, { recursive: true, force: true })
console.log(JSON.stringify(results))
