// close-beside.mjs: the cost of closeFd while many other requests are outstanding. A server holds N
// receives pending on one ring-accepted TCP connection (nothing is ever sent on it), then opens and
// closes a small file with the ring, one at a time, M times: closeFd must find the requests on its
// own fd (none), whatever else the pending table holds.
//
//   node bench/tools/close-beside.mjs [N=10000] [M=20000] [engine=inline]
//
// Prints open + closeFd pairs per second and process CPU per pair.
import net from "node:net"
import { Driver } from "@iou/native"

const [n = 10000, m = 20000] = process.argv.slice(2, 4).map(Number)
const engine = process.argv[4] ?? "inline"
const ring = Driver.open({ engine, maxInFlight: 16384 })
const listener = await ring.listen({ host: "127.0.0.1", port: 0 })
const client = net.connect(listener.localAddress.port, "127.0.0.1")
client.on("error", () => undefined)
const connection = await ring.accept(listener)
const stop = new AbortController()
const pending = []
for (let i = 0; i < n; i++)
  pending.push(ring.recv(connection.fd, new Uint8Array(16), { signal: stop.signal }).catch(() => undefined))
await new Promise((resolve) => setTimeout(resolve, 200))
const cpu0 = process.cpuUsage()
const t0 = performance.now()
for (let i = 0; i < m; i++) await ring.closeFd(await ring.open("/etc/hostname"))
const seconds = (performance.now() - t0) / 1000
const cpu = process.cpuUsage(cpu0)
console.log(
  `${engine}, ${n} receives outstanding: ${Math.round(m / seconds)} open + closeFd per second, ` +
    `${((cpu.user + cpu.system) / m).toFixed(1)} µs CPU each`,
)
stop.abort()
await Promise.all(pending)
client.destroy()
await ring.closeFd(connection.fd)
await ring.closeFd(listener.fd)
await ring.close()
