/**
 * The starvation scenario of issue 13, shared by its test (test/Driver.starvation.test.ts) and its
 * bench row (bench/src/starvation.ts); not a test file itself. A Driver with the default config
 * serves `idle` connections that each wait in a recvMany and never get a byte, and `active`
 * connections that ping-pong `rounds` times (each "ping" received is answered with "pong" through
 * the ring). The client ends live in a child process (node:net as the peer: the fd limit is per
 * process); it connects the idle ones, waits until the server holds all of them, then runs the
 * active clients and reports every round trip's duration.
 *
 * The server's ends come from the ring: `listen`, then one `acceptMany` for every connection.
 */
import { spawn } from "node:child_process"
import { closeSync } from "node:fs"
import { Driver } from "../src/index.ts"

export interface StarvationResult {
  /** ms, every active round trip as the client measured it. */
  readonly rtts: ReadonlyArray<number>
  /** Bytes of RSS after the idle connections were accepted, before and after their recvMany were armed. */
  readonly rssAccepted: number
  readonly rssArmed: number
  /** The Driver's pendingOperations once every idle recvMany was armed. */
  readonly pendingIdle: number
}

const CLIENT = String.raw`
const net = require("node:net")
const [port, idle, active, rounds] = process.argv.slice(1).map(Number)
const connect = () => new Promise((done, fail) => {
  const s = net.connect(port, "127.0.0.1", () => done(s))
  s.on("error", fail)
})
const lines = []
process.stdin.on("data", (d) => lines.push(...d.toString().split("\n").filter(Boolean)))
const line = () => new Promise((done) => {
  const look = () => (lines.length > 0 ? done(lines.shift()) : setTimeout(look, 5))
  look()
})
;(async () => {
  const held = []
  for (let i = 0; i < idle; i += 250) {
    const batch = []
    for (let j = i; j < Math.min(idle, i + 250); j++) batch.push(connect())
    held.push(...(await Promise.all(batch)))
  }
  process.stdout.write("idle\n")
  await line()
  const clients = []
  for (let i = 0; i < active; i++) clients.push(await connect())
  const rtts = []
  await Promise.all(clients.map(async (s) => {
    for (let r = 0; r < rounds; r++) {
      const t0 = process.hrtime.bigint()
      await new Promise((done) => {
        let got = 0
        const on = (d) => { got += d.length; if (got >= 4) { s.off("data", on); done() } }
        s.on("data", on)
        s.write("ping")
      })
      rtts.push(Number(process.hrtime.bigint() - t0) / 1e6)
    }
  }))
  process.stdout.write(JSON.stringify(rtts) + "\n")
  await line()
  for (const s of [...held, ...clients]) s.destroy()
  process.exit(0)
})().catch((e) => { process.stderr.write(String(e && e.stack || e) + "\n"); process.exit(1) })
`

export const runStarvation = async (options: {
  readonly idle: number
  readonly active: number
  readonly rounds: number
  readonly config?: Parameters<typeof Driver.open>[0]
}): Promise<StarvationResult> => {
  const ring = Driver.open(options.config)
  const listener = await ring.listen({ host: "127.0.0.1", port: 0, backlog: 4096 })
  const port = (listener.localAddress as { port: number }).port
  const accepted: Array<number> = []
  const acceptor = ring.acceptMany(listener)
  const accepting = (async () => {
    for await (const connection of acceptor) accepted.push(connection.fd)
  })().catch(() => undefined)
  const child = spawn(
    process.execPath,
    ["-e", CLIENT, String(port), String(options.idle), String(options.active), String(options.rounds)],
    {
      stdio: ["pipe", "pipe", "inherit"],
    },
  )
  let out = ""
  const lines: Array<string> = []
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString()
    let i: number
    while ((i = out.indexOf("\n")) >= 0) {
      lines.push(out.slice(0, i))
      out = out.slice(i + 1)
    }
  })
  const exited = new Promise<number | null>((done) => child.on("exit", (code) => done(code)))
  const line = async (): Promise<string> => {
    while (lines.length === 0) {
      if (child.exitCode !== null) throw new Error(`the client process exited with ${child.exitCode}`)
      await new Promise((done) => setTimeout(done, 5))
    }
    return lines.shift()!
  }
  const streams: Array<AsyncIterator<Uint8Array>> = []
  try {
    if ((await line()) !== "idle") throw new Error("the client process did not connect")
    while (accepted.length < options.idle) await new Promise((done) => setTimeout(done, 5))
    globalThis.gc?.()
    const rssAccepted = process.memoryUsage().rss
    const idlePending: Array<Promise<unknown>> = []
    for (const fd of accepted.slice(0, options.idle)) {
      const stream = ring.recvMany(fd)
      streams.push(stream)
      idlePending.push(stream.next().catch(() => undefined))
    }
    // With a waiter capacity below `idle` (the seed's sizing), they never all get in: fail, not hang.
    const armBy = Date.now() + 30_000
    while (ring.stats().pendingOperations < options.idle) {
      if (Date.now() > armBy)
        throw new Error(`only ${ring.stats().pendingOperations} of ${options.idle} recvMany armed`)
      await new Promise((done) => setTimeout(done, 5))
    }
    const pendingIdle = ring.stats().pendingOperations
    globalThis.gc?.()
    const rssArmed = process.memoryUsage().rss
    // The active clients: each "ping" gets a "pong" through the ring.
    const served = options.idle
    const echo = async (fd: number): Promise<void> => {
      const stream = ring.recvMany(fd)
      streams.push(stream)
      const pong = Buffer.from("pong")
      for await (const _ of { [Symbol.asyncIterator]: () => stream }) await ring.send(fd, pong)
    }
    let next = served
    const watcher = setInterval(() => {
      while (next < accepted.length) void echo(accepted[next++]!).catch(() => undefined)
    }, 1)
    child.stdin.write("go\n")
    const rtts = JSON.parse(await line()) as Array<number>
    clearInterval(watcher)
    for (const stream of streams) await stream.return?.()
    await Promise.all(idlePending)
    child.stdin.write("done\n")
    await exited
    return { rtts, rssAccepted, rssArmed, pendingIdle }
  } finally {
    child.kill()
    await acceptor.return()
    await accepting
    await ring.close({ shutdownTimeout: 0 })
    for (const fd of [...accepted, listener.fd]) closeSync(fd)
  }
}
