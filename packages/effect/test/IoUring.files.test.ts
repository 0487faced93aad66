/**
 * The IoUring service's file operations on the real kernel: each one's success and typed failure
 * (reason, code, syscall, path or fd), the timeout option, and interruption: an interrupted open
 * leaves no fd behind (/proc/self/fd), an interrupted read of a pipe returns once the kernel let go,
 * closeFd fails what is pending on the fd with EBADF.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Effect, Exit, Fiber } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { execFileSync } from "node:child_process"
import { probe } from "@iou/native"
import { IoUring, NodeIoUring } from "@iou/effect"

const supported = probe().supported

/** A scratch directory for the test's scope. */
const scratchDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "iou-effect-files-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })),
)

const openFds = () => fs.readdirSync("/proc/self/fd").sort()

describe.skipIf(!supported)("IoUring file operations (real kernel)", () => {
  layer(NodeIoUring.layer({ size: 64, shutdownTimeout: 2000 }), { timeout: 30_000, excludeTestServices: true })(
    (it) => {
      it.effect("open, readAt (vectored), stat by path and fd, truncate, allocate, closeFd", () =>
        Effect.gen(function* () {
          const io = yield* IoUring
          const dir = yield* scratchDir
          const file = path.join(dir, "f")
          fs.writeFileSync(file, "hello, ring")
          const fd = yield* io.open(file, { flags: "r+" })
          const a = new Uint8Array(5)
          const b = new Uint8Array(6)
          assert.strictEqual(yield* io.readAt(fd, [a, b], 0), 11)
          assert.strictEqual(Buffer.from(b).toString(), ", ring")
          const byPath = yield* io.stat(file)
          const byFd = yield* io.stat(fd)
          const node = fs.statSync(file, { bigint: true })
          assert.strictEqual(byPath.ino, node.ino)
          assert.strictEqual(byFd.size, 11n)
          assert.isTrue(byFd.isFile())
          yield* io.truncate(fd, 5)
          yield* io.allocate(fd, 0, 4096, { keepSize: true })
          assert.strictEqual(fs.readFileSync(file, "utf8"), "hello")
          yield* io.closeFd(fd)
          const closed = yield* Effect.flip(io.stat(fd))
          assert.strictEqual(closed.code, "EBADF")
          assert.strictEqual(closed.fd, fd)
        }),
      )

      it.effect("path operations: mkdir (recursive), symlink, link, rename, unlink; errors carry path and dest", () =>
        Effect.gen(function* () {
          const io = yield* IoUring
          const dir = yield* scratchDir
          const deep = path.join(dir, "a", "b")
          assert.strictEqual(yield* io.mkdir(deep, { recursive: true }), path.join(dir, "a"))
          assert.strictEqual(yield* io.mkdir(deep, { recursive: true }), undefined)
          const exists = yield* Effect.flip(io.mkdir(deep))
          assert.deepStrictEqual(
            [exists.reason._tag, exists.code, exists.syscall, exists.path],
            ["SystemError", "EEXIST", "mkdir", deep],
          )
          const file = path.join(deep, "f")
          fs.writeFileSync(file, "F")
          yield* io.symlink("f", path.join(deep, "s"))
          assert.strictEqual(fs.readlinkSync(path.join(deep, "s")), "f")
          yield* io.link(file, path.join(deep, "h"))
          const taken = yield* Effect.flip(io.rename(file, path.join(deep, "h"), { noReplace: true }))
          assert.deepStrictEqual([taken.code, taken.path, taken.dest], ["EEXIST", file, path.join(deep, "h")])
          yield* io.rename(file, path.join(deep, "g"))
          for (const name of ["g", "h", "s"]) yield* io.unlink(path.join(deep, name))
          const rmdir = yield* Effect.flip(io.unlink(dir, { directory: true }))
          assert.deepStrictEqual([rmdir.code, rmdir.syscall], ["ENOTEMPTY", "rmdir"])
          yield* io.unlink(deep, { directory: true })
          const missing = yield* Effect.flip(io.open(path.join(dir, "none")))
          assert.deepStrictEqual(
            [missing.code, missing.syscall, missing.path],
            ["ENOENT", "open", path.join(dir, "none")],
          )
        }),
      )

      it.effect("the timeout option fails an open, a stat and an unlink with Timeout", () =>
        Effect.gen(function* () {
          const io = yield* IoUring
          const dir = yield* scratchDir
          for (const effect of [
            io.open(path.join(dir, "x"), { flags: "w", timeout: 0 }),
            io.stat(dir, { timeout: 0 }),
            io.unlink(dir, { timeout: 0 }),
          ]) {
            const error = yield* Effect.flip(effect)
            assert.strictEqual(error.reason._tag, "Timeout")
          }
          assert.isFalse(fs.existsSync(path.join(dir, "x")))
        }),
      )

      it.effect("interrupted opens leave no fd open: an fd the kernel made meanwhile is closed by the Driver", () =>
        Effect.gen(function* () {
          const io = yield* IoUring
          const dir = yield* scratchDir
          const file = path.join(dir, "f")
          fs.writeFileSync(file, "x")
          const before = openFds()
          for (let i = 0; i < 50; i++) {
            const fiber = yield* Effect.forkChild(io.open(file))
            if (i % 2 === 1) yield* Effect.yieldNow
            const exit = yield* Fiber.interrupt(fiber).pipe(Effect.andThen(Fiber.await(fiber)))
            if (Exit.isSuccess(exit)) yield* io.closeFd(exit.value)
          }
          assert.deepStrictEqual(openFds(), before)
          assert.strictEqual((yield* io.stats).outstanding, 0)
        }),
      )

      it.effect("closeFd fails a read pending on the fd with EBADF, and closes the fd once the kernel let go", () =>
        Effect.gen(function* () {
          const io = yield* IoUring
          const dir = yield* scratchDir
          const fifo = path.join(dir, "fifo")
          execFileSync("mkfifo", [fifo])
          const fd = yield* io.open(fifo, { flags: "r+" })
          const reader = yield* Effect.forkChild(io.readAt(fd, new Uint8Array(4), 0))
          while ((yield* io.stats).outstanding < 1) yield* Effect.sleep(1)
          yield* io.closeFd(fd)
          const exit = yield* Fiber.await(reader)
          assert.isTrue(Exit.isFailure(exit))
          const error = yield* Effect.flip(Fiber.join(reader))
          assert.deepStrictEqual([error.reason._tag, error.code, error.fd], ["SystemError", "EBADF", fd])
          assert.strictEqual((yield* io.stats).outstanding, 0)
        }),
      )
    },
  )
})
