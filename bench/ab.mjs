#!/usr/bin/env node
/**
 * A/B of two builds of @iou/native on one workload, for "is the new build slower than the old one".
 *
 * Each side is a built checkout (its packages/native/dist/index.js and addon, and for `--api
 * effect` its packages/effect/dist and node_modules/effect); each run loads one side in a child
 * process of its own (a fresh heap and addon, nothing shared with the other side), and the runs
 * alternate A B, B A, A B, … so that whatever else the machine does hits both sides alike. A run
 * opens one Driver, warms up, then measures W windows of M ms at a constant queue depth; it reports
 * the median window's rate and the process's CPU time per operation over all windows
 * (process.cpuUsage(): user + sys, all threads). The table gives, per pair, B's median rate / A's,
 * and the median of those ratios over the pairs.
 *
 *   node bench/ab.mjs --a <checkout> --b <checkout> [--op nop|read|write|tcp|echo|sink|stream] [--depth 256]
 *                     [--api callback|promise|effect] [--pairs 7] [--windows 5] [--ms 400]
 *                     [--engine thread] [--peer c|node] [--cpus LIST] [--json file]
 *
 * The same checkout on both sides (`--a . --b .`) is the control: its medians show how far this
 * machine moves a row with nothing changed.
 *
 * `--op read`: 4 KiB random reads (fixed-seed offsets) from a 64 MiB page-cached file in the
 * temporary directory; `--op write`: 4 KiB writes at the same offsets into a copy of that file made
 * for the run (page cache, no sync). `--op nop`: nops. `--op tcp`: `depth` TCP connections from the
 * C peer (tools/tcp-peer.c, built by the TCP bench; `--peer node`: the tcp suite's node:net peer,
 * src/tcp-peer.ts) in echo mode, each a 64-byte ping-pong whose ring side sends a message and
 * receives its echo (one recv with `exact`; an op is one round trip), the operations every build
 * has; the connections are accepted by a Driver of the checkout this script is in, closed before
 * the run's own Driver opens. `--op echo` (callback API only): `depth` such
 * connections whose ring side receives with submitRecvMany and sends each chunk it received back with
 * submitSend (an op is one message). `--op sink`: `depth` connections from the C peer in sink
 * mode, each sending 64 KiB at a time, one send in flight (an op is one send); `--op stream`: the
 * peer streams and each connection receives into 64 KiB, one receive in flight (an op is 64 KiB
 * received): the tcp suite's one-way stream rows, one process per side. `--api` picks the
 * Driver's callback API (submit*, the default), its Promise API, or the Effect service
 * (`NodeIoUring.layer`, one fiber per slot; not for sink and stream). `--engine` is passed only
 * to a side whose Driver has the option (a build from before the inline engine has one
 * engine, the loop thread). `--cpus LIST` runs each side under `taskset -c LIST`, with everything
 * it starts (its peer, io-wq's workers): `--cpus 0` puts a side's threads and its peer on one CPU,
 * where which thread runs where no longer decides a run's rate (on two CPUs the thread engine's
 * TCP rows swing by a third between runs of one build). Not a test; nothing here runs under
 * `npm test`.
 */
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { pathToFileURL } from "node:url"

const FILE_BYTES = 64 * 1024 * 1024
const BLOCK = 4096

const parse = (argv) => {
  const o = { op: "nop", depth: 256, pairs: 7, windows: 5, ms: 400, engine: "thread", api: "callback", peer: "c" }
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, "")
    o[k] = ["depth", "pairs", "windows", "ms"].includes(k) ? Number(argv[i + 1]) : argv[i + 1]
  }
  return o
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

const dataFile = () => path.join(process.env["IOU_BENCH_DIR"] ?? os.tmpdir(), "iou-ab-read.dat")

const ensureFile = () => {
  const file = dataFile()
  if (!fs.existsSync(file) || fs.statSync(file).size !== FILE_BYTES) {
    const chunk = Buffer.alloc(1024 * 1024, 0x5a)
    const fd = fs.openSync(file, "w")
    for (let i = 0; i < FILE_BYTES / chunk.length; i++) fs.writeSync(fd, chunk)
    fs.closeSync(fd)
  }
  fs.readFileSync(file) // into the page cache
  return file
}

// ---- child: one side, one run ------------------------------------------------------------------

const sideUrl = (side, file) => pathToFileURL(path.join(side, file)).href

