/**
 * The binding's own checks of what a caller hands it, below the Driver (which never sends it such
 * arguments): each argument of a path or stat request against what the kernel reads or writes
 * through it (csrc/request.c's args column), and provided buffers given back at most once.
 */
import { openSync } from "node:fs"
import { constants } from "node:os"
import { Config } from "@iou/core"
import { describe, expect, it } from "vitest"
import {
  binding,
  IOU_CLASS_ALL,
  IOU_ENGINE_INLINE,
  IOU_INLINE_WAKE_EVENTFD,
  type NativeLoop,
  wireLayout,
} from "../src/binding.ts"
import { Driver } from "../src/Driver.ts"
import { OPERATIONS } from "../src/Operations.ts"
import { PendingTable } from "../src/PendingTable.ts"
import { probe } from "../src/probe.ts"
import { Wire } from "../src/Wire.ts"
import { isOpen, UNDER_TEST } from "./helpers.ts"

const EINVAL = -constants.errno.EINVAL
const EBADF = -constants.errno.EBADF
const AT_FDCWD = -100
const STATX_BYTES = 256

/** An open inline Loop that counts its completions, and its staging; closed by `end`. */
const openLoop = (
  pool?: Uint8Array,
  bufferSize = 0,
): { native: NativeLoop; wire: Wire; completed: () => number; end: () => void } => {
  const wire = new Wire(16)
  let completed = 0
  const native = new binding.Loop((n: number) => void (completed += n), wire.staging, wire.completions)
  const rc = native.open(
    8,
    true,
    false,
    60e9,
    1e6,
    0,
    IOU_ENGINE_INLINE,
    IOU_CLASS_ALL,
    8,
    pool,
    bufferSize,
    IOU_INLINE_WAKE_EVENTFD,
  )
  expect(rc).toBe(0)
  return {
    native,
    wire,
    completed: () => completed,
    end: () => {
      expect(native.close(0)).toBe(0)
      native.destroy()
    },
  }
}

/** Stages a request of `op` on AT_FDCWD in record 0 (the one submit reads). */
const stage = (wire: Wire, op: number): void => {
  const t = new PendingTable(4)
  const slot = t.take()
  t.op[slot] = op
  t.fd[slot] = AT_FDCWD
  wire.stage(t, slot, 0)
}

const path = (s: string, nul = true): Uint8Array => Buffer.from(nul ? `${s}\0` : s)

