// echo-syscalls.mjs: a 64-byte TCP echo client on the ring, for counting what each inline wake mode
// costs in syscalls and CPU per message, apart from the bench harness (whose own work would be
// counted too). Run a server first, then the client under strace, so that only the client is traced:
//
//   node bench/tools/echo-syscalls.mjs server                  # prints its port; node:net echo
//   strace -f -c node bench/tools/echo-syscalls.mjs PORT ringfd 50000 1
//
// Client arguments: the server's port, the wake mode ("eventfd" or "ringfd"), the messages, the
// connections (each keeps one message in flight). It prints the mode the Driver opened with,
// io_uring_enter calls per message, process CPU per message and messages per second.
import net from "node:net"
import { Driver } from "@iou/native"

if (process.argv[2] === "server") {
  const server = net.createServer((s) => {
    s.setNoDelay(true)
    s.pipe(s)
  })
  server.listen(0, "127.0.0.1", () => console.log(server.address().port))
} else {
  const [port, inlineWake, messages, connections] = process.argv.slice(2).map((x, i) => (i === 1 ? x : Number(x)))
  const ring = Driver.open({ engine: "inline", inlineWake })
  const fds = []
  for (let i = 0; i < (connections || 1); i++)
    fds.push((await ring.connect({ host: "127.0.0.1", port }, { noDelay: true })).fd)
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  let left = messages
  await Promise.all(
    fds.map(
      (fd) =>
        new Promise((resolve, reject) => {
          const msg = Buffer.alloc(64, 0x62)
          const buf = Buffer.alloc(64)
          const one = () => {
            ring.submitRecv(fd, buf, 0, 64, true, 0, (e) => (e ? reject(e) : --left <= 0 ? resolve() : one()))
            ring.submitSend(fd, msg, 0, (e) => e && reject(e))
          }
          one()
        }),
    ),
  )
  const cpu = process.cpuUsage(cpu0)
  const ms = performance.now() - t0
  console.log(
    `${ring.config.inlineWakeUsed}: ${fds.length} connection(s), ${messages} messages, ` +
      `${(ring.stats().enters / messages).toFixed(3)} io_uring_enter/msg, ` +
      `${((cpu.user + cpu.system) / messages).toFixed(2)} µs CPU/msg, ${Math.round((messages / ms) * 1000)} msg/s`,
  )
  process.exit(0)
}
