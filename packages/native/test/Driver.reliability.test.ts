/**
 * Regression tests for the defects an adversarial pass over the public API found: lost requests and
 * early abandonment with long shutdown timeouts, a close that could not be forced down, valid-looking
 * config reported as "io_uring unavailable", options that were arrays or buffers, and buffers whose
 * `length` lies. Each runs for every engine the Driver has.
 */
import { execFileSync } from "node:child_process"
import { closeSync, fstatSync, mkdtempSync, openSync, readdirSync, readlinkSync, rmSync, writeSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { Driver, IoUringError, probe } from "../src/index.ts"
import { HELPERS, runChild, tcpPair } from "./helpers.ts"
import { cleanups, pair, file, ENGINES } from "./fixtures.ts"

const supported = probe().supported
const reason = probe().reason ?? ""

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms))
/** Resolves to "pending" if `p` has not settled within `ms`. */
const within = <T>(p: Promise<T>, ms: number) =>
  Promise.race([
    p.then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    ),
    sleep(ms).then(() => "pending" as const),
  ])

describe.skipIf(!supported)(`reliability${supported ? "" : ` (skipped: ${reason})`}`, () => {
  describe.each(ENGINES)("engine $name", ({ config: engine }) => {
    const open = (config?: Parameters<typeof Driver.open>[0]): Driver => {
      const ring = Driver.open({ ...engine, ...config })
      cleanups.push(() => ring.close({ shutdownTimeout: 0 }))
      return ring
    }

    // One test per way of detaching, so that a failure of one never hides another's.
    it.each(["transfer", "resize", "clone", "worker"])(
      "a buffer detached while the kernel writes into it corrupts nothing (%s)",
      async (mode) => {
        // In a child: the defect crashed the process (glibc abort, SIGSEGV) or wrote into an
        // unrelated Uint8Array that reused the freed memory.
        const result = await runChild(
          `const { tcpPair } = await import(${JSON.stringify(HELPERS)})
           const { writeSync } = await import("node:fs")
           const { Worker } = await import("node:worker_threads")
           const p = await tcpPair()
           const ring = Driver.open(${JSON.stringify(engine)})
           let corrupted = 0
           for (let round = 0; round < 120; round++) {
             let buf = new Uint8Array(4096)
             const r = ring.recv(p.b, buf, { exact: true })
             if (${JSON.stringify(mode)} === "transfer") buf.buffer.transfer()
             else if (${JSON.stringify(mode)} === "resize") buf.buffer.transfer(round % 2 === 0 ? 8192 : 1)
             else if (${JSON.stringify(mode)} === "clone") structuredClone(buf.buffer, { transfer: [buf.buffer] })
             else if (round % 20 === 0) {
               const w = new Worker("import('node:worker_threads').then((w) => w.parentPort.once('message', () => process.exit(0)))", { eval: true })
               w.postMessage(buf.buffer, [buf.buffer])
               await new Promise((done) => w.once("exit", done))
             } else buf.buffer.transfer()
             buf = undefined
             if (round % 10 === 0) globalThis.gc()
             const others = Array.from({ length: 64 }, () => new Uint8Array(4096))
             writeSync(p.a, new Uint8Array(4096).fill(0xab))
             if ((await r) !== 4096) throw new Error("short recv")
             for (const o of others) if (o.includes(0xab)) corrupted++
           }
           // A send whose data is detached under it still sends the bytes it was given.
           let out = new Uint8Array(65536).fill(0xcd)
           const sent = ring.send(p.a, out)
           out.buffer.transfer(1)
           out = undefined
           globalThis.gc()
           const spray = Array.from({ length: 64 }, () => new Uint8Array(65536))
           const got = Buffer.alloc(65536)
           await ring.recv(p.b, got, { exact: true })
           await sent
           console.log("corrupted", corrupted, "sent", got.every((b) => b === 0xcd), spray.length)
           await ring.close()
           await p.close()`,
          { args: ["--expose-gc"], timeoutMs: 30_000 },
        )
        expect({ mode, signal: result.signal, code: result.code, stderr: result.stderr.slice(-500) }).toEqual({
          mode,
          signal: null,
          code: 0,
          stderr: "",
        })
        expect(result.stdout.trim()).toBe("corrupted 0 sent true 64")
      },
      60_000,
    )

    it("a request whose buffer is detached while it waits for room fails with EINVAL, vectored or not, and moves nothing", async () => {
      // maxInFlight 4: the FIFO's reads hold every waiter, so what comes after waits in the Driver's
      // backpressure queue on both engines (with room in the loop, the thread engine's loop would take
      // the requests as they are pushed, buffers attached, before the detach below).
      const ring = open({ size: 4, maxInFlight: 4 })
      const dir = mkdtempSync(join(tmpdir(), "iou-wait-"))
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
      execFileSync("mkfifo", [join(dir, "fifo")])
      const fifo = await ring.open(join(dir, "fifo"), { flags: "r+" })
      // Reads of a FIFO nobody writes fill the loop; what comes after waits in the backpressure queue.
      const blockers = Array.from({ length: 64 }, () =>
        ring.readAt(fifo, new Uint8Array(1), 0).catch((e: IoUringError) => e.code),
      )
      const target = openSync(join(dir, "target"), "w+")
      const source = openSync(join(dir, "source"), "w+")
      writeSync(source, Buffer.alloc(8192, 0x63))
      const outcome = (p: Promise<unknown>) =>
        p.then(
          (v) => `resolved ${String(v)}`,
          (e: IoUringError) => e.code,
        )
      const b = new Uint8Array(4096)
      const into = new Uint8Array(4096)
      const one = new Uint8Array(4096)
      const results = [
        outcome(ring.writeAt(target, [new Uint8Array(4096), b], 0)),
        outcome(ring.readAt(source, [new Uint8Array(4096), into], 0, { exact: true })),
        outcome(ring.writeAt(target, one, 8192)),
      ]
      expect(ring.stats().outstanding).toBeGreaterThan(64)
      ;(b.buffer as ArrayBuffer & { transfer(): ArrayBuffer }).transfer()
      ;(into.buffer as ArrayBuffer & { transfer(n: number): ArrayBuffer }).transfer(0)
      ;(one.buffer as ArrayBuffer & { transfer(): ArrayBuffer }).transfer()
      await ring.closeFd(fifo) // the blockers end (EBADF); the waiting requests reach the binding
      expect(new Set(await Promise.all(blockers))).toEqual(new Set(["EBADF"]))
      expect(await Promise.all(results)).toEqual(["EINVAL", "EINVAL", "EINVAL"])
      expect(fstatSync(target).size).toBe(0)
      closeSync(target)
      closeSync(source)
    })

    it("a signal whose own removeEventListener and reason throw stops no delivery: every request of the batch settles", async () => {
      const ring = open()
      const controller = new AbortController()
      const signal = controller.signal
      Object.defineProperty(signal, "removeEventListener", {
        value: () => {
          throw new Error("removeEventListener")
        },
      })
      Object.defineProperty(signal, "reason", {
        get: () => {
          throw new Error("reason")
        },
      })
      const settled = await Promise.allSettled(Array.from({ length: 21 }, () => ring.nop({ signal })))
      expect(settled.map((s) => s.status)).toEqual(Array.from({ length: 21 }, () => "fulfilled"))
      expect(ring.stats().outstanding).toBe(0)
    })

    it("a signal whose own aborted getter and addEventListener throw changes nothing: every request runs and ends, a fake signal is refused", async () => {
      const ring = open()
      const controller = new AbortController()
      const signal = controller.signal
      Object.defineProperty(signal, "aborted", {
        get: () => {
          throw new Error("aborted")
        },
      })
      Object.defineProperty(signal, "addEventListener", {
        value: () => {
          throw new Error("addEventListener")
        },
      })
      // The Promise API, a request of several steps (listen) and both multishot iterators: each
      // runs and ends as with a plain signal, and nothing of it is left behind.
      await ring.nop({ signal })
      const listener = await ring.listen({ host: "127.0.0.1", port: 0 }, { signal })
      const port = (listener.localAddress as { port: number }).port
      const connected = ring.connect({ host: "127.0.0.1", port }, { signal })
      const accepted = ring.acceptMany(listener, { signal })[Symbol.asyncIterator]()
      const server = (await accepted.next()).value as { fd: number }
      const client = await connected
      const chunks = ring.recvMany(server.fd, { signal })[Symbol.asyncIterator]()
      await ring.send(client.fd, Buffer.from("ping"))
      expect(Buffer.from((await chunks.next()).value as Uint8Array).toString()).toBe("ping")
      controller.abort()
      await expect(chunks.next()).rejects.toMatchObject({ code: "ABORT_ERR" })
      await expect(accepted.next()).rejects.toMatchObject({ code: "ABORT_ERR" })
      for (const fd of [server.fd, client.fd, listener.fd]) await ring.closeFd(fd)
      expect(ring.stats().outstanding).toBe(0)
      // An object made from AbortSignal's prototype is no signal: refused before anything is made.
      const fake = Object.create(AbortSignal.prototype) as AbortSignal
      expect(() => ring.nop({ signal: fake })).toThrow(TypeError)
      expect(() => ring.recvMany(server.fd, { signal: fake })).toThrow(TypeError)
      expect(ring.stats().outstanding).toBe(0)
    })

    it("a signal whose constructor getter throws (EventTarget's own method reads it) is refused before anything is made", async () => {
      const ring = open()
      const signal = new AbortController().signal
      Object.defineProperty(signal, "constructor", {
        get: () => {
          throw new Error("constructor")
        },
      })
      const fds = () => readdirSync("/proc/self/fd").length
      const listener = await ring.listen({ host: "127.0.0.1", port: 0 })
      const port = (listener.localAddress as { port: number }).port
      const before = fds()
      expect(() => ring.nop({ signal })).toThrow(TypeError)
      expect(() => ring.recvMany(listener.fd, { signal })).toThrow(TypeError)
      expect(() => ring.acceptMany(listener, { signal })).toThrow(TypeError)
      // Thrown, not rejected: as every bad argument.
      expect(() => ring.connect({ host: "127.0.0.1", port }, { signal })).toThrow(TypeError)
      expect(() => ring.accept(listener, { signal })).toThrow(TypeError)
      expect(() => ring.listen({ host: "127.0.0.1", port: 0 }, { signal })).toThrow(TypeError)
      expect(() => ring.readFile("/proc/self/stat", { signal })).toThrow(TypeError)
      expect(ring.stats().outstanding).toBe(0)
      expect(fds()).toBe(before)
      await ring.closeFd(listener.fd)
      expect(await ring.close()).toEqual({ completed: 0, abandoned: 0 })
    })

    it("a request made in the continuation of a completion is delivered (a publish inside delivery)", async () => {
      // The continuation of an awaited timeout runs in the microtasks of the delivery that ended it;
      // its nop is published from there. The inline engine once left that nop's completion undelivered.
      const ring = open()
      const { b } = await pair()
      for (let i = 0; i < 5; i++) {
        const timedOut = await ring.recv(b, Buffer.alloc(1), { timeout: 5 }).then(
          () => "resolved",
          (e: IoUringError) => e.code,
        )
        expect(timedOut).toBe("ETIMEDOUT")
        expect(await within(ring.nop(), 2_000)).toEqual({ value: undefined })
      }
    })

    it("a callback that closes the Driver in the middle of a batch: every request still ends exactly once", async () => {
      const ring = open()
      const ended: Array<number> = []
      const handles: Array<number> = []
      const done = new Promise<void>((resolve) => {
        for (let i = 0; i < 64; i++) {
          handles.push(
            ring.submitNop(0, () => {
              ended.push(i)
              if (ended.length === 1) void ring.close({ shutdownTimeout: 0 })
              if (ended.length === 64) resolve()
            }),
          )
        }
      })
      expect(await within(done, 5_000)).toEqual({ value: undefined })
      expect(new Set(ended).size).toBe(64)
      await sleep(20)
      expect(ended.length).toBe(64)
      expect(await ring.close()).toBeDefined()
    })

    it("shutdownTimeout: Infinity in the config waits for every request, which still completes", async () => {
      for (const shutdownTimeout of [Infinity, 9.3e12]) {
        const ring = open({ shutdownTimeout })
        const { a, b } = await pair()
        const buffer = Buffer.alloc(4)
        const recv = ring.recv(b, buffer)
        const closed = ring.close()
        expect(await within(closed, 50)).toBe("pending")
        // The Driver is closing (it takes no new sends): the peer writes with write(2).
        writeSync(a, Buffer.from("ping"))
        expect(await recv).toBe(4)
        expect(buffer.toString()).toBe("ping")
        expect(await closed).toEqual({ completed: 1, abandoned: 0 })
      }
    })

    it("a shutdownTimeout beyond setTimeout's range abandons nothing early (config and close)", async () => {
      const warnings: Array<string> = []
      const onWarning = (w: Error) => warnings.push(w.name)
      process.on("warning", onWarning)
      cleanups.push(() => process.off("warning", onWarning))
      for (const where of ["config", "close"] as const) {
        // A ring of 2: the inbound queue holds 2, the rest wait in the backpressure queue.
        const ring = open(where === "config" ? { size: 2, shutdownTimeout: 2 ** 31 + 5 } : { size: 2 })
        const { a, b } = await pair()
        const recvs = Array.from({ length: 8 }, () =>
          ring.recv(b, Buffer.alloc(1)).then(
            (n) => n,
            (e: Error) => e,
          ),
        )
        const closed = where === "config" ? ring.close() : ring.close({ shutdownTimeout: 2 ** 31 + 5 })
        await sleep(60)
        expect(ring.stats().abandoned).toBe(0)
        writeSync(a, Buffer.alloc(8, 1))
        const results = await Promise.all(recvs)
        expect(results.every((r) => typeof r === "number" && r >= 1)).toBe(true)
        expect(await closed).toEqual({ completed: 8, abandoned: 0 })
      }
      expect(warnings).not.toContain("TimeoutOverflowWarning")
    })

    it("a later close with a smaller timeout forces an unbounded drain down, and returns the same promise", async () => {
      const ring = open()
      const { b } = await pair()
      const recv = ring.recv(b, Buffer.alloc(1)).then(
        () => "resolved",
        (e: IoUringError) => e.code,
      )
      const first = ring.close()
      expect(await within(first, 50)).toBe("pending")
      const second = ring.close({ shutdownTimeout: 0 })
      expect(second).toBe(first)
      expect(await within(first, 5_000)).toEqual({ value: { completed: 0, abandoned: 1 } })
      expect(await recv).toBe("ERR_IOU_ABANDONED")
      // A longer one later never lengthens it; the same promise again.
      expect(ring.close({ shutdownTimeout: 60_000 })).toBe(first)
    })

    it("a later, shorter close also shortens the wait for requests still in the backpressure queue", async () => {
      const ring = open({ size: 1 })
      const { b } = await pair()
      const recvs = Array.from({ length: 6 }, () =>
        ring.recv(b, Buffer.alloc(1)).then(
          () => "resolved",
          (e: IoUringError) => e.code,
        ),
      )
      const first = ring.close({ shutdownTimeout: 600_000 })
      expect(await within(first, 30)).toBe("pending")
      expect(ring.close({ shutdownTimeout: 0 })).toBe(first)
      const result = await within(first, 5_000)
      expect(result).toEqual({ value: { completed: 0, abandoned: 6 } })
      expect(new Set(await Promise.all(recvs))).toEqual(new Set(["ERR_IOU_ABANDONED"]))
    })

    it("rejects out-of-range config with a RangeError naming the field, before opening anything", () => {
      const bad: Array<[Record<string, number>, string]> = [
        [{ timeoutWheelTick: 0 }, "timeoutWheelTick"],
        [{ timeoutWheelTick: 0.5 }, "timeoutWheelTick"],
        [{ timeoutWheelTick: 1e-7 }, "timeoutWheelTick"],
        [{ timeoutWheelTick: 60_001 }, "timeoutWheelTick"],
        [{ timeoutWheelTick: 1.8e13 }, "timeoutWheelTick"],
        [{ maxRequestTimeout: 1e-7 }, "maxRequestTimeout"],
        [{ maxRequestTimeout: 2 ** 31 }, "maxRequestTimeout"],
        [{ maxRequestTimeout: 1.8e13 }, "maxRequestTimeout"],
        [{ maxRequestTimeout: 4, timeoutWheelTick: 5 }, "maxRequestTimeout"],
        [{ shutdownTimeout: -1 }, "shutdownTimeout"],
        [{ shutdownTimeout: Number.NaN }, "shutdownTimeout"],
        [{ shutdownTimeout: -Infinity }, "shutdownTimeout"],
      ]
      for (const [config, field] of bad) {
        let thrown: unknown
        try {
          Driver.open({ ...engine, ...config })
        } catch (error) {
          thrown = error
        }
        expect(thrown, JSON.stringify(config)).toBeInstanceOf(RangeError)
        expect((thrown as { field?: string }).field).toBe(field)
        expect((thrown as { code?: string }).code).toBe("ERR_OUT_OF_RANGE")
        expect((thrown as Error).message.startsWith(field)).toBe(true)
      }
      // The edges of each range open.
      open({ timeoutWheelTick: 1, maxRequestTimeout: 1 })
      open({ timeoutWheelTick: 60_000, maxRequestTimeout: 2 ** 31 - 1, shutdownTimeout: 0 })
    })

    it("close() validates its shutdownTimeout as the config does", async () => {
      const ring = open()
      // With Node's codes, as every bad argument.
      const outOfRange = expect.objectContaining({ name: "RangeError", code: "ERR_OUT_OF_RANGE" })
      expect(() => ring.close({ shutdownTimeout: -1 })).toThrow(outOfRange)
      expect(() => ring.close({ shutdownTimeout: Number.NaN })).toThrow(outOfRange)
      expect(() => ring.close({ shutdownTimeout: "1" as unknown as number })).toThrow(
        expect.objectContaining({ name: "TypeError", code: "ERR_INVALID_ARG_TYPE" }),
      )
      // Nothing changed: the Driver still works.
      await ring.nop()
      expect(await ring.close({ shutdownTimeout: Infinity })).toEqual({ completed: 0, abandoned: 0 })
    })

    it("says EMFILE, not 'unavailable', when the process is out of file descriptors", async () => {
      const result = await runChild(
        `import { openSync } from "node:fs"
         const fds = []
         try { for (;;) fds.push(openSync("/dev/null", "r")) } catch {}
         let code
         try { Driver.open(${JSON.stringify(engine)}) } catch (error) { code = error.code + " " + (error instanceof IoUringError) }
         console.log(code)`,
        { args: [] },
      )
      expect(result.stdout.trim()).toBe("EMFILE true")
    })

    it("refuses an array or a buffer as options instead of reading their length", async () => {
      const ring = open()
      const f = file(Buffer.from("hello"))
      const buffer = Buffer.alloc(5)
      for (const options of [[], [1, 2], Buffer.alloc(2), new Uint8Array(0)]) {
        expect(() => ring.readAt(f.fd, buffer, 0, options as never)).toThrow(TypeError)
        expect(() => ring.recv(f.fd, buffer, options as never)).toThrow(TypeError)
        expect(() => ring.writeAt(f.fd, buffer, 0, options as never)).toThrow(TypeError)
        expect(() => ring.close(options as never)).toThrow(TypeError)
      }
      expect(() => Driver.open([] as never)).toThrow(TypeError)
      // The error names what it got, e.g. a node:fs-style flags string where open takes { flags }.
      expect(() => ring.open(f.path, "r" as never)).toThrow("options must be a plain object, got a string")
      expect(() => ring.readAt(f.fd, buffer, 0, [] as never)).toThrow("got an array")
      expect(await ring.readAt(f.fd, buffer, 0)).toBe(5)
    })

    it("validates ranges against a buffer's real length, whatever its `length` says", async () => {
      const ring = open()
      const f = file(Buffer.from("hello world"))
      class Lying extends Uint8Array {
        override get length(): number {
          return 1 << 20
        }
      }
      const lying = new Lying(4)
      expect(() => ring.readAt(f.fd, lying, 0, { length: 1000 })).toThrow(RangeError)
      expect(() => ring.recv(f.fd, lying, { offset: 100 })).toThrow(RangeError)
      const own = new Uint8Array(4)
      Object.defineProperty(own, "length", { value: 1 << 20 })
      expect(() => ring.readAt(f.fd, own, 0, { length: 1000 })).toThrow(RangeError)
      // Without a range, the real length is what is read and what is written.
      expect(await ring.readAt(f.fd, lying, 0)).toBe(4)
      expect(Buffer.from(lying).toString()).toBe("hell")
      await ring.writeAt(f.fd, own.fill(0x41), 0)
      expect(await ring.readAt(f.fd, Buffer.alloc(11), 0)).toBe(11)
      expect(ring.stats().failed).toBe(0)
    })

    it("a closeFd the shutdown cutoff abandons before the kernel ran it still closes its fd, and says so", async () => {
      // One waiter slot, held by a receive that never gets data: the closeFds behind it wait in the
      // Driver's queue (or the loop's) when close({ shutdownTimeout: 0 }) abandons what is left.
      const ring = Driver.open({ ...engine, size: 1, maxInFlight: 1 })
      const p = await pair()
      const blocked = ring.recv(p.b, new Uint8Array(8)).catch((e: unknown) => e)
      await sleep(20)
      const f = file()
      const fds = [0, 1, 2].map(() => openSync(f.path, "r"))
      const closes = fds.map((fd) =>
        ring.closeFd(fd).then(
          () => "closed",
          (e: unknown) => e,
        ),
      )
      await ring.close({ shutdownTimeout: 0 })
      expect(await blocked).toMatchObject({ code: "ERR_IOU_ABANDONED" })
      expect(await Promise.all(closes)).toEqual(["closed", "closed", "closed"])
      // Closed: the number is free, or (reused since) names something else than this test's file.
      const names = (fd: number): string | undefined => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`)
        } catch {
          return undefined
        }
      }
      for (const fd of fds) expect(names(fd)).not.toBe(f.path)
    })
  })
})
