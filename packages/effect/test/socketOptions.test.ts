/** internal/socketOptions.ts: a connection's reading limits, NodeSocket's defaults where unset or unusable. */
import { describe, expect, it } from "vitest"
import { limitsOf } from "../src/internal/socketOptions.ts"

describe("socketOptions", () => {
  it("defaults to 64 KiB not pulled and 4096 chunks a pull", () => {
    expect(limitsOf(undefined)).toEqual({ highWaterMark: 65536, maxChunks: 4096 })
    expect(limitsOf({})).toEqual({ highWaterMark: 65536, maxChunks: 4096 })
  })

  it("takes positive safe integers and Infinity as given", () => {
    expect(limitsOf({ highWaterMark: 1, chunkSize: 3 })).toEqual({ highWaterMark: 1, maxChunks: 3 })
    expect(limitsOf({ highWaterMark: Infinity, chunkSize: Infinity })).toEqual({
      highWaterMark: Infinity,
      maxChunks: Infinity,
    })
  })

  it("falls back to the default for zero, negatives, fractions, NaN and unsafe integers", () => {
    for (const bad of [0, -1, 1.5, NaN, -Infinity, 2 ** 53]) {
      expect(limitsOf({ highWaterMark: bad, chunkSize: bad })).toEqual({ highWaterMark: 65536, maxChunks: 4096 })
    }
  })
})
