import { describe, expect, it } from "vitest"
import { probe } from "@iou/native"

describe("probe", () => {
  it("reports the kernel and whether io_uring is usable without throwing", () => {
    const p = probe()
    expect(p.kernel.length).toBeGreaterThan(0)
    if (p.supported) {
      expect(p.opcodes).toContain("NOP")
      expect(p.opcodes).toContain("ASYNC_CANCEL")
      expect(p.reason).toBeUndefined()
    } else {
      expect(p.reason).toMatch(/io_uring/)
    }
  })
})