describe.skipIf(!probe().supported)("the binding", () => {
  it("refuses a stat whose struct statx view is shorter than the kernel writes, and touches none of it", () => {
    const { native, wire, end } = openLoop()
    try {
      const stat = OPERATIONS.stat.op
      const memory = new Uint8Array(512).fill(0xaa)
      stage(wire, stat)
      expect(native.submit([path("/"), memory.subarray(0, 16)])).toBe(EINVAL)
      stage(wire, stat)
      expect(native.submit([path("/"), memory.subarray(0, STATX_BYTES - 1)])).toBe(EINVAL)
      stage(wire, stat)
      expect(native.submit([path("/")])).toBe(EINVAL) // no struct statx at all
      native.publish()
      expect(memory.every((b) => b === 0xaa)).toBe(true)
      expect(native.stats()?.submitted).toBe(0)
    } finally {
      end()
    }
  })

  it("refuses a path whose view does not end with its NUL, and a request with the wrong number of arguments", () => {
    const { native, wire, end } = openLoop()
    try {
      const statx = new Uint8Array(STATX_BYTES)
      const cases: Array<[keyof typeof OPERATIONS, Uint8Array | Array<Uint8Array>]> = [
        ["open", path("/tmp", false)],
        ["open", new Uint8Array(0)],
        ["unlink", path("/tmp/x", false)],
        ["mkdir", path("/tmp/x", false)],
        ["stat", [path("/", false), statx]],
        ["rename", [path("/tmp/a"), path("/tmp/b", false)]],
        ["rename", [path("/tmp/a", false), path("/tmp/b")]],
        ["rename", path("/tmp/a")], // one path of two
        ["link", [path("/tmp/a")]],
        ["symlink", [path("/tmp/a"), path("/tmp/b", false)]],
        ["open", [path("/tmp"), path("/tmp")]], // two of one
        ["connect", new Uint8Array(0)], // an empty socket address
      ]
      for (const [name, data] of cases) {
        stage(wire, OPERATIONS[name].op)
        expect(native.submit(data), `${name} ${JSON.stringify(data)}`).toBe(EINVAL)
      }
      native.publish()
      expect(native.stats()?.submitted).toBe(0)
    } finally {
      end()
    }
  })

  it("refuses an op number past its byte rather than narrowing it to another op", async () => {
    const { native, wire, completed, end } = openLoop()
    try {
      const statx = new Uint8Array(STATX_BYTES).fill(0xaa)
      const t = new PendingTable(4)
      const slot = t.take()
      t.op[slot] = OPERATIONS.stat.op // narrowed from 256 + stat below, the kernel would fill statx
      t.fd[slot] = AT_FDCWD
      wire.stage(t, slot, 0)
      new DataView(wire.staging).setUint32(wireLayout().STAGE_OP, 256 + OPERATIONS.stat.op, true)
      expect(native.submit([path("/"), statx])).toBe(1)
      native.publish()
      for (let i = 0; i < 200 && completed() === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 5))
        native.poll()
      }
      expect(completed()).toBe(1)
      expect(new DataView(wire.completions).getInt32(wireLayout().COMPLETION_RESULT, true)).toBe(EINVAL)
      expect(statx.every((b) => b === 0xaa)).toBe(true)
    } finally {
      end()
    }
  })

  it("closeMarked closes an fd and takes it out of the marks in one call; a closed or negative fd is EBADF", () => {
    const { native, end } = openLoop()
    try {
      const fd = openSync("/dev/null", "r")
      expect(native.closeOnExit(fd, true)).toBe(0)
      expect(native.closeMarked(fd)).toBe(0)
      expect(isOpen(fd)).toBe(false)
      expect([native.closeMarked(fd), native.closeMarked(-1)]).toEqual([EBADF, EBADF])
    } finally {
      end()
    }
  })

  it("a socket the Driver made and does not hand over is closed through closeMarked, never unmarked first (a thread's end in between left it open)", async () => {
    const calls: Array<string> = []
    const driver = new Driver(Config.resolve({ size: 8, ...UNDER_TEST }), (dispatch, staging, completions) => {
      const native = new binding.Loop(dispatch, staging, completions)
      // The binding's methods are read-only and check their receiver: a proxy that calls them on it.
      return new Proxy(native, {
        get: (target, key) => {
          if (key === "closeOnExit")
            return (fd: number, on: boolean, path?: string) => (
              calls.push(`${on ? "mark" : "unmark"} ${fd}`),
              target.closeOnExit(fd, on, path)
            )
          if (key === "closeMarked") return (fd: number) => (calls.push(`closeMarked ${fd}`), target.closeMarked(fd))
          const value = Reflect.get(target, key) as unknown
          return typeof value === "function" ? (value as (...a: Array<unknown>) => unknown).bind(target) : value
        },
      })
    })
    try {
      const taken = await driver.listen({ host: "127.0.0.1", port: 0 })
      // The second listen's socket is made (and marked), then its bind fails: the Driver closes it.
      const error = await driver
        .listen({ host: "127.0.0.1", port: (taken.localAddress as { port: number }).port }, { closeOnExit: true })
        .catch((e: unknown) => e)
      expect((error as { code?: string }).code).toBe("EADDRINUSE")
      const made = calls.filter((c) => c.startsWith("mark ")).map((c) => c.slice(5))
      expect(made).toHaveLength(1)
      expect(calls.filter((c) => c.endsWith(` ${made[0]}`))).toEqual([`mark ${made[0]}`, `closeMarked ${made[0]}`])
      await driver.closeFd(taken.fd)
    } finally {
      await driver.close()
    }
  })

  it("takes a provided buffer back only while it is out of the ring: never twice, none of a call that names one twice", () => {
    const { native, end } = openLoop(new Uint8Array(4 * 16), 16)
    try {
      expect(native.returnBuffers(Uint16Array.of(0, 0), 2)).toBe(EINVAL)
      expect(native.returnBuffers(Uint16Array.of(1, 4), 2)).toBe(EINVAL) // 4 is out of range
      expect(native.returnBuffers(Uint16Array.of(1, 2), 2)).toBe(0) // neither call gave 1
      expect(native.returnBuffers(Uint16Array.of(2), 1)).toBe(EINVAL)
      expect(native.returnBuffers(Uint16Array.of(0, 3, 1), 3)).toBe(EINVAL) // 1 is in the ring
      expect(native.returnBuffers(Uint16Array.of(0, 3), 2)).toBe(0) // so 0 and 3 were not given
    } finally {
      end()
    }
  })
})
