/**
 * The Driver's readFile on the real kernel: whole files of several sizes as fs.readFileSync reads
 * them, files whose size stat does not tell (procfs, a FIFO fed in pieces), its errors (ENOENT from
 * the open, EISDIR from the read, EACCES unless root, bad arguments thrown before the kernel), and
 * its fd on every path (aborted at each step, aborted while a read waits in the kernel, timed out,
 * the Driver closed under it): closed before the Promise settles, checked in /proc/self/fd. Run on both
 * engines (the native-thread project runs it with IOU_TEST_ENGINE=thread).
 */
import { constants as os } from "node:os"
import { chmodSync, closeSync, existsSync, openSync, readFileSync, truncateSync, write, writeFileSync } from "node:fs"
import { execFileSync } from "node:child_process"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { Driver, IoUringError, probe } from "../src/index.ts"
import { binding } from "../src/binding.ts"
import * as Mounts from "../src/Mounts.ts"
import * as Stats from "../src/Stats.ts"
import * as Fixtures from "./fixtures.ts"
import { cleanups, failure, openFds, ring as open } from "./fixtures.ts"
import { isOpen, runChild, UNDER_TEST } from "./helpers.ts"

const supported = probe().supported
const reason = probe().reason ?? ""
const ROOT = process.getuid?.() === 0
const EBADF = os.errno.EBADF
const EINVAL = os.errno.EINVAL

const tempDir = (): string => Fixtures.tempDir("iou-readfile-")
const fifoIn = (dir: string, name = "fifo"): string => {
  const fifo = join(dir, name)
  execFileSync("mkfifo", [fifo])
  return fifo
}
const until = async (done: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !done(); i++) await new Promise((r) => setTimeout(r, 5))
  expect(done()).toBe(true)
}

