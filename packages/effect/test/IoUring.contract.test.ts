/**
 * The IoUring service's contract with the Driver, checked against FakeDriver where the order of
 * events is under the test's control: cancellation on interruption waits for the request's
 * callback, deadlines are absolute, and native errors map to IoUringErrors or defects.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Layer } from "effect"
import { IoUring, IoUringError, NodeIoUring } from "@iou/effect"
import { FakeDriver, nativeError, openFake } from "./FakeDriver.ts"

const withFake = (driver: FakeDriver) => Layer.fresh(NodeIoUring.layerWith(openFake(driver)))

/** Waits (in real time) until `driver` holds `n` requests. */
const untilSubmitted = (driver: FakeDriver, n: number) =>
  Effect.gen(function* () {
    while (driver.requests.length < n) yield* Effect.sleep(1)
  })

describe("IoUring against a fake Driver", () => {
  it.live("interrupting an operation cancels its request and waits for its callback", () => {
    const driver = new FakeDriver()
    return Effect.gen(function* () {
      const io = yield* IoUring
      const fiber = yield* Effect.forkChild(io.recv(7, new Uint8Array(16)))
      yield* untilSubmitted(driver, 1)
      const started = Date.now()
      yield* Fiber.interrupt(fiber)
      // The interruption returned only after the (delayed) AbortError callback fired.
      assert.isTrue(Date.now() - started >= 15, "interrupt waited for the cancel to land")
      assert.deepStrictEqual(driver.cancelled, [1])
      assert.strictEqual(driver.pending(), 0)
    }).pipe(Effect.provide(withFake(driver)))
  })

  it.live("Effect.timeout around an operation cancels the request", () => {
    const driver = new FakeDriver()
    return Effect.gen(function* () {
      const io = yield* IoUring
      const exit = yield* io.nop.pipe(Effect.timeout("10 millis"), Effect.exit)
      assert.isTrue(Exit.isFailure(exit))
      assert.deepStrictEqual(driver.cancelled, [1])
      assert.strictEqual(driver.pending(), 0)
    }).pipe(Effect.provide(withFake(driver)))
  })

  it.live("a request that completes on its own is not cancelled", () => {
    const driver = new FakeDriver()
    return Effect.gen(function* () {
      const io = yield* IoUring
      const fiber = yield* Effect.forkChild(io.readAt(3, new Uint8Array(4), 0))
      yield* untilSubmitted(driver, 1)
      driver.complete(1, null, 4)
      const value = yield* Fiber.join(fiber)
      assert.strictEqual(value, 4)
      assert.deepStrictEqual(driver.cancelled, [])
    }).pipe(Effect.provide(withFake(driver)))
  })

  it.effect("the timeout option becomes an absolute deadline on the Driver's clock; Infinity is none", () => {
    const driver = new FakeDriver()
    return Effect.gen(function* () {
      const io = yield* IoUring
      yield* Effect.forkChild(io.readAt(3, new Uint8Array(4), 10n, { timeout: "2 seconds", exact: true, length: 2 }))
      yield* Effect.forkChild(io.recv(4, new Uint8Array(8), { offset: 2, timeout: "Infinity" }))
      yield* Effect.forkChild(io.sync(5, { dataOnly: true, timeout: 0 }))
      yield* Effect.yieldNow
      assert.deepStrictEqual(driver.requests[0]!.args.slice(2), [10n, 2, true, 3000])
      assert.deepStrictEqual(driver.requests[1]!.args.slice(2), [2, 6, false, 0])
      assert.deepStrictEqual(driver.requests[2]!.args, [5, true, 1000])
    }).pipe(Effect.provide(withFake(driver)))
  })

  it.effect("native errors map to reasons; an errno keeps code, errno, syscall and fd", () => {
    const driver = new FakeDriver()
    return Effect.gen(function* () {
      const io = yield* IoUring
      const cases = [
        ["ETIMEDOUT", "Timeout"],
        ["ERR_IOU_CLOSED", "Closed"],
        ["ERR_IOU_ABANDONED", "Abandoned"],
        ["ERR_IOU_UNEXPECTED_EOF", "UnexpectedEof"],
        ["ERR_IOU_OPERATION_NOT_ALLOWED", "NotAllowed"],
        ["ERR_IOU_CREDENTIALS_CHANGED", "CredentialsChanged"],
        ["EBADF", "SystemError"],
      ] as const
      for (const [code, reason] of cases) {
        const fiber = yield* Effect.forkChild(io.send(9, new Uint8Array(1)).pipe(Effect.flip))
        yield* Effect.yieldNow
        driver.complete(driver.requests.at(-1)!.handle, nativeError(code, { errno: -9, syscall: "send", fd: 9 }))
        const error = yield* Fiber.join(fiber)
        assert.instanceOf(error, IoUringError)
        assert.strictEqual(error._tag, "IoUringError")
        assert.strictEqual(error.reason._tag, reason)
        assert.strictEqual(error.code, code)
        assert.strictEqual(error.syscall, "send")
        assert.strictEqual(error.fd, 9)
        assert.match(error.message, new RegExp(code))
      }
    }).pipe(Effect.provide(withFake(driver)))
  })

  it.effect("an argument error thrown by the Driver is a defect with a clear message", () => {
    const driver = new FakeDriver()
    driver.submitRecv = () => {
      throw new RangeError("offset + length is outside the buffer")
    }
    return Effect.gen(function* () {
      const io = yield* IoUring
      const exit = yield* Effect.exit(io.recv(3, new Uint8Array(4), { offset: 8 }))
      assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
      const defect = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
      assert.instanceOf(defect, RangeError)
      assert.match(String((defect as Error).message), /IoUring\.recv: invalid argument.*outside the buffer/)
    }).pipe(Effect.provide(withFake(driver)))
  })

  it.effect("an invalid timeout is a defect and never reaches the Driver", () => {
    const driver = new FakeDriver()
    return Effect.gen(function* () {
      const io = yield* IoUring
      for (const timeout of [-5, "soon" as never, Number.NaN]) {
        const exit = yield* Effect.exit(io.send(3, new Uint8Array(1), { timeout }))
        assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause), String(timeout))
      }
      assert.strictEqual(driver.requests.length, 0)
    }).pipe(Effect.provide(withFake(driver)))
  })

  it.effect("closing the layer closes the Driver; later calls fail with Closed", () => {
    const driver = new FakeDriver()
    return Effect.gen(function* () {
      const context = yield* Effect.scoped(Layer.build(withFake(driver)))
      const io = yield* Effect.provideContext(Effect.service(IoUring), context)
      assert.isTrue(driver.closed)
      const error = yield* Effect.flip(io.nop)
      assert.strictEqual(error.reason._tag, "Closed")
    })
  })

  it.effect("an open that the kernel refuses fails the layer with Unavailable and the probe's reason", () =>
    Effect.gen(function* () {
      const refuse = () => {
        throw nativeError("ERR_IOU_UNAVAILABLE")
      }
      const error = yield* Effect.flip(Layer.build(NodeIoUring.layerWith({ open: refuse })))
      assert.strictEqual(error.reason._tag, "Unavailable")
      assert.strictEqual(error.code, "ERR_IOU_UNAVAILABLE")
      assert.match(error.message, /io_uring is unavailable on this machine.*simulated/)
    }),
  )
})
