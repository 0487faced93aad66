/**
 * acceptMany on the real kernel (both engines: the native-thread project runs this file too): one
 * multishot accept yields each connection with its addresses; stopping it (break, its signal, its
 * timeout) ends it once, and a connection accepted but never handed to the caller is closed (its
 * peer reads end of stream): an fd only reaches a caller who still wants it.
 */
import { closeSync } from "node:fs"
import { afterEach, describe, expect, it } from "vitest"
import { Driver, type IoUringError, probe } from "../src/index.ts"
import { UNDER_TEST } from "./helpers.ts"

const supported = probe().supported
const reason = probe().reason ?? ""

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

const open = (config?: Parameters<typeof Driver.open>[0]): Driver => {
  const ring = Driver.open({ ...UNDER_TEST, ...config })
  cleanups.push(() => ring.close({ shutdownTimeout: 0 }))
  return ring
}
const owned = <A extends { readonly fd: number }>(x: A): A => {
  cleanups.push(() => {
    try {
      closeSync(x.fd)
    } catch {
      // already closed by the test
    }
  })
  return x
}
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms))

describe.skipIf(!supported)(`acceptMany${supported ? "" : ` (skipped: ${reason})`}`, () => {
  it("yields each connection with both its addresses from one multishot accept", async () => {
    const ring = open()
    const listener = owned(await ring.listen({ host: "127.0.0.1", port: 0 }))
    const port = (listener.localAddress as { port: number }).port
    const before = ring.stats().submitted
    const stream = ring.acceptMany(listener)
    const clients = []
    for (let i = 0; i < 5; i++) clients.push(owned(await ring.connect({ host: "127.0.0.1", port })))
    const clientPorts = new Set(clients.map((c) => (c.localAddress as { port: number }).port))
    for (let i = 0; i < 5; i++) {
      const { value } = await stream.next()
      const connection = owned(value!)
      expect((connection.localAddress as { port: number }).port).toBe(port)
      expect(clientPorts.has((connection.remoteAddress as { port: number }).port)).toBe(true)
    }
    await stream.return()
    while (ring.stats().outstanding > 0) await sleep(1)
    // One accept request for five connections, besides the clients' own (socket, then connect).
    expect(ring.stats().submitted - before - 5 * 2).toBe(1)
  })

  it("closes the connections it accepted but never handed over once it is stopped (break or signal)", async () => {
    const ring = open()
    const listener = owned(await ring.listen({ host: "127.0.0.1", port: 0 }))
    const port = (listener.localAddress as { port: number }).port
    for (const stop of ["return", "signal"] as const) {
      const controller = new AbortController()
      const stream = ring.acceptMany(listener, { signal: controller.signal })
      const clients = []
      for (let i = 0; i < 3; i++) clients.push(owned(await ring.connect({ host: "127.0.0.1", port })))
      const first = owned((await stream.next()).value!)
      await sleep(50) // the other two are accepted meanwhile and wait in the iterator
      if (stop === "return") await stream.return()
      else {
        controller.abort()
        expect(await stream.next().catch((e: IoUringError) => e.name)).toBe("AbortError")
      }
      const taken = (first.remoteAddress as { port: number }).port
      for (const client of clients) {
        if ((client.localAddress as { port: number }).port === taken) continue
        // Its server end was closed by the Driver: end of stream.
        expect(await ring.recv(client.fd, Buffer.alloc(8), { timeout: 2000 })).toBe(0)
      }
      while (ring.stats().outstanding > 0) await sleep(1)
    }
  })

  it("ends with ETIMEDOUT at its timeout and refuses a bad listener before the kernel", async () => {
    const ring = open()
    const listener = owned(await ring.listen({ host: "127.0.0.1", port: 0 }))
    const t0 = Driver.now()
    const error = await ring
      .acceptMany(listener, { timeout: 60 })
      .next()
      .catch((e: IoUringError) => e)
    expect(error).toMatchObject({ code: "ETIMEDOUT", syscall: "accept" })
    expect(Driver.now() - t0).toBeGreaterThanOrEqual(60)
    expect(() => ring.acceptMany(-1)).toThrow(RangeError)
    expect(() => ring.submitAcceptMany(listener.fd, 0, undefined as never, () => {})).toThrow(TypeError)
  })
})
