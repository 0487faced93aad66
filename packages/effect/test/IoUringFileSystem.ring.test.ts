/**
 * IoUringFileSystem really uses the ring: the ring's `submitted` counter moves for each operation
 * `internal/fsOps.ts` marks as on the ring (and for no other), and for each FileSystem method the
 * README lists as on the ring; interrupting a File.read or an open blocked in the kernel cancels it
 * there, and interrupting a readFile or writeFile blocked in its read or write cancels it and
 * closes the fd the method opened before the fiber goes on; a stream stopped early leaves no read
 * ahead outstanding and no fd open, and a stream of a FIFO hands on its bytes in order.
 */
import * as childProcess from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it, layer } from "@effect/vitest"
import { probe } from "@iou/native"
import { Cause, Effect, Exit, Fiber, FileSystem, Scheduler, Scope, Stream } from "effect"
import { IoUring, IoUringFileSystem } from "@iou/effect"
import * as Errors from "../src/internal/errors.ts"
import { nativeError } from "./FakeDriver.ts"
import * as Ops from "../src/internal/fsOps.ts"
import { childResult } from "./children.ts"
import { composedRingLayer, decode, ringLayer, scratchDir, text } from "./fileSystems.ts"

const supported = probe().supported

/** How many requests `effect` submitted to the ring. */
const submittedBy = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const io = yield* IoUring
    const before = (yield* io.stats).submitted
    yield* effect
    return (yield* io.stats).submitted - before
  })