const child = async (o) => {
  if (o.op === "echo" && o.api !== "callback") throw new Error("--op echo has the callback API only")
  // The tcp suite's one-way stream rows: 64 KiB sends to the peer, or 64 KiB receives from it.
  const oneWay = o.op === "sink" || o.op === "stream"
  if (oneWay && o.api === "effect") throw new Error(`--op ${o.op} has no Effect form`)
  const { Driver } = await import(sideUrl(o.side, "packages/native/dist/index.js"))
  const config = { size: 512 }
  // A build with engines accepts (and reports) config.engine; an older one has only the thread.
  const probe = Driver.open({ size: 8 })
  const hasEngines = "engine" in probe.config
  await probe.close()
  if (hasEngines) config.engine = o.engine

  const conns =
    o.op === "tcp" || oneWay ? await tcpConnections(o.depth, o.op === "tcp" ? "echo" : o.op, o.peer) : undefined
  const writeFile = `${dataFile()}.${process.pid}.w`
  if (o.op === "write") fs.copyFileSync(dataFile(), writeFile)
  const fd = o.op === "read" ? fs.openSync(dataFile(), "r") : o.op === "write" ? fs.openSync(writeFile, "r+") : -1
  let seed = 0x9e3779b9
  const nextOffset = () => {
    seed ^= seed << 13
    seed ^= seed >>> 17
    seed ^= seed << 5
    return ((seed >>> 0) % (FILE_BYTES / BLOCK)) * BLOCK
  }
  const buffers = Array.from({ length: o.depth }, () =>
    new Uint8Array(o.op === "tcp" ? MSG : oneWay ? CHUNK : BLOCK).fill(0x62),
  )
  const replies = Array.from({ length: o.op === "tcp" ? o.depth : 0 }, () => new Uint8Array(MSG))

  // window(ms): every slot runs its op back to back until ms passed; resolves with the ops done.
  let window
  let stats
  let close
  if (o.api === "effect") {
    const { Effect, ManagedRuntime } = await import(sideUrl(o.side, "node_modules/effect/dist/index.js"))
    const { IoUring, NodeIoUring } = await import(sideUrl(o.side, "packages/effect/dist/index.js"))
    const runtime = ManagedRuntime.make(NodeIoUring.layer(config))
    const io = await runtime.runPromise(Effect.service(IoUring))
    const step = (slot) =>
      o.op === "read"
        ? io.readAt(fd, buffers[slot], nextOffset())
        : o.op === "write"
          ? io.writeAt(fd, buffers[slot], nextOffset())
          : o.op === "tcp"
            ? Effect.andThen(
                io.send(conns.fds[slot], buffers[slot]),
                io.recv(conns.fds[slot], replies[slot], { exact: true }),
              )
            : io.nop
    window = (ms) => {
      let stop = false
      let n = 0
      setTimeout(() => {
        stop = true
      }, ms)
      const worker = (slot) =>
        Effect.whileLoop({
          while: () => !stop,
          body: () => step(slot),
          step: () => {
            n++
          },
        })
      const workers = Array.from({ length: o.depth }, (_, slot) => worker(slot))
      return runtime.runPromise(Effect.all(workers, { concurrency: "unbounded", discard: true })).then(() => n)
    }
    stats = () => runtime.runPromise(io.stats)
    close = () => runtime.dispose()
  } else {
    const ring = Driver.open(config)
    stats = async () => ring.stats()
    close = () => ring.close()
    if (o.api === "promise") {
      const step = (slot) =>
        o.op === "read"
          ? ring.readAt(fd, buffers[slot], nextOffset())
          : o.op === "write"
            ? ring.writeAt(fd, buffers[slot], nextOffset())
            : o.op === "tcp"
              ? ring
                  .send(conns.fds[slot], buffers[slot])
                  .then(() => ring.recv(conns.fds[slot], replies[slot], { exact: true }))
              : o.op === "sink"
                ? ring.send(conns.fds[slot], buffers[slot]).then(() => 1)
                : o.op === "stream"
                  ? ring.recv(conns.fds[slot], buffers[slot]).then(streamed)
                  : ring.nop()
      window = async (ms) => {
        let stop = false
        let n = 0
        setTimeout(() => {
          stop = true
        }, ms)
        const worker = async (slot) => {
          while (!stop) {
            const r = await step(slot)
            n += o.op === "stream" ? r : 1
          }
        }
        await Promise.all(Array.from({ length: o.depth }, (_, slot) => worker(slot)))
        return n
      }
    } else {
      let ops = 0
      let stop = true
      let live = 0
      let onIdle = () => {}
      const slots =
        o.op === "echo"
          ? await echoSlots(
              ring,
              o.depth,
              () => ops++,
              () => stop,
              () => {
                if (--live === 0) onIdle()
              },
            )
          : []
      for (let s = 0; s < (o.op === "echo" ? 0 : o.depth); s++) {
        const buffer = buffers[s]
        const issue =
          o.op === "read"
            ? () => ring.submitReadAt(fd, buffer, nextOffset(), BLOCK, false, 0, done)
            : o.op === "write"
              ? () => ring.submitWriteAt(fd, buffer, nextOffset(), 0, done)
              : o.op === "tcp"
                ? () =>
                    ring.submitSend(conns.fds[s], buffer, 0, (error) => {
                      if (error) throw error
                      ring.submitRecv(conns.fds[s], replies[s], 0, MSG, true, 0, done)
                    })
                : o.op === "sink"
                  ? () => ring.submitSend(conns.fds[s], buffer, 0, done)
                  : o.op === "stream"
                    ? () => ring.submitRecv(conns.fds[s], buffer, 0, CHUNK, false, 0, done)
                    : () => ring.submitNop(0, done)
        function done(error, n) {
          if (error) throw error
          ops += o.op === "stream" ? streamed(n) : 1
          if (stop) {
            if (--live === 0) onIdle()
            return
          }
          issue()
        }
        slots.push(issue)
      }
      if (o.op === "echo") close = () => slots.close().then(() => ring.close())
      window = (ms) =>
        new Promise((resolve) => {
          stop = false
          ops = 0
          live = slots.length
          onIdle = () => resolve(ops)
          for (const issue of slots) issue()
          setTimeout(() => {
            stop = true
          }, ms)
        })
    }
  }

  const warmOps = await window(o.ms) // warm-up
  const rates = []
  let totalOps = 0
  const cpu0 = process.cpuUsage()
  for (let w = 0; w < o.windows; w++) {
    const t0 = process.hrtime.bigint()
    const n = await window(o.ms)
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9
    rates.push(n / seconds)
    totalOps += n
  }
  const cpu = process.cpuUsage(cpu0)
  const s = await stats()
  await close()
  conns?.close()
  if (fd >= 0) fs.closeSync(fd)
  if (o.op === "write") fs.rmSync(writeFile)
  process.stdout.write(
    JSON.stringify({
      rate: median(rates),
      ops: warmOps + totalOps,
      rates,
      cpuUsPerOp: (cpu.user + cpu.system) / totalOps,
      entersPerOp: s.enters / s.submitted,
      wakesPerOp: s.wakes / s.submitted,
    }) + "\n",
  )
}

