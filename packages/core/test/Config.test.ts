import { fc, test } from "@fast-check/vitest"
import { describe, expect, it } from "vitest"
import * as Config from "../src/Config.ts"

describe("Config", () => {
  it("fills in the seed's defaults", () => {
    expect(Config.resolve()).toEqual({
      size: 128,
      maxInFlight: 16384,
      recvBuffers: { count: 256, size: 4096 },
      singleIssuer: true,
      ioPoll: false,
      maxRequestTimeout: 60_000,
      timeoutWheelTick: 5,
      shutdownTimeout: undefined,
      idleSpin: 50,
      engine: "inline",
      operations: "all",
      inlineWake: "ringfd",
    })
  })
  it("takes the inline wake mode, ringfd by default, and refuses anything else with a RangeError or TypeError naming it", () => {
    expect(Config.resolve({ inlineWake: "ringfd" }).inlineWake).toBe("ringfd")
    expect(Config.resolve({ inlineWake: "eventfd" }).inlineWake).toBe("eventfd")
    expect(() => Config.resolve({ inlineWake: "epoll" as never })).toThrow(
      expect.objectContaining({ name: "RangeError", field: "inlineWake" }),
    )
    expect(() => Config.resolve({ inlineWake: 1 as never })).toThrow(
      expect.objectContaining({ name: "TypeError", field: "inlineWake" }),
    )
  })
  it("takes the operations, all by default, and refuses anything else with a RangeError or TypeError naming it", () => {
    expect(Config.resolve({ operations: "files" }).operations).toBe("files")
    expect(Config.resolve({ operations: "sockets" }).operations).toBe("sockets")
    expect(Config.resolve({ operations: "all" }).operations).toBe("all")
    expect(() => Config.resolve({ operations: "both" as never })).toThrow(
      expect.objectContaining({ name: "RangeError", field: "operations" }),
    )
    expect(() => Config.resolve({ operations: ["files"] as never })).toThrow(
      expect.objectContaining({ name: "TypeError", field: "operations" }),
    )
  })
  it("takes the engine, inline by default, and refuses anything else with a RangeError naming it", () => {
    expect(Config.resolve({ engine: "thread" }).engine).toBe("thread")
    expect(Config.resolve({ engine: "inline" }).engine).toBe("inline")
    expect(() => Config.resolve({ engine: "threads" as never })).toThrow(expect.objectContaining({ field: "engine" }))
    expect(() => Config.resolve({ engine: 1 as never })).toThrow(TypeError)
  })
  it("accepts an idle spin from 0 (off) to MAX_IDLE_SPIN microseconds", () => {
    expect(Config.resolve({ idleSpin: 0 }).idleSpin).toBe(0)
    expect(Config.resolve({ idleSpin: 300 }).idleSpin).toBe(300)
    expect(Config.resolve({ idleSpin: Config.MAX_IDLE_SPIN }).idleSpin).toBe(Config.MAX_IDLE_SPIN)
  })
  it("rejects a negative, fractional, non-finite or too long idle spin with a RangeError", () => {
    expect(() => Config.resolve({ idleSpin: -1 })).toThrow(RangeError)
    expect(() => Config.resolve({ idleSpin: 0.5 })).toThrow(RangeError)
    expect(() => Config.resolve({ idleSpin: Number.NaN })).toThrow(RangeError)
    expect(() => Config.resolve({ idleSpin: Number.POSITIVE_INFINITY })).toThrow(RangeError)
    expect(() => Config.resolve({ idleSpin: Config.MAX_IDLE_SPIN + 1 })).toThrow(RangeError)
  })
  it("rejects an idle spin that is not a number with a TypeError", () => {
    expect(() => Config.resolve({ idleSpin: "50" as unknown as number })).toThrow(TypeError)
  })
  it("takes maxInFlight apart from the size, up to MAX_IN_FLIGHT, unrounded", () => {
    expect(Config.resolve({ size: 8, maxInFlight: 1000 })).toMatchObject({ size: 8, maxInFlight: 1000 })
    expect(Config.resolve({ maxInFlight: 1 }).maxInFlight).toBe(1)
    expect(Config.resolve({ maxInFlight: Config.MAX_IN_FLIGHT }).maxInFlight).toBe(32768)
  })
  it("rejects a maxInFlight above 32768, below 1 or fractional with a RangeError naming it", () => {
    for (const maxInFlight of [32769, 0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => Config.resolve({ maxInFlight })).toThrow(expect.objectContaining({ field: "maxInFlight" }))
      expect(() => Config.resolve({ maxInFlight })).toThrow(RangeError)
    }
    expect(() => Config.resolve({ maxInFlight: "8" as unknown as number })).toThrow(TypeError)
  })
  it("takes recvBuffers with defaults, the count rounded up to a power of two, and refuses bad ones naming it", () => {
    expect(Config.resolve({ recvBuffers: { count: 100 } }).recvBuffers).toEqual({ count: 128, size: 4096 })
    expect(Config.resolve({ recvBuffers: { size: 64 } }).recvBuffers).toEqual({ count: 256, size: 64 })
    for (const recvBuffers of [{ count: 0 }, { count: 32769 }, { size: 0 }, { size: 2 ** 20 + 1 }, { size: 1.5 }]) {
      expect(() => Config.resolve({ recvBuffers })).toThrow(RangeError)
      expect(() => Config.resolve({ recvBuffers })).toThrow(expect.objectContaining({ field: "recvBuffers" }))
    }
    expect(() => Config.resolve({ recvBuffers: 4 as never })).toThrow(TypeError)
    expect(() => Config.resolve({ recvBuffers: { count: "4" as never } })).toThrow(TypeError)
  })
  it("rounds the size up to a power of two", () => {
    expect(Config.resolve({ size: 100 }).size).toBe(128)
    expect(Config.resolve({ size: 1 }).size).toBe(1)
    expect(Config.resolve({ size: 32768 }).size).toBe(32768)
  })
  it("rejects a size beyond the kernel's limit with a RangeError", () => {
    expect(() => Config.resolve({ size: 32769 })).toThrow(RangeError)
    expect(() => Config.resolve({ size: 0 })).toThrow(RangeError)
  })
  it("rejects wrong types with a TypeError", () => {
    expect(() => Config.resolve({ size: "8" as unknown as number })).toThrow(TypeError)
    expect(() => Config.resolve({ singleIssuer: 1 as unknown as boolean })).toThrow(TypeError)
  })
  it("rejects a zero or NaN tick and horizon", () => {
    expect(() => Config.resolve({ timeoutWheelTick: 0 })).toThrow(RangeError)
    expect(() => Config.resolve({ maxRequestTimeout: Number.NaN })).toThrow(RangeError)
  })

  it("reads each field once: what it checked is what it returns", () => {
    const reads = new Map<string, number>()
    const values: Record<string, Array<unknown>> = {
      size: [8, 65536],
      maxInFlight: [16, -1],
      engine: ["thread", "bogus"],
      operations: ["files", "bogus"],
      inlineWake: ["ringfd", 3],
      idleSpin: [0, -5],
    }
    const config = {}
    for (const [name, [first, later]] of Object.entries(values)) {
      Object.defineProperty(config, name, {
        enumerable: true,
        get: () => {
          const n = (reads.get(name) ?? 0) + 1
          reads.set(name, n)
          return n === 1 ? first : later
        },
      })
    }
    expect(Config.resolve(config)).toMatchObject({
      size: 8,
      maxInFlight: 16,
      engine: "thread",
      operations: "files",
      inlineWake: "ringfd",
      idleSpin: 0,
    })
    expect([...reads.values()]).toEqual(Object.keys(values).map(() => 1))
  })

  it("rounds 1000 up to 1024 and keeps 1024", () => {
    expect(Config.resolve({ size: 1000 }).size).toBe(1024)
    expect(Config.resolve({ size: 1024 }).size).toBe(1024)
  })
  test.prop([fc.integer({ min: 1, max: Config.MAX_RING_SIZE })])(
    "the rounded size is the smallest power of two at least the requested size",
    (size) => {
      const rounded = Config.resolve({ size }).size
      expect(rounded & (rounded - 1)).toBe(0)
      expect(rounded).toBeGreaterThanOrEqual(size)
      expect(rounded / 2).toBeLessThan(size)
    },
  )
})
