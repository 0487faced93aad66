import { describe, expect, it } from "vitest"
import * as Config from "../src/Config.ts"

describe("Config", () => {
  it("fills in the seed's defaults", () => {
    expect(Config.resolve()).toEqual({
      size: 128,
      singleIssuer: true,
      ioPoll: false,
      maxRequestTimeout: 60_000,
      timeoutWheelTick: 5,
      shutdownTimeout: undefined,
    })
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
})