describe.skipIf(!supported)("IoUringFileSystem on the ring", () => {
  layer(ringLayer, { timeout: 30_000, excludeTestServices: true })((it) => {
    it.effect(
      "makeDirectory recursive stops at ENOSPC with that error, as Node's mkdir -p (it reported the stat's ENOENT)",
      () =>
        Effect.gen(function* () {
          const io = yield* IoUring
          const dir = yield* scratchDir
          // A full file system, as the kernel reports it: every mkdir fails with ENOSPC.
          const full = IoUring.of({
            ...io,
            mkdir: () =>
              Errors.failure(nativeError("ENOSPC", { errno: -28, syscall: "mkdir" }), "mkdir", undefined, "mkdir"),
          })
          const fsys = yield* IoUringFileSystem.make.pipe(Effect.provideService(IoUring, full))
          for (const target of [path.join(dir, "x"), path.join(dir, "new", "x")]) {
            const error = yield* Effect.flip(fsys.makeDirectory(target, { recursive: true }))
            assert.deepStrictEqual(
              [error.reason._tag, error.reason.method, (error.reason as { syscall?: string }).syscall],
              ["Unknown", "makeDirectory", "mkdir"],
            )
            assert.strictEqual((error.reason.cause as { code?: string }).code, "ENOSPC")
          }
        }),
    )

    it.effect("each operation marked ON_RING submits to the ring, and the others do not", () =>
      Effect.gen(function* () {
        const ops = Ops.make(yield* IoUring)
        const dir = yield* scratchDir
        const name = path.join(dir, "f")
        fs.writeFileSync(name, "0123456789")
        const fd = fs.openSync(name, "r+")
        yield* Effect.addFinalizer(() => Effect.sync(() => fs.closeSync(fd)))
        const runs: { readonly [K in keyof Ops.FsOps]: Effect.Effect<unknown, unknown> } = {
          open: Effect.flatMap(ops.open(name, fs.constants.O_RDONLY, 0o666), (opened) =>
            Effect.sync(() => fs.closeSync(opened)),
          ),
          close: Effect.flatMap(
            Effect.sync(() => fs.openSync(name, "r")),
            (opened) => ops.close(opened),
          ),
          stat: ops.stat(name, { followSymlinks: true }),
          truncate: ops.truncate(fd, 10),
          unlink: Effect.flatMap(
            Effect.sync(() => fs.writeFileSync(path.join(dir, "u"), "")),
            () => ops.unlink(path.join(dir, "u"), { directory: false }),
          ),
          rename: Effect.flatMap(
            Effect.sync(() => fs.writeFileSync(path.join(dir, "r1"), "")),
            () => ops.rename(path.join(dir, "r1"), path.join(dir, "r2")),
          ),
          mkdir: ops.mkdir(path.join(dir, "d"), { mode: undefined, recursive: false }),
          symlink: ops.symlink(name, path.join(dir, "s")),
          link: ops.link(name, path.join(dir, "h")),
          readAt: ops.readAt(fd, new Uint8Array(4), 0),
          writeAt: ops.writeAt(fd, text("ab"), 0),
          sync: ops.sync(fd),
        }
        for (const op of Object.keys(runs) as Array<keyof Ops.FsOps>) {
          const submitted = yield* submittedBy(runs[op])
          assert.strictEqual(
            submitted > 0,
            Ops.ON_RING[op],
            `${op}: ${submitted} submitted, ON_RING says ${Ops.ON_RING[op]}`,
          )
        }
      }),
    )

    it.effect("the methods the README lists as on the ring submit to it", () =>
      Effect.gen(function* () {
        const fsys = yield* FileSystem.FileSystem
        const dir = yield* scratchDir
        const name = path.join(dir, "f")
        const methods: Record<string, Effect.Effect<unknown, unknown, FileSystem.FileSystem>> = {
          writeFile: fsys.writeFile(name, text("0123456789")),
          readFile: fsys.readFile(name),
          stream: Stream.runDrain(fsys.stream(name, { chunkSize: 4 })),
          sink: Stream.run(Stream.make(text("abc")), fsys.sink(path.join(dir, "g"))),
          open: Effect.scoped(fsys.open(name)),
          stat: fsys.stat(name),
          lstat: fsys.lstat(name),
          truncate: fsys.truncate(name, 10),
          makeDirectory: fsys.makeDirectory(path.join(dir, "d")),
          "makeDirectory recursive": fsys.makeDirectory(path.join(dir, "p/q"), { recursive: true }),
          rename: fsys.rename(path.join(dir, "g"), path.join(dir, "g2")),
          symlink: fsys.symlink(name, path.join(dir, "s")),
          link: fsys.link(name, path.join(dir, "h")),
          remove: fsys.remove(path.join(dir, "g2")),
          makeTempFile: Effect.flatMap(fsys.makeTempFile({ directory: dir }), (file) => fsys.remove(file)),
        }
        for (const [method, run] of Object.entries(methods)) {
          assert.isAbove(yield* submittedBy(run), 0, method)
        }
        const file = yield* fsys.open(name, { flag: "r+" })
        const fileMethods: Record<string, Effect.Effect<unknown, unknown>> = {
          read: file.read(new Uint8Array(4)),
          readAlloc: file.readAlloc(4),
          write: file.write(text("x")),
          writeAll: file.writeAll(text("y")),
          sync: file.sync,
          stat: file.stat,
          truncate: file.truncate(8),
        }
        for (const [method, run] of Object.entries(fileMethods)) {
          assert.isAbove(yield* submittedBy(run), 0, `File.${method}`)
        }
      }),
    )

    // An open blocks in the kernel only on a FIFO without a peer, and only when it goes to io_uring's
    // workers: the ring's first, non-blocking try opens a FIFO for reading at once, so this opens it
    // for writing with O_CREAT ("w"), which io_uring always hands to a worker. No such handle exists
    // for a stat: statx blocks only on a file system that stops answering (a hung NFS or FUSE mount),
    // which a test cannot set up unprivileged, so a stat's interruption is not tested here.
    it.effect(
      "interrupting an open blocked in the kernel (a FIFO without a reader) cancels it there and leaks no fd",
      () =>
        Effect.gen(function* () {
          const fsys = yield* FileSystem.FileSystem
          const io = yield* IoUring
          const dir = yield* scratchDir
          const fifo = path.join(dir, "fifo")
          childProcess.execFileSync("mkfifo", [fifo])
          const fds = () => fs.readdirSync("/proc/self/fd").length
          const fdsBefore = fds()
          const before = yield* io.stats
          const fiber = yield* Effect.forkChild(Effect.scoped(fsys.open(fifo, { flag: "w" })))
          while ((yield* io.stats).outstanding === 0) yield* Effect.sleep(1)
          yield* Fiber.interrupt(fiber)
          const exit = yield* Fiber.await(fiber)
          assert.isTrue(Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause))
          // The interruption returned, so the kernel answered the request (the cleanup waits for it):
          // the worker blocked in the open was woken by the cancel.
          const after = yield* io.stats
          assert.strictEqual(after.outstanding, 0)
          assert.isAbove(after.completed, before.completed)
          assert.strictEqual(fds(), fdsBefore)
          // Nothing is left waiting for a reader: a non-blocking writer still finds none (ENXIO).
          assert.throws(() => fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK), /ENXIO/)
        }),
    )

    // A FIFO with a writer open (r+, which never blocks) opens for reading at once and reads
    // nothing until the writer writes: readFile (not a regular file: read to its end) blocks in its read.
    const fifoWithWriter = Effect.gen(function* () {
      const dir = yield* scratchDir
      const fifo = path.join(dir, "fifo")
      childProcess.execFileSync("mkfifo", [fifo])
      const writer = fs.openSync(fifo, "r+")
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.closeSync(writer)))
      return { fifo, writer }
    })
    /** The fds of this process open on `file`. */
    const fdsOn = (file: string) =>
      fs.readdirSync("/proc/self/fd").filter((fd) => {
        try {
          return fs.readlinkSync(`/proc/self/fd/${fd}`) === file
        } catch {
          return false // the directory's own fd, gone once read
        }
      }).length
    /** Waits until readFile's open ended (its fstat is synchronous on a local file system) and its read is pending in the kernel. */
    const untilReadPending = (submittedBefore: number) =>
      Effect.gen(function* () {
        const io = yield* IoUring
        for (;;) {
          const now = yield* io.stats
          if (now.submitted - submittedBefore >= 2 && now.outstanding === 1) return
          yield* Effect.sleep(1)
        }
      })

    /** Waits until nothing is outstanding on the ring. */
    const untilIdle = Effect.gen(function* () {
      const io = yield* IoUring
      while ((yield* io.stats).outstanding !== 0) yield* Effect.sleep(1)
    })

    it.effect("writeFile of more than 2^31 - 1 bytes is a BadArgument before the file is created", () =>
      Effect.gen(function* () {
        const fsys = yield* FileSystem.FileSystem
        const dir = yield* scratchDir
        const name = path.join(dir, "big")
        // Never touched: the pages stay unallocated. (node:fs throws out of its own callback here.)
        const e = yield* Effect.flip(fsys.writeFile(name, Buffer.allocUnsafeSlow(2 ** 31), { flag: "wx" }))
        assert.deepStrictEqual([e.reason._tag, (e.reason as { method?: string }).method], ["BadArgument", "writeFile"])
        assert.isFalse(fs.existsSync(name))
      }),
    )

    it.effect(
      "writeFile of data that is not a Uint8Array (a plain-JS caller's string) or is over a resizable ArrayBuffer dies with a TypeError and leaves the file as it was, fused or one by one",
      () =>
        Effect.gen(function* () {
          const dir = yield* scratchDir
          const name = path.join(dir, "kept")
          fs.writeFileSync(name, "before")
          // A view of a resizable ArrayBuffer, which the ring's write refuses, is refused before too.
          type Resizable = new (n: number, o: { maxByteLength: number }) => ArrayBuffer
          const resizable = new Uint8Array(new (ArrayBuffer as unknown as Resizable)(4, { maxByteLength: 8 }))
          for (const fsLayer of [ringLayer, composedRingLayer]) {
            for (const data of ["after" as unknown as Uint8Array, resizable]) {
              const exit = yield* Effect.exit(
                Effect.gen(function* () {
                  const fsys = yield* FileSystem.FileSystem
                  yield* fsys.writeFile(name, data)
                }).pipe(Effect.provide(fsLayer)),
              )
              assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
              assert.instanceOf(Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined, TypeError)
              assert.strictEqual(fs.readFileSync(name, "utf8"), "before")
            }
          }
        }),
    )

    it.effect("interrupting a readFile blocked in its read cancels the read and closes the fd it opened", () =>
      Effect.gen(function* () {
        const fsys = yield* FileSystem.FileSystem
        const io = yield* IoUring
        const { fifo } = yield* fifoWithWriter
        assert.strictEqual(fdsOn(fifo), 1) // the writer
        const before = yield* io.stats
        const fiber = yield* Effect.forkChild(fsys.readFile(fifo))
        yield* untilReadPending(before.submitted)
        assert.strictEqual(fdsOn(fifo), 2) // readFile's own
        yield* Fiber.interrupt(fiber)
        const exit = yield* Fiber.await(fiber)
        assert.isTrue(Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause))
        // The interruption returned once the read was cancelled (in the kernel) and the fd closed.
        const after = yield* io.stats
        assert.strictEqual(after.outstanding, 0)
        assert.isAbove(after.cancelled, before.cancelled)
        // open and read; the fstat and (the inline engine's) close are synchronous on a local file system.
        assert.strictEqual(after.submitted - before.submitted, 2)
        assert.strictEqual(fdsOn(fifo), 1)
      }),
    )

    it.effect("interrupting a writeFile blocked in its write (a full FIFO) cancels the write and closes the fd", () =>
      Effect.gen(function* () {
        const fsys = yield* FileSystem.FileSystem
        const io = yield* IoUring
        // The r+ fd is the FIFO's reader, which never reads: the pipe fills and the write blocks.
        const { fifo } = yield* fifoWithWriter
        const before = yield* io.stats
        const fiber = yield* Effect.forkChild(fsys.writeFile(fifo, new Uint8Array(1 << 20)))
        for (;;) {
          const now = yield* io.stats
          if (now.submitted - before.submitted >= 2 && now.outstanding === 1 && fdsOn(fifo) === 2) break
          yield* Effect.sleep(1)
        }
        yield* Fiber.interrupt(fiber)
        const exit = yield* Fiber.await(fiber)
        assert.isTrue(Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause))
        const after = yield* io.stats
        assert.strictEqual(after.outstanding, 0)
        assert.isAbove(after.cancelled, before.cancelled)
        assert.strictEqual(fdsOn(fifo), 1)
      }),
    )

    it.effect(
      "readFiles and writeFiles interrupted at whatever step they are in leave no fd open and nothing pending",
      () =>
        Effect.gen(function* () {
          const fsys = yield* FileSystem.FileSystem
          const io = yield* IoUring
          const dir = yield* scratchDir
          const names = Array.from({ length: 16 }, (_, i) => path.join(dir, `f${i}`))
          for (const name of names) fs.writeFileSync(name, new Uint8Array(4096).fill(0x61))
          const fds = () => fs.readdirSync("/proc/self/fd").length
          const fdsBefore = fds()
          const data = new Uint8Array(4096).fill(0x62)
          for (let round = 0; round < 20; round++) {
            // 256 fibers, each reading or writing files one after the other, interrupted together
            // after a few turns of the loop: some are in their open, fstat, read, write or close.
            const fibers = yield* Effect.forEach(
              Array.from({ length: 256 }, (_, i) => i),
              (i) =>
                Effect.forkChild(
                  Effect.forever(
                    i % 4 === 0
                      ? fsys.writeFile(names[i % names.length]!, data)
                      : fsys.readFile(names[i % names.length]!),
                  ),
                ),
            )
            yield* Effect.sleep(round % 4) // 0 to 3 ms: completions come in meanwhile
            yield* Fiber.interruptAll(fibers)
            assert.strictEqual((yield* io.stats).outstanding, 0)
            assert.strictEqual(fds(), fdsBefore, `round ${round}`)
          }
        }),
    )

    it.effect("readFile of a FIFO reads to its end: what the writer wrote before it closed", () =>
      Effect.gen(function* () {
        const fsys = yield* FileSystem.FileSystem
        const io = yield* IoUring
        const dir = yield* scratchDir
        const fifo = path.join(dir, "fifo")
        childProcess.execFileSync("mkfifo", [fifo])
        const writer = fs.openSync(fifo, "r+")
        const before = yield* io.stats
        const fiber = yield* Effect.forkChild(fsys.readFile(fifo))
        yield* untilReadPending(before.submitted)
        fs.writeSync(writer, "first ")
        yield* Effect.sleep(5) // most likely a read of its own
        fs.writeSync(writer, "second")
        // The last writer closes: once the bytes are read, the next read is end of file.
        fs.closeSync(writer)
        const bytes = yield* Fiber.join(fiber)
        assert.strictEqual(decode(bytes), "first second")
        assert.strictEqual(fdsOn(fifo), 0)
      }),
    )

    it.effect("a stream stopped early leaves no read ahead in flight and closes its fd before it ends", () =>
      Effect.gen(function* () {
        const fsys = yield* FileSystem.FileSystem
        const io = yield* IoUring
        const dir = yield* scratchDir
        const name = path.join(dir, "f")
        const data = new Uint8Array(1 << 20).map((_, i) => (i * 7) & 0xff)
        fs.writeFileSync(name, data)
        const before = yield* io.stats
        // The stat that says "regular file" runs beside the first read and may come back after many
        // reads (it may wait for an io-wq worker): the first chunk waits for it (nothing else is then
        // outstanding), so the pulls after it read ahead.
        let pulled = 0
        const first = yield* Stream.runCollect(
          Stream.take(
            Stream.tap(fsys.stream(name, { chunkSize: 4096 }), () => (pulled++ === 0 ? untilIdle : Effect.void)),
            64,
          ),
        )
        assert.deepStrictEqual(
          first.map((c) => c.byteLength),
          new Array(64).fill(4096),
        )
        assert.deepStrictEqual(new Uint8Array(Buffer.concat(first)), data.subarray(0, 64 * 4096))
        const after = yield* io.stats
        // Reads ahead (started once the stat, beside the first read, said "regular file") were in
        // flight when take stopped the stream: they came back before it ended.
        assert.isAbove(after.submitted - before.submitted, 64 + 3) // open, stat, 64 reads, close, reads ahead
        assert.strictEqual(after.outstanding, 0)
        assert.strictEqual(fdsOn(name), 0)
      }),
    )

    it.effect("a stream of a FIFO reads one chunk at a time: every byte the writer wrote, in order", () =>
      Effect.gen(function* () {
        const fsys = yield* FileSystem.FileSystem
        const dir = yield* scratchDir
        const source = path.join(dir, "source")
        const data = new Uint8Array(300_000).map((_, i) => (i * 31 + (i >> 12)) & 0xff)
        fs.writeFileSync(source, data)
        const fifo = path.join(dir, "fifo")
        childProcess.execFileSync("mkfifo", [fifo])
        // A writer in another process, 1000 bytes a write, while the stream reads 64 KiB chunks.
        const writer = childProcess.spawn("dd", [`if=${source}`, `of=${fifo}`, "bs=1000"], { stdio: "ignore" })
        const exited = new Promise<number | null>((resolve) => writer.on("exit", resolve))
        const chunks = yield* Stream.runCollect(fsys.stream(fifo))
        assert.strictEqual(yield* Effect.promise(() => exited), 0)
        assert.deepStrictEqual(new Uint8Array(Buffer.concat(chunks)), data)
      }),
    )

    it.effect("a stream whose fiber yields often between its pulls still sees every read come back", () =>
      Effect.gen(function* () {
        const fsys = yield* FileSystem.FileSystem
        const dir = yield* scratchDir
        const name = path.join(dir, "f")
        const data = new Uint8Array(1 << 20).map((_, i) => (i * 11) & 0xff)
        fs.writeFileSync(name, data)
        // A read may come back while the pulling fiber has yielded, before it waits for that read.
        for (const ops of [3, 5]) {
          const chunks = yield* Stream.runCollect(fsys.stream(name, { chunkSize: 4096 })).pipe(
            Effect.provideService(Scheduler.MaxOpsBeforeYield, ops),
            Effect.timeout("3 seconds"),
          )
          assert.deepStrictEqual(new Uint8Array(Buffer.concat(chunks)), data)
        }
      }),
    )

    it.effect("a pull waiting when the stream's scope closes fails as a read of the closed fd, not as its end", () =>
      Effect.gen(function* () {
        const fsys = yield* FileSystem.FileSystem
        const io = yield* IoUring
        const { fifo } = yield* fifoWithWriter
        const scope = yield* Scope.make()
        const pull = yield* Stream.toPull(fsys.stream(fifo, { chunkSize: 16 })).pipe(Scope.provide(scope))
        const fiber = yield* Effect.forkChild(pull)
        while ((yield* io.stats).outstanding === 0) yield* Effect.sleep(1)
        yield* Scope.close(scope, Exit.void)
        const exit = yield* Fiber.await(fiber)
        assert.isTrue(Exit.isFailure(exit))
        const error = Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : undefined
        assert.strictEqual(error?._tag, "Some")
        assert.include(String((error as { value: unknown }).value), "EBADF")
        assert.strictEqual(fdsOn(fifo), 1) // the writer's
      }),
    )

    it.effect("interrupting a File.read blocked in the kernel cancels it there and leaves nothing pending", () =>
      Effect.gen(function* () {
        const fsys = yield* FileSystem.FileSystem
        const io = yield* IoUring
        const dir = yield* scratchDir
        const fifo = path.join(dir, "fifo")
        childProcess.execFileSync("mkfifo", [fifo])
        // r+ on a FIFO opens without a writer and never sees end of file: the read blocks in the kernel.
        const file = yield* fsys.open(fifo, { flag: "r+" })
        const before = yield* io.stats
        const fiber = yield* Effect.forkChild(file.read(new Uint8Array(16)))
        while ((yield* io.stats).outstanding === 0) yield* Effect.sleep(1)
        yield* Fiber.interrupt(fiber)
        const exit = yield* Fiber.await(fiber)
        assert.isTrue(Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause))
        const after = yield* io.stats
        assert.strictEqual(after.outstanding, 0)
        assert.isAbove(after.cancelled, before.cancelled)
      }),
    )
  })
})

describe.skipIf(!supported)("IoUringFileSystem in a worker", () => {
  it("a worker terminated while it holds files open (an open File, a stream between chunks) leaves none of them open", () => {
    // In a process of its own, each engine, with and without the latency histograms' wrapper.
    assert.deepStrictEqual(childResult("worker-files-exit-child.mjs"), [
      "inline 2 0",
      "inline histograms 2 0",
      "thread 2 0",
      "thread histograms 2 0",
    ])
  }, 60_000)

  it("a worker that ends right after closing its layer, while its fibers write and read files, leaves no fd on them", () => {
    // Three workers per engine, with and without the histograms.
    assert.deepStrictEqual(childResult("worker-close-exit-child.mjs"), [
      "inline 0",
      "inline histograms 0",
      "thread 0",
      "thread histograms 0",
    ])
  }, 60_000)
})
