// Run by IoUringFileSystem.ring.test.ts in a process of its own: a worker holds a file open through
// IoUringFileSystem (a scoped `open`, and a `stream` paused between two chunks) when it is
// terminated. Prints, per engine (with and without the latency histograms), how many fds on that
// file the process has before and after the termination (after: 0, the binding closed them: the
// IoUring service opens every file with the Driver's closeOnExit).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fdsNaming, LAYERS, startWorker } from "./workerChildren.mjs"

const body = `
const { Effect, Layer, Stream } = await import("effect")
const FileSystem = await import("effect/FileSystem")
const { IoUringFileSystem, NodeIoUring } = await import("@iou/effect")
const { parentPort, workerData } = await import("node:worker_threads")
const program = Effect.gen(function* () {
  const fs = yield* FileSystem.FileSystem
  yield* fs.open(workerData.file)
  yield* Stream.runForEach(fs.stream(workerData.file, { chunkSize: 16 }), () =>
    Effect.andThen(Effect.sync(() => parentPort.postMessage("holding")), Effect.never),
  )
})
// Alive until terminated (Effect.never holds no handle): a worker whose event loop empties ends on
// its own, closing the marked fds before the main thread looks.
setInterval(() => {}, 1 << 30)
const ring = NodeIoUring.layer({ engine: workerData.engine }, { latencyHistograms: workerData.histograms })
Effect.runFork(Effect.scoped(program).pipe(Effect.provide(IoUringFileSystem.layer.pipe(Layer.provideMerge(ring)))))
`
const dir = mkdtempSync(join(tmpdir(), "iou-worker-files-"))
const file = join(dir, "f")
writeFileSync(file, "x".repeat(1024))
const onFile = () => fdsNaming((target) => target === file)
const results = []
for (const [engine, histograms] of LAYERS) {
  const worker = startWorker(body, { engine, histograms, file })
  await new Promise((d) => worker.once("message", d))
  const before = onFile()
  await worker.terminate()
  results.push(`${engine}${histograms ? " histograms" : ""} ${before} ${onFile()}`)
}
rmSync(dir, { recursive: true, force: true })
console.log(JSON.stringify(results))
