/**
 * Effect 4's error conventions: IoUringError's reason is a tagged class per reason, so that
 * Effect.catchReason type-checks and recovers one reason while the others stay failures; and the
 * conversions to PlatformError and SocketError follow the README's tables.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import * as PlatformError from "effect/PlatformError"
import * as Socket from "effect/socket/Socket"
import { probe } from "@iou/native"
import {
  IoUring,
  IoUringError,
  NodeIoUring,
  reasonOf,
  type ReasonTag,
  toPlatformError,
  toSocketError,
  UnexpectedEof,
} from "@iou/effect"
import { FakeDriver, nativeError, openFake } from "./FakeDriver.ts"
import { tcpPair } from "./sockets.ts"

const withFake = (driver: FakeDriver) => Layer.fresh(NodeIoUring.layerWith(openFake(driver)))

const errorWith = (tag: ReasonTag, code: string, fields: { syscall?: string; fd?: number; path?: string } = {}) =>
  new IoUringError({ reason: reasonOf(tag, 3), code, message: `${code}: test`, ...fields })

describe("IoUringError reasons", () => {
  it.effect("catchReason recovers a Timeout from the Driver and leaves a SystemError failing", () => {
    const driver = new FakeDriver()
    return Effect.gen(function* () {
      const io = yield* IoUring
      const recovered = (code: string) =>
        Effect.gen(function* () {
          const fiber = yield* Effect.forkChild(
            io.send(9, new Uint8Array(1)).pipe(
              Effect.as("sent"),
              Effect.catchReason("IoUringError", "Timeout", (reason) => Effect.succeed(`recovered ${reason._tag}`)),
              Effect.result,
            ),
          )
          yield* Effect.yieldNow
          driver.complete(driver.requests.at(-1)!.handle, nativeError(code, { syscall: "send", fd: 9 }))
          return yield* Fiber.join(fiber)
        })
      const timeout = yield* recovered("ETIMEDOUT")
      assert.isTrue(timeout._tag === "Success" && timeout.success === "recovered Timeout")
      const reset = yield* recovered("ECONNRESET")
      assert.isTrue(reset._tag === "Failure")
      if (reset._tag === "Failure") {
        assert.strictEqual(reset.failure.reason._tag, "SystemError")
        assert.strictEqual(reset.failure.code, "ECONNRESET")
        assert.strictEqual(reset.failure.fd, 9)
      }
    }).pipe(Effect.provide(withFake(driver)))
  })

  it.effect.skipIf(!probe().supported)("catchReason sees a real deadline in the loop as Timeout", () =>
    Effect.gen(function* () {
      const io = yield* IoUring
      const { a } = yield* tcpPair
      const outcome = yield* io
        .recv(a, new Uint8Array(4), { timeout: "20 millis" })
        .pipe(Effect.catchReason("IoUringError", "Timeout", (reason) => Effect.succeed(reason._tag)))
      assert.strictEqual(outcome, "Timeout")
    }).pipe(Effect.scoped, Effect.provide(NodeIoUring.layer({ size: 8 }))),
  )

  it("an UnexpectedEof reason carries the bytes filled", () => {
    const reason = reasonOf("UnexpectedEof", 7)
    assert.instanceOf(reason, UnexpectedEof)
    assert.strictEqual(reason._tag === "UnexpectedEof" && reason.bytes, 7)
  })
})

describe("IoUringError conversions", () => {
  it("toPlatformError maps each reason and errno as NodeFileSystem does", () => {
    const cases: ReadonlyArray<[ReasonTag, string, PlatformError.SystemErrorTag]> = [
      ["Timeout", "ETIMEDOUT", "TimedOut"],
      ["UnexpectedEof", "ERR_IOU_UNEXPECTED_EOF", "UnexpectedEof"],
      ["Closed", "ERR_IOU_CLOSED", "BadResource"],
      ["Abandoned", "ERR_IOU_ABANDONED", "Unknown"],
      ["Unavailable", "ERR_IOU_UNAVAILABLE", "Unknown"],
      ["SystemError", "ENOENT", "NotFound"],
      ["SystemError", "EACCES", "PermissionDenied"],
      ["SystemError", "EPERM", "PermissionDenied"],
      ["SystemError", "EEXIST", "AlreadyExists"],
      ["SystemError", "EISDIR", "BadResource"],
      ["SystemError", "ENOTDIR", "BadResource"],
      ["SystemError", "ELOOP", "BadResource"],
      ["SystemError", "EBUSY", "Busy"],
      ["SystemError", "EBADF", "Unknown"],
    ]
    for (const [tag, code, expected] of cases) {
      const error = errorWith(tag, code, { syscall: "read", fd: 5 })
      const converted = toPlatformError(error, { module: "FileSystem", method: "readFile" })
      assert.isTrue(PlatformError.isPlatformError(converted))
      assert.strictEqual(converted.reason._tag, expected, `${tag} ${code}`)
      assert.strictEqual(converted.reason.cause, error)
      if (converted.reason._tag !== "BadArgument") {
        assert.strictEqual(converted.reason.syscall, "read")
        assert.strictEqual(converted.reason.pathOrDescriptor, 5)
      }
    }
    const withPath = toPlatformError(errorWith("SystemError", "ENOENT"), {
      module: "FileSystem",
      method: "stat",
      pathOrDescriptor: "/nowhere",
    })
    assert.strictEqual(withPath.reason._tag !== "BadArgument" && withPath.reason.pathOrDescriptor, "/nowhere")
    // Without one given, the error's own path (an open's, a stat's) before its fd.
    const ownPath = toPlatformError(errorWith("SystemError", "ENOENT", { syscall: "open", path: "/gone" }), {
      module: "FileSystem",
      method: "open",
    })
    assert.strictEqual(ownPath.reason._tag !== "BadArgument" && ownPath.reason.pathOrDescriptor, "/gone")
  })

  it("toSocketError maps each reason per side as NodeSocket reports the same events", () => {
    const reasonOfSocket = (tag: ReasonTag, code: string, side: "Open" | "Read" | "Write") =>
      toSocketError(errorWith(tag, code), side).reason
    const open = reasonOfSocket("Timeout", "ETIMEDOUT", "Open")
    assert.isTrue(open._tag === "SocketOpenError" && open.kind === "Timeout")
    const refused = reasonOfSocket("SystemError", "ECONNREFUSED", "Open")
    assert.isTrue(refused._tag === "SocketOpenError" && refused.kind === "Unknown")
    const reset = reasonOfSocket("SystemError", "ECONNRESET", "Read")
    assert.strictEqual(reset._tag, "SocketReadError")
    assert.strictEqual(reasonOfSocket("SystemError", "EPIPE", "Write")._tag, "SocketWriteError")
    assert.strictEqual(reasonOfSocket("Timeout", "ETIMEDOUT", "Read")._tag, "SocketReadError")
    const eof = reasonOfSocket("UnexpectedEof", "ERR_IOU_UNEXPECTED_EOF", "Read")
    assert.isTrue(eof._tag === "SocketCloseError" && eof.code === 1000)
    const closed = reasonOfSocket("Closed", "ERR_IOU_CLOSED", "Write")
    assert.isTrue(closed._tag === "SocketCloseError" && closed.code === 1006)
    assert.isTrue(Socket.isSocketError(toSocketError(errorWith("Abandoned", "ERR_IOU_ABANDONED"), "Read")))
  })
})
