import { fc, test } from "@fast-check/vitest"
import { describe, expect, it } from "vitest"
import * as WaiterId from "../src/WaiterId.ts"

describe("WaiterId", () => {
  it("packs index and generation into user_data as the seed lays them out, and decodes the cancel marker", () => {
    const id = WaiterId.make(7, 3)
    expect(WaiterId.userData(id)).toBe((3n << 32n) | 7n)
    expect(WaiterId.cancelUserData(id)).toBe((1n << 63n) | (3n << 32n) | 7n)
    expect(WaiterId.isCancel(WaiterId.userData(id))).toBe(false)
    expect(WaiterId.isCancel(WaiterId.cancelUserData(id))).toBe(true)
    expect(WaiterId.fromUserData(WaiterId.cancelUserData(id))).toBe(id)
    expect(WaiterId.index(id)).toBe(7)
    expect(WaiterId.generation(id)).toBe(3)
  })

  it("masks the generation to 31 bits and wraps the next generation of the largest to 0", () => {
    expect(WaiterId.generation(WaiterId.make(0, 2 ** 31 + 5))).toBe(5)
    expect(WaiterId.nextGeneration(WaiterId.GENERATION_MASK)).toBe(0)
    expect(WaiterId.nextGeneration(41)).toBe(42)
    const top = WaiterId.make(32767, WaiterId.GENERATION_MASK)
    expect(WaiterId.userData(top)).toBe((0x7fffffffn << 32n) | 32767n)
    expect(WaiterId.fromUserData(WaiterId.userData(top))).toBe(top)
  })

  it("keeps the wake poll's user_data apart from every waiter", () => {
    expect(WaiterId.WAKE_USER_DATA).toBe(2n ** 64n - 1n)
    expect(WaiterId.fromUserData(WaiterId.WAKE_USER_DATA)).toBe(WaiterId.NONE)
    expect(WaiterId.fromUserData(0xffff_ffffn)).toBe(WaiterId.NONE)
  })

  test.prop([fc.integer({ min: 0, max: 32767 }), fc.integer({ min: 0, max: WaiterId.GENERATION_MASK })])(
    "user_data round-trips every index and generation, with and without the cancel marker",
    (index, generation) => {
      const id = WaiterId.make(index, generation)
      expect(WaiterId.index(id)).toBe(index)
      expect(WaiterId.generation(id)).toBe(generation)
      expect(WaiterId.fromUserData(WaiterId.userData(id))).toBe(id)
      expect(WaiterId.fromUserData(WaiterId.cancelUserData(id))).toBe(id)
      expect(WaiterId.userData(id) < 1n << 63n).toBe(true)
      expect(WaiterId.userData(id)).not.toBe(WaiterId.WAKE_USER_DATA)
    },
  )
})
