/**
 * NodeIoUring's layers on the real kernel: the Driver lives exactly as long as the layer's scope,
 * its finalizer performs the bounded shutdown drain, config comes from a ConfigProvider, and a
 * kernel that refuses io_uring fails the layer with reason "Unavailable".
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, ConfigProvider, Deferred, Effect, Exit, Fiber, Layer, Scope } from "effect"
import { Config as CoreConfig } from "@iou/core"
import { IoUringError as NativeIoUringError, probe } from "@iou/native"
import { IoUring, NodeIoUring, type Unavailable } from "@iou/effect"
import { tcpPair } from "./sockets.ts"

const supported = probe().supported
const withEnv = (env: Record<string, string>) => Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env })))

describe.skipIf(!supported)("NodeIoUring (real kernel)", () => {
  it.effect("the finalizer closes the ring when the scope closes", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(NodeIoUring.layer({ size: 8 }), scope)
      const io = yield* Effect.provideContext(Effect.service(IoUring), context)
      yield* io.nop
      yield* Scope.close(scope, Exit.void)
      const error = yield* Effect.flip(io.nop)
      assert.strictEqual(error.reason._tag, "Closed")
    }),
  )

  it.effect("a config that is not a plain object fails the layer as Driver.open refuses it", () =>
    Effect.gen(function* () {
      for (const config of ["abc", [1, 2], 42, new Uint8Array(4), null]) {
        const exit = yield* Effect.exit(
          Effect.scoped(Layer.build(NodeIoUring.layer(config as unknown as NodeIoUring.DriverConfig))),
        )
        assert.isTrue(Exit.isFailure(exit))
        const error = Cause.squash((exit as Exit.Failure<unknown, unknown>).cause)
        assert.include(String((error as { message?: unknown }).message), "invalid Driver config")
        assert.include(String((error as { message?: unknown }).message), "config must be a plain object")
      }
    }),
  )

  it.effect("a config error names the config; another RangeError at open (an allocation failing) does not", () =>
    Effect.gen(function* () {
      const defect = (layer: Layer.Layer<IoUring, unknown>) =>
        Effect.map(Effect.exit(Effect.scoped(Layer.build(layer))), (exit) =>
          String((Cause.squash((exit as Exit.Failure<unknown, unknown>).cause) as Error).message),
        )
      const config = yield* defect(NodeIoUring.layer({ size: -1 }))
      assert.include(config, "NodeIoUring: invalid Driver config")
      assert.include(config, "size")
      const allocation = yield* defect(
        NodeIoUring.layerWith({
          open: () => {
            throw new RangeError("Array buffer allocation failed")
          },
        }),
      )
      assert.strictEqual(allocation, "NodeIoUring: opening the Driver failed: Array buffer allocation failed")
    }),
  )

  it.effect("a ring opened for files fails a send with NotAllowed, before the kernel", () =>
    Effect.gen(function* () {
      const io = yield* IoUring
      const { a } = yield* tcpPair
      const error = yield* Effect.flip(io.send(a, new Uint8Array(1)))
      assert.strictEqual(error.reason._tag, "NotAllowed")
      assert.strictEqual(error.code, "ERR_IOU_OPERATION_NOT_ALLOWED")
      assert.strictEqual((yield* io.stats).submitted, 0)
      yield* io.nop
    }).pipe(Effect.scoped, Effect.provide(NodeIoUring.layer({ size: 8, operations: "files" }))),
  )

  it.live("interrupting a program that uses the layer cancels its work and closes the ring", () =>
    Effect.gen(function* () {
      const captured = yield* Deferred.make<IoUring["Service"]>()
      const program = Effect.gen(function* () {
        const io = yield* IoUring
        const { a } = yield* tcpPair
        yield* Deferred.succeed(captured, io)
        return yield* io.recv(a, new Uint8Array(4))
      }).pipe(Effect.scoped, Effect.provide(NodeIoUring.layer({ size: 8 })))
      const fiber = yield* Effect.forkChild(program)
      const io = yield* Deferred.await(captured)
      while ((yield* io.stats).outstanding < 1) yield* Effect.sleep(1)
      const started = Date.now()
      yield* Fiber.interrupt(fiber)
      assert.isBelow(Date.now() - started, 1000, "the recv was cancelled, not drained")
      const exit = yield* Fiber.await(fiber)
      assert.isTrue(Exit.isFailure(exit) && Cause.hasInterrupts(exit.cause))
      const stats = yield* io.stats
      assert.strictEqual(stats.outstanding, 0)
      assert.strictEqual(stats.abandoned, 0)
      assert.strictEqual((yield* Effect.flip(io.nop)).reason._tag, "Closed")
    }),
  )

  it.live("closing the scope is bounded by shutdownTimeout: what is still in flight is Abandoned", () =>
    Effect.gen(function* () {
      const pairScope = yield* Scope.make()
      const { a } = yield* Scope.provide(tcpPair, pairScope)
      const ringScope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(NodeIoUring.layer({ size: 8, shutdownTimeout: 150 }), ringScope)
      const io = yield* Effect.provideContext(Effect.service(IoUring), context)
      // Detached: closing the ring's scope does not interrupt it, so the drain has to give up on it.
      const stuck = yield* Effect.forkDetach(io.recv(a, new Uint8Array(4)))
      while ((yield* io.stats).outstanding < 1) yield* Effect.sleep(1)
      const started = Date.now()
      yield* Scope.close(ringScope, Exit.void)
      const elapsed = Date.now() - started
      assert.isAtLeast(elapsed, 100)
      assert.isBelow(elapsed, 3000)
      const exit = yield* Fiber.await(stuck)
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
      assert.strictEqual((error as { reason?: { _tag: string } }).reason?._tag, "Abandoned")
      const stats = yield* io.stats
      assert.strictEqual(stats.abandoned, 1)
      // At the cutoff the loop cancelled the recv and its CQE came back within the grace: the
      // kernel let go of the buffer, so nothing is quarantined.
      assert.strictEqual(stats.quarantinedBytes, 0)
      yield* Scope.close(pairScope, Exit.void)
    }),
  )

  it.effect("config reads IOU_* variables with Duration.Input strings", () =>
    Effect.gen(function* () {
      const config = yield* NodeIoUring.config.pipe(
        withEnv({
          IOU_SIZE: "100",
          IOU_MAX_IN_FLIGHT: "2000",
          IOU_SINGLE_ISSUER: "false",
          IOU_MAX_REQUEST_TIMEOUT: "2 minutes",
          IOU_TIMEOUT_WHEEL_TICK: "10 millis",
          IOU_SHUTDOWN_TIMEOUT: "1.5 seconds",
          IOU_IDLE_SPIN: "0",
          IOU_ENGINE: "thread",
          IOU_OPERATIONS: "files",
          IOU_INLINE_WAKE: "eventfd",
        }),
      )
      assert.deepStrictEqual(config, {
        size: 100,
        maxInFlight: 2000,
        singleIssuer: false,
        ioPoll: undefined,
        maxRequestTimeout: 120_000,
        timeoutWheelTick: 10,
        shutdownTimeout: 1500,
        idleSpin: 0,
        engine: "thread",
        operations: "files",
        inlineWake: "eventfd",
      })
      const defaults = yield* NodeIoUring.config.pipe(withEnv({ IOU_SHUTDOWN_TIMEOUT: "Infinity" }))
      assert.strictEqual(defaults.size, undefined)
      assert.strictEqual(defaults.shutdownTimeout, Number.POSITIVE_INFINITY)
    }),
  )

  it.effect("layerConfig opens a ring from the provided ConfigProvider", () =>
    Effect.gen(function* () {
      const io = yield* IoUring
      yield* io.nop
    }).pipe(Effect.provide(NodeIoUring.layerConfig), withEnv({ IOU_SIZE: "16", IOU_SHUTDOWN_TIMEOUT: "200 millis" })),
  )

  it.effect.each([
    ["IOU_SIZE", "abc"],
    ["IOU_SIZE", "100000"],
    ["IOU_SIZE", "0"],
    ["IOU_SINGLE_ISSUER", "maybe"],
    ["IOU_TIMEOUT_WHEEL_TICK", "0 millis"],
    ["IOU_MAX_REQUEST_TIMEOUT", "soon"],
    ["IOU_SHUTDOWN_TIMEOUT", "-1 seconds"],
    ["IOU_IDLE_SPIN", "-5"],
    ["IOU_ENGINE", "threads"],
    ["IOU_MAX_IN_FLIGHT", "many"],
    ["IOU_MAX_IN_FLIGHT", "0"],
    ["IOU_MAX_IN_FLIGHT", "40000"],
    ["IOU_OPERATIONS", "disks"],
    ["IOU_INLINE_WAKE", "epoll"],
  ])("layerConfig fails with a ConfigError whose message names %s=%s", ([name, value]) =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Layer.build(NodeIoUring.layerConfig)).pipe(
        withEnv({ IOU_SIZE: "16", [name!]: value! }),
      )
      assert.strictEqual(error._tag, "ConfigError")
      assert.include(error.message, `${name}=${value}: `)
    }),
  )

  it.effect("IOU_MAX_IN_FLIGHT reaches the Driver's config where the Driver has maxInFlight, else names itself", () =>
    Effect.gen(function* () {
      const read = yield* Effect.result(NodeIoUring.config.pipe(withEnv({ IOU_MAX_IN_FLIGHT: "1024" })))
      if ("maxInFlight" in CoreConfig.DEFAULTS) {
        assert.isTrue(read._tag === "Success" && (read.success as { maxInFlight?: number }).maxInFlight === 1024)
      } else {
        assert.isTrue(read._tag === "Failure")
        if (read._tag === "Failure") {
          assert.include(read.failure.message, "IOU_MAX_IN_FLIGHT=1024: ")
          assert.include(read.failure.message, "no maxInFlight setting")
        }
      }
    }),
  )
})

describe("NodeIoUring's shutdown drain", () => {
  it.effect(
    "is bounded without a shutdownTimeout (DEFAULT_SHUTDOWN_TIMEOUT); Infinity, or a value, is passed on as given",
    () =>
      Effect.gen(function* () {
        const opened: Array<number | undefined> = []
        const open = (config: { shutdownTimeout?: number | undefined }): never => {
          opened.push(config.shutdownTimeout)
          throw new NativeIoUringError("not opened here", { code: "ERR_IOU_UNAVAILABLE", reason: "Unavailable" })
        }
        for (const config of [
          {},
          { shutdownTimeout: undefined },
          { shutdownTimeout: Infinity },
          { shutdownTimeout: 5 },
        ]) {
          yield* Effect.ignore(Layer.build(NodeIoUring.layerWith({ open }, config)))
        }
        assert.deepStrictEqual(opened, [
          NodeIoUring.DEFAULT_SHUTDOWN_TIMEOUT,
          NodeIoUring.DEFAULT_SHUTDOWN_TIMEOUT,
          Infinity,
          5,
        ])
        assert.strictEqual(NodeIoUring.DEFAULT_SHUTDOWN_TIMEOUT, 10_000)
      }),
  )
})

describe("NodeIoUring where the kernel refuses io_uring", () => {
  it.effect("a refused open fails the layer with Unavailable and the probe's explanation", () =>
    Effect.gen(function* () {
      const reason = "io_uring_setup failed with EPERM: the sysctl kernel.io_uring_disabled is 2"
      const refuse = (): never => {
        throw new NativeIoUringError(reason, { code: "ERR_IOU_UNAVAILABLE", reason: "Unavailable" })
      }
      const error = yield* Effect.flip(Layer.build(NodeIoUring.layerWith({ open: refuse })))
      assert.strictEqual(error._tag, "IoUringError")
      assert.strictEqual(error.reason._tag, "Unavailable")
      assert.strictEqual(error.code, "ERR_IOU_UNAVAILABLE")
      assert.include(error.message, reason)
    }),
  )

  it.effect(
    "the real layer fails with Unavailable when the Driver's setup is refused (IOU_SIMULATE_MISSING=IO_URING:EPERM)",
    () =>
      Effect.gen(function* () {
        // The Driver's hook: io_uring_setup is reported as failing with this errno.
        yield* Effect.acquireRelease(
          Effect.sync(() => {
            process.env["IOU_SIMULATE_MISSING"] = "IO_URING:EPERM"
          }),
          () =>
            Effect.sync(() => {
              delete process.env["IOU_SIMULATE_MISSING"]
            }),
        )
        const error = yield* Effect.flip(Layer.build(NodeIoUring.layer()))
        assert.strictEqual(error.reason._tag, "Unavailable")
        assert.strictEqual(error.code, "ERR_IOU_UNAVAILABLE")
        assert.strictEqual(error.syscall, "open")
        assert.match(error.message, /io_uring is unavailable on this machine.*EPERM/)
        // The code once, and the probe's words: it says the refusal is simulated.
        assert.strictEqual(error.message.split("ERR_IOU_UNAVAILABLE").length, 2)
        assert.match(error.message, /\(simulated by IOU_SIMULATE_MISSING\)$/)
        // The reason carries them too, for a catchReason handler.
        const reason = error.reason as Unavailable
        assert.match(
          reason.explanation ?? "",
          /^io_uring_setup failed with EPERM: .*\(simulated by IOU_SIMULATE_MISSING\)$/,
        )
        assert.strictEqual(reason.message, `io_uring is unavailable here: ${reason.explanation}`)
      }),
  )
  const simulating = (missing: string) =>
    Effect.acquireRelease(
      Effect.sync(() => {
        process.env["IOU_SIMULATE_MISSING"] = missing
      }),
      () =>
        Effect.sync(() => {
          delete process.env["IOU_SIMULATE_MISSING"]
        }),
    )

  it.effect("the real layer fails with Unavailable and says how to build the addon when it is not built", () =>
    Effect.gen(function* () {
      yield* simulating("ADDON")
      const error = yield* Effect.flip(Layer.build(NodeIoUring.layer()))
      assert.strictEqual(error.reason._tag, "Unavailable")
      assert.strictEqual(error.code, "ERR_IOU_UNAVAILABLE")
      assert.include(error.message, "the native addon is not built")
    }),
  )

  it.effect("the real layer fails with Unavailable naming a kernel feature the loop needs and lacks", () =>
    Effect.gen(function* () {
      yield* simulating("EXT_ARG")
      const error = yield* Effect.flip(Layer.build(NodeIoUring.layer()))
      assert.strictEqual(error.reason._tag, "Unavailable")
      assert.include(error.message, "EXT_ARG (Linux 5.11")
    }),
  )
})
