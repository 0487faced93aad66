/**
 * The Driver's file operations on the real kernel, in a fresh directory per test: open (flag strings,
 * O_* bits, O_CLOEXEC, mode), closeFd (cancels what is outstanding on the fd first, refuses new
 * requests meanwhile), the fd-producing rule (an fd made for a caller who aborted is closed, checked
 * in /proc/self/fd), stat against fs.statSync(…, { bigint: true }), truncate, allocate, unlink,
 * rename, mkdir, symlink, link and vectored readAt, each with its errors (code, errno, syscall, path
 * or fd), cancellation before submit, its deadline, and bad arguments rejected before the kernel.
 * Run on both engines (the native-thread project runs it with IOU_TEST_ENGINE=thread).
 */
import {
  closeSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from "node:fs"
import { execFileSync } from "node:child_process"
import * as fsPromises from "node:fs/promises"
import { pbkdf2 } from "node:crypto"
import { constants } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { describe, expect, it } from "vitest"
import { Driver, IoUringError, probe } from "../src/index.ts"
import * as Fixtures from "./fixtures.ts"
import { failure, openFds, ring as open } from "./fixtures.ts"
import { isOpen, UNDER_TEST } from "./helpers.ts"

const supported = probe().supported
const reason = probe().reason ?? ""
const ROOT = process.getuid?.() === 0

const tempDir = (): string => Fixtures.tempDir("iou-files-")
const errnoOf = (code: string): number => -(constants.errno as Record<string, number>)[code]!

describe.skipIf(!supported)(`the file operations${supported ? "" : ` (skipped: ${reason})`}`, () => {
  describe("open and closeFd", () => {
    it("opens with each node:fs flag string as fs.openSync does, always O_CLOEXEC", async () => {
      const ring = open()
      const dir = tempDir()
      const cases: Array<[string, boolean, boolean]> = [
        // flags, creates, truncates
        ["w", true, true],
        ["w+", true, true],
        ["a", true, false],
        ["a+", true, false],
        ["as", true, false],
        ["as+", true, false],
        ["r", false, false],
        ["r+", false, false],
        ["rs+", false, false],
      ]
      for (const [flags, creates, truncates] of cases) {
        const path = join(dir, `f-${flags}`)
        if (!creates || truncates) writeFileSync(path, "abc")
        const fd = await ring.open(path, { flags })
        const mine = openSync(path, flags)
        // The access mode and status flags as /proc reports them, O_CLOEXEC (02000000) apart.
        const info = (n: number) => readFileSync(`/proc/self/fdinfo/${n}`, "utf8").match(/flags:\s+(\d+)/)![1]!
        const ours = parseInt(info(fd), 8)
        expect([flags, ours & 0o2000000]).toEqual([flags, 0o2000000])
        expect([flags, (ours & ~0o2000000 & ~0o100000) >>> 0]).toEqual([
          flags,
          parseInt(info(mine), 8) & ~0o2000000 & ~0o100000,
        ])
        expect([flags, statSync(path).size]).toEqual([flags, truncates ? 0 : creates ? 0 : 3])
        closeSync(mine)
        await ring.closeFd(fd)
        expect(isOpen(fd)).toBe(false)
      }
      // No flags, or null (as node:fs): "r".
      const path = join(dir, "f-r")
      for (const flags of [undefined, null]) {
        const fd = await ring.open(path, { flags: flags as never })
        const bits = parseInt(readFileSync(`/proc/self/fdinfo/${fd}`, "utf8").match(/flags:\s+(\d+)/)![1]!, 8)
        expect([bits & 0o2000000, bits & 0o3]).toEqual([0o2000000, 0]) // O_CLOEXEC, O_RDONLY
        await ring.closeFd(fd)
      }
    })

    it("wx, wx+, ax and ax+ create and then fail with EEXIST; a created file gets the mode under the umask", async () => {
      const ring = open()
      const dir = tempDir()
      for (const flags of ["wx", "wx+", "ax", "ax+"]) {
        const path = join(dir, flags)
        // The mode as a number, or as node:fs also takes it, a string of octal digits.
        const fd = await ring.open(path, { flags, mode: flags === "wx" ? "640" : 0o640 })
        expect(statSync(path).mode & 0o777).toBe(0o640 & ~process.umask())
        await ring.closeFd(fd)
        const error = await failure(ring.open(path, { flags }))
        expect([error.code, error.errno, error.syscall, error.path, error.fd]).toEqual([
          "EEXIST",
          errnoOf("EEXIST"),
          "open",
          path,
          undefined,
        ])
        expect(error.message).toBe(`EEXIST: file already exists, open '${path}'`)
      }
    })

    it("reads every option before the buffers: a getter that detaches or shrinks a buffer gets the buffer's TypeError, nothing reaches the kernel", async () => {
      const ring = open()
      const dir = tempDir()
      const path = join(dir, "f")
      writeFileSync(path, "0123456789")
      const fd = await ring.open(path)
      const submitted = ring.stats().submitted
      const detaching = (buffer: Uint8Array) => ({
        get length() {
          ;(buffer.buffer as ArrayBuffer & { transfer(): ArrayBuffer }).transfer()
          return undefined
        },
      })
      const one = new Uint8Array(8)
      expect(() => ring.readAt(fd, one, 0, detaching(one))).toThrow(TypeError)
      const two = [new Uint8Array(4), new Uint8Array(4)]
      expect(() =>
        ring.readAt(fd, two, 0, {
          get signal() {
            for (const b of two) (b.buffer as ArrayBuffer & { transfer(): ArrayBuffer }).transfer()
            return undefined
          },
        }),
      ).toThrow(TypeError)
      const received = new Uint8Array(8)
      expect(() => ring.recv(fd, received, detaching(received))).toThrow(TypeError)
      expect(ring.stats().submitted).toBe(submitted)
      await ring.closeFd(fd)
    })

    it("takes O_* bits, a Uint8Array path and a file: URL", async () => {
      const ring = open()
      const dir = tempDir()
      const path = join(dir, "bits")
      const { O_CREAT, O_WRONLY, O_TRUNC } = (await import("node:fs")).constants
      const fd = await ring.open(path, { flags: O_CREAT | O_WRONLY | O_TRUNC, mode: 0o600 })
      await ring.writeAt(fd, Buffer.from("bits"), 0)
      await ring.closeFd(fd)
      expect(readFileSync(path, "utf8")).toBe("bits")
      const byBytes = await ring.open(Buffer.from(path))
      const byUrl = await ring.open(pathToFileURL(path))
      const buffer = Buffer.alloc(4)
      expect(await ring.readAt(byUrl, buffer, 0)).toBe(4)
      await ring.closeFd(byBytes)
      await ring.closeFd(byUrl)
    })

    it("encodes paths as node:fs does (UTF-8, a lone surrogate as U+FFFD, long ones too) and keeps each request's own", async () => {
      const ring = open()
      const dir = tempDir()
      mkdirSync(join(dir, "d".repeat(200), "e".repeat(200)), { recursive: true })
      const names = ["é€😀", "lone\uD800x", "\uDC00", join("d".repeat(200), "e".repeat(200), "f")]
      for (const name of names) {
        const path = join(dir, name)
        await ring.closeFd(await ring.open(path, { flags: "wx" }))
        expect([name, statSync(path).isFile()]).toEqual([name, true])
        expect((await ring.stat(Buffer.from(path))).ino).toBe(statSync(path, { bigint: true }).ino)
      }
      // Hundreds of stats and opens in flight at once (paths and statx records over many slabs).
      const files = Array.from({ length: 600 }, (_, i) => join(dir, `file-${i}-${"x".repeat(i % 50)}`))
      for (const path of files) writeFileSync(path, "")
      const stats = await Promise.all(files.map((path) => ring.stat(path)))
      stats.forEach((st, i) => expect([i, st.ino]).toEqual([i, statSync(files[i]!, { bigint: true }).ino]))
      const fds = await Promise.all(files.map((path) => ring.open(path)))
      const inos = await Promise.all(fds.map((fd) => ring.stat(fd).then((st) => st.ino)))
      inos.forEach((ino, i) => expect([i, ino]).toEqual([i, stats[i]!.ino]))
      await Promise.all(fds.map((fd) => ring.closeFd(fd)))
    })

    it("fails with ENOENT, EISDIR, ENOTDIR (and EACCES unless root) carrying path and syscall open", async () => {
      const ring = open()
      const dir = tempDir()
      const missing = join(dir, "missing")
      let e = await failure(ring.open(missing))
      expect([e.code, e.syscall, e.path, e.reason]).toEqual(["ENOENT", "open", missing, "SystemError"])
      e = await failure(ring.open(dir, { flags: "w" }))
      expect([e.code, e.path]).toEqual(["EISDIR", dir])
      writeFileSync(join(dir, "file"), "")
      e = await failure(ring.open(join(dir, "file", "below")))
      expect(e.code).toBe("ENOTDIR")
      // EACCES: root bypasses the permission bits, so that case is left out when running as root.
      if (!ROOT) {
        writeFileSync(join(dir, "locked"), "", { mode: 0o000 })
        e = await failure(ring.open(join(dir, "locked")))
        expect(e.code).toBe("EACCES")
      }
    })

    it("refuses bad arguments before the kernel with Node's codes", () => {
      const ring = open()
      expect(() => ring.open("a\0b")).toThrow(expect.objectContaining({ code: "ERR_INVALID_ARG_VALUE" }))
      expect(() => ring.open(Buffer.from("a\0b"))).toThrow(expect.objectContaining({ code: "ERR_INVALID_ARG_VALUE" }))
      expect(() => ring.open("\0")).toThrow(
        expect.objectContaining({
          code: "ERR_INVALID_ARG_VALUE",
          message: 'path must be a string without null bytes, got "\\u0000"',
        }),
      )
      expect(() => ring.open(42 as never)).toThrow(expect.objectContaining({ code: "ERR_INVALID_ARG_TYPE" }))
      expect(() => ring.open("x", { flags: "rw" })).toThrow(expect.objectContaining({ code: "ERR_INVALID_ARG_VALUE" }))
      expect(() => ring.open("x", { flags: -1 })).toThrow(RangeError)
      expect(() => ring.open("x", { mode: 0o10000 })).toThrow(expect.objectContaining({ code: "ERR_OUT_OF_RANGE" }))
      expect(() => ring.open("x", { mode: "10000" })).toThrow(expect.objectContaining({ code: "ERR_OUT_OF_RANGE" }))
      for (const bad of ["0o644", "", "8", " 644", "644 "]) {
        expect(() => ring.open("x", { flags: "w", mode: bad })).toThrow(
          expect.objectContaining({ code: "ERR_INVALID_ARG_VALUE" }),
        )
      }
      expect(() => ring.open(new URL("http://x/y"))).toThrow(
        expect.objectContaining({ code: "ERR_INVALID_URL_SCHEME" }),
      )
      expect(() => ring.closeFd(-1)).toThrow(expect.objectContaining({ name: "RangeError", code: "ERR_OUT_OF_RANGE" }))
      expect(() => ring.stat(1.5)).toThrow(expect.objectContaining({ name: "RangeError", code: "ERR_OUT_OF_RANGE" }))
      expect(() => ring.closeFd("3" as never)).toThrow(
        expect.objectContaining({ name: "TypeError", code: "ERR_INVALID_ARG_TYPE" }),
      )
      // Any flags but a string or a number is an invalid value, as node:fs says.
      expect(() => ring.open("x", { flags: {} as never })).toThrow(
        expect.objectContaining({ code: "ERR_INVALID_ARG_VALUE" }),
      )
      expect(() => ring.open("x", { closeOnExit: "yes" as never })).toThrow(TypeError)
      expect(() => ring.submitOpen("x", "r", 0o666, 0, () => {}, 1 as never)).toThrow(TypeError)
      expect(ring.stats().outstanding).toBe(0)
    })

    it("an open aborted before it is submitted never reaches the kernel; a zero timeout fails with ETIMEDOUT", async () => {
      const ring = open()
      const dir = tempDir()
      const path = join(dir, "never")
      const before = openFds()
      const e = await failure(ring.open(path, { flags: "w", signal: AbortSignal.abort() }))
      expect([e.name, e.code, e.syscall, e.path]).toEqual(["AbortError", "ABORT_ERR", "open", path])
      const t = await failure(ring.open(path, { flags: "w", timeout: 0 }))
      expect([t.code, t.reason, t.path]).toEqual(["ETIMEDOUT", "Timeout", path])
      expect(() => statSync(path)).toThrow()
      expect(openFds()).toEqual(before)
    })

    it("an fd the kernel made after the caller aborted is closed by the Driver, never handed out (/proc/self/fd)", async () => {
      const ring = open({ engine: "thread" }) // completions cross threads: the abort can land after the kernel's fd
      const dir = tempDir()
      const path = join(dir, "raced")
      writeFileSync(path, "x")
      const before = openFds()
      const gate = new Int32Array(new SharedArrayBuffer(4))
      let successWon = 0
      for (let i = 0; i < 40 && successWon < 3; i++) {
        const controller = new AbortController()
        const opened = ring.open(path, { signal: controller.signal })
        // The first request of a turn is handed to the loop thread at once; blocking this thread
        // lets the kernel make the fd before the abort, which then finds the request completed.
        Atomics.wait(gate, 0, 0, i * 2)
        const cancelledBefore = ring.stats().cancelled
        controller.abort()
        const e = await failure(opened)
        expect([e.name, e.syscall, e.path]).toEqual(["AbortError", "open", path])
        if (ring.stats().cancelled === cancelledBefore) successWon++
      }
      expect(openFds()).toEqual(before)
      expect(successWon).toBeGreaterThan(0)
    })

    it("an open whose deadline passed after the kernel made its fd rejects with ETIMEDOUT and leaks nothing", async () => {
      const ring = open()
      const dir = tempDir()
      const path = join(dir, "timed")
      writeFileSync(path, "x")
      const before = openFds()
      const results = await Promise.allSettled(
        Array.from({ length: 200 }, (_, i) => ring.open(path, { timeout: (i % 5) * 0.05 })),
      )
      for (const r of results) {
        if (r.status === "fulfilled") await ring.closeFd(r.value)
        else expect((r.reason as IoUringError).code).toBe("ETIMEDOUT")
      }
      expect(openFds()).toEqual(before)
    })

    it("closeFd cancels a pending request on the fd (a read of a pipe nobody writes), which fails with EBADF, waits for it, then closes", async () => {
      const ring = open()
      const dir = tempDir()
      const fifo = join(dir, "fifo")
      execFileSync("mkfifo", [fifo])
      const fd = await ring.open(fifo, { flags: "r+" })
      const reading = ring.readAt(fd, Buffer.alloc(8), 0).catch((e: IoUringError) => e)
      await new Promise((done) => setTimeout(done, 20))
      expect(ring.stats().outstanding).toBe(1)
      await ring.closeFd(fd)
      const e = (await reading) as IoUringError
      expect([e.code, e.reason, e.syscall, e.fd]).toEqual(["EBADF", "SystemError", "read", fd])
      expect(isOpen(fd)).toBe(false)
      expect(ring.stats().outstanding).toBe(0)
    })

    it("closeFd cancels the requests on its own fd only, whichever slots they and the others hold (slots reused across fds)", async () => {
      const ring = open()
      const dir = tempDir()
      const [a, b, c] = await Promise.all(
        ["a", "b", "c"].map(async (name) => {
          execFileSync("mkfifo", [join(dir, name)])
          return ring.open(join(dir, name), { flags: "r+" })
        }),
      )
      const read = (fd: number) => ring.readAt(fd, Buffer.alloc(4), 0).catch((e: IoUringError) => e)
      const a1 = read(a!)
      const b1 = read(b!)
      const a2 = read(a!)
      const c1 = read(c!)
      await new Promise((done) => setTimeout(done, 20))
      writeSync(b!, "bbbb") // b1 ends; its slot is free for the next request, on another fd
      expect(await b1).toBe(4)
      const c2 = read(c!)
      await new Promise((done) => setTimeout(done, 20))
      expect(ring.stats().outstanding).toBe(4)
      await ring.closeFd(a!)
      for (const r of [a1, a2]) expect(((await r) as IoUringError).code).toBe("EBADF")
      expect(ring.stats().outstanding).toBe(2) // c's two are untouched
      await ring.closeFd(b!) // nothing outstanding on b: closed at once
      expect(ring.stats().outstanding).toBe(2)
      await ring.closeFd(c!)
      for (const r of [c1, c2]) expect(((await r) as IoUringError).code).toBe("EBADF")
      expect([isOpen(a!), isOpen(b!), isOpen(c!), ring.stats().outstanding]).toEqual([false, false, false, 0])
    })

    it("closeFd ends requests still in the backpressure queue at once (EBADF), and refuses new ones on the fd with EBADF while closing", async () => {
      const ring = open({ size: 1 })
      const dir = tempDir()
      const fifo = join(dir, "fifo")
      execFileSync("mkfifo", [fifo])
      const fd = await ring.open(fifo, { flags: "r+" })
      // Size 1: the first read holds the loop's waiter, the second its inbound queue; the other four
      // wait in the Driver's backpressure queue.
      const reads = Array.from({ length: 6 }, () => ring.readAt(fd, Buffer.alloc(4), 0).catch((e: IoUringError) => e))
      await new Promise((done) => setTimeout(done, 20))
      expect(ring.stats().outstanding).toBe(6)
      const closing = ring.closeFd(fd)
      const refused = await failure(ring.readAt(fd, Buffer.alloc(4), 0))
      expect([refused.code, refused.errno, refused.fd, refused.syscall]).toEqual([
        "EBADF",
        errnoOf("EBADF"),
        fd,
        "read",
      ])
      const twice = await failure(ring.closeFd(fd))
      expect([twice.code, twice.syscall]).toEqual(["EBADF", "close"])
      await closing
      expect(isOpen(fd)).toBe(false)
      for (const read of reads) expect(((await read) as IoUringError).code).toBe("EBADF")
      expect(ring.stats().outstanding).toBe(0)
    })

    it("once its close is sent, closeFd's number is free: a file opened elsewhere with it meanwhile is read, not refused", async () => {
      // node:fs opens a file while the ring's close of the same number is done in the kernel and
      // its completion has not reached JavaScript (the thread engine's loop runs it at once): the
      // new file gets the number, and its requests go through (its closeFd once the first resolved).
      const ring = open()
      const dir = tempDir()
      writeFileSync(join(dir, "a"), "a")
      writeFileSync(join(dir, "b"), "b")
      let reused = 0
      for (let i = 0; i < 20; i++) {
        const first = openSync(join(dir, "a"), "r")
        const closing = ring.closeFd(first)
        await null
        const until = performance.now() + 5
        while (performance.now() < until) {
          // the loop thread (thread engine) closes the fd meanwhile
        }
        const second = openSync(join(dir, "b"), "r")
        if (second === first) reused++
        const into = Buffer.alloc(1)
        expect(await ring.readAt(second, into, 0)).toBe(1)
        expect(into.toString()).toBe("b")
        await closing
        await ring.closeFd(second)
        expect(isOpen(second)).toBe(false)
      }
      if (ring.config.engine === "thread") expect(reused).toBeGreaterThan(0)
    })

    it("closeFd in the turn of the requests it cancels: each ends with EBADF, those the loop has no room for too (none with AbortError)", async () => {
      // Size 2: of the three reads sent in one turn, the inline engine stages all three for the
      // turn's batch and the loop takes two; the third goes to the backpressure queue when closeFd
      // hands the batch over. Six rounds: the loop's room differs from one round to the next.
      const ring = open({ size: 2 })
      const dir = tempDir()
      const fifo = join(dir, "fifo")
      execFileSync("mkfifo", [fifo])
      for (let round = 0; round < 6; round++) {
        const fd = await ring.open(fifo, { flags: "r+" })
        const reads = [0, 1, 2].map(() =>
          ring.readAt(fd, Buffer.alloc(4), 0).then(
            () => "read",
            (e: IoUringError) => `${e.name} ${e.code}`,
          ),
        )
        await ring.closeFd(fd)
        expect([round, ...(await Promise.all(reads))]).toEqual([round, ...Array(3).fill("IoUringError EBADF")])
        expect(isOpen(fd)).toBe(false)
      }
      expect(ring.stats().outstanding).toBe(0)
    })

    it("closeFd of an fd that is not open fails with EBADF; Driver.close() leaves the caller's fds open", async () => {
      const ring = Driver.open(UNDER_TEST)
      const dir = tempDir()
      const e = await failure(ring.closeFd(1_000_000))
      expect([e.code, e.syscall, e.fd]).toEqual(["EBADF", "close", 1_000_000])
      // The highest fd numbers the Driver accepts: the kernel answers EBADF for each.
      for (const fd of [2 ** 21, 2 ** 31 - 1]) {
        expect((await failure(ring.readAt(fd, Buffer.alloc(1), 0))).code).toBe("EBADF")
        expect((await failure(ring.closeFd(fd))).code).toBe("EBADF")
      }
      writeFileSync(join(dir, "kept"), "k")
      const fd = await ring.open(join(dir, "kept"))
      await ring.close()
      expect(isOpen(fd)).toBe(true)
      closeSync(fd)
      const closed = await failure(ring.open(join(dir, "kept")))
      expect(closed.code).toBe("ERR_IOU_CLOSED")
    })

    it("closeFd on a closing Driver still closes the fd, once the requests on it ended (cancelled, EBADF); on a closed one at once", async () => {
      const ring = open()
      const dir = tempDir()
      const fifo = join(dir, "fifo")
      execFileSync("mkfifo", [fifo])
      const fd = await ring.open(fifo, { flags: "r+" })
      const read = ring.readAt(fd, Buffer.alloc(4), 0).catch((e: IoUringError) => e)
      await new Promise((done) => setTimeout(done, 20))
      const closingDriver = ring.close({ shutdownTimeout: 60_000 }) // the drain waits for the read
      await ring.closeFd(fd)
      expect(((await read) as IoUringError).code).toBe("EBADF")
      expect(isOpen(fd)).toBe(false)
      expect(await closingDriver).toEqual({ completed: 1, abandoned: 0 })
      writeFileSync(join(dir, "after"), "a")
      const after = openSync(join(dir, "after"), "r")
      await ring.closeFd(after)
      expect(isOpen(after)).toBe(false)
      const twice = await failure(ring.closeFd(after))
      expect([twice.code, twice.syscall, twice.fd]).toEqual(["EBADF", "close", after])
    })

    it("the low-level submitOpen and submitCloseFd call back once with the fd, then with 0", async () => {
      const ring = open()
      const dir = tempDir()
      const fd = await new Promise<number>((done, fail) =>
        ring.submitOpen(join(dir, "low"), "w", 0o600, 0, (error, result) => (error ? fail(error) : done(result))),
      )
      expect(isOpen(fd)).toBe(true)
      const result = await new Promise<number>((done, fail) =>
        ring.submitCloseFd(fd, (error, r) => (error ? fail(error) : done(r))),
      )
      expect(result).toBe(0)
      expect(isOpen(fd)).toBe(false)
    })
  })

  describe("stat", () => {
    const FIELDS = ["dev", "ino", "mode", "nlink", "uid", "gid", "rdev", "size", "blksize", "blocks"] as const
    const TIMES = ["atime", "mtime", "ctime", "birthtime"] as const
    const same = (ours: Awaited<ReturnType<Driver["stat"]>>, node: ReturnType<typeof statSync> & object) => {
      const theirs = node as unknown as Record<string, unknown>
      for (const f of FIELDS) expect([f, ours[f]]).toEqual([f, theirs[f]])
      for (const t of TIMES) {
        expect([t, ours[`${t}Ns`]]).toEqual([t, theirs[`${t}Ns`]])
        expect([t, ours[`${t}Ms`]]).toEqual([t, theirs[`${t}Ms`]])
        expect([t, ours[t].getTime()]).toEqual([t, (theirs[t] as Date).getTime()])
      }
      for (const m of [
        "isFile",
        "isDirectory",
        "isSymbolicLink",
        "isFIFO",
        "isSocket",
        "isBlockDevice",
        "isCharacterDevice",
      ] as const) {
        expect([m, ours[m]()]).toEqual([m, (theirs[m] as () => boolean).call(node)])
      }
    }

    it("by path, by fd and of a link itself, field by field as fs.statSync(…, { bigint: true })", async () => {
      const ring = open()
      const dir = tempDir()
      const path = join(dir, "f")
      writeFileSync(path, "0123456789")
      symlinkSync("f", join(dir, "link"))
      same(await ring.stat(path), statSync(path, { bigint: true }))
      same(await ring.stat(join(dir, "link")), statSync(path, { bigint: true }))
      same(
        await ring.stat(join(dir, "link"), { followSymlinks: false }),
        lstatSync(join(dir, "link"), { bigint: true }),
      )
      same(await ring.stat(dir), statSync(dir, { bigint: true }))
      same(await ring.stat("/dev/null"), statSync("/dev/null", { bigint: true }))
      const fd = openSync(path, "r")
      same(await ring.stat(fd), fstatSync(fd, { bigint: true }))
      closeSync(fd)
      const st = await ring.stat(path)
      expect([st.isFile(), st.size]).toEqual([true, 10n])
      // Before 1970, within a millisecond: ms as BigIntStats' (ns / 1e6n, toward zero).
      execFileSync("touch", ["-a", "-d", "@-0.0005", path])
      execFileSync("touch", ["-m", "-d", "@-1.5", path])
      same(await ring.stat(path), statSync(path, { bigint: true }))
      expect([(await ring.stat(path)).atimeMs, (await ring.stat(path)).mtimeMs]).toEqual([0n, -1500n])
    })

    it("fails with ENOENT and ENOTDIR carrying the path, EBADF carrying the fd; aborted and timed out before the kernel", async () => {
      const ring = open()
      const dir = tempDir()
      const missing = join(dir, "none")
      let e = await failure(ring.stat(missing))
      expect([e.code, e.syscall, e.path, e.fd]).toEqual(["ENOENT", "stat", missing, undefined])
      writeFileSync(join(dir, "f"), "")
      e = await failure(ring.stat(join(dir, "f", "x")))
      expect(e.code).toBe("ENOTDIR")
      // Named as node:fs names its calls: lstat without following links, fstat of an fd.
      e = await failure(ring.stat(missing, { followSymlinks: false }))
      expect([e.code, e.syscall, e.path]).toEqual(["ENOENT", "lstat", missing])
      e = await failure(ring.stat(1_000_000))
      expect([e.code, e.syscall, e.fd, e.path]).toEqual(["EBADF", "fstat", 1_000_000, undefined])
      const viaCallback = await new Promise<Error | null>((done) => ring.submitStat(1_000_000, true, 0, done))
      expect(viaCallback).toMatchObject({ code: "EBADF", syscall: "fstat" })
      e = await failure(ring.stat(dir, { signal: AbortSignal.abort() }))
      expect([e.name, e.path]).toEqual(["AbortError", dir])
      e = await failure(ring.stat(dir, { timeout: 0 }))
      expect(e.code).toBe("ETIMEDOUT")
      expect(() => ring.stat(-1)).toThrow(RangeError)
      expect(() => ring.stat(dir, { followSymlinks: 1 as never })).toThrow(TypeError)
    })

    it("makes each Date on first access as node:fs does: the right time, then the same Date every time", async () => {
      const ring = open()
      const dir = tempDir()
      const path = join(dir, "f")
      writeFileSync(path, "x")
      utimesSync(path, new Date(1_500_000_000_125), new Date(1_600_000_000_500))
      const st = await ring.stat(path)
      const node = statSync(path, { bigint: true })
      // Before any access the Dates are no own properties, as with node:fs's BigIntStats.
      expect(Object.keys(st)).toEqual(Object.keys(node))
      expect(st.mtime.getTime()).toBe(1_600_000_000_500)
      expect(st.atime.getTime()).toBe(1_500_000_000_125)
      for (const t of TIMES) {
        const date = st[t]
        expect([t, date instanceof Date, date.getTime()]).toEqual([t, true, Number(st[`${t}Ms`])])
        expect(st[t]).toBe(date)
      }
      expect(new Set(Object.keys(st))).toEqual(new Set([...Object.keys(node), ...TIMES]))
      // Another stats object has Dates of its own.
      const again = await ring.stat(path)
      expect(again.mtime).not.toBe(st.mtime)
      expect(again.mtime.getTime()).toBe(st.mtime.getTime())
    })

    it("submitStat calls back once with the stats", async () => {
      const ring = open()
      const stats = await new Promise<unknown>((done, fail) =>
        ring.submitStat("/", true, 0, (error, st) => (error ? fail(error) : done(st))),
      )
      expect((stats as { isDirectory(): boolean }).isDirectory()).toBe(true)
    })
  })

  describe("truncate and allocate", () => {
    it("truncate sets the size (bigint too); EINVAL on a read-only fd; EBADF carries the fd", async () => {
      const ring = open()
      const dir = tempDir()
      const path = join(dir, "f")
      writeFileSync(path, "0123456789")
      const fd = await ring.open(path, { flags: "r+" })
      await ring.truncate(fd, 4)
      expect(readFileSync(path, "utf8")).toBe("0123")
      await ring.truncate(fd, 1n << 20n)
      expect(statSync(path).size).toBe(1 << 20)
      // No length: 0, as node:fs's ftruncate.
      await ring.truncate(fd)
      expect(statSync(path).size).toBe(0)
      await ring.closeFd(fd)
      const ro = await ring.open(path)
      const e = await failure(ring.truncate(ro, 0))
      expect([e.code, e.syscall, e.fd]).toEqual(["EINVAL", "ftruncate", ro])
      await ring.closeFd(ro)
      const bad = await failure(ring.truncate(1_000_000, 0))
      expect([bad.code, bad.fd]).toEqual(["EBADF", 1_000_000])
      expect(() => ring.truncate(0, -1)).toThrow(expect.objectContaining({ code: "ERR_OUT_OF_RANGE" }))
      expect((await failure(ring.truncate(fd, 0, { signal: AbortSignal.abort() }))).name).toBe("AbortError")
      expect((await failure(ring.truncate(fd, 0, { timeout: 0 }))).code).toBe("ETIMEDOUT")
    })

    it("allocate reserves blocks (keepSize leaves the size), punchHole reads back as zeros; ESPIPE on a pipe", async () => {
      const ring = open()
      const dir = tempDir()
      const path = join(dir, "f")
      writeFileSync(path, Buffer.alloc(8192, 0x61))
      const fd = await ring.open(path, { flags: "r+" })
      await ring.allocate(fd, 0, 1 << 20, { keepSize: true })
      expect(statSync(path).size).toBe(8192)
      expect(statSync(path).blocks * 512).toBeGreaterThanOrEqual(1 << 20)
      await ring.allocate(fd, 8192, 4096)
      expect(statSync(path).size).toBe(8192 + 4096)
      try {
        await ring.allocate(fd, 0, 4096, { punchHole: true })
        expect(
          readFileSync(path)
            .subarray(0, 4096)
            .every((b) => b === 0),
        ).toBe(true)
        expect(readFileSync(path)[4096]).toBe(0x61)
      } catch (error) {
        expect((error as IoUringError).code).toBe("EOPNOTSUPP") // a file system without hole punching
      }
      await ring.closeFd(fd)
      const fifo = join(dir, "fifo")
      execFileSync("mkfifo", [fifo])
      const pipe = await ring.open(fifo, { flags: "r+" })
      const e = await failure(ring.allocate(pipe, 0, 10))
      expect([e.code, e.syscall, e.fd]).toEqual(["ESPIPE", "fallocate", pipe])
      await ring.closeFd(pipe)
      expect((await failure(ring.allocate(pipe, 0, 1, { signal: AbortSignal.abort() }))).name).toBe("AbortError")
      expect((await failure(ring.allocate(pipe, 0, 1, { timeout: 0 }))).code).toBe("ETIMEDOUT")
      expect(() => ring.allocate(0, 0, 1, { keepSize: "yes" as never })).toThrow(TypeError)
      // Ranges the kernel would refuse (fallocate(2): EINVAL for length 0, EFBIG past 2^63 - 1),
      // refused at the call.
      const outOfRange = expect.objectContaining({ name: "RangeError", code: "ERR_OUT_OF_RANGE" })
      expect(() => ring.allocate(0, 0, 0)).toThrow(outOfRange)
      expect(() => ring.allocate(0, 0n, 0n)).toThrow(outOfRange)
      expect(() => ring.allocate(0, 2n ** 63n - 1n, 1)).toThrow(outOfRange)
      expect(() => ring.submitAllocate(0, 2n ** 62n, 2n ** 62n, false, false, 0, () => {})).toThrow(outOfRange)
    })
  })

  describe("unlink, rename, mkdir, symlink, link", () => {
    it("unlink removes a file; directory removes an empty directory with syscall rmdir; their errors carry the path", async () => {
      const ring = open()
      const dir = tempDir()
      const file = join(dir, "f")
      writeFileSync(file, "")
      mkdirSync(join(dir, "d"))
      writeFileSync(join(dir, "d", "inside"), "")
      await ring.unlink(file)
      expect(() => statSync(file)).toThrow()
      let e = await failure(ring.unlink(file))
      expect([e.code, e.syscall, e.path]).toEqual(["ENOENT", "unlink", file])
      e = await failure(ring.unlink(join(dir, "d")))
      expect(["EISDIR", "EPERM"]).toContain(e.code)
      e = await failure(ring.unlink(join(dir, "d"), { directory: true }))
      expect([e.code, e.syscall, e.path]).toEqual(["ENOTEMPTY", "rmdir", join(dir, "d")])
      expect(e.message).toBe(`ENOTEMPTY: directory not empty, rmdir '${join(dir, "d")}'`)
      await ring.unlink(join(dir, "d", "inside"))
      await ring.unlink(join(dir, "d"), { directory: true })
      expect(() => statSync(join(dir, "d"))).toThrow()
      writeFileSync(file, "")
      e = await failure(ring.unlink(file, { directory: true }))
      expect([e.code, e.syscall]).toEqual(["ENOTDIR", "rmdir"])
      e = await failure(ring.unlink(file, { signal: AbortSignal.abort() }))
      expect(e.name).toBe("AbortError")
      expect((await failure(ring.unlink(file, { timeout: 0 }))).code).toBe("ETIMEDOUT")
      expect(statSync(file).isFile()).toBe(true)
    })

    it("rename replaces unless noReplace (EEXIST with path and dest); ENOENT; aborted and timed out before the kernel", async () => {
      const ring = open()
      const dir = tempDir()
      const a = join(dir, "a")
      const b = join(dir, "b")
      writeFileSync(a, "A")
      writeFileSync(b, "B")
      let e = await failure(ring.rename(a, b, { noReplace: true }))
      expect([e.code, e.syscall, e.path, e.dest]).toEqual(["EEXIST", "rename", a, b])
      expect(e.message).toBe(`EEXIST: file already exists, rename '${a}' -> '${b}'`)
      await ring.rename(a, b)
      expect(readFileSync(b, "utf8")).toBe("A")
      e = await failure(ring.rename(a, b))
      expect([e.code, e.path, e.dest]).toEqual(["ENOENT", a, b])
      await ring.rename(b, a, { noReplace: true })
      expect(readFileSync(a, "utf8")).toBe("A")
      expect((await failure(ring.rename(a, b, { signal: AbortSignal.abort() }))).name).toBe("AbortError")
      expect((await failure(ring.rename(a, b, { timeout: 0 }))).code).toBe("ETIMEDOUT")
      expect(readFileSync(a, "utf8")).toBe("A")
      expect(() => ring.rename(a, "b\u0000c")).toThrow(expect.objectContaining({ code: "ERR_INVALID_ARG_VALUE" }))
    })

    it("mkdir makes one directory with its mode (EEXIST, ENOENT); recursive walks up as fs.mkdir does", async () => {
      const ring = open()
      const dir = tempDir()
      const d = join(dir, "d")
      expect(await ring.mkdir(d, { mode: 0o700 })).toBeUndefined()
      expect(statSync(d).mode & 0o777).toBe(0o700 & ~process.umask())
      // A mode as a string of octal digits, as node:fs takes it, and the mode alone as options.
      expect(await ring.mkdir(join(dir, "octal"), { mode: "750" })).toBeUndefined()
      expect(statSync(join(dir, "octal")).mode & 0o777).toBe(0o750 & ~process.umask())
      await ring.mkdir(join(dir, "bare"), 0o710)
      await ring.mkdir(join(dir, "bareOctal"), "705")
      expect(statSync(join(dir, "bare")).mode & 0o777).toBe(0o710 & ~process.umask())
      expect(statSync(join(dir, "bareOctal")).mode & 0o777).toBe(0o705 & ~process.umask())
      let e = await failure(ring.mkdir(d))
      expect([e.code, e.syscall, e.path]).toEqual(["EEXIST", "mkdir", d])
      e = await failure(ring.mkdir(join(dir, "x", "y")))
      expect([e.code, e.path]).toEqual(["ENOENT", join(dir, "x", "y")])
      expect(await ring.mkdir(join(dir, "x", "y", "z"), { recursive: true })).toBe(join(dir, "x"))
      expect(statSync(join(dir, "x", "y", "z")).isDirectory()).toBe(true)
      expect(await ring.mkdir(join(dir, "x", "y", "z"), { recursive: true })).toBeUndefined()
      expect(await ring.mkdir(join(dir, "x", "y", "w"), { recursive: true })).toBe(join(dir, "x", "y", "w"))
      writeFileSync(join(dir, "file"), "")
      e = await failure(ring.mkdir(join(dir, "file"), { recursive: true }))
      expect([e.code, e.path]).toEqual(["EEXIST", join(dir, "file")])
      e = await failure(ring.mkdir(join(dir, "file", "below"), { recursive: true }))
      expect(e.code).toBe("ENOTDIR")
      expect((await failure(ring.mkdir(join(dir, "n"), { signal: AbortSignal.abort() }))).name).toBe("AbortError")
      expect((await failure(ring.mkdir(join(dir, "n", "m"), { recursive: true, timeout: 0 }))).code).toBe("ETIMEDOUT")
      expect(() => statSync(join(dir, "n"))).toThrow()
      // A Buffer path need not be UTF-8: recursive walks up its bytes, as fs.mkdir does.
      const bytes = Buffer.concat([Buffer.from(join(dir, "a")), Buffer.from([0xff]), Buffer.from("/b")])
      await ring.mkdir(bytes, { recursive: true })
      const names = readdirSync(dir, { encoding: "buffer" }).map((n) => n.toString("hex"))
      expect(names).toContain("61ff")
      expect(readdirSync(Buffer.concat([Buffer.from(join(dir, "a")), Buffer.from([0xff])]), "utf8")).toEqual(["b"])
    })

    it("recursive mkdir of a name that exists but cannot be stat'ed fails as fs.promises.mkdir does", async () => {
      // A dangling symlink, a symlink loop, a regular file named with a trailing slash, a dangling
      // symlink as a parent, and as parents found once a missing directory was made (through
      // `nope/..`, which node:fs walks the same way) a file, a symlink loop and a dangling symlink:
      // the same code, syscall and path as node:fs's mkdir.
      const ring = open()
      const dir = tempDir()
      writeFileSync(join(dir, "f"), "")
      symlinkSync("nowhere", join(dir, "dangle"))
      symlinkSync("l2", join(dir, "l1"))
      symlinkSync("l1", join(dir, "l2"))
      const names = ["f/", "dangle", join("dangle", "a", "b"), "l1", "nope/../f/z", "nope/../l1/z", "nope/../dangle/z"]
      for (const name of names) {
        const path = name === "f/" ? `${join(dir, "f")}/` : `${dir}/${name}`
        rmSync(join(dir, "nope"), { recursive: true, force: true })
        const node = await fsPromises.mkdir(path, { recursive: true }).then(
          () => undefined,
          (error: NodeJS.ErrnoException) => [error.code, error.syscall, error.path],
        )
        rmSync(join(dir, "nope"), { recursive: true, force: true })
        const e = await failure(ring.mkdir(path, { recursive: true }))
        expect([e.code, e.syscall, e.path]).toEqual(node)
      }
    })

    it("symlink stores its target as given; link makes a second name; EEXIST carries path and dest", async () => {
      const ring = open()
      const dir = tempDir()
      const file = join(dir, "f")
      writeFileSync(file, "F")
      await ring.symlink("f", join(dir, "s"))
      expect(readlinkSync(join(dir, "s"))).toBe("f")
      let e = await failure(ring.symlink("f", join(dir, "s")))
      expect([e.code, e.syscall, e.path, e.dest]).toEqual(["EEXIST", "symlink", "f", join(dir, "s")])
      await ring.link(file, join(dir, "h"))
      expect(statSync(file).nlink).toBe(2)
      e = await failure(ring.link(join(dir, "none"), join(dir, "h2")))
      expect([e.code, e.syscall, e.path, e.dest]).toEqual(["ENOENT", "link", join(dir, "none"), join(dir, "h2")])
      expect((await failure(ring.link(file, join(dir, "h3"), { signal: AbortSignal.abort() }))).name).toBe("AbortError")
      expect((await failure(ring.symlink("f", join(dir, "s3"), { timeout: 0 }))).code).toBe("ETIMEDOUT")
    })

    it("the low-level path methods call back once with 0 or the error", async () => {
      const ring = open()
      const dir = tempDir()
      const call = (f: (cb: (e: Error | null, r: number) => void) => void) =>
        new Promise<Error | null>((done) => f((error) => done(error)))
      expect(await call((cb) => ring.submitMkdir(join(dir, "m"), 0o755, 0, cb))).toBeNull()
      expect(await call((cb) => ring.submitSymlink("m", join(dir, "s"), 0, cb))).toBeNull()
      expect(await call((cb) => ring.submitRename(join(dir, "s"), join(dir, "t"), true, 0, cb))).toBeNull()
      expect(await call((cb) => ring.submitLink(join(dir, "t"), join(dir, "u"), 0, cb))).toBeNull()
      expect(await call((cb) => ring.submitUnlink(join(dir, "t"), false, 0, cb))).toBeNull()
      expect(await call((cb) => ring.submitUnlink(join(dir, "u"), false, 0, cb))).toBeNull()
      expect(((await call((cb) => ring.submitUnlink(join(dir, "m"), false, 0, cb))) as IoUringError).syscall).toBe(
        "unlink",
      )
      expect(await call((cb) => ring.submitUnlink(join(dir, "m"), true, 0, cb))).toBeNull()
      expect(readdirSync(dir)).toEqual([])
    })
  })

  describe("vectored readAt", () => {
    it("fills several buffers in order from the position, up to `length`; exact fails at end of file", async () => {
      const ring = open()
      const dir = tempDir()
      const path = join(dir, "f")
      writeFileSync(path, "abcdefghij")
      const fd = await ring.open(path)
      const a = Buffer.alloc(3)
      const b = Buffer.alloc(4)
      expect(await ring.readAt(fd, [a, Buffer.alloc(0), b], 2)).toBe(7)
      expect([a.toString(), b.toString()]).toEqual(["cde", "fghi"])
      const c = Buffer.alloc(3)
      const d = Buffer.alloc(3, 0x2e)
      expect(await ring.readAt(fd, [c, d], 0, { length: 4 })).toBe(4)
      expect([c.toString(), d.toString()]).toEqual(["abc", "d.."])
      expect(await ring.readAt(fd, [Buffer.alloc(8), Buffer.alloc(8)], 4)).toBe(6)
      const e = await failure(ring.readAt(fd, [Buffer.alloc(8), Buffer.alloc(8)], 4, { exact: true }))
      expect([e.code, e.bytes]).toEqual(["ERR_IOU_UNEXPECTED_EOF", 6])
      const low = await new Promise<number>((done, fail) =>
        ring.submitReadAt(fd, [Buffer.alloc(2), Buffer.alloc(2)], 0, 4, true, 0, (error, n) =>
          error ? fail(error) : done(n),
        ),
      )
      expect(low).toBe(4)
      expect(() => ring.readAt(fd, [Buffer.alloc(1), "x" as never], 0)).toThrow(TypeError)
      await ring.closeFd(fd)
    })
  })

  describe("kernels without an opcode", () => {
    it("truncate without IORING_OP_FTRUNCATE (before Linux 6.9) runs ftruncate(2) off the ring; mkdir without MKDIRAT fails with ENOSYS", async () => {
      const saved = process.env["IOU_SIMULATE_MISSING"]
      process.env["IOU_SIMULATE_MISSING"] = "OP_FTRUNCATE,OP_MKDIRAT"
      let ring: Driver
      try {
        ring = open()
      } finally {
        if (saved === undefined) delete process.env["IOU_SIMULATE_MISSING"]
        else process.env["IOU_SIMULATE_MISSING"] = saved
      }
      const dir = tempDir()
      const path = join(dir, "f")
      writeFileSync(path, "0123456789")
      const fd = await ring.open(path, { flags: "r+" })
      const submittedBefore = ring.stats().submitted
      await ring.truncate(fd, 3)
      expect(readFileSync(path, "utf8")).toBe("012")
      expect(ring.stats().submitted).toBe(submittedBefore) // not through the ring
      const e = await failure(ring.truncate(1_000_000, 0))
      expect([e.code, e.syscall, e.fd]).toEqual(["EBADF", "ftruncate", 1_000_000])
      const m = await failure(ring.mkdir(join(dir, "d")))
      expect([m.code, m.syscall, m.path]).toEqual(["ENOSYS", "mkdir", join(dir, "d")])
      const big = await failure(ring.truncate(fd, 2n ** 60n))
      expect([big.code, big.syscall, big.fd]).toEqual(["EFBIG", "ftruncate", fd])
      // The off-ring call counts as a request on its fd: a closeFd waits for it, so the fd number
      // cannot be reused (here by the victim's open) while it may still run. libuv's threadpool is
      // kept busy so that the ftruncate(2) waits in its queue.
      writeFileSync(path, "0123456789")
      const busy = Array.from({ length: 8 }, () => new Promise((done) => pbkdf2("p", "s", 100_000, 64, "sha512", done)))
      const order: Array<string> = []
      const truncating = ring.truncate(fd, 0).then(() => order.push("truncate"))
      await ring.closeFd(fd)
      order.push("close")
      const victimPath = join(dir, "victim")
      writeFileSync(victimPath, "victim")
      const victim = openSync(victimPath, "r+")
      await truncating
      await Promise.all(busy)
      closeSync(victim)
      expect([order, readFileSync(victimPath, "utf8"), readFileSync(path, "utf8")]).toEqual([
        ["truncate", "close"],
        "victim",
        "",
      ])
    })
  })
})
