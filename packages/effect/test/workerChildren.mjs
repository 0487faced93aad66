// What the worker-exit children (worker-exit-child.mjs, worker-files-exit-child.mjs) share: the
// layers each runs a worker under, how a worker starts, and how the process's fds are counted.
import { readdirSync, readlinkSync } from "node:fs"
import { Worker } from "node:worker_threads"

/** Each engine, without and with the latency histograms' wrapper of the IoUring service. */
export const LAYERS = [
  ["inline", false],
  ["inline", true],
  ["thread", false],
  ["thread", true],
]

/** A worker running the ES module `body`; an error it throws is printed (the parent's output then differs). */
export const startWorker = (body, workerData) => {
  const worker = new Worker(body, { eval: true, workerData })
  worker.on("error", (e) => console.log("worker error", e.message))
  return worker
}

/** How many of the process's fds name a target that `names` accepts (readlink of /proc/self/fd). */
export const fdsNaming = (names) =>
  readdirSync("/proc/self/fd").filter((f) => {
    try {
      return names(readlinkSync(`/proc/self/fd/${f}`))
    } catch {
      return false
    }
  }).length
