import { Request, Sockaddr } from "@iou/core"
import { describe, expect, it } from "vitest"
import * as Binding from "../src/binding.ts"
import { checkWireLayout } from "../src/Wire.ts"
import { classBits, OPERATIONS } from "../src/Operations.ts"

// include/iou.h is the source of truth; src/binding.ts, src/Operations.ts and @iou/core's Request
// spell the same values in TypeScript. The addon exports the header's values, so a drift fails here.
describe("constants", () => {
  it("every IOU_* constant of src/binding.ts and every operation's number has the value of include/iou.h", () => {
    const header = Binding.binding.constants
    const operations = Object.values(OPERATIONS).map((row) => [row.c, row.op] as const)
    const mirrored = [
      ...Object.entries(Binding).filter(([name]) => name in header),
      ...operations,
      ["IOU_MAX_IOV", Binding.maxIov()] as const,
    ]
    expect(mirrored.length).toBe(Object.keys(header).length)
    for (const [name, value] of mirrored) expect([name, value]).toEqual([name, header[name]])
  })

  it("@iou/core's Request uses the header's operation, flag and outcome numbers", () => {
    const header = Binding.binding.constants
    const core = Request as unknown as Record<string, unknown>
    const shared = Object.keys(header).filter((name) => /^IOU_(OP|FLAG|OUTCOME)_/.test(name))
    expect(shared.length).toBe(33)
    for (const name of shared) expect([name, core[name.slice("IOU_".length)]]).toEqual([name, header[name]])
  })

  it("every operation's class is its C row's (IOU_CLASS_* bits)", () => {
    const rows = Object.values(OPERATIONS)
    expect(Binding.binding.opClasses.length).toBe(rows.length)
    for (const row of rows) expect([row.c, classBits(row.class)]).toEqual([row.c, Binding.binding.opClasses[row.op]])
  })

  it("every operation's producesFd is its C row's (produces_fd: its completion carries IOU_COMPLETION_FD)", () => {
    const rows = Object.values(OPERATIONS)
    expect(Binding.binding.opProducesFd.length).toBe(rows.length)
    for (const row of rows) expect([row.c, row.producesFd]).toEqual([row.c, Binding.binding.opProducesFd[row.op]])
  })

  it("@iou/core's Sockaddr families are the build's AF_UNIX, AF_INET and AF_INET6", () => {
    const k = Binding.binding.sockets.constants
    expect([Sockaddr.AF_UNIX, Sockaddr.AF_INET, Sockaddr.AF_INET6]).toEqual([k["AF_UNIX"], k["AF_INET"], k["AF_INET6"]])
  })

  it("the IOV limit is the header's, read from the addon, and @iou/core's MAX_IOV agrees", () => {
    expect(Binding.maxIov()).toBe(Binding.binding.constants["IOU_MAX_IOV"])
    expect(Request.MAX_IOV).toBe(Binding.maxIov())
  })
})

// binding/loop.h's records, as the addon exports their layout: every field lies inside its record,
// aligned for the typed array the Driver reads it with (src/Wire.ts), and no two fields overlap.
describe("the wire", () => {
  const fields = (prefix: string, widths: Record<string, number>) =>
    Object.entries(widths).map(([name, width]) => {
      const offset = (Binding.wireLayout() as unknown as Record<string, number>)[`${prefix}_${name}`]!
      return { name, offset, width }
    })

  const check = (bytes: number, layout: ReadonlyArray<{ name: string; offset: number; width: number }>) => {
    expect(layout.every((f) => Number.isInteger(f.offset))).toBe(true)
    for (const f of layout) {
      expect([f.name, f.offset % f.width]).toEqual([f.name, 0])
      expect(f.offset + f.width).toBeLessThanOrEqual(bytes)
    }
    const sorted = [...layout].sort((a, b) => a.offset - b.offset)
    for (let i = 1; i < sorted.length; i++) {
      expect(sorted[i]!.offset).toBeGreaterThanOrEqual(sorted[i - 1]!.offset + sorted[i - 1]!.width)
    }
  }

  it("the staging record's fields are aligned, inside the record and apart", () => {
    const layout = fields("STAGE", {
      SLOT: 4,
      GENERATION: 4,
      POSITION_LO: 4,
      POSITION_HI: 4,
      LENGTH: 4,
      FD: 4,
      OP: 4,
      FLAGS: 4,
      OFFSET: 4,
      ARG: 4,
      DEADLINE_MS: 8,
      ARG2: 4,
      EXTENT_LO: 4,
      EXTENT_HI: 4,
      VERDICT: 4,
    })
    check(Binding.wireLayout().STAGE_BYTES, layout)
    expect(Binding.wireLayout().STAGE_BYTES % 8).toBe(0)
  })

  it("the completion record's fields are aligned, inside the record and apart; records tile", () => {
    const layout = fields("COMPLETION", {
      SLOT: 4,
      GENERATION: 4,
      RESULT: 4,
      OUTCOME: 1,
      FLAGS: 1,
      BUFFER: 2,
      DONE: 4,
    })
    check(Binding.wireLayout().COMPLETION_BYTES, layout)
    // The tag is one u64: slot its low half, generation its high half.
    expect(Binding.wireLayout().COMPLETION_GENERATION).toBe(Binding.wireLayout().COMPLETION_SLOT + 4)
    expect(Binding.wireLayout().COMPLETION_BYTES % 8).toBe(0)
  })

  it("Wire.ts's constant offsets are the addon's layout", () => {
    expect(() => checkWireLayout()).not.toThrow()
  })
})

// The addon uses V8's API besides Node-API, so it works only in the Node ABI it was compiled for;
// binding.ts compares the ABI it says with the running Node's before using it.
describe("the addon's Node ABI", () => {
  const running = Number(process.versions.modules)

  it("the loaded addon was compiled for this Node's ABI", () => {
    expect(Binding.binding.moduleVersion).toBe(running)
  })

  it("an addon of this ABI is used as it is", () => {
    expect(Binding.chooseAddon(running, running, [`node.abi${running + 1}.glibc.node`], "24.0.0")).toEqual({
      use: "loaded",
    })
  })

  it("an addon of another ABI gives way to the prebuilt addon of this one", () => {
    const prebuilds = [
      `node.abi${running}0.glibc.node`,
      `node.abi${running - 10}.glibc.node`,
      `node.abi${running}.glibc.node`,
    ]
    expect(Binding.chooseAddon(running - 10, running, prebuilds, "24.0.0")).toEqual({
      use: "prebuild",
      file: `node.abi${running}.glibc.node`,
    })
  })

  it("an addon of another ABI with no prebuilt addon of this one is refused with how to rebuild it", () => {
    const choice = Binding.chooseAddon(115, 137, ["node.abi127.glibc.node", "node.abi137.glibc.txt"], "24.21.0")
    expect(choice).toEqual({
      failure:
        "the native addon was built for another Node (ABI 115); this is Node 24.21.0 (ABI 137): run `npm rebuild @iou/native`",
    })
  })

  it("an addon that does not say its ABI is refused too", () => {
    const choice = Binding.chooseAddon(undefined, 137, [], "24.21.0")
    expect("failure" in choice && choice.failure).toMatch(/does not say which Node it was built for.*npm rebuild/)
  })
})
