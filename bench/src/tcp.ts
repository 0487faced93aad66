/**
 * TCP over loopback: node:net against recv/send on the ring, the measured end in this process and
 * the far end in a child process shared by every variant: by default tools/tcp-peer.c (a
 * single-threaded epoll loop, built with `cc` on first use into bench/.build/), with
 * BENCH_PEER=node (or when it cannot be built) src/tcp-peer.ts (plain node:net). The 16-connection
 * echo also runs once against the node:net peer in every run (`tcp-echo-16-node-peer`). Why two
 * peers: bench/README.md, "The TCP peer".
 *
 * The ring variants' sockets come from the ring: it listens and accepts the peer's connections
 * (their fds are this file's, closed after the last ring request on them), so libuv never touches
 * them. The node:net variants' connections are accepted by a node:net server of their own, paused
 * between rounds. Each variant has its own connections.
 *
 *   echo-N:  N connections, each a 64-byte ping-pong (send 64 bytes, wait for the 64-byte echo)
 *   stream:  one connection, the peer writes 64 KiB chunks as fast as they are taken, we receive
 *   send:    one connection, we send 64 KiB chunks one after the other, the peer discards
 */
import { spawn } from "node:child_process"
import { closeSync } from "node:fs"
import type { ChildProcess } from "node:child_process"
import * as net from "node:net"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { loadRings, type Suite } from "./context.ts"
import { callbackLoop, promiseLoop } from "./harness.ts"
import type { Comparison, Sample, Variant } from "./harness.ts"
import { openDriver, withEngine } from "./ring.ts"
import type { Engine, Ring } from "./ring.ts"
import { buildTool } from "./tools.ts"

const MSG = 64
const CHUNK = 64 * 1024
const MIB = 1024 * 1024
const NODE = "node:net"
export const RING_CB = "ring recv/send, callback"
export const RING_PROMISE = "ring recv/send, Promise"
export const ACCEPT_CB = "ring accept + closeFd, callback"
export const ACCEPT_MANY = "ring acceptMany + closeFd, callback"
export const RING_MANY = "ring recvMany/send, callback"

interface Peer {
  /** The accepted node:net sockets (a node:net peer), or none. */
  readonly sockets: ReadonlyArray<net.Socket>
  /** The fds the ring accepted (a ring peer), or none. */
  readonly fds: ReadonlyArray<number>
  readonly close: () => Promise<void>
}

const here = path.dirname(fileURLToPath(import.meta.url))

/** The peer programs: argv before `<mode> <port> <connections>`. */
type PeerCommand = ReadonlyArray<string>
const NODE_PEER: PeerCommand = [process.execPath, path.join(here, "tcp-peer.ts")]

/** tools/tcp-peer.c, built on first use (src/tools.ts), or why not. */
const buildCPeer = (): { command: PeerCommand } | { reason: string } => {
  const built = buildTool("tcp-peer")
  return "binary" in built ? { command: [built.binary] } : built
}

/** The C peer's command, or the node:net peer's when the C one cannot be built. */
export const tcpPeerCommand = (): PeerCommand => {
  const built = buildCPeer()
  return "command" in built ? built.command : NODE_PEER
}

/** Starts the peer program in `mode` with `count` connections to `port`. */
export const spawnPeer = (command: PeerCommand, mode: string, port: number, count: number) => {
  // BENCH_PEER_CPUS=1: run the peer under `taskset -c 1` (to study placement; pin this process too).
  const cpus = process.env["BENCH_PEER_CPUS"]
  const argv = [...command, mode, String(port), String(count)]
  const child: ChildProcess = cpus
    ? spawn("taskset", ["-c", cpus, ...argv], { stdio: ["ignore", "inherit", "inherit"] })
    : spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "inherit", "inherit"] })
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()))
  const failed = new Promise<never>((_, reject) =>
    child.once("error", (e) => reject(new Error(`the TCP peer did not start: ${e.message}`))),
  )
  const early = exited.then(() => {
    throw new Error("the TCP peer exited before connecting")
  })
  const stop = async () => {
    const timer = setTimeout(() => child.kill(), 2000)
    await exited
    clearTimeout(timer)
  }
  return { failed, early, stop }
}

