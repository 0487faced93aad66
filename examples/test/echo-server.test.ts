/**
 * `npm run echo`, run as a user would: the address it listens on comes from HOST and PORT, the log
 * says which deadline closed a connection, and a listen error or a bad setting is one line on
 * stderr with exit code 1.
 */
import * as net from "node:net"
import { once } from "node:events"
import { describe, expect, it } from "vitest"
import { probe } from "@iou/native"
import { expectOneLine, run, start, withPortInUse } from "./programs.ts"

const connect = async (host: string, port: number): Promise<net.Socket> => {
  const socket = net.connect({ host, port })
  await once(socket, "connect")
  return socket
}

describe.skipIf(!probe().supported)("echo (skipped where the kernel refuses io_uring)", () => {
  it("listens on HOST and PORT from the environment (PORT=0: any free port, logged)", async () => {
    const server = start("echo-server.ts", { HOST: "127.0.0.2", PORT: "0" })
    try {
      const port = Number((await server.waitFor(/echo server on 127\.0\.0\.2:(\d+)/))[1])
      const client = await connect("127.0.0.2", port)
      client.write("over the ring")
      let reply = ""
      for await (const chunk of client) {
        reply += String(chunk)
        if (reply.length >= "over the ring".length) break
      }
      expect(reply).toBe("over the ring")
      client.destroy()
      // Bound to that address only: the same port on 127.0.0.1 has no listener.
      await expect(connect("127.0.0.1", port)).rejects.toMatchObject({ code: "ECONNREFUSED" })
    } finally {
      await server.stop()
    }
  })

  it("says which deadline closed a connection: the recv deadline of an idle one, the send deadline of a peer that does not read", async () => {
    const server = start("echo-server.ts", { PORT: "0", IDLE_TIMEOUT: "1 second", SEND_TIMEOUT: "1 second" })
    const clients: Array<net.Socket> = []
    try {
      const port = Number((await server.waitFor(/echo server on 127\.0\.0\.1:(\d+)/))[1])
      const idle = await connect("127.0.0.1", port)
      // Sends far more than the socket buffers on both sides hold, and never reads the echo: the
      // server's send blocks once its send buffer and this socket's receive buffer are full.
      const flood = await connect("127.0.0.1", port)
      flood.pause()
      clients.push(idle, flood)
      for (const socket of clients) socket.on("error", () => {}) // the server closes them
      flood.write(Buffer.alloc(64 * 1024 * 1024))
      const idleLine = (await server.waitFor(new RegExp(`:${idle.localPort}: .*closing`)))[0]
      const floodLine = (await server.waitFor(new RegExp(`:${flood.localPort}: .*closing`)))[0]
      expect(idleLine).toMatch(/idle: nothing received for 1s \(recv deadline\), closing/)
      expect(floodLine).toMatch(/the peer did not take the echo within 1s \(send deadline\), closing/)
    } finally {
      clients.forEach((socket) => socket.destroy())
      await server.stop()
    }
  }, 30_000)

  it("a port in use, an address this machine does not have, or a bad setting is one line on stderr and exit code 1", async () => {
    await withPortInUse((port) =>
      expectOneLine(
        run("echo-server.ts", [], { env: { PORT: String(port) } }),
        `echo: cannot listen on 127.0.0.1:${port}: address already in use (EADDRINUSE)`,
      ),
    )
    // 192.0.2.0/24 is reserved for documentation (RFC 5737): no machine has it.
    expectOneLine(
      run("echo-server.ts", [], { env: { HOST: "192.0.2.1", PORT: "0" } }),
      "echo: cannot listen on 192.0.2.1:0: address not available (EADDRNOTAVAIL)",
    )
    expectOneLine(run("echo-server.ts", [], { env: { PORT: "echo" } }), /^echo: .*PORT/)
  })
})