const MSG = 64
const CHUNK = 64 * 1024

/** A stream op's count: the bytes received in chunks of 64 KiB (0: the peer ended the stream). */
const streamed = (n) => {
  if (n === 0) throw new Error("the peer closed the stream")
  return n / CHUNK
}
const peerPath = () => {
  const p = path.join(path.dirname(process.argv[1]), ".build", "tcp-peer")
  if (!fs.existsSync(p)) throw new Error(`${p} is missing: run the tcp bench once (it builds it)`)
  return p
}

/** The node:net peer (src/tcp-peer.ts), for `--peer node`: the tcp suite's other echo row. */
const nodePeerPath = () => path.join(path.dirname(process.argv[1]), "src", "tcp-peer.ts")

/**
 * The tcp op's connections: `n` connections from the peer (`peerKind`: "node" for the node:net
 * one, else the C one) in `mode`, accepted on the ring by a
 * Driver of this script's own checkout (a build from before the socket operations has no listen),
 * which is closed again before the run opens its own. `close()` closes the fds and stops the peer.
 */
const tcpConnections = async (n, mode, peerKind) => {
  const { Driver } = await import(sideUrl(path.dirname(process.argv[1]), "../packages/native/dist/index.js"))
  const acceptor = Driver.open({ size: 8 })
  const listener = await acceptor.listen({ port: 0, host: "127.0.0.1", noDelay: true })
  const command = peerKind === "node" ? [process.execPath, nodePeerPath()] : [peerPath()]
  const peer = spawn(command[0], [...command.slice(1), mode, String(listener.localAddress.port), String(n)], {
    stdio: "ignore",
  })
  const fds = []
  for (let i = 0; i < n; i++) fds.push((await acceptor.accept(listener)).fd)
  await acceptor.closeFd(listener.fd)
  await acceptor.close()
  return {
    fds,
    close: () => {
      for (const fd of fds) fs.closeSync(fd)
      peer.kill()
    },
  }
}

/**
 * The echo op's connections: one `issue` per connection that sends its first message; every full
 * message received counts (`count`) and is sent back unless `stopping()`, else the connection
 * goes quiet (`quiet`). `close()` cancels the receives and closes the fds, the listener, the peer.
 */
