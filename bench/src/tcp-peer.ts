/**
 * The far end of the TCP benchmarks, a separate process so that its cost is the same for every
 * variant and stays out of the measured process: `node tcp-peer.ts <mode> <port> <connections>`
 * connects to the benchmark's listener and then
 *   echo:   writes back whatever it receives;
 *   stream: writes 64 KiB chunks as fast as the connection takes them;
 *   sink:   reads and discards.
 * It exits when every connection has closed.
 */
import * as net from "node:net"

const [mode, portText, countText] = process.argv.slice(2)
const port = Number(portText)
const count = Number(countText)
if (!["echo", "stream", "sink"].includes(mode ?? "") || !(port > 0) || !(count > 0)) {
  console.error("usage: tcp-peer.ts echo|stream|sink <port> <connections>")
  process.exit(2)
}

const chunk = Buffer.alloc(64 * 1024, 0x61)
let open = 0

const connectOne = () =>
  new Promise<void>((resolve, reject) => {
    const s = net.connect({ port, host: "127.0.0.1", noDelay: true }, () => {
      open++
      resolve()
    })
    s.on("error", (e: NodeJS.ErrnoException) => {
      // The benchmark closing its end while we write is the normal way to stop.
      if (e.code !== "ECONNRESET" && e.code !== "EPIPE") reject(e)
    })
    s.on("close", () => {
      if (--open === 0) process.exit(0)
    })
    if (mode === "echo") s.on("data", (d) => s.write(d))
    else if (mode === "sink") s.resume()
    else {
      s.resume()
      const pump = () => {
        while (!s.destroyed && s.write(chunk));
      }
      s.on("drain", pump)
      pump()
    }
  })

// Connect one at a time so that the benchmark accepts them in this order.
for (let i = 0; i < count; i++) await connectOne()
