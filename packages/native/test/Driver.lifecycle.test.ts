/**
 * The Driver's lifecycle at its edges, each in a child `node` so that a crash is an exit status
 * here and not the end of the test run: worker threads that end (on their own, by process.exit, by
 * terminate(), or because the main thread exits) while they hold an open Driver, with the addon
 * loaded only by the worker (so that Node unloads it with the worker's environment); workers
 * terminated while they submit in a tight loop; and a close({ shutdownTimeout: 0 }) that abandons
 * a write the kernel is still carrying out, which must not hold up the JS thread.
 */
import { execFileSync, spawn } from "node:child_process"
import { mkdtempSync as makeTempDir, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { afterEach, describe, expect, it } from "vitest"
import { probe } from "../src/index.ts"
import { runChild, SRC_INDEX, WORKER_SAFE_V8_FLAGS } from "./helpers.ts"

/** The temporary directories this file's tests made here, removed after each test. */
const made: Array<string> = []
const tempDir = (prefix: string): string => {
  const dir = makeTempDir(join(tmpdir(), prefix))
  made.push(dir)
  return dir
}
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true })
})

const supported = probe().supported
const reason = probe().reason ?? ""
const SRC_URL = pathToFileURL(SRC_INDEX).href
const BINDING_URL = new URL("./binding.ts", SRC_URL).href

interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * Runs an ES module body in a child `node` that imports nothing of this package itself (unlike
 * helpers.ts's runChild): SRC_URL is in the environment for the body, or its workers, to import.
 */
const runBare = (body: string, timeoutMs = 30_000) =>
  new Promise<Exit>((done, fail) => {
    const child = spawn(
      process.execPath,
      [
        ...WORKER_SAFE_V8_FLAGS,
        "--conditions=@iou/source",
        "--disable-warning=ExperimentalWarning",
        "--input-type=module",
        "-e",
        body,
      ],
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, SRC_URL, BINDING_URL } },
    )
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
    child.on("error", fail)
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      done({ code, signal, stdout, stderr })
    })
  })

/**
 * A worker body: opens a Driver and, unless IDLE is set, leaves a recv pending on a TCP socket that
 * never gets data, then posts "ready" and does what END says: "return" (nothing: the worker ends
 * when its loop is empty), "exit" (process.exit(0) in the worker), or "busy" (submits nops in a
 * tight loop until it is stopped from outside).
 */
/**
 * For a runBare script: `fdsNaming(accept)`, how many of the process's fds name a target that
 * `accept` takes (readlink of /proc/self/fd; an fd closed meanwhile counts as none).
 */
const FDS_NAMING = `const fdsNaming = await (async () => {
  const { readdirSync, readlinkSync } = await import("node:fs")
  return (accept) =>
    readdirSync("/proc/self/fd").filter((fd) => {
      try {
        return accept(readlinkSync("/proc/self/fd/" + fd))
      } catch {
        return false
      }
    }).length
})()`

const WORKER = `
const { Driver } = await import(process.env.SRC_URL)
const { parentPort, workerData } = await import("node:worker_threads")
const ring = Driver.open()
await ring.nop()
if (!workerData.idle) {
  const listener = await ring.listen({ host: "127.0.0.1", port: 0 })
  const [peer] = await Promise.all([
    ring.accept(listener),
    ring.connect({ host: "127.0.0.1", port: listener.localAddress.port }),
  ])
  ring.recv(peer.fd, Buffer.alloc(1)).catch(() => {})
}
parentPort.postMessage("ready")
if (workerData.end === "exit") process.exit(0)
if (workerData.end === "busy") {
  const ignore = () => {}
  for (;;) {
    for (let i = 0; i < 64; i++) ring.submitNop(0, ignore)
    await ring.nop()
  }
}
`

/** A child body that starts one worker running WORKER with `data` and awaits "ready". */
const startWorker = (data: object) => `
const { Worker } = await import("node:worker_threads")
const worker = new Worker(${JSON.stringify(WORKER)}, { eval: true, workerData: ${JSON.stringify(data)} })
worker.on("error", (e) => console.log("worker error", e.message))
const exited = new Promise((d) => worker.on("exit", d))
await new Promise((d) => worker.once("message", d))
`

