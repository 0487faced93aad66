/**
 * recvMany on the real kernel (both engines: the native-thread project runs this file too): one
 * multishot recv on the Driver's provided buffers yields every chunk until end of stream; the
 * buffers running out re-arms it (counted), the chunks still in order; signal, break, timeout and
 * close end it once; an idle one holds a waiter slot and no buffer.
 */
import { describe, expect, it } from "vitest"
import { Driver, type IoUringError, probe } from "../src/index.ts"
import { type TcpPair, UNDER_TEST } from "./helpers.ts"
import { cleanups, pair } from "./fixtures.ts"

const supported = probe().supported
const reason = probe().reason ?? ""

const open = (config?: Parameters<typeof Driver.open>[0]): Driver => {
  const ring = Driver.open({ ...UNDER_TEST, ...config })
  cleanups.push(() => ring.close({ shutdownTimeout: 0 }))
  return ring
}
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms))
const text = (chunks: ReadonlyArray<Uint8Array>): string => Buffer.concat(chunks).toString()

/** Sends to the pair's other end (a) through the ring. */
const write = (ring: Driver, p: TcpPair, data: string | Uint8Array): Promise<void> =>
  ring.send(p.a, typeof data === "string" ? Buffer.from(data) : data)

describe.skipIf(!supported)(`recvMany${supported ? "" : ` (skipped: ${reason})`}`, () => {
  it("yields every chunk, in order, until end of stream, from one multishot recv request", async () => {
    const ring = open()
    const p = await pair()
    const before = ring.stats().submitted
    const got: Array<Uint8Array> = []
    const done = (async () => {
      for await (const chunk of ring.recvMany(p.b)) got.push(chunk)
    })()
    for (const piece of ["one ", "two ", "three"]) {
      await write(ring, p, piece)
      while (text(got).length < "one two three".indexOf(piece) + piece.length) await sleep(1)
    }
    p.closeA()
    await done
    expect(text(got)).toBe("one two three")
    expect(got.length).toBe(3)
    expect(ring.stats().submitted - before).toBe(1 + 3) // one multishot recv request, and the three sends
    expect(ring.stats()).toMatchObject({ outstanding: 0, pendingOperations: 0, recvBuffersEmpty: 0 })
  })

  it("re-arms when the provided buffers run out (ENOBUFS), counts it, and loses no byte", async () => {
    const ring = open({ recvBuffers: { count: 2, size: 16 } })
    const p = await pair()
    const data = Buffer.alloc(256 * 1024)
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + 3) & 0xff
    const got: Array<Uint8Array> = []
    const done = (async () => {
      for await (const chunk of ring.recvMany(p.b)) {
        expect(chunk.length).toBeLessThanOrEqual(16)
        got.push(chunk)
      }
    })()
    await write(ring, p, data)
    p.closeA()
    await done
    expect(Buffer.concat(got).equals(data)).toBe(true)
    expect(ring.stats().recvBuffersEmpty).toBeGreaterThan(0)
    expect(ring.stats().outstanding).toBe(0)
  })

  it("one cancelled or timed out between an arm's end (ENOBUFS) and its re-arm is counted completed once", async () => {
    // One provided buffer of 16 bytes: every arm ends with ENOBUFS after a chunk, and the Driver
    // re-arms it; the cancel comes from the chunk's callback (between the end and the re-arm), the
    // deadline passes while the arms go on. The loop counted each arm; the end adds no completion.
    for (const how of ["cancel", "deadline"] as const) {
      const ring = open({ recvBuffers: { count: 1, size: 16 } })
      const helper = open()
      const p = await pair()
      const before = ring.stats()
      let handle = 0
      const ended = new Promise<string | undefined>((done) => {
        handle = ring.submitRecvMany(
          p.b,
          how === "deadline" ? Driver.now() + 30 : 0,
          () => {
            if (how === "cancel") ring.cancel(handle)
          },
          (error) => done((error as IoUringError | null)?.code),
        )
      })
      let outcome: string | undefined | null = null
      void ended.then((code) => (outcome = code))
      while (outcome === null) {
        await helper.send(p.a, Buffer.alloc(64, 1))
        await sleep(1)
      }
      expect(outcome).toBe(how === "cancel" ? "ABORT_ERR" : "ETIMEDOUT")
      const s = ring.stats()
      const arms = s.submitted - before.submitted
      expect(s.outstanding).toBe(0)
      expect(s.completed - before.completed).toBe(arms)
      expect(s.cancelled - before.cancelled + s.timedOut - before.timedOut).toBe(1)
    }
  })

  it("ends once when its signal aborts (AbortError after the chunks before it) and when the loop breaks out", async () => {
    const ring = open()
    const p = await pair()
    const controller = new AbortController()
    const stream = ring.recvMany(p.b, { signal: controller.signal })
    await write(ring, p, "first")
    const first = await stream.next()
    expect(Buffer.from(first.value!).toString()).toBe("first")
    controller.abort(new Error("enough"))
    const error = await stream.next().then(
      () => undefined,
      (e: IoUringError) => e,
    )
    expect(error).toMatchObject({ name: "AbortError", syscall: "recv", fd: p.b })
    expect(await stream.next().catch((e: Error) => e.name)).toBe("AbortError")

    const again = ring.recvMany(p.b)
    await write(ring, p, "second")
    let chunks = 0
    for await (const chunk of again) {
      chunks++
      expect(Buffer.from(chunk).toString()).toBe("second")
      break // return(): cancels the multishot in the kernel
    }
    expect(chunks).toBe(1)
    while (ring.stats().outstanding > 0) await sleep(1)
    expect(ring.stats().pendingOperations).toBe(0)
    expect(() => ring.recvMany(-1)).toThrow(RangeError)
    const aborted = ring.recvMany(p.b, { signal: AbortSignal.abort() })
    expect(await aborted.next().catch((e: Error) => e.name)).toBe("AbortError")
  })

  it("return() with chunks still queued discards them and resolves once the request ended: the next receive on the fd gets every later byte", async () => {
    const ring = open({ recvBuffers: { count: 4, size: 16 } })
    const p = await pair()
    const stream = ring.recvMany(p.b)
    await write(ring, p, "0123456789abcdef0123456789ABCDEF") // two chunks of 16
    const first = await stream.next()
    expect(Buffer.from(first.value!).toString()).toBe("0123456789abcdef")
    await sleep(20) // the second chunk is queued, nobody takes it
    expect(await stream.return!()).toEqual({ done: true, value: undefined })
    // The multishot has ended in the kernel: nothing is outstanding, and the next receive is alone.
    expect(ring.stats().outstanding).toBe(0)
    await write(ring, p, "later")
    const again = ring.recvMany(p.b)
    const next = await again.next()
    expect(Buffer.from(next.value!).toString()).toBe("later")
    await again.return!()
  })

  it("ends with ETIMEDOUT at its timeout, chunks or not, and with ERR_IOU_ABANDONED at a close's cutoff", async () => {
    const ring = open()
    const p = await pair()
    const t0 = Driver.now()
    const got: Array<Uint8Array> = []
    const timed = (async () => {
      for await (const chunk of ring.recvMany(p.b, { timeout: 80 })) got.push(chunk)
    })()
    await write(ring, p, "x")
    const error = await timed.then(
      () => undefined,
      (e: IoUringError) => e,
    )
    expect(error).toMatchObject({ code: "ETIMEDOUT", syscall: "recv" })
    expect(Driver.now() - t0).toBeGreaterThanOrEqual(80)
    expect(text(got)).toBe("x")

    const waiting = ring
      .recvMany(p.b)
      .next()
      .then(
        () => "OK",
        (e: IoUringError) => e.code,
      ) // handled before the close rejects it
    await sleep(20)
    await ring.close({ shutdownTimeout: 0 })
    expect(await waiting).toBe("ERR_IOU_ABANDONED")
  })

  it("has a callback form: a chunk callback, then one completion", async () => {
    const ring = open()
    const p = await pair()
    const chunks: Array<string> = []
    const ended = new Promise<[Error | null, number]>((done) => {
      ring.submitRecvMany(
        p.b,
        0,
        (chunk) => chunks.push(Buffer.from(chunk).toString()),
        (error, result) => done([error, result]),
      )
    })
    await write(ring, p, "abc")
    while (chunks.length === 0) await sleep(1)
    p.closeA()
    expect(await ended).toEqual([null, 0])
    expect(chunks).toEqual(["abc"])
    expect(() => ring.submitRecvMany(p.b, 0, undefined as never, () => {})).toThrow(TypeError)
  })

  it("keeps 1,000 idle connections waiting on a ring of size 128 with 8 provided buffers, and serves an active one", async () => {
    const ring = open({ recvBuffers: { count: 8, size: 64 } })
    const idle: Array<TcpPair> = []
    for (let i = 0; i < 1000; i++) idle.push(await pair())
    const streams = idle.map((p) => ring.recvMany(p.b))
    const pending = streams.map((s) => s.next())
    while (ring.stats().pendingOperations < 1000) await sleep(5)
    const active = await pair()
    const echo = ring.recvMany(active.b)
    for (let i = 0; i < 20; i++) {
      await write(ring, active, `ping ${i}`)
      const r = await echo.next()
      expect(Buffer.from(r.value!).toString()).toBe(`ping ${i}`)
    }
    await echo.return()
    for (const s of streams) await s.return()
    expect((await Promise.all(pending)).every((r) => r.done)).toBe(true)
    while (ring.stats().outstanding > 0) await sleep(5)
  }, 60_000)
})