/**
 * Listens, starts the peer in `mode` with `count` connections, and returns them accepted: by
 * node:net for the node:net variants (`acceptor` "node"), or by the ring (listen and accept on
 * `acceptor`, a Driver) for the ring variants, whose fds nothing but the ring ever touches.
 */
const startPeer = async (
  command: PeerCommand,
  mode: "echo" | "stream" | "sink",
  count: number,
  acceptor: "node" | Ring,
): Promise<Peer> => {
  if (acceptor !== "node") {
    const listener = await acceptor.listen({ host: "127.0.0.1", port: 0, noDelay: true })
    const { failed, early, stop } = spawnPeer(command, mode, (listener.localAddress as { port: number }).port, count)
    const fds: Array<number> = []
    const accepting = (async () => {
      while (fds.length < count) fds.push((await acceptor.accept(listener)).fd)
    })()
    try {
      await Promise.race([accepting, failed, early])
    } finally {
      closeSync(listener.fd)
    }
    return {
      sockets: [],
      fds,
      close: async () => {
        for (const fd of fds) closeSync(fd)
        await stop()
      },
    }
  }
  const sockets: Array<net.Socket> = []
  const server = net.createServer({ pauseOnConnect: true, noDelay: true })
  const accepted = new Promise<void>((resolve, reject) => {
    server.on("connection", (s) => {
      s.setNoDelay(true)
      s.on("error", () => undefined)
      sockets.push(s)
      if (sockets.length === count) resolve()
    })
    server.on("error", reject)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const port = (server.address() as net.AddressInfo).port
  const { failed, early, stop } = spawnPeer(command, mode, port, count)
  await Promise.race([accepted, failed, early])
  server.close()
  return {
    sockets,
    fds: [],
    close: async () => {
      for (const s of sockets) s.destroy()
      await stop()
    },
  }
}

// ---- echo ping-pong ------------------------------------------------------------------------------

const nodeEcho = (sockets: ReadonlyArray<net.Socket>, budgetMs: number): Promise<Sample> =>
  new Promise((resolve) => {
    const msg = Buffer.alloc(MSG, 0x62)
    let ops = 0
    let stop = false
    let active = sockets.length
    const t0 = performance.now()
    const end = t0 + budgetMs
    for (const s of sockets) {
      let got = 0
      const onData = (d: Buffer) => {
        got += d.length
        while (got >= MSG) {
          got -= MSG
          if ((++ops & 63) === 0 && performance.now() >= end) stop = true
          if (!stop) s.write(msg)
          else {
            s.pause()
            s.off("data", onData)
            if (--active === 0) resolve({ ops, seconds: (performance.now() - t0) / 1000 })
          }
        }
      }
      s.on("data", onData)
      s.resume()
      s.write(msg)
    }
  })

/** Per connection: the recv of the next echo and the send of the next ping are submitted together. */
const ringEchoCallback = (r: Ring, fds: ReadonlyArray<number>, budgetMs: number): Promise<Sample> => {
  const msg = Buffer.alloc(MSG, 0x62)
  const bufs = fds.map(() => Buffer.alloc(MSG))
  const onRecv: Array<(e: Error | null, n: number) => void> = []
  // callbackLoop counts one op per recv completion; the sends' completions are tracked apart.
  let sendsInFlight = 0
  let sendError: Error | null = null
  let release: (() => void) | undefined
  const onSend = (e: Error | null) => {
    if (e) sendError ??= e
    if (--sendsInFlight === 0 && release) release()
  }
  return callbackLoop(fds.length, budgetMs, (slot, done) => {
    const fd = fds[slot]!
    const cb = (onRecv[slot] ??= (e, n) => done(e ?? sendError ?? (n === MSG ? null : new Error(`short echo ${n}`))))
    r.submitRecv(fd, bufs[slot]!, 0, MSG, true, 0, cb)
    sendsInFlight++
    r.submitSend(fd, msg, 0, onSend)
  }).then((sample) =>
    sendsInFlight === 0
      ? sample
      : new Promise<Sample>((resolve) => {
          release = () => resolve(sample)
        }),
  )
}

const ringEchoPromise = async (r: Ring, fds: ReadonlyArray<number>, budgetMs: number): Promise<Sample> => {
  const msg = Buffer.alloc(MSG, 0x62)
  let ops = 0
  let stop = false
  const t0 = performance.now()
  const end = t0 + budgetMs
  await Promise.all(
    fds.map(async (fd) => {
      const buf = Buffer.alloc(MSG)
      while (!stop) {
        const [n] = await Promise.all([r.recv(fd, buf, { length: MSG, exact: true }), r.send(fd, msg)])
        if (n !== MSG) throw new Error(`short echo ${n}`)
        if ((++ops & 63) === 0 && performance.now() >= end) stop = true
      }
    }),
  )
  return { ops, seconds: (performance.now() - t0) / 1000 }
}

/**
 * Per connection one multishot recv (submitRecvMany on the Driver's provided buffers) for every
 * echo, and a send per full message: one SQE per message instead of two. At the end of the budget
 * each connection's recvMany is cancelled once its last echo is in (the connection is quiet again
 * for the next round); it ends with its AbortError, anything else fails the run.
 */
const ringEchoMany = (r: Ring, fds: ReadonlyArray<number>, budgetMs: number): Promise<Sample> =>
  new Promise((resolve, reject) => {
    const msg = Buffer.alloc(MSG, 0x62)
    let ops = 0
    let stop = false
    let failure: Error | null = null
    let live = fds.length
    let sendsInFlight = 0
    const t0 = performance.now()
    const end = t0 + budgetMs
    let seconds = 0
    const settle = () => {
      if (live > 0 || sendsInFlight > 0) return
      if (failure) reject(failure)
      else resolve({ ops, seconds })
    }
    const onSend = (e: Error | null) => {
      if (e) failure ??= e
      sendsInFlight--
      settle()
    }
    fds.forEach((fd) => {
      let got = 0
      let handle = 0
      let cancelled = false
      handle = r.submitRecvMany(
        fd,
        0,
        (chunk) => {
          got += chunk.length
          while (got >= MSG) {
            got -= MSG
            if ((++ops & 63) === 0 && performance.now() >= end) stop = true
            if (!stop && failure === null) {
              sendsInFlight++
              r.submitSend(fd, msg, 0, onSend)
            } else if (!cancelled) {
              cancelled = true
              r.cancel(handle)
            }
          }
        },
        (e) => {
          if (!(cancelled && e?.name === "AbortError")) failure ??= e ?? new Error("recvMany ended at end of stream")
          if (--live === 0) seconds = (performance.now() - t0) / 1000
          settle()
        },
      )
      sendsInFlight++
      r.submitSend(fd, msg, 0, onSend)
    })
  })

// ---- one-way streams -----------------------------------------------------------------------------

const nodeStreamRecv = (s: net.Socket, budgetMs: number): Promise<Sample> =>
  new Promise((resolve) => {
    let bytes = 0
    const t0 = performance.now()
    const end = t0 + budgetMs
    const onData = (d: Buffer) => {
      bytes += d.length
      if (performance.now() >= end) {
        s.pause()
        s.off("data", onData)
        resolve({ ops: bytes, seconds: (performance.now() - t0) / 1000 })
      }
    }
    s.on("data", onData)
    s.resume()
  })

const ringStreamRecv = (r: Ring, fd: number, budgetMs: number): Promise<Sample> =>
  new Promise((resolve, reject) => {
    const buf = Buffer.allocUnsafeSlow(CHUNK)
    let bytes = 0
    const t0 = performance.now()
    const end = t0 + budgetMs
    const onRecv = (e: Error | null, n: number) => {
      if (e) return reject(e)
      if (n === 0) return reject(new Error("the peer closed the stream"))
      bytes += n
      if (performance.now() >= end) resolve({ ops: bytes, seconds: (performance.now() - t0) / 1000 })
      else r.submitRecv(fd, buf, 0, CHUNK, false, 0, onRecv)
    }
    r.submitRecv(fd, buf, 0, CHUNK, false, 0, onRecv)
  })

/** Writes 64 KiB chunks, counting a chunk when node:net reports it handed to the kernel. */
const nodeStreamSend = (s: net.Socket, budgetMs: number): Promise<Sample> =>
  new Promise((resolve, reject) => {
    const chunk = Buffer.alloc(CHUNK, 0x63)
    let bytes = 0
    let pending = 0
    let stop = false
    const t0 = performance.now()
    const end = t0 + budgetMs
    const finish = () => {
      s.off("drain", pump)
      resolve({ ops: bytes, seconds: (performance.now() - t0) / 1000 })
    }
    const written = (e?: Error | null) => {
      if (e) return reject(e)
      bytes += CHUNK
      pending--
      if (performance.now() >= end) stop = true
      if (stop && pending === 0) finish()
    }
    function pump() {
      while (!stop) {
        pending++
        if (!s.write(chunk, written)) return
      }
    }
    s.on("drain", pump)
    pump()
  })

const ringStreamSend = (r: Ring, fd: number, budgetMs: number): Promise<Sample> =>
  new Promise((resolve, reject) => {
    const chunk = Buffer.alloc(CHUNK, 0x63)
    let bytes = 0
    const t0 = performance.now()
    const end = t0 + budgetMs
    const onSend = (e: Error | null) => {
      if (e) return reject(e)
      bytes += CHUNK
      if (performance.now() >= end) resolve({ ops: bytes, seconds: (performance.now() - t0) / 1000 })
      else r.submitSend(fd, chunk, 0, onSend)
    }
    r.submitSend(fd, chunk, 0, onSend)
  })

const ringStreamPromise = async (budgetMs: number, step: () => Promise<number>): Promise<Sample> => {
  let bytes = 0
  const t0 = performance.now()
  const end = t0 + budgetMs
  while (performance.now() < end) {
    const n = await step()
    if (n === 0) throw new Error("the peer closed the stream")
    bytes += n
  }
  return { ops: bytes, seconds: (performance.now() - t0) / 1000 }
}

export const tcpSuite: Suite = {
  id: "tcp",
  description: "TCP loopback: 64-byte echo ping-pong on 1 and 16 connections, 64 KiB one-way streams",
  build: async (ctx) => {
    const { rings, skipped } = await loadRings(ctx)
    const peers: Array<Peer> = []
    const comparisons: Array<Comparison> = []
    const wanted = process.env["BENCH_PEER"] ?? "c"
    if (wanted !== "c" && wanted !== "node") throw new Error(`BENCH_PEER must be c or node, got ${wanted}`)
    const built = wanted === "c" ? buildCPeer() : undefined
    const command = built && "command" in built ? built.command : NODE_PEER
    const describe = (c: PeerCommand) =>
      c === NODE_PEER
        ? "the peer is a separate node:net process (src/tcp-peer.ts)"
        : "the peer is a separate single-threaded epoll process (tools/tcp-peer.c)"
    const why =
      built && "reason" in built ? [`the C peer is not available, so the node:net peer runs: ${built.reason}`] : []
    if (why.length) ctx.log(`tcp: ${why[0]}`)
    const common = "ring sockets are accepted by the ring (listen/accept) and driven only by it"
    // The ring variants' connections are accepted by the first ring; the node:net ones by node:net.
    const acceptor = rings[0]!.ring
    const ringCount = 2 * rings.length

    const echoRuns: Array<{ n: number; command: PeerCommand; id: string; title: string }> = [1, 16].map((n) => ({
      n,
      command,
      id: `tcp-echo-${n}`,
      title: `TCP echo, 64-byte ping-pong, ${n} connection${n > 1 ? "s" : ""}`,
    }))
    if (command !== NODE_PEER) {
      echoRuns.push({
        n: 16,
        command: NODE_PEER,
        id: "tcp-echo-16-node-peer",
        title: "TCP echo, 64-byte ping-pong, 16 connections, against the node:net peer",
      })
    }
    for (const { n, command: peerCommand, id, title } of echoRuns) {
      const nodePeer = await startPeer(peerCommand, "echo", n, "node")
      peers.push(nodePeer)
      const ringPeer = await startPeer(peerCommand, "echo", n * ringCount, acceptor)
      peers.push(ringPeer)
      const group = (i: number) => ringPeer.fds.slice(i * n, (i + 1) * n)
      const variants: Array<Variant> = [{ name: NODE, run: (budget) => nodeEcho(nodePeer.sockets, budget) }]
      rings.forEach(({ engine, ring }, k) => {
        const cbFds = group(2 * k)
        variants.push({ name: withEngine(RING_CB, engine), run: (budget) => ringEchoCallback(ring, cbFds, budget) })
      })
      rings.forEach(({ engine, ring }, k) => {
        const prFds = group(1 + 2 * k)
        variants.push({ name: withEngine(RING_PROMISE, engine), run: (budget) => ringEchoPromise(ring, prFds, budget) })
      })
      comparisons.push({
        id,
        title,
        unit: "msg/s",
        baseline: NODE,
        variants,
        notes: [`${describe(peerCommand)}; ${common}`, ...why, ...skipped],
      })
    }

    const streamNotes = [`${describe(command)}; ${common}`, ...why, ...skipped]
    const recvNode = await startPeer(command, "stream", 1, "node")
    peers.push(recvNode)
    const recvPeer = await startPeer(command, "stream", ringCount, acceptor)
    peers.push(recvPeer)
    const recvVariants: Array<Variant> = [{ name: NODE, run: (budget) => nodeStreamRecv(recvNode.sockets[0]!, budget) }]
    rings.forEach(({ engine, ring }, k) => {
      const fdCb = recvPeer.fds[2 * k]!
      recvVariants.push({ name: withEngine(RING_CB, engine), run: (budget) => ringStreamRecv(ring, fdCb, budget) })
    })
    rings.forEach(({ engine, ring }, k) => {
      const fdPr = recvPeer.fds[1 + 2 * k]!
      const buf = Buffer.allocUnsafeSlow(CHUNK)
      recvVariants.push({
        name: withEngine(RING_PROMISE, engine),
        run: (budget) => ringStreamPromise(budget, () => ring.recv(fdPr, buf)),
      })
    })
    comparisons.push({
      id: "tcp-stream-recv",
      title: "TCP one-way stream, receiving (64 KiB reads)",
      unit: "MiB/s",
      scale: 1 / MIB,
      baseline: NODE,
      variants: recvVariants,
      notes: streamNotes,
    })

    const sendNode = await startPeer(command, "sink", 1, "node")
    peers.push(sendNode)
    const sendPeer = await startPeer(command, "sink", ringCount, acceptor)
    peers.push(sendPeer)
    const sendVariants: Array<Variant> = [{ name: NODE, run: (budget) => nodeStreamSend(sendNode.sockets[0]!, budget) }]
    rings.forEach(({ engine, ring }, k) => {
      const fdCb = sendPeer.fds[2 * k]!
      sendVariants.push({ name: withEngine(RING_CB, engine), run: (budget) => ringStreamSend(ring, fdCb, budget) })
    })
    rings.forEach(({ engine, ring }, k) => {
      const fdPr = sendPeer.fds[1 + 2 * k]!
      const chunk = Buffer.alloc(CHUNK, 0x63)
      sendVariants.push({
        name: withEngine(RING_PROMISE, engine),
        run: (budget) => ringStreamPromise(budget, () => ring.send(fdPr, chunk).then(() => CHUNK)),
      })
    })
    comparisons.push({
      id: "tcp-stream-send",
      title: "TCP one-way stream, sending (64 KiB writes)",
      unit: "MiB/s",
      scale: 1 / MIB,
      baseline: NODE,
      variants: sendVariants,
      notes: streamNotes,
    })

    return {
      comparisons,
      cleanup: async () => {
        for (const p of peers) await p.close()
      },
    }
  },
}

// ---- many connections, and accepts -----------------------------------------------------------------

/** The churn peer's connections per listener: how many accepts can be in flight, at most, per variant. */
const CHURN = 16

/**
 * Accepts per second with node:net: a server of its own that destroys every connection at once;
 * between its rounds it holds the connections it accepted (at most CHURN, the peer waits for them)
 * so that it does nothing while the other variants run.
 */
const nodeAcceptVariant = async (command: PeerCommand, peers: Array<Peer>): Promise<Variant> => {
  let measuring = false
  let accepted = 0
  const held: Array<net.Socket> = []
  const server = net.createServer((s) => {
    s.on("error", () => undefined)
    if (measuring) {
      accepted++
      s.destroy()
    } else held.push(s)
  })
  await new Promise<void>((resolve) => server.listen({ port: 0, host: "127.0.0.1", backlog: 511 }, resolve))
  const { failed, early, stop } = spawnPeer(command, "churn", (server.address() as net.AddressInfo).port, CHURN)
  // The churn peer exits when its listener closes: the normal end, not a failure.
  failed.catch(() => undefined)
  early.catch(() => undefined)
  peers.push({
    sockets: [],
    fds: [],
    close: async () => {
      for (const s of held.splice(0)) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await stop()
    },
  })
  return {
    name: NODE,
    run: async (budgetMs) => {
      accepted = 0
      measuring = true
      const t0 = performance.now()
      for (const s of held.splice(0)) {
        accepted++
        s.destroy()
      }
      await new Promise((resolve) => setTimeout(resolve, budgetMs))
      measuring = false
      return { ops: accepted, seconds: (performance.now() - t0) / 1000 }
    },
  }
}

/**
 * Accepts per second on one multishot accept (what a server runs): each connection's fd closed by
 * the ring as it arrives; at the budget's end the accept is cancelled and the closes awaited.
 */
const acceptManyLoop = (ring: Ring, listener: number, budgetMs: number): Promise<Sample> =>
  new Promise((resolve, reject) => {
    let accepted = 0
    let closing = 0
    let ended = false
    let failure: Error | null = null
    const t0 = performance.now()
    let seconds = 0
    const finish = () => {
      if (!ended || closing > 0) return
      if (failure) reject(failure)
      else resolve({ ops: accepted, seconds })
    }
    const handle = ring.submitAcceptMany(
      listener,
      0,
      (connection) => {
        accepted++
        closing++
        ring.submitCloseFd(connection.fd, (error) => {
          closing--
          if (error) failure ??= error
          finish()
        })
      },
      (error) => {
        seconds = (performance.now() - t0) / 1000
        ended = true
        if (error && error.name !== "AbortError") failure ??= error
        finish()
      },
    )
    setTimeout(() => ring.cancel(handle), budgetMs)
  })

/** Accepts per second on the ring: CHURN accepts in flight, each accepted fd closed by the ring. */
const ringAcceptVariants = async (
  command: PeerCommand,
  engine: Engine,
  ring: Ring,
  peers: Array<Peer>,
): Promise<Array<Variant>> => {
  const out: Array<Variant> = []
  for (const api of ["callback", "Promise", "many"] as const) {
    const listener = await ring.listen({ host: "127.0.0.1", port: 0 })
    const { failed, early, stop } = spawnPeer(command, "churn", (listener.localAddress as { port: number }).port, CHURN)
    failed.catch(() => undefined)
    early.catch(() => undefined)
    peers.push({
      sockets: [],
      fds: [],
      close: async () => {
        await ring.closeFd(listener.fd)
        await stop()
      },
    })
    if (api === "many") {
      out.push({ name: withEngine(ACCEPT_MANY, engine), run: (budget) => acceptManyLoop(ring, listener.fd, budget) })
      continue
    }
    out.push(
      api === "callback"
        ? {
            name: withEngine(ACCEPT_CB, engine),
            run: (budget) =>
              callbackLoop(
                CHURN,
                budget,
                (_, done) => ring.submitAccept(listener.fd, 0, (e, fd) => (e ? done(e) : ring.submitCloseFd(fd, done))),
                1,
              ),
          }
        : {
            name: withEngine("ring accept + closeFd, Promise", engine),
            run: (budget) => promiseLoop(CHURN, budget, async () => ring.closeFd((await ring.accept(listener)).fd), 1),
          },
    )
  }
  return out
}

/**
 * `conns`: echo on 256 and 1,000 connections (each its own 64-byte ping-pong, all in flight at
 * once) against node:net, and accepted connections per second. The C peer drives both.
 */
export const connsSuite: Suite = {
  id: "conns",
  description: "TCP echo on 256 and 1,000 connections (C peer), and accepted connections per second, against node:net",
  build: async (ctx) => {
    const { rings, skipped } = await loadRings(ctx)
    const built = buildCPeer()
    if ("reason" in built) {
      return {
        comparisons: [],
        direct: [
          async () => ({
            id: "conns",
            title: "TCP with many connections (skipped)",
            unit: "msg/s",
            kind: "throughput" as const,
            variants: [],
            notes: [`the C peer is not available: ${built.reason}`],
          }),
        ],
      }
    }
    const command = built.command
    const peers: Array<Peer> = []
    const comparisons: Array<Comparison> = []
    const note =
      "the peer is a separate single-threaded epoll process (tools/tcp-peer.c); ring sockets are accepted by the ring (listen/accept) and driven only by it"
    const acceptor = rings[0]?.ring
    const ringCount = 3 * rings.length
    // The recvMany variants' Drivers: every connection's echo may be in at once, one provided
    // buffer each (the default 256 would run out and re-arm, which recv/send never has to).
    const manyRings: Array<{ engine: Engine; ring: Ring }> = []
    for (const { engine } of rings) {
      const load = await openDriver(engine, { recvBuffers: { count: 2048, size: 256 } })
      if (load.ok) manyRings.push({ engine, ring: load.ring })
      else skipped.push(`recvMany variant (${engine}) skipped: ${load.reason}`)
    }
    for (const n of [256, 1000]) {
      const nodePeer = await startPeer(command, "echo", n, "node")
      peers.push(nodePeer)
      const variants: Array<Variant> = [{ name: NODE, run: (budget) => nodeEcho(nodePeer.sockets, budget) }]
      if (acceptor) {
        const ringPeer = await startPeer(command, "echo", n * ringCount, acceptor)
        peers.push(ringPeer)
        const group = (i: number) => ringPeer.fds.slice(i * n, (i + 1) * n)
        rings.forEach(({ engine, ring }, k) => {
          const cbFds = group(2 * k)
          const prFds = group(1 + 2 * k)
          variants.push({ name: withEngine(RING_CB, engine), run: (budget) => ringEchoCallback(ring, cbFds, budget) })
          variants.push({
            name: withEngine(RING_PROMISE, engine),
            run: (budget) => ringEchoPromise(ring, prFds, budget),
          })
        })
        manyRings.forEach(({ engine, ring }) => {
          const manyFds = group(2 * rings.length + rings.findIndex((x) => x.engine === engine))
          variants.push({ name: withEngine(RING_MANY, engine), run: (budget) => ringEchoMany(ring, manyFds, budget) })
        })
      }
      comparisons.push({
        id: `tcp-echo-${n}`,
        title: `TCP echo, 64-byte ping-pong, ${n} connections`,
        unit: "msg/s",
        baseline: NODE,
        variants,
        notes: [note, ...(n === 1000 ? ["target: recvMany/send (callback) ≥ 1.5× node:net"] : []), ...skipped],
      })
    }
    const acceptVariants: Array<Variant> = [await nodeAcceptVariant(command, peers)]
    for (const { engine, ring } of rings)
      acceptVariants.push(...(await ringAcceptVariants(command, engine, ring, peers)))
    comparisons.push({
      id: "tcp-accept",
      title: `accepted connections per second (${CHURN} connecting at a time, each closed at once)`,
      unit: "conn/s",
      baseline: NODE,
      variants: acceptVariants,
      notes: [
        `the C peer (churn mode) keeps ${CHURN} connections per listener, resets each the server closed and connects again; node:net destroys each connection in its "connection" handler, the ring closes each accepted fd with closeFd (acceptMany: one multishot accept for the whole run, what a server runs)`,
        "target: ≥ 1× node:net",
        ...skipped,
      ],
    })
    return {
      comparisons,
      cleanup: async () => {
        for (const p of peers) await p.close()
        for (const { ring } of manyRings) await ring.close()
      },
    }
  },
}