describe.skipIf(!supported)(`readFile${supported ? "" : ` (skipped: ${reason})`}`, () => {
  it("reads whole files of every size as fs.readFileSync does, into a Buffer of their own", async () => {
    const ring = open()
    const dir = tempDir()
    const before = openFds()
    for (const size of [0, 1, 4095, 4096, 65536, 65537, 1 << 20]) {
      const path = join(dir, `f${size}`)
      const data = Buffer.alloc(size)
      for (let i = 0; i < size; i++) data[i] = (i * 31 + size) & 0xff
      writeFileSync(path, data)
      const got = await ring.readFile(path)
      expect(Buffer.isBuffer(got)).toBe(true)
      expect(got.equals(data)).toBe(true)
      // encoding null (and any falsy value) is a Buffer too, as fs.promises.readFile's.
      if (size === 4096) {
        for (const none of [null, "", false, 0]) {
          expect(Buffer.isBuffer(await ring.readFile(path, { encoding: none as never }))).toBe(true)
        }
      }
      // Never the pool's shared memory: the caller may keep or transfer it.
      if (size > 0) expect(got.buffer.byteLength).toBe(size)
    }
    // With `encoding`, decoded as Buffer.toString decodes it.
    writeFileSync(join(dir, "text"), "héllo wörld")
    const text: string = await ring.readFile(join(dir, "text"), { encoding: "utf8" })
    expect(text).toBe("héllo wörld")
    expect(await ring.readFile(join(dir, "text"), { encoding: "base64" })).toBe(
      readFileSync(join(dir, "text"), "base64"),
    )
    // The encoding alone, as fs.promises.readFile(path, "latin1").
    const latin1: string = await ring.readFile(join(dir, "text"), "latin1")
    expect(latin1).toBe(readFileSync(join(dir, "text"), "latin1"))
    const many = await Promise.all(Array.from({ length: 100 }, () => ring.readFile(join(dir, "f4096"))))
    for (const b of many) expect(b.equals(readFileSync(join(dir, "f4096")))).toBe(true)
    expect(openFds()).toEqual(before)
    expect(ring.stats().outstanding).toBe(0)
  })

  it("reads files whose size stat does not tell until end of file (procfs, a FIFO written in pieces), and one shorter than its stat says (sysfs)", async () => {
    const ring = open()
    const dir = tempDir()
    // sysfs reports 4096 bytes for a file of a few: the reads end before the size statx gave.
    const sysfs = "/sys/devices/system/cpu/online"
    if (existsSync(sysfs)) expect((await ring.readFile(sysfs)).equals(readFileSync(sysfs))).toBe(true)
    const status = (await ring.readFile("/proc/self/status")).toString()
    expect(status).toMatch(/^Name:/)
    expect(status).toContain(`\nPid:\t${process.pid}\n`)
    const fifo = fifoIn(dir)
    // Both ends open here, so that the ring's read waits for data (a FIFO nobody writes to would be
    // at its end at once); 200,000 bytes then come in pieces across chunks, and closing is the end.
    const keeper = openSync(fifo, "r+")
    const reading = ring.readFile(fifo)
    const data = Buffer.alloc(200_000)
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff
    for (let at = 0; at < data.length; at += 30_000) {
      // On libuv's threadpool: a write into a full pipe waits there, not on this thread.
      await new Promise((done) => write(keeper, data, at, Math.min(30_000, data.length - at), done))
      await new Promise((r) => setTimeout(r, 2))
    }
    closeSync(keeper)
    expect((await reading).equals(data)).toBe(true)
  })

  it("fails with the failing step's error: ENOENT from the open, EISDIR from the read, EACCES unless root", async () => {
    const ring = open()
    const dir = tempDir()
    const before = openFds()
    const missing = join(dir, "missing")
    const e = await failure(ring.readFile(missing))
    expect([e.code, e.syscall, e.path]).toEqual(["ENOENT", "open", missing])
    const d = await failure(ring.readFile(dir))
    expect([d.code, d.syscall, d.path]).toEqual(["EISDIR", "read", dir])
    expect(typeof d.fd).toBe("number")
    expect(d.bytes).toBeUndefined() // a read step's count is not readFile's
    if (!ROOT) {
      const locked = join(dir, "locked")
      writeFileSync(locked, "x")
      chmodSync(locked, 0)
      const a = await failure(ring.readFile(locked))
      expect([a.code, a.syscall, a.path]).toEqual(["EACCES", "open", locked])
    }
    expect(openFds()).toEqual(before)
  })

  it("on a local file system stats its fd synchronously; the inline engine closes it synchronously too: a file is two ring requests (open, read), three on the thread engine (and the close)", async () => {
    // The kernel runs every ring statx on an io-wq worker; readFile's stat is binding/file.cc's. The
    // inline engine's close is close(2) (the ring's would run on this thread as well, one round trip
    // later); the thread engine's stays on the ring, where the file's last release runs off this thread.
    const ring = open()
    const path = join(tempDir(), "f")
    writeFileSync(path, "x".repeat(5000))
    const before = openFds()
    const submitted = ring.stats().submitted
    expect((await ring.readFile(path)).length).toBe(5000)
    expect(ring.stats().submitted - submitted).toBe(ring.config.engine === "inline" ? 2 : 3)
    expect(openFds()).toEqual(before)
  })

  it("submitReadFile, the callback form: the Buffer or the error once, after the fd is closed; cancel(handle) as an abort; the deadline; bad arguments thrown", async () => {
    const ring = open()
    const dir = tempDir()
    const path = join(dir, "f")
    const data = Buffer.from("z".repeat(70_000))
    writeFileSync(path, data)
    const fifo = fifoIn(dir)
    const writer = openSync(fifo, "r+") // its reads wait for data that never comes
    cleanups.push(() => closeSync(writer))
    const before = openFds()
    const read = (p: string, deadline = 0) =>
      new Promise<{ error: Error | null; bytes: Buffer | undefined; calls: number }>((resolve) => {
        let calls = 0
        ring.submitReadFile(p, deadline, (error, bytes) => {
          calls++
          setImmediate(() => resolve({ error, bytes, calls }))
        })
      })
    const ok = await read(path)
    expect([ok.error, ok.calls, ok.bytes!.equals(data), ok.bytes!.buffer.byteLength]).toEqual([null, 1, true, 70_000])
    const missing = await read(join(dir, "missing"))
    expect([missing.error?.constructor, (missing.error as IoUringError).code, missing.bytes]).toEqual([
      IoUringError,
      "ENOENT",
      undefined,
    ])
    // A FIFO whose read waits: cancel(handle) ends it with AbortError after closing the fd.
    let ended: Error | null | undefined
    const { completed, submitted } = ring.stats()
    const handle = ring.submitReadFile(fifo, 0, (error) => (ended = error))
    expect(handle).toBeLessThan(0)
    // The open completed and the read is in the loop.
    await until(
      () =>
        ring.stats().completed >= completed + 1 &&
        ring.stats().submitted >= submitted + 2 &&
        ring.stats().outstanding === 1,
    )
    expect(ring.cancel(handle)).toBe(true)
    expect(ring.cancel(handle)).toBe(false)
    await until(() => ended !== undefined)
    expect([ended!.name, (ended as IoUringError).syscall, (ended as IoUringError).path]).toEqual([
      "AbortError",
      "read",
      fifo,
    ])
    expect(ring.cancel(handle)).toBe(false)
    const late = await read(fifo, Driver.now() + 30)
    expect([(late.error as IoUringError).code, (late.error as IoUringError).syscall]).toEqual(["ETIMEDOUT", "read"])
    // A read step's count is not readFile's (what it read is dropped with it): no `bytes`.
    expect((late.error as IoUringError).bytes).toBeUndefined()
    expect(openFds()).toEqual(before)
    expect(() => ring.submitReadFile(42 as never, 0, () => {})).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_ARG_TYPE" }),
    )
    expect(() => ring.submitReadFile(path, -1, () => {})).toThrow(RangeError)
    expect(() => ring.submitReadFile(path, 0, undefined as never)).toThrow(TypeError)
    expect(ring.stats().outstanding).toBe(0)
  })

  it("a file on a mount that is not a local file system (procfs here; NFS, FUSE…) is stat'ed on the ring, which asks the file system", async () => {
    const ring = open()
    const submitted = ring.stats().submitted
    const status = (await ring.readFile("/proc/self/status")).toString()
    expect(status).toContain(`\nPid:\t${process.pid}\n`)
    // open, stat, a read of the text, a read at its end, close.
    expect(ring.stats().submitted - submitted).toBe(5)
  })

  it("Mounts: the local file systems of a mountinfo table, by mount id; this machine's temporary directory and procfs", () => {
    const table = [
      "22 27 0:21 / /proc rw,relatime - proc proc rw",
      "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw",
      "30 27 0:40 / /srv\\040data rw shared:5 - nfs4 host:/x rw,vers=4.2",
      "31 27 0:41 / /tmp rw - tmpfs tmpfs rw",
      "32 27 0:42 / /c rw - fuse.sshfs host: rw",
      "33 27 0:43 / /d rw master:1 shared:2 - overlay overlay rw,lowerdir=/l",
      "",
    ].join("\n")
    expect([...Mounts.parseMountInfo(table)]).toEqual([
      [22, false],
      [27, true],
      [30, false],
      [31, true],
      [32, false],
      [33, true],
    ])
    const fd = openSync(join(tempDir(), "f"), "w")
    try {
      const record = new Uint8Array(Stats.STATX_SIZE)
      expect(binding.files.statTypeAndSize(fd, record)).toBe(0)
      const id = Stats.mountId(record)
      expect(id).toBeGreaterThan(0)
      // The temporary directory is on a local file system here (the three-request test needs it).
      expect(Mounts.isLocal(id, Stats.deviceOf(record))).toBe(true)
      // The same id with another device: a mount that reused the id, looked up afresh (same table).
      expect(Mounts.isLocal(id, 4095 * 2 ** 32 + 1048575)).toBe(true)
      const procFd = openSync("/proc/self/status", "r")
      try {
        expect(binding.files.statTypeAndSize(procFd, record)).toBe(0)
        expect(Mounts.isLocal(Stats.mountId(record), Stats.deviceOf(record))).toBe(false)
      } finally {
        closeSync(procFd)
      }
    } finally {
      closeSync(fd)
    }
  })

  it("submitReadFile: a callback that throws is called once, and its exception is reported as uncaught", async () => {
    const ring = open()
    const dir = tempDir()
    const before = openFds()
    for (const path of [join(dir, "missing"), dir]) {
      let calls = 0
      const uncaught = new Promise<unknown>((resolve) => process.once("uncaughtException", resolve))
      ring.submitReadFile(path, 0, () => {
        calls++
        throw new Error(`user bug ${calls}`)
      })
      expect(((await uncaught) as Error).message).toBe("user bug 1")
      await new Promise((r) => setTimeout(r, 20))
      expect(calls).toBe(1)
    }
    expect(openFds()).toEqual(before)
    expect(ring.stats().outstanding).toBe(0)
  })

  it("binding.files.statTypeAndSize: a regular file's size, any other type as -1, -EBADF for a closed fd, -EINVAL for a record under 256 bytes", () => {
    const dir = tempDir()
    const path = join(dir, "f")
    writeFileSync(path, "y".repeat(70_000))
    const record = new Uint8Array(Stats.STATX_SIZE).fill(0xee)
    const fd = openSync(path, "r")
    try {
      expect(binding.files.statTypeAndSize(fd, record)).toBe(0)
      expect(Stats.regularFileSize(record)).toBe(70_000)
      expect(binding.files.statTypeAndSize(fd, new Uint8Array(Stats.STATX_SIZE - 1))).toBe(-EINVAL)
    } finally {
      closeSync(fd)
    }
    expect(binding.files.statTypeAndSize(fd, record)).toBe(-EBADF)
    expect(binding.files.statTypeAndSize(-100, record)).toBe(-EBADF) // not AT_FDCWD
    const directory = openSync(dir, "r")
    try {
      expect(binding.files.statTypeAndSize(directory, record)).toBe(0)
      expect(Stats.regularFileSize(record)).toBe(-1)
    } finally {
      closeSync(directory)
    }
  })

  it("refuses a file over 2 GiB - 1 as Node does (RangeError ERR_FS_FILE_TOO_LARGE), after closing it", async () => {
    const ring = open()
    const dir = tempDir()
    const before = openFds()
    for (const size of [2 ** 31, 5 * 2 ** 30]) {
      const sparse = join(dir, `sparse-${size}`)
      writeFileSync(sparse, "")
      truncateSync(sparse, size) // a hole: no disk space
      const e = await ring.readFile(sparse).catch((error: unknown) => error)
      expect(e).toBeInstanceOf(RangeError)
      expect(e).toMatchObject({ code: "ERR_FS_FILE_TOO_LARGE", message: `File size (${size}) is greater than 2 GiB` })
    }
    expect(openFds()).toEqual(before)
  })

  it("a step that throws in its callback (the Buffer's allocation) rejects with it after closing the fd", async () => {
    const ring = open()
    const dir = tempDir()
    const path = join(dir, "f")
    writeFileSync(path, "abc")
    const before = openFds()
    const allocate = Buffer.allocUnsafeSlow
    const failed = new RangeError("Array buffer allocation failed")
    Buffer.allocUnsafeSlow = () => {
      throw failed
    }
    let e: unknown
    try {
      // Bounded, so that a Promise that never settles fails this test only, not the ones after it.
      const late = new Promise((done) => setTimeout(() => done("still pending after 2 s"), 2000))
      e = await Promise.race([ring.readFile(path).catch((error: unknown) => error), late])
    } finally {
      Buffer.allocUnsafeSlow = allocate
    }
    expect(e).toBe(failed)
    expect(openFds()).toEqual(before)
    expect((await ring.readFile(path)).toString()).toBe("abc")
  })

  it.skipIf(process.getuid?.() !== 0)(
    "the process changing its credentials mid-way (every later request refused): the fd is closed all the same",
    async () => {
      // In a child, since it changes the process's credentials.
      const result = await runChild(
        `const { readdirSync, writeFileSync } = await import("node:fs")
        const ring = Driver.open(${JSON.stringify(UNDER_TEST)})
        const path = ${JSON.stringify(join(tempDir(), "f"))}
        writeFileSync(path, "abc")
        const fds = () => readdirSync("/proc/self/fd").length
        const before = fds()
        const reading = ring.readFile(path).then(() => "ok", (e) => e.code + "/" + e.syscall)
        process.setgroups([54321]) // the open is sent; the stat (synchronous) is made; the read is refused
        const outcome = await reading
        console.log(JSON.stringify({ outcome, leaked: fds() - before }))
        await ring.close()`,
      )
      expect(result.stderr).toBe("")
      expect(JSON.parse(result.stdout)).toEqual({ outcome: "ERR_IOU_CREDENTIALS_CHANGED/read", leaked: 0 })
    },
  )

  it("throws on bad arguments before the kernel", () => {
    const ring = open()
    expect(() => ring.readFile(42 as never)).toThrow(expect.objectContaining({ code: "ERR_INVALID_ARG_TYPE" }))
    expect(() => ring.readFile("a\0b")).toThrow(expect.objectContaining({ code: "ERR_INVALID_ARG_VALUE" }))
    expect(() => ring.readFile("x", 1 as never)).toThrow(TypeError)
    expect(() => ring.readFile("x", { timeout: -1 })).toThrow(RangeError)
    expect(() => ring.readFile("x", { signal: {} as never })).toThrow(TypeError)
    expect(() => ring.readFile("x", { encoding: "utf9" as never })).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_ARG_VALUE" }),
    )
    // The encoding alone, as fs.promises.readFile takes it: checked the same way.
    expect(() => ring.readFile("x", "utf9" as never)).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_ARG_VALUE" }),
    )
    expect(ring.stats().outstanding).toBe(0)
  })

  it("aborted at any step: AbortError with the signal's reason and the step's syscall, no fd left", async () => {
    const ring = open()
    const dir = tempDir()
    const fifo = fifoIn(dir)
    const keeper = openSync(fifo, "r+") // the read waits for data that never comes
    cleanups.push(() => closeSync(keeper))
    const before = openFds()
    const steps = new Set<string>()
    for (let i = 0; i < 30; i++) {
      const controller = new AbortController()
      const completed = ring.stats().completed
      const reading = ring.readFile(fifo, { signal: controller.signal })
      // Abort after 0 to 2 host-loop turns (while the open or the read is in flight), or once the
      // open has completed (the read waits in the kernel).
      if (i % 4 === 3) await until(() => ring.stats().completed >= completed + 1 && ring.stats().outstanding === 1)
      else for (let turn = 0; turn < i % 4; turn++) await new Promise((r) => setImmediate(r))
      const why = new Error(`stop ${i}`)
      controller.abort(why)
      const e = await failure(reading)
      expect([e.name, e.code, e.path, e.cause]).toEqual(["AbortError", "ABORT_ERR", fifo, why])
      expect(["open", "read"]).toContain(e.syscall)
      steps.add(e.syscall!)
      expect(openFds()).toEqual(before)
    }
    expect(steps.has("read")).toBe(true)
    expect(ring.stats().outstanding).toBe(0)
    const pre = await failure(ring.readFile(fifo, { signal: AbortSignal.abort() }))
    expect([pre.code, pre.syscall]).toEqual(["ABORT_ERR", "open"])
  })

  it("aborted while a read waits in the kernel (a FIFO whose writer sends nothing): the fd is closed before it rejects", async () => {
    const ring = open()
    const dir = tempDir()
    const fifo = fifoIn(dir)
    const writer = openSync(fifo, "r+") // a writer (and reader) so that the open completes at once
    cleanups.push(() => closeSync(writer))
    const before = openFds()
    const controller = new AbortController()
    const reading = ring.readFile(fifo, { signal: controller.signal })
    // The open completes (the stat is synchronous); the read waits for data in the loop (the thread
    // engine's counters move before the Driver has seen the open's completion).
    await until(() => ring.stats().completed >= 1 && ring.stats().submitted >= 2 && ring.stats().outstanding === 1)
    expect(openFds().length).toBe(before.length + 1)
    controller.abort()
    const e = await failure(reading)
    expect([e.name, e.syscall, e.path]).toEqual(["AbortError", "read", fifo])
    expect(typeof e.fd).toBe("number")
    expect(openFds()).toEqual(before)
    expect(ring.stats().outstanding).toBe(0)
  })

  it("times out as one request: ETIMEDOUT from the step the deadline found (the read of a FIFO with no data), the fd closed", async () => {
    const ring = open()
    const dir = tempDir()
    const fifo = fifoIn(dir)
    const writer = openSync(fifo, "r+")
    cleanups.push(() => closeSync(writer))
    const before = openFds()
    const e = await failure(ring.readFile(fifo, { timeout: 30 }))
    expect([e.code, e.syscall, e.path]).toEqual(["ETIMEDOUT", "read", fifo])
    expect(openFds()).toEqual(before)
    expect(ring.stats().outstanding).toBe(0)
  })

  it("the Driver closed while a read waits: it rejects and its fd is closed all the same", async () => {
    const ring = Driver.open({ ...UNDER_TEST })
    const dir = tempDir()
    const fifo = fifoIn(dir)
    const writer = openSync(fifo, "r+")
    cleanups.push(() => closeSync(writer))
    const reading = ring.readFile(fifo).catch((error: unknown) => error)
    // The read is in the loop (the open completed, the read taken): the loop's counters, which the
    // thread engine's loop moves before the Driver has seen the open's completion.
    await until(() => ring.stats().completed >= 1 && ring.stats().submitted >= 2 && ring.stats().outstanding === 1)
    await ring.close({ shutdownTimeout: 100 })
    const e = (await reading) as IoUringError
    expect(e).toBeInstanceOf(IoUringError)
    expect([e.code, e.syscall]).toEqual(["ERR_IOU_ABANDONED", "read"])
    expect(isOpen(e.fd!)).toBe(false)
    const after = await failure(ring.readFile(fifo))
    expect(after.code).toBe("ERR_IOU_CLOSED")
  })
})
