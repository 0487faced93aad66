import { Request } from "@iou/core"
import { describe, expect, it } from "vitest"
import * as Binding from "../src/binding.ts"

// include/iou.h is the source of truth; src/binding.ts and @iou/core's Request spell the same
// values in TypeScript. The addon exports the header's values, so a drift fails here.
describe("constants", () => {
  it("every IOU_* constant of src/binding.ts has the value of include/iou.h", () => {
    const header = Binding.binding.constants
    const mirrored = Object.entries(Binding).filter(([name]) => name in header)
    expect(mirrored.length).toBe(Object.keys(header).length)
    for (const [name, value] of mirrored) expect([name, value]).toEqual([name, header[name]])
  })

  it("@iou/core's Request uses the header's operation, flag and outcome numbers", () => {
    const header = Binding.binding.constants
    const core = Request as unknown as Record<string, unknown>
    const shared = Object.keys(header).filter((name) => /^IOU_(OP|FLAG|OUTCOME)_/.test(name))
    expect(shared.length).toBe(15)
    for (const name of shared) expect([name, core[name.slice("IOU_".length)]]).toEqual([name, header[name]])
  })
})