const echoSlots = async (ring, n, count, stopping, quiet) => {
  const listener = await ring.listen({ port: 0, host: "127.0.0.1", noDelay: true })
  const peer = spawn(peerPath(), ["echo", String(listener.localAddress.port), String(n)], { stdio: "ignore" })
  const slots = []
  const handles = []
  const ended = []
  for (let i = 0; i < n; i++) {
    const { fd } = await ring.accept(listener)
    let got = 0
    handles.push(
      ring.submitRecvMany(
        fd,
        0,
        (chunk) => {
          got += chunk.length
          for (; got >= MSG; got -= MSG) {
            count()
            if (stopping()) quiet()
            else ring.submitSend(fd, chunk, 0, sent)
          }
        },
        () => ended.push(fd),
      ),
    )
    const first = new Uint8Array(MSG).fill(0x62)
    slots.push(() => ring.submitSend(fd, first, 0, sent))
  }
  slots.close = async () => {
    for (const h of handles) ring.cancel(h)
    while (ended.length < n) await new Promise((resolve) => setTimeout(resolve, 1))
    for (const fd of ended) await ring.closeFd(fd)
    await ring.closeFd(listener.fd)
    peer.kill()
  }
  return slots
}

function sent(error) {
  if (error) throw error
}

// ---- parent: interleaved pairs -------------------------------------------------------------------

const runSide = (o, side) => {
  const args = [process.argv[1], "--child", "1", "--side", side]
  for (const k of ["op", "depth", "windows", "ms", "engine", "api", "peer"]) args.push(`--${k}`, String(o[k]))
  const argv = [process.execPath, ...process.execArgv, ...args]
  // --cpus: the side and what it starts (its peer, io-wq's workers) confined to those CPUs.
  if (o.cpus !== undefined) argv.unshift("taskset", "-c", o.cpus)
  const r = spawnSync(argv[0], argv.slice(1), { encoding: "utf8" })
  if (r.status !== 0) throw new Error(`side ${side} failed (${r.status}): ${r.stderr}`)
  return JSON.parse(r.stdout.trim().split("\n").pop())
}

const parent = (o) => {
  if (!o.a || !o.b)
    throw new Error(
      "usage: node bench/ab.mjs --a <checkout> --b <checkout> [--op nop|read|write|tcp|echo|sink|stream] …",
    )
  if (o.op === "read" || o.op === "write") ensureFile()
  if (["tcp", "echo", "sink", "stream"].includes(o.op)) peerPath()
  const a = path.resolve(o.a)
  const b = path.resolve(o.b)
  const load = () =>
    os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")
  console.log(`A = ${a}\nB = ${b}`)
  console.log(
    `op ${o.op}, api ${o.api}, depth ${o.depth}, engine ${o.engine}, peer ${o.peer}, cpus ${o.cpus ?? "all"}, ${o.pairs} pairs × ${o.windows} windows × ${o.ms} ms; load ${load()}`,
  )
  console.log("| pair | order | A ops/s | B ops/s | B/A | A CPU µs/op | B CPU µs/op |")
  console.log("| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
  const pairs = []
  for (let i = 0; i < o.pairs; i++) {
    const order = i % 2 === 0 ? ["a", "b"] : ["b", "a"]
    const r = {}
    for (const s of order) r[s] = runSide(o, s === "a" ? a : b)
    const ratio = r.b.rate / r.a.rate
    pairs.push({ a: r.a, b: r.b, ratio })
    const f = (x) => Math.round(x).toLocaleString("en")
    console.log(
      `| ${i + 1} | ${order.join("")} | ${f(r.a.rate)} | ${f(r.b.rate)} | ${ratio.toFixed(3)} | ${r.a.cpuUsPerOp.toFixed(3)} | ${r.b.cpuUsPerOp.toFixed(3)} |`,
    )
  }
  const mA = median(pairs.map((p) => p.a.cpuUsPerOp))
  const mB = median(pairs.map((p) => p.b.cpuUsPerOp))
  console.log(
    `median B/A rate ${median(pairs.map((p) => p.ratio)).toFixed(3)} (min ${Math.min(...pairs.map((p) => p.ratio)).toFixed(3)}, max ${Math.max(...pairs.map((p) => p.ratio)).toFixed(3)}); ` +
      `median rate A ${Math.round(median(pairs.map((p) => p.a.rate)))}, B ${Math.round(median(pairs.map((p) => p.b.rate)))} ops/s; ` +
      `median CPU µs/op A ${mA.toFixed(3)}, B ${mB.toFixed(3)} (B/A ${(mB / mA).toFixed(3)}); ` +
      `enters/op A ${median(pairs.map((p) => p.a.entersPerOp)).toFixed(4)}, B ${median(pairs.map((p) => p.b.entersPerOp)).toFixed(4)}; wakes/op A ${median(pairs.map((p) => p.a.wakesPerOp)).toFixed(4)}, B ${median(pairs.map((p) => p.b.wakesPerOp)).toFixed(4)}; load ${load()}`,
  )
  if (o.json) fs.writeFileSync(o.json, JSON.stringify({ options: o, pairs }, null, 2))
}

const o = parse(process.argv.slice(2))
if (o.child) await child(o)
else parent(o)
