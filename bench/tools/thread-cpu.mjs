// thread-cpu.mjs: where one variant of a bench row spends its CPU, by thread and, for the JS
// thread, user against kernel time, from /proc/self/task (the bench's CPU column gives only each
// kind of thread's share); `jsWait` is the JS thread's time runnable but waiting for a CPU (its
// schedstat), what it lost to the process's other threads and to the peer. One variant per run,
// measured over a window after a warm-up:
//
//   node bench/tools/thread-cpu.mjs echo node|inline|thread [connections] [seconds]
//       Effect SocketServer echo, as the platform suite's row: NodeSocketServer or
//       IoUringSocketServer (engine), each connection a 64-byte ping-pong with the C peer
//       (bench/.build/tcp-peer, which the tcp, conns and platform suites build). Prints messages
//       per second and the JS thread's user and kernel µs per message.
//   node bench/tools/thread-cpu.mjs readfile node|inline|thread [KiB] [seconds]
//       64 whole-file reads at a time, as the files suite's Promise row: fs.promises.readFile or
//       the Driver's readFile, over 256 files of that size in the temporary directory. Prints
//       files per second and µs of CPU per file for each kind of thread (JS, libuv's pool,
//       io-wq's iou-wrk workers, V8's helper threads, the ring's loop thread).
//
// Run it from the repository after `npm run build`; nothing else should be running. A thread that
// ends within the window (an io-wq worker that retires after idling) is not counted.
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const [what, variant = "inline", countArg, secondsArg] = process.argv.slice(2)
const seconds = Number(secondsArg ?? 3)
const TICK_US = 10_000 // USER_HZ = 100

/** CPU µs so far per thread kind; the JS thread's user and kernel parts apart. */
const threads = () => {
  const out = { jsUser: 0, jsSys: 0, jsWait: 0 }
  for (const tid of fs.readdirSync("/proc/self/task")) {
    let stat
    try {
      stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, "utf8")
    } catch {
      continue // exited meanwhile
    }
    const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")).replace(/-\d+$/, "")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    const user = Number(fields[11]) * TICK_US
    const sys = Number(fields[12]) * TICK_US
    if (tid === String(process.pid)) {
      out.jsUser += user
      out.jsSys += sys
      // schedstat: ns on a CPU, ns runnable but waiting for one, timeslices.
      out.jsWait = Number(fs.readFileSync(`/proc/self/task/${tid}/schedstat`, "utf8").split(" ")[1]) / 1000
    } else out[comm] = (out[comm] ?? 0) + user + sys
  }
  return out
}

const perOp = (a, b, ops) =>
  Object.fromEntries(
    Object.keys(b)
      .map((k) => [k, (b[k] - (a[k] ?? 0)) / ops])
      .filter(([, v]) => v >= 0.05)
      .map(([k, v]) => [k, Number(v.toFixed(2))]),
  )

const window = async (count) => {
  const a = threads()
  const n0 = count()
  const t0 = performance.now()
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000))
  const ops = count() - n0
  return { rate: Math.round(ops / ((performance.now() - t0) / 1000)), cpu: perOp(a, threads(), ops) }
}

if (what === "echo") {
  const { Effect, Layer, ManagedRuntime } = await import("effect")
  const SocketServer = await import("effect/socket/SocketServer")
  const n = Number(countArg ?? 16)
  const peer = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", ".build", "tcp-peer")
  if (!fs.existsSync(peer)) throw new Error(`${peer} is missing: run npm run -w bench bench -- tcp once`)
  const address = { port: 0, host: "127.0.0.1" }
  let layer
  if (variant === "node") layer = (await import("@effect/platform-node/NodeSocketServer")).layer(address)
  else {
    const { IoUringSocketServer, NodeIoUring } = await import("@iou/effect")
    layer = Layer.provide(IoUringSocketServer.layer(address), NodeIoUring.layer({ engine: variant }))
  }
  const rt = ManagedRuntime.make(layer)
  const ping = new Uint8Array(64).fill(0x62)
  let messages = 0
  let connected = 0
  let allConnected
  const started = new Promise((resolve) => (allConnected = resolve))
  const handler = (socket) =>
    Effect.scoped(
      Effect.gen(function* () {
        const { pull } = yield* socket.reader
        const { write, writeAll } = yield* socket.writer
        if (++connected === n) allConnected()
        yield* Effect.promise(() => started)
        yield* write(ping)
        let got = 0
        for (;;) {
          const chunks = yield* pull
          for (const c of chunks) got += c.length
          messages += Math.floor(got / 64)
          got %= 64
          yield* writeAll(chunks)
        }
      }),
    )
  const server = await rt.runPromise(Effect.service(SocketServer.SocketServer))
  rt.runFork(server.run(handler))
  const child = spawn(peer, ["echo", String(server.address.port), String(n)], { stdio: "inherit" })
  await started
  await new Promise((resolve) => setTimeout(resolve, 500))
  const { rate, cpu } = await window(() => messages)
  console.log(`echo ${variant}, ${n} connections: ${rate} msg/s; µs per message: ${JSON.stringify(cpu)}`)
  child.kill()
  process.exit(0)
} else if (what === "readfile") {
  const size = Number(countArg ?? 64) * 1024
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "iou-thread-cpu-"))
  const files = Array.from({ length: 256 }, (_, i) => path.join(dir, `f${i}`))
  for (const f of files) fs.writeFileSync(f, Buffer.alloc(size, 0x61))
  const { Driver } = await import("@iou/native")
  const ring = variant === "node" ? undefined : Driver.open({ size: 512, engine: variant })
  const read = ring === undefined ? (f) => fs.promises.readFile(f) : (f) => ring.readFile(f)
  let done = 0
  let stop = false
  let next = 0
  const slots = Array.from({ length: 64 }, async () => {
    while (!stop) {
      await read(files[next++ % files.length])
      done++
    }
  })
  await new Promise((resolve) => setTimeout(resolve, 500))
  const { rate, cpu } = await window(() => done)
  stop = true
  await Promise.all(slots)
  await ring?.close()
  fs.rmSync(dir, { recursive: true })
  console.log(
    `readFile ${variant}, ${size / 1024} KiB, 64 at a time: ${rate} files/s; µs per file: ${JSON.stringify(cpu)}`,
  )
} else {
  console.error("usage: node bench/tools/thread-cpu.mjs echo|readfile node|inline|thread [count] [seconds]")
  process.exit(2)
}