describe.skipIf(!supported)(`Driver lifecycle${supported ? "" : ` (skipped: ${reason})`}`, () => {
  describe("a worker that ends with an open Driver, the addon loaded only by that worker", () => {
    const rounds = 3

    it("ends cleanly when the worker's loop empties (the Driver idle but open)", async () => {
      for (let i = 0; i < rounds; i++) {
        const r = await runBare(`${startWorker({ idle: true, end: "return" })}console.log("worker exit", await exited)`)
        expect({ code: r.code, signal: r.signal, stdout: r.stdout, stderr: r.stderr }).toEqual({
          code: 0,
          signal: null,
          stdout: "worker exit 0\n",
          stderr: "",
        })
      }
    }, 60_000)

    it("ends cleanly when the worker calls process.exit() with a recv pending", async () => {
      for (let i = 0; i < rounds; i++) {
        const r = await runBare(`${startWorker({ end: "exit" })}console.log("worker exit", await exited)`)
        expect({ code: r.code, signal: r.signal, stdout: r.stdout, stderr: r.stderr }).toEqual({
          code: 0,
          signal: null,
          stdout: "worker exit 0\n",
          stderr: "",
        })
      }
    }, 60_000)

    it("ends cleanly when the worker is terminated with a recv pending while it submits", async () => {
      for (let i = 0; i < rounds; i++) {
        const r = await runBare(
          `${startWorker({ end: "busy" })}await worker.terminate(); console.log("worker exit", await exited)`,
        )
        expect({ code: r.code, signal: r.signal, stdout: r.stdout, stderr: r.stderr }).toEqual({
          code: 0,
          signal: null,
          stdout: "worker exit 1\n",
          stderr: "",
        })
      }
    }, 60_000)

    it("exits with the main thread's code when it calls process.exit() while the worker is busy", async () => {
      for (let i = 0; i < rounds; i++) {
        const r = await runBare(`${startWorker({ end: "busy" })}process.exit(7)`)
        expect({ code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({ code: 7, signal: null, stderr: "" })
      }
    }, 60_000)
  })

  it("a worker that calls process.exit() just after close(), its requests done inside their publishes, ends cleanly", async () => {
    // The readFile's steps complete inside the enters of their own publishes, so the host loop never
    // polled before close(): the inline engine's ring fd is still waiting to be added to its epoll
    // set when the environment's teardown runs the close's pass. That pass must not close the fd
    // under the host loop's poll (libuv aborts the process on the add of a closed fd): the loop
    // keeps it open until the binding, having stopped the poll, frees the loop.
    const file = join(tempDir("iou-exit-"), "small")
    writeFileSync(file, "a small file")
    const r = await runBare(
      `const { Worker } = await import("node:worker_threads")
       const body = \`
         const { Driver } = await import(process.env.SRC_URL)
         const { workerData } = await import("node:worker_threads")
         const ring = Driver.open({ engine: workerData.engine })
         await ring.readFile(workerData.file)
         ring.close()
         process.exit(0)
       \`
       const codes = []
       for (const engine of ["inline", "thread"]) {
         for (let i = 0; i < 5; i++) {
           const worker = new Worker(body, { eval: true, workerData: { engine, file: ${JSON.stringify(file)} } })
           worker.on("error", (e) => console.log("worker error", e.message))
           codes.push(await new Promise((d) => worker.on("exit", d)))
         }
       }
       console.log(JSON.stringify(codes))`,
      60_000,
    )
    expect({ code: r.code, signal: r.signal, stdout: r.stdout, stderr: r.stderr }).toEqual({
      code: 0,
      signal: null,
      stdout: JSON.stringify([0, 0, 0, 0, 0, 0, 0, 0, 0, 0]) + "\n",
      stderr: "",
    })
  }, 90_000)

  it("a worker that ends with receives in the kernel gives their memory back: nothing is quarantined", async () => {
    // Their cancels land at the teardown, so the kernel let go of the 16 MiB recv buffer and of the
    // provided buffers of the recvMany: released, not kept for the life of the process. The main
    // thread loads the addon too, so that the process-wide quarantine outlives the workers.
    const r = await runBare(
      `const { binding } = await import(process.env.BINDING_URL)
       const { Worker } = await import("node:worker_threads")
       const body = \`
         const { Driver } = await import(process.env.SRC_URL)
         const { parentPort, workerData } = await import("node:worker_threads")
         const ring = Driver.open()
         const listener = await ring.listen({ host: "127.0.0.1", port: 0 })
         const [peer] = await Promise.all([
           ring.accept(listener),
           ring.connect({ host: "127.0.0.1", port: listener.localAddress.port }),
         ])
         ring.recv(peer.fd, Buffer.alloc(16 << 20)).catch(() => {})
         const chunks = ring.recvMany(peer.fd)[Symbol.asyncIterator]()
         chunks.next().catch(() => {})
         await new Promise((d) => setTimeout(d, 20))
         parentPort.postMessage(ring.stats().outstanding)
         if (workerData.end === "exit") process.exit(0)
       \`
       const before = binding.quarantinedBytes()
       const outstanding = []
       for (const end of ["exit", "terminate", "exit", "terminate"]) {
         const worker = new Worker(body, { eval: true, workerData: { end } })
         worker.on("error", (e) => console.log("worker error", e.message))
         const exited = new Promise((d) => worker.on("exit", d))
         outstanding.push(await new Promise((d) => worker.once("message", d)))
         if (end === "terminate") await worker.terminate()
         await exited
       }
       console.log(JSON.stringify({ outstanding, quarantined: binding.quarantinedBytes() - before }))`,
      60_000,
    )
    expect({ code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({ code: 0, signal: null, stderr: "" })
    expect(JSON.parse(r.stdout)).toEqual({ outstanding: [2, 2, 2, 2], quarantined: 0 })
  }, 90_000)

  it("a worker that ends after the kernel made an fd for it, before its Driver took it, leaks no fd", async () => {
    // The worker's request completes in the kernel while its JavaScript cannot take it: it spins
    // until it is terminated, or it blocks in Atomics.wait and then calls process.exit(). Either
    // way the completion is delivered as the environment ends, and the Driver's dispatch fails
    // before it took anything. (A completion that comes in while the teardown stops the loop is
    // closed by the teardown itself; no test can time that.) The binding closes the fd: the main
    // thread then reads end of stream from the other end (a leaked fd would hold the FIFO's write
    // end or the accepted connection open: EAGAIN, or the receive's deadline).
    const fifo = join(tempDir("iou-fifo-"), "fifo")
    execFileSync("mkfifo", [fifo])
    const r = await runBare(
      `const { Driver } = await import(process.env.SRC_URL)
       const { Worker } = await import("node:worker_threads")
       const { openSync, readSync, closeSync, constants } = await import("node:fs")
       const body = \`
         const { Driver } = await import(process.env.SRC_URL)
         const { parentPort, workerData } = await import("node:worker_threads")
         const ring = Driver.open({ engine: workerData.engine })
         if (workerData.op === "open") {
           ring.open(workerData.fifo, { flags: "w" }).catch(() => {})
         } else {
           const listener = await ring.listen({ host: "127.0.0.1", port: 0 })
           if (workerData.op === "accept") ring.accept(listener).catch(() => {})
           else ring.acceptMany(listener)[Symbol.asyncIterator]().next().catch(() => {})
           parentPort.postMessage(listener.localAddress.port)
         }
         setTimeout(() => {
           parentPort.postMessage("busy")
           if (workerData.end === "terminate") for (;;) {}
           Atomics.wait(new Int32Array(workerData.go), 0, 0)
           process.exit(0)
         }, 20)
       \`
       const ring = Driver.open()
       const ends = []
       for (const engine of ["inline", "thread"]) {
         for (const end of ["terminate", "exit"]) {
           for (const op of ["open", "accept", "acceptMany"]) {
             const go = new SharedArrayBuffer(4)
             const workerData = { engine, op, end, go, fifo: ${JSON.stringify(fifo)} }
             const worker = new Worker(body, { eval: true, workerData })
             worker.on("error", (e) => console.log("worker error", e.message))
             const exited = new Promise((d) => worker.on("exit", d))
             const messages = []
             worker.on("message", (m) => messages.push(m))
             while (!messages.includes("busy")) await new Promise((d) => setTimeout(d, 5))
             const stop = async () => {
               await new Promise((d) => setTimeout(d, 100))
               if (end === "terminate") {
                 await worker.terminate()
               } else {
                 Atomics.store(new Int32Array(go), 0, 1)
                 Atomics.notify(new Int32Array(go), 0)
               }
               await exited
             }
             let seen
             if (op === "open") {
               const reader = openSync(${JSON.stringify(fifo)}, constants.O_RDONLY | constants.O_NONBLOCK)
               await stop()
               try {
                 seen = readSync(reader, Buffer.alloc(1)) === 0 ? "eof" : "data"
               } catch (e) {
                 seen = e.code
               }
               closeSync(reader)
             } else {
               const client = await ring.connect({ host: "127.0.0.1", port: messages[0] })
               await stop()
               seen = await ring.recv(client.fd, Buffer.alloc(1), { timeout: 2000 }).then(
                 (n) => (n === 0 ? "eof" : "data"),
                 (e) => e.code,
               )
               await ring.closeFd(client.fd)
             }
             ends.push([engine, end, op, seen].join(" "))
           }
         }
       }
       await ring.close()
       console.log(JSON.stringify(ends))`,
      90_000,
    )
    expect({ code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({ code: 0, signal: null, stderr: "" })
    const cases = ["inline", "thread"].flatMap((engine) =>
      ["terminate", "exit"].flatMap((end) => ["open", "accept", "acceptMany"].map((op) => [engine, end, op])),
    )
    expect(JSON.parse(r.stdout)).toEqual(cases.map((c) => [...c, "eof"].join(" ")))
  }, 120_000)

  it("a worker terminated while its readFile waits in a read leaves no fd (readFile's fd is marked to be closed on exit)", async () => {
    // The main thread holds the FIFO open for reading and writing, so that the worker's open
    // completes at once and its read waits for data. Once the worker is gone and the main thread's
    // own fd is closed, a non-blocking open for writing finds a reader only if the worker's fd leaked
    // (ENXIO otherwise).
    const fifo = join(tempDir("iou-fifo-"), "fifo")
    execFileSync("mkfifo", [fifo])
    const r = await runBare(
      `const { Worker } = await import("node:worker_threads")
       const { openSync, closeSync, readdirSync, constants } = await import("node:fs")
       const body = \`
         const { Driver } = await import(process.env.SRC_URL)
         const { parentPort, workerData } = await import("node:worker_threads")
         const ring = Driver.open({ engine: workerData.engine })
         ring.readFile(workerData.fifo).catch(() => {})
         const waiting = () => ring.stats().outstanding === 1 && ring.stats().completed >= 1
         const poll = setInterval(() => {
           if (!waiting()) return
           clearInterval(poll)
           parentPort.postMessage("reading")
         }, 5)
       \`
       const ends = []
       for (const engine of ["inline", "thread"]) {
         for (const end of ["terminate", "exit"]) {
           const keeper = openSync(${JSON.stringify(fifo)}, constants.O_RDWR)
           const worker = new Worker(end === "terminate" ? body : body + "\\nparentPort.on('message', () => process.exit(0))", {
             eval: true,
             workerData: { engine, fifo: ${JSON.stringify(fifo)} },
           })
           worker.on("error", (e) => console.log("worker error", e.message))
           const exited = new Promise((d) => worker.on("exit", d))
           await new Promise((d) => worker.once("message", d))
           if (end === "terminate") await worker.terminate()
           else worker.postMessage("exit")
           await exited
           closeSync(keeper)
           let seen
           try {
             closeSync(openSync(${JSON.stringify(fifo)}, constants.O_WRONLY | constants.O_NONBLOCK))
             seen = "a reader is left"
           } catch (e) {
             seen = e.code
           }
           ends.push([engine, end, seen].join(" "))
         }
       }
       console.log(JSON.stringify(ends))`,
      60_000,
    )
    expect({ code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({ code: 0, signal: null, stderr: "" })
    expect(JSON.parse(r.stdout)).toEqual([
      "inline terminate ENXIO",
      "inline exit ENXIO",
      "thread terminate ENXIO",
      "thread exit ENXIO",
    ])
  }, 90_000)

  it("closeOnExit: a terminated worker's listener and connection are closed (the port is free, the peer reads end of stream); an fd closed with closeFd is not", async () => {
    // The worker marks its listener and its accepted connection, and marks a third socket that it
    // then closes with closeFd; the main thread opens a file, which takes that number. Terminating
    // the worker must close the first two and leave the main thread's file alone.
    const r = await runBare(
      `const { Driver } = await import(process.env.SRC_URL)
       const { Worker } = await import("node:worker_threads")
       const { openSync, fstatSync, closeSync } = await import("node:fs")
       const body = \`
         const { Driver } = await import(process.env.SRC_URL)
         const { parentPort, workerData } = await import("node:worker_threads")
         const ring = Driver.open({ engine: workerData.engine })
         const listener = await ring.listen({ host: "127.0.0.1", port: 0 })
         ring.closeOnExit(listener.fd)
         const other = await ring.listen({ host: "127.0.0.1", port: 0 })
         ring.closeOnExit(other.fd)
         await ring.closeFd(other.fd)
         parentPort.postMessage({ port: listener.localAddress.port, closed: other.fd })
         const { fd } = await ring.accept(listener)
         ring.closeOnExit(fd)
         parentPort.postMessage("accepted")
         setInterval(() => {}, 1000)
       \`
       const ring = Driver.open()
       const results = []
       for (const engine of ["inline", "thread"]) {
         const worker = new Worker(body, { eval: true, workerData: { engine } })
         worker.on("error", (e) => console.log("worker error", e.message))
         const first = await new Promise((d) => worker.once("message", d))
         // The lowest free number: first.closed, unless a lower one was freed meanwhile (opened on
         // until first.closed comes, the others closed at once).
         const extra = []
         let file = openSync(process.execPath, "r")
         while (file < first.closed && extra.length < 64) {
           extra.push(file)
           file = openSync(process.execPath, "r")
         }
         for (const fd of extra) closeSync(fd)
         const accepted = new Promise((d) => worker.once("message", d))
         const client = await ring.connect({ host: "127.0.0.1", port: first.port })
         await accepted
         await worker.terminate()
         const end = await ring.recv(client.fd, Buffer.alloc(1), { timeout: 10_000 }).then(
           (n) => (n === 0 ? "eof" : "data"),
           (e) => e.code,
         )
         await ring.closeFd(client.fd)
         const again = await ring.listen({ host: "127.0.0.1", port: first.port }).then(
           (l) => ring.closeFd(l.fd).then(() => "port free"),
           (e) => e.code,
         )
         let kept = "file open"
         try {
           fstatSync(file)
         } catch (e) {
           kept = e.code
         }
         closeSync(file)
         results.push([engine, end, again, file === first.closed ? kept : "fd " + first.closed + " not reused"].join(" "))
       }
       await ring.close()
       console.log(JSON.stringify(results))`,
      60_000,
    )
    expect({ code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({ code: 0, signal: null, stderr: "" })
    expect(JSON.parse(r.stdout)).toEqual(["inline eof port free file open", "thread eof port free file open"])
  }, 90_000)

  it("closeOnExit on open: a terminated worker's files opened with it are closed (Promise and callback forms); one opened without it stays open", async () => {
    const dir = tempDir("iou-open-exit-")
    const r = await runBare(
      `const { Worker } = await import("node:worker_threads")
       const { readlinkSync, writeFileSync, closeSync } = await import("node:fs")
       const file = ${JSON.stringify(join(dir, "f"))}
       writeFileSync(file, "x")
       const body = \`
         const { Driver } = await import(process.env.SRC_URL)
         const { parentPort, workerData } = await import("node:worker_threads")
         const ring = Driver.open({ engine: workerData.engine })
         const marked = await ring.open(workerData.file, { closeOnExit: true })
         const submitted = await new Promise((done, fail) =>
           ring.submitOpen(workerData.file, "r", 0o666, 0, (e, fd) => (e ? fail(e) : done(fd)), true))
         const unmarked = await ring.open(workerData.file)
         // Alive until terminated: a worker whose event loop empties ends on its own, and its
         // environment's end would close the marked fds before the main thread looks.
         setInterval(() => {}, 1 << 30)
         parentPort.postMessage({ marked, submitted, unmarked })
       \`
       const on = (fd) => { try { return readlinkSync("/proc/self/fd/" + fd) === file } catch { return false } }
       const out = []
       for (const engine of ["inline", "thread"]) {
         const worker = new Worker(body, { eval: true, workerData: { engine, file } })
         worker.on("error", (e) => console.log("worker error", e.message))
         const fds = await new Promise((d) => worker.once("message", d))
         const before = [on(fds.marked), on(fds.submitted), on(fds.unmarked)]
         await worker.terminate()
         out.push({ engine, before, after: [on(fds.marked), on(fds.submitted), on(fds.unmarked)] })
         closeSync(fds.unmarked)
       }
       console.log(JSON.stringify(out))`,
      60_000,
    )
    expect({ code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({ code: 0, signal: null, stderr: "" })
    expect(JSON.parse(r.stdout)).toEqual([
      { engine: "inline", before: [true, true, true], after: [false, false, true] },
      { engine: "thread", before: [true, true, true], after: [false, false, true] },
    ])
  }, 90_000)

  it("readFile: a worker that ends right after its Driver's close() resolved, with a readFile still between two steps, leaves no fd on the file (both engines)", async () => {
    const dir = tempDir("iou-readfile-exit-")
    const r = await runBare(
      `const { Worker } = await import("node:worker_threads")
       const { writeFileSync } = await import("node:fs")
       const file = ${JSON.stringify(join(dir, "f"))}
       writeFileSync(file, Buffer.alloc(1 << 20, 0x61))
       ${FDS_NAMING}
       const onFile = () => fdsNaming((target) => target === file)
       // The readFile's open is admitted by close()'s own pass; its callback sends the read, which
       // the closing Driver refuses. process.exit() ends the worker's environment at once, before
       // any later tick of its event loop.
       const body = \`
         const { Driver } = await import(process.env.SRC_URL)
         const { workerData } = await import("node:worker_threads")
         const ring = Driver.open({ engine: workerData.engine })
         ring.readFile(workerData.file).catch(() => undefined)
         await ring.close()
         process.exit(0)
       \`
       const out = []
       for (const engine of ["inline", "thread"]) {
         for (let i = 0; i < 5; i++) {
           const worker = new Worker(body, { eval: true, workerData: { engine, file } })
           worker.on("error", (e) => console.log("worker error", e.message))
           await new Promise((d) => worker.once("exit", d))
         }
         out.push(engine + " " + onFile())
       }
       console.log(JSON.stringify(out))`,
      60_000,
    )
    expect({ code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({ code: 0, signal: null, stderr: "" })
    expect(JSON.parse(r.stdout)).toEqual(["inline 0", "thread 0"])
  }, 90_000)

  it("closeOnExit: a Driver closed from JavaScript leaves its marked fds open (they stay the program's); closeOnExit(fd, false) unmarks one, which a terminated worker then leaves open", async () => {
    const r = await runBare(
      `const { Driver } = await import(process.env.SRC_URL)
       const { Worker } = await import("node:worker_threads")
       const { openSync, fstatSync, closeSync } = await import("node:fs")
       const state = (fd) => {
         try {
           fstatSync(fd)
           return "open"
         } catch (e) {
           return e.code
         }
       }
       const results = []
       for (const engine of ["inline", "thread"]) {
         const ring = Driver.open({ engine })
         const listener = await ring.listen({ host: "127.0.0.1", port: 0, closeOnExit: true })
         const file = openSync(process.execPath, "r")
         ring.closeOnExit(file)
         await ring.close()
         results.push([engine, "closed", state(listener.fd), state(file)].join(" "))
         closeSync(listener.fd)
         closeSync(file)
         const body = \`
           const { Driver } = await import(process.env.SRC_URL)
           const { parentPort, workerData } = await import("node:worker_threads")
           const ring = Driver.open({ engine: workerData.engine })
           const listener = await ring.listen({ host: "127.0.0.1", port: 0, closeOnExit: true })
           ring.closeOnExit(listener.fd, false)
           parentPort.postMessage({ fd: listener.fd, port: listener.localAddress.port })
           setInterval(() => {}, 1000)
         \`
         const worker = new Worker(body, { eval: true, workerData: { engine } })
         worker.on("error", (e) => console.log("worker error", e.message))
         const unmarked = await new Promise((d) => worker.once("message", d))
         await worker.terminate()
         const main = Driver.open()
         const again = await main.listen({ host: "127.0.0.1", port: unmarked.port }).then(
           (l) => main.closeFd(l.fd).then(() => "port free"),
           (e) => e.code,
         )
         await main.close()
         results.push([engine, "unmarked", state(unmarked.fd), again].join(" "))
         closeSync(unmarked.fd)
       }
       console.log(JSON.stringify(results))`,
      60_000,
    )
    expect({ code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({ code: 0, signal: null, stderr: "" })
    expect(JSON.parse(r.stdout)).toEqual([
      "inline closed open open",
      "inline unmarked open EADDRINUSE",
      "thread closed open open",
      "thread unmarked open EADDRINUSE",
    ])
  }, 90_000)

  it("closeOnExit on listen, accept and connect marks each socket from its start: one still connecting, a Unix listener's path", async () => {
    // A connect to a listener whose backlog is full waits for ever (the kernel drops the SYNs):
    // the worker terminated meanwhile leaves no socket behind with closeOnExit, one without it
    // (the socket exists from the connect's first step, before anything is handed over). A Unix
    // listener's socket file is removed, as Node's server removes it.
    const dir = tempDir("iou-exit-")
    const r = await runBare(
      `const { Driver } = await import(process.env.SRC_URL)
       const { Worker } = await import("node:worker_threads")
       const { existsSync } = await import("node:fs")
       ${FDS_NAMING}
       const sockets = () => fdsNaming((target) => target.startsWith("socket:"))
       const body = \`
         const { Driver } = await import(process.env.SRC_URL)
         const { parentPort, workerData } = await import("node:worker_threads")
         const ring = Driver.open({ engine: workerData.engine })
         const closeOnExit = workerData.closeOnExit
         if (workerData.path !== undefined) {
           const l = await ring.listen({ path: workerData.path }, { closeOnExit })
           ring.accept(l, { closeOnExit }).catch(() => {})
         } else {
           ring.connect({ host: "127.0.0.1", port: workerData.port }, { closeOnExit }).catch(() => {})
         }
         setTimeout(() => { parentPort.postMessage("busy"); for (;;) {} }, 50)
       \`
       const ring = Driver.open()
       const listener = await ring.listen({ host: "127.0.0.1", port: 0, backlog: 0 })
       const port = listener.localAddress.port
       const fill = new AbortController()
       for (let i = 0; i < 4; i++) ring.connect({ host: "127.0.0.1", port }, { signal: fill.signal }).catch(() => {})
       await new Promise((d) => setTimeout(d, 200))
       const results = []
       for (const engine of ["inline", "thread"]) {
         for (const closeOnExit of [true, false]) {
           for (const kind of ["connect", "unix"]) {
             const path = kind === "unix" ? ${JSON.stringify(dir)} + "/" + engine + closeOnExit + ".sock" : undefined
             const before = sockets()
             const worker = new Worker(body, { eval: true, workerData: { engine, closeOnExit, port, path } })
             worker.on("error", (e) => console.log("worker error", e.message))
             await new Promise((d) => worker.once("message", d))
             await worker.terminate()
             const left = sockets() - before
             const file = path === undefined ? "" : existsSync(path) ? " file left" : " file removed"
             results.push([engine, closeOnExit ? "closeOnExit" : "unmarked", kind, left].join(" ") + file)
           }
         }
       }
       fill.abort()
       await ring.close()
       console.log(JSON.stringify(results))`,
      60_000,
    )
    expect({ code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({ code: 0, signal: null, stderr: "" })
    expect(JSON.parse(r.stdout)).toEqual(
      ["inline", "thread"].flatMap((engine) => [
        `${engine} closeOnExit connect 0`,
        `${engine} closeOnExit unix 0 file removed`,
        `${engine} unmarked connect 1`,
        `${engine} unmarked unix 1 file left`,
      ]),
    )
  }, 90_000)

  it("closeOnExit on a Unix listen: a worker terminated once the bind made the file, before JavaScript saw it, removes it; a socket not bound leaves the file of its path", async () => {
    // The worker spins from the moment the file exists (its bind completed in the kernel) without
    // returning to its event loop, so the bind's completion never reaches JavaScript: the path was
    // marked before the bind was sent. Then a socket marked with a path it is not bound to (as a
    // listen whose bind failed on another server's file): terminated, it leaves that file.
    const dir = tempDir("iou-bound-")
    const r = await runBare(
      `const { Driver } = await import(process.env.SRC_URL)
       const { Worker } = await import("node:worker_threads")
       const { existsSync, writeFileSync } = await import("node:fs")
       const body = \`
         const { Driver } = await import(process.env.SRC_URL)
         const { parentPort, workerData } = await import("node:worker_threads")
         const { existsSync } = await import("node:fs")
         const ring = Driver.open({ engine: workerData.engine })
         if (workerData.unbound) {
           const fd = await new Promise((d) => ring.submitSocket(1, 1, 0, 0, (e, fd) => d(fd)))
           ring.r.native.closeOnExit(fd, true, workerData.path)
           parentPort.postMessage("marked")
           setInterval(() => {}, 1000)
         } else {
           ring.listen({ path: workerData.path }, { closeOnExit: true })
           const poll = () => {
             const t = performance.now()
             while (performance.now() - t < 5) {
               if (existsSync(workerData.path)) {
                 parentPort.postMessage("bound")
                 for (;;) {}
               }
             }
             setImmediate(poll)
           }
           poll()
         }
       \`
       const results = []
       for (const engine of ["inline", "thread"]) {
         for (let round = 0; round < 4; round++) {
           const path = ${JSON.stringify(dir)} + "/" + engine + round + ".sock"
           const worker = new Worker(body, { eval: true, workerData: { engine, path } })
           worker.on("error", (e) => console.log("worker error", e.message))
           await new Promise((d) => worker.once("message", d))
           await worker.terminate()
           results.push(engine + (existsSync(path) ? " file left" : " file removed"))
         }
         const other = ${JSON.stringify(dir)} + "/" + engine + ".other"
         writeFileSync(other, "another server's")
         const worker = new Worker(body, { eval: true, workerData: { engine, path: other, unbound: true } })
         worker.on("error", (e) => console.log("worker error", e.message))
         await new Promise((d) => worker.once("message", d))
         await worker.terminate()
         results.push(engine + (existsSync(other) ? " other's file kept" : " other's file removed"))
       }
       console.log(JSON.stringify(results))`,
      60_000,
    )
    expect({ code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({ code: 0, signal: null, stderr: "" })
    expect(JSON.parse(r.stdout)).toEqual(
      ["inline", "thread"].flatMap((engine) => [
        ...Array.from({ length: 4 }, () => `${engine} file removed`),
        `${engine} other's file kept`,
      ]),
    )
  }, 90_000)

  it("closeOnExit on a Unix listener handed over: the thread's end removes its file, not one made anew at the path by another server", async () => {
    // The worker listens with closeOnExit and waits; the main thread either leaves the path alone,
    // or moves the worker's file away and listens on the path itself (another server's file, of
    // another inode), then terminates the worker.
    const dir = tempDir("iou-exit-file-")
    const r = await runBare(
      `const { Driver } = await import(process.env.SRC_URL)
       const { Worker } = await import("node:worker_threads")
       const { existsSync, renameSync } = await import("node:fs")
       const body = \`
         const { Driver } = await import(process.env.SRC_URL)
         const { parentPort, workerData } = await import("node:worker_threads")
         const ring = Driver.open({ engine: workerData.engine })
         await ring.listen({ path: workerData.path }, { closeOnExit: true })
         parentPort.postMessage("listening")
         setInterval(() => {}, 1000)
       \`
       const main = Driver.open()
       const results = []
       for (const engine of ["inline", "thread"]) {
         for (const replaced of [false, true]) {
           const path = ${JSON.stringify(dir)} + "/" + engine + replaced + ".sock"
           const worker = new Worker(body, { eval: true, workerData: { engine, path } })
           worker.on("error", (e) => console.log("worker error", e.message))
           await new Promise((d) => worker.once("message", d))
           let other
           if (replaced) {
             renameSync(path, path + ".moved")
             other = await main.listen({ path })
           }
           await worker.terminate()
           results.push([engine, replaced ? "replaced" : "own", existsSync(path) ? "file kept" : "file removed"].join(" "))
           if (other !== undefined) await main.closeFd(other.fd)
         }
       }
       await main.close()
       console.log(JSON.stringify(results))`,
      60_000,
    )
    expect({ code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({ code: 0, signal: null, stderr: "" })
    expect(JSON.parse(r.stdout)).toEqual(
      ["inline", "thread"].flatMap((engine) => [`${engine} own file removed`, `${engine} replaced file kept`]),
    )
  }, 90_000)

  it("closeOnExit on acceptMany marks each connection as it arrives", async () => {
    // The worker takes one connection from acceptMany and is terminated holding it: the peer reads
    // end of stream with closeOnExit, and nothing (the receive's deadline) without.
    const r = await runBare(
      `const { Driver } = await import(process.env.SRC_URL)
       const { Worker } = await import("node:worker_threads")
       const body = \`
         const { Driver } = await import(process.env.SRC_URL)
         const { parentPort, workerData } = await import("node:worker_threads")
         const ring = Driver.open({ engine: workerData.engine })
         const listener = await ring.listen({ host: "127.0.0.1", port: 0 }, { closeOnExit: true })
         const connections = ring.acceptMany(listener, { closeOnExit: workerData.closeOnExit })[Symbol.asyncIterator]()
         connections.next().then(() => parentPort.postMessage("accepted"))
         parentPort.postMessage(listener.localAddress.port)
         setInterval(() => {}, 1000)
       \`
       const ring = Driver.open()
       const results = []
       for (const engine of ["inline", "thread"]) {
         for (const closeOnExit of [true, false]) {
           const worker = new Worker(body, { eval: true, workerData: { engine, closeOnExit } })
           worker.on("error", (e) => console.log("worker error", e.message))
           const port = await new Promise((d) => worker.once("message", d))
           const accepted = new Promise((d) => worker.once("message", d))
           const client = await ring.connect({ host: "127.0.0.1", port })
           await accepted
           await worker.terminate()
           const end = await ring.recv(client.fd, Buffer.alloc(1), { timeout: 1000 }).then(
             (n) => (n === 0 ? "eof" : "data"),
             (e) => e.code,
           )
           await ring.closeFd(client.fd)
           results.push([engine, closeOnExit, end].join(" "))
         }
       }
       await ring.close()
       console.log(JSON.stringify(results))`,
      60_000,
    )
    expect({ code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({ code: 0, signal: null, stderr: "" })
    expect(JSON.parse(r.stdout)).toEqual([
      "inline true eof",
      "inline false ETIMEDOUT",
      "thread true eof",
      "thread false ETIMEDOUT",
    ])
  }, 90_000)

  it("closeOnExit: a closeFd still waiting for room when the worker is terminated keeps the mark: the fd is closed, a Unix path removed", async () => {
    // maxInFlight 1, held by a pending accept: the marked listener's close waits in the loop (taken,
    // the kernel has not run it: the loop's stop abandons it), or with 40 accepts queued before it
    // in the Driver's own queue. Either way the kernel has not closed the fd; the binding must.
    const dir = tempDir("iou-room-")
    const r = await runBare(
      `const { Driver } = await import(process.env.SRC_URL)
       const { Worker } = await import("node:worker_threads")
       const { existsSync } = await import("node:fs")
       const body = \`
         const { Driver } = await import(process.env.SRC_URL)
         const { parentPort, workerData } = await import("node:worker_threads")
         const ring = Driver.open({ engine: workerData.engine, size: 8, maxInFlight: 1 })
         const target = workerData.path === undefined ? { host: "127.0.0.1", port: 0 } : { path: workerData.path }
         // A TCP listener marked by hand; a Unix one by listen's option, which also marks its path.
         const marked = await ring.listen(target, { closeOnExit: workerData.path !== undefined })
         if (workerData.path === undefined) ring.closeOnExit(marked.fd, true)
         const other = await ring.listen({ host: "127.0.0.1", port: 0 })
         for (let i = 0; i < (workerData.where === "loop" ? 1 : 40); i++) ring.accept(other).catch(() => {})
         ring.closeFd(marked.fd).catch(() => {})
         parentPort.postMessage(marked.localAddress.port ?? 0)
         setInterval(() => {}, 1000)
       \`
       const ring = Driver.open()
       const results = []
       for (const engine of ["inline", "thread"]) {
         for (const where of ["loop", "driver"]) {
           for (const kind of ["tcp", "unix"]) {
             const path = kind === "unix" ? ${JSON.stringify(dir)} + "/" + engine + where + ".sock" : undefined
             const worker = new Worker(body, { eval: true, workerData: { engine, where, path } })
             worker.on("error", (e) => console.log("worker error", e.message))
             const port = await new Promise((d) => worker.once("message", d))
             await worker.terminate()
             const file = path === undefined ? "" : existsSync(path) ? " file left" : " file removed"
             const again = await ring.listen(path === undefined ? { host: "127.0.0.1", port } : { path }).then(
               (l) => ring.closeFd(l.fd).then(() => "free"),
               (e) => e.code,
             )
             results.push([engine, where, kind, again].join(" ") + file)
           }
         }
       }
       await ring.close()
       console.log(JSON.stringify(results))`,
      60_000,
    )
    expect({ code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({ code: 0, signal: null, stderr: "" })
    expect(JSON.parse(r.stdout)).toEqual(
      ["inline", "thread"].flatMap((engine) =>
        ["loop", "driver"].flatMap((where) => [
          `${engine} ${where} tcp free`,
          `${engine} ${where} unix free file removed`,
        ]),
      ),
    )
  }, 90_000)

  it("close({ shutdownTimeout: 0 }) resolves while an abandoned write is still in the kernel, and never blocks the JS thread", async (ctx) => {
    // A 1 GiB write to a regular file runs in an io-wq worker, which a cancel cannot stop. The
    // cutoff abandons it (its buffer quarantined); the loop thread then exits, and the kernel holds
    // that thread in its exit path until the write is done. close() must not wait for that.
    const r = await runChild(
      `const { mkdtempSync, openSync, fstatSync, closeSync, rmSync } = await import("node:fs")
       const { join } = await import("node:path")
       const { tmpdir } = await import("node:os")
       const dir = mkdtempSync(join(tmpdir(), "iou-close-"))
       const fd = openSync(join(dir, "data"), "w+")
       const size = 1 << 30
       const ring = Driver.open()
       await ring.nop()
       const write = ring.writeAt(fd, Buffer.alloc(size, 1), 0).then(() => "ok", (e) => e.code)
       // Closed once the write is under way in the kernel (the file grows).
       while (fstatSync(fd).size === 0) await new Promise((d) => setImmediate(d))
       const closing = ring.close({ shutdownTimeout: 0 })
       let immediate = null
       setImmediate(() => (immediate = { sizeBelowFull: fstatSync(fd).size < size }))
       const result = await closing
       const atClose = { sizeBelowFull: fstatSync(fd).size < size }
       // The inline engine may resolve close() before the check phase runs the immediate.
       await new Promise((d) => setImmediate(d))
       atClose.immediate = immediate
       const kernelHeld = ring.stats().quarantinedBytes === size
       console.log(JSON.stringify({ result, write: await write, kernelHeld, atClose }))
       closeSync(fd)
       rmSync(dir, { recursive: true, force: true })`,
      { timeoutMs: 60_000 },
    )
    expect({ code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({ code: 0, signal: null, stderr: "" })
    const out = JSON.parse(r.stdout) as { atClose: { sizeBelowFull: boolean } }
    // Where the kernel finished the write before close() resolved there is nothing to test. The
    // file's size says so on its own: a write still going at close must have been abandoned with its
    // buffer quarantined, which the expectation below checks (not a reason to skip).
    if (!out.atClose.sizeBelowFull) ctx.skip("the write finished before close() resolved: nothing stayed in the kernel")
    expect(out).toEqual({
      result: { completed: 0, abandoned: 1 },
      write: "ERR_IOU_ABANDONED",
      kernelHeld: true,
      // The setImmediate scheduled right after close() ran, and close() resolved, while the write
      // was still going: the JS thread waited for neither the write nor the loop thread's end.
      atClose: { sizeBelowFull: true, immediate: { sizeBelowFull: true } },
    })
  }, 90_000)

  it("close() resolves once the loop is freed: the thread engine's eventfd is closed by then", async () => {
    // The kernel holds a thread that ends in its exit path until the io-wq workers of its rings
    // exit; a stat runs on one. A loop whose thread was still there at destroy() was freed only by
    // a later open, so without close()'s wait some of these closes left its eventfd open.
    const r = await runChild(
      `const { readdirSync } = await import("node:fs")
       const fds = () => readdirSync("/proc/self/fd").length
       const warm = Driver.open({ engine: "inline" })
       await warm.nop()
       await warm.close()
       const left = []
       for (let i = 0; i < 100; i++) {
         const before = fds()
         const ring = Driver.open({ engine: "thread" })
         await ring.stat("/")
         await ring.close()
         if (fds() !== before) left.push(fds() - before)
       }
       console.log(JSON.stringify({ left }))`,
      { timeoutMs: 60_000 },
    )
    expect({ code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({ code: 0, signal: null, stderr: "" })
    expect(JSON.parse(r.stdout)).toEqual({ left: [] })
  })

  it("a worker terminated while it loops listen({ closeOnExit }) and closeFd neither crashes the process nor leaves a socket open", async () => {
    // terminate() lands anywhere: in the binding's getsockname (whose new Uint8Array comes back
    // empty as the environment ends: it crashed the process), or between the socket's completion
    // and its mark (its fd left open for good before the mark came first).
    const r = await runBare(
      `await import(process.env.SRC_URL)
       const { Worker } = await import("node:worker_threads")
       ${FDS_NAMING}
       const sockets = () => fdsNaming((target) => target.startsWith("socket:"))
       const before = sockets()
       const body = \`
         const { Driver } = await import(process.env.SRC_URL)
         const { parentPort, workerData } = await import("node:worker_threads")
         const ring = Driver.open({ engine: workerData.engine })
         parentPort.postMessage("ready")
         for (;;) {
           const listener = await ring.listen({ host: "127.0.0.1", port: 0 }, { closeOnExit: true })
           await ring.closeFd(listener.fd)
         }
       \`
       const left = []
       for (const engine of ["inline", "thread"]) {
         for (let i = 0; i < 100; i++) {
           const worker = new Worker(body, { eval: true, workerData: { engine } })
           worker.on("error", (e) => console.log("worker error", e.message))
           await new Promise((d) => worker.once("message", d))
           await new Promise((d) => setTimeout(d, i % 6))
           await worker.terminate()
         }
         left.push(engine + " " + (sockets() - before))
       }
       console.log(JSON.stringify(left))`,
      120_000,
    )
    expect({ code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({ code: 0, signal: null, stderr: "" })
    expect(JSON.parse(r.stdout)).toEqual(["inline 0", "thread 0"])
  }, 150_000)

  it("a worker terminated while it loops readFile leaves no fd on the file (both engines)", async () => {
    // terminate() lands anywhere, also where the environment already refuses binding calls while
    // JavaScript still runs a little: a mark of an open's fd refused there used to be followed by
    // the Driver taking the fd, unmarked (1 to 5 fds left per 200 workers on the inline engine).
    const r = await runBare(
      `await import(process.env.SRC_URL)
       const { Worker } = await import("node:worker_threads")
       const fs = await import("node:fs")
       const path = await import("node:path")
       const os = await import("node:os")
       const dir = fs.mkdtempSync(path.join(os.tmpdir(), "iou-readfile-terminate-"))
       const file = path.join(dir, "f")
       fs.writeFileSync(file, "hello world\\n")
       ${FDS_NAMING}
       const onFile = () => fdsNaming((target) => target === file)
       const body = \`
         const { Driver } = await import(process.env.SRC_URL)
         const { parentPort, workerData } = await import("node:worker_threads")
         const ring = Driver.open({ engine: workerData.engine })
         parentPort.postMessage("ready")
         const loop = async () => {
           for (;;) await ring.readFile(workerData.file)
         }
         loop(); loop(); loop(); loop()
       \`
       const left = []
       for (const engine of ["inline", "thread"]) {
         for (let i = 0; i < 150; i++) {
           const worker = new Worker(body, { eval: true, workerData: { engine, file } })
           worker.on("error", (e) => console.log("worker error", e.message))
           await new Promise((d) => worker.once("message", d))
           await new Promise((d) => setTimeout(d, i % 6))
           await worker.terminate()
         }
         left.push(engine + " " + onFile())
       }
       fs.rmSync(dir, { recursive: true, force: true })
       console.log(JSON.stringify(left))`,
      120_000,
    )
    expect({ code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({ code: 0, signal: null, stderr: "" })
    expect(JSON.parse(r.stdout)).toEqual(["inline 0", "thread 0"])
  }, 150_000)

  it("a worker terminated while it submits in a tight loop never aborts the process", async () => {
    // The main thread loads the addon too, so only the terminating environment is under test.
    const r = await runBare(
      `await import(process.env.SRC_URL)
       const { Worker } = await import("node:worker_threads")
       const rounds = 60
       let ended = 0
       for (let i = 0; i < rounds; i++) {
         const worker = new Worker(${JSON.stringify(WORKER)}, { eval: true, workerData: { idle: true, end: "busy" } })
         worker.on("error", (e) => console.log("worker error", e.message))
         await new Promise((d) => worker.once("message", d))
         // Let it submit for a moment: terminate() then lands anywhere in a binding call.
         await new Promise((d) => setTimeout(d, i % 5))
         if ((await worker.terminate()) === 1) ended++
       }
       console.log(JSON.stringify({ ended }))`,
      90_000,
    )
    expect({ code: r.code, signal: r.signal, stdout: r.stdout, stderr: r.stderr }).toEqual({
      code: 0,
      signal: null,
      stdout: `${JSON.stringify({ ended: 60 })}\n`,
      stderr: "",
    })
  }, 120_000)
})
