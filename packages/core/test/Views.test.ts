import { describe, expect, it } from "vitest"
import * as Views from "../src/Views.ts"

type Growable<B> = new (n: number, o: { maxByteLength: number }) => B

describe("Views", () => {
  it("a view of a resizable ArrayBuffer is resizable; fixed ones, pooled Buffers and SharedArrayBuffers' are not", () => {
    const resizable = new (ArrayBuffer as unknown as Growable<ArrayBuffer>)(8, { maxByteLength: 64 })
    expect(Views.isResizable(new Uint8Array(resizable))).toBe(true)
    expect(Views.isResizable(new Uint8Array(resizable, 2, 4))).toBe(true)
    expect(Views.isResizable(Buffer.from(resizable))).toBe(true)
    expect(Views.isResizable(new Uint8Array(8))).toBe(false)
    expect(Views.isResizable(new Uint8Array(4096))).toBe(false)
    expect(Views.isResizable(Buffer.allocUnsafe(16))).toBe(false)
    expect(Views.isResizable(new Uint8Array(new SharedArrayBuffer(8)))).toBe(false)
    const growable = new (SharedArrayBuffer as unknown as Growable<SharedArrayBuffer>)(8, { maxByteLength: 64 })
    expect(Views.isResizable(new Uint8Array(growable))).toBe(false)
  })

  it("reads the intrinsic buffer and flag, not what a subclass or an own property says", () => {
    const resizable = new (ArrayBuffer as unknown as Growable<ArrayBuffer>)(8, { maxByteLength: 64 })
    class Lying extends Uint8Array {
      override get buffer(): ArrayBuffer {
        return new ArrayBuffer(8)
      }
    }
    expect(Views.isResizable(new Lying(resizable))).toBe(true)
    const view = new Uint8Array(resizable)
    Object.defineProperty(view, "buffer", { value: new ArrayBuffer(8) })
    expect(Views.isResizable(view)).toBe(true)
  })
})
