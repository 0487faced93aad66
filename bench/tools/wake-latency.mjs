// wake-latency.mjs: how long an idle Driver takes to hear of a message on a socket, per wake mode.
// A child process (plain node:net, TCP_NODELAY) sends an 8-byte CLOCK_MONOTONIC timestamp every
// 20 ms; the Driver's JS thread, idle between messages, receives each with an exact recv and
// prints now minus the timestamp: the kernel's delivery plus the wake-up of the engine.
//
//   node bench/tools/wake-latency.mjs ringfd|eventfd|thread [messages]
//
// Run it from the repository after `npm run build`. Prints the latencies in ms and their median.
import { spawn } from "node:child_process"

const mode = process.argv[2] ?? "ringfd"
const messages = Number(process.argv[3] ?? 20)
if (!["ringfd", "eventfd", "thread"].includes(mode) || !(messages > 0)) {
  console.error("usage: node bench/tools/wake-latency.mjs ringfd|eventfd|thread [messages]")
  process.exit(2)
}

const { Driver } = await import("@iou/native")
const ring = Driver.open(mode === "thread" ? { engine: "thread" } : { engine: "inline", inlineWake: mode })
const listener = await ring.listen({ host: "127.0.0.1", port: 0 })
const sender = `
  const net = require("node:net")
  const socket = net.connect(${listener.localAddress.port}, "127.0.0.1", () => {
    socket.setNoDelay(true)
    let sent = 0
    const timer = setInterval(() => {
      const b = Buffer.alloc(8)
      b.writeBigInt64LE(process.hrtime.bigint())
      socket.write(b)
      if (++sent === ${messages}) { clearInterval(timer); setTimeout(() => socket.end(), 100) }
    }, 20)
  })`
const child = spawn(process.execPath, ["-e", sender], { stdio: "inherit" })
const exited = new Promise((done) => child.on("exit", done))
const connection = await ring.accept(listener)
const latencies = []
for (let i = 0; i < messages; i++) {
  const b = Buffer.alloc(8)
  await ring.recv(connection.fd, b, { exact: true })
  latencies.push(Number(process.hrtime.bigint() - b.readBigInt64LE(0)) / 1e6)
}
await ring.closeFd(connection.fd)
await ring.closeFd(listener.fd)
await exited
await ring.close()
const sorted = [...latencies].sort((a, b) => a - b)
console.log(
  `${mode} (${ring.config.inlineWakeUsed ?? "thread engine"}): ${messages} messages, latency ms ` +
    `${latencies.map((x) => x.toFixed(2)).join(" ")}; median ${sorted[Math.floor(messages / 2)].toFixed(2)}`,
)
