/**
 * The ring does only what it was opened for (issue 16, hardening): a Driver opened for one class of
 * operations (`operations: "files" | "sockets"`) refuses the others with ERR_IOU_OPERATION_NOT_ALLOWED
 * before they reach the loop, shows the choice in `driver.config` and `probe()`; a process that
 * changed its uid, gid or groups since the Driver opened gets ERR_IOU_CREDENTIALS_CHANGED. Each runs
 * for every engine. (The kernel-side restriction of the ring's opcodes is tested in C:
 * test/c/inline-ring-of-one-operation-class-refuses-the-others-opcodes.c.)
 */
import { describe, expect, it } from "vitest"
import { Driver, IoUringError, OPERATIONS, probe } from "../src/index.ts"
import { runChild } from "./helpers.ts"
import { cleanups, pair, file, ENGINES } from "./fixtures.ts"

const supported = probe().supported
const reason = probe().reason ?? ""

const notAllowed = (syscall: string) =>
  expect.objectContaining({ code: "ERR_IOU_OPERATION_NOT_ALLOWED", reason: "NotAllowed", syscall })

/** The callback API's answer for one request. */
const viaCallback = (submit: (cb: (error: Error | null, n: number) => void) => number) =>
  new Promise<{ error: Error | null; handle: number }>((done) => {
    const handle = submit((error) => done({ error, handle }))
  })

describe("probe() shows what a ring opened with a config accepts", () => {
  it("all operations by default, one class and nop otherwise", () => {
    expect(probe()).toMatchObject({ operations: "all" })
    const of = (keep: (c: string) => boolean) =>
      Object.entries(OPERATIONS)
        .filter(([, row]) => keep(row.class))
        .map(([method]) => method)
    expect(probe().accepts).toEqual(Object.keys(OPERATIONS))
    const files = probe({ operations: "files" })
    expect(files).toMatchObject({ operations: "files", accepts: of((c) => c !== "sockets") })
    expect(files.accepts).toEqual(expect.arrayContaining(["nop", "readAt", "writeAt", "sync"]))
    expect(files.accepts).not.toContain("send")
    const sockets = probe({ operations: "sockets" })
    expect(sockets).toMatchObject({ operations: "sockets", accepts: of((c) => c !== "files") })
    expect(sockets.accepts).toEqual(expect.arrayContaining(["nop", "send", "recv", "accept"]))
    expect(sockets.accepts).not.toContain("readAt")
  })
})

describe.skipIf(!supported)(`hardening${supported ? "" : ` (skipped: ${reason})`}`, () => {
  describe.each(ENGINES)("engine $name", ({ config: engine }) => {
    const open = (config?: Parameters<typeof Driver.open>[0]): Driver => {
      const ring = Driver.open({ ...engine, ...config })
      cleanups.push(() => ring.close({ shutdownTimeout: 0 }))
      return ring
    }

    it("a files ring refuses send and recv before the loop, and runs readAt, writeAt, sync and nop", async () => {
      const ring = open({ operations: "files" })
      expect(ring.config.operations).toBe("files")
      const p = await pair()
      const f = file(Buffer.from("hello"))
      await expect(ring.send(p.a, Buffer.from("x"))).rejects.toEqual(notAllowed("send"))
      await expect(ring.recv(p.a, Buffer.alloc(4))).rejects.toEqual(notAllowed("recv"))
      const cb = await viaCallback((done) => ring.submitSend(p.a, Buffer.from("x"), 0, done))
      expect(cb.handle).toBe(0)
      expect(cb.error).toBeInstanceOf(IoUringError)
      expect(cb.error).toEqual(notAllowed("send"))
      expect(ring.stats().submitted).toBe(0) // none reached the loop
      const into = Buffer.alloc(5)
      expect(await ring.readAt(f.fd, into, 0)).toBe(5)
      await ring.writeAt(f.fd, Buffer.from("HE"), 0)
      await ring.sync(f.fd)
      await ring.nop()
      expect(await ring.readAt(f.fd, into, 0)).toBe(5)
      expect(into.toString()).toBe("HEllo")
    })

    it("a sockets ring refuses readAt, writeAt and sync before the loop, and runs send, recv and nop", async () => {
      const ring = open({ operations: "sockets" })
      expect(ring.config.operations).toBe("sockets")
      const p = await pair()
      const f = file(Buffer.from("hello"))
      await expect(ring.readAt(f.fd, Buffer.alloc(4), 0)).rejects.toEqual(notAllowed("read"))
      await expect(ring.writeAt(f.fd, Buffer.from("x"), 0)).rejects.toEqual(notAllowed("write"))
      await expect(ring.sync(f.fd)).rejects.toEqual(notAllowed("fsync"))
      const cb = await viaCallback((done) => ring.submitReadAt(f.fd, Buffer.alloc(4), 0, 4, false, 0, done))
      expect(cb.error).toEqual(notAllowed("read"))
      expect(ring.stats().submitted).toBe(0)
      await ring.send(p.a, Buffer.from("ping"))
      const into = Buffer.alloc(4)
      expect(await ring.recv(p.b, into, { exact: true })).toBe(4)
      expect(into.toString()).toBe("ping")
      await ring.nop()
    })

    it.skipIf(process.getuid?.() !== 0)(
      "after the process changed its groups, every new request fails with ERR_IOU_CREDENTIALS_CHANGED",
      async () => {
        // In a child, since it changes the process's credentials.
        const result = await runChild(
          `const ring = Driver.open(${JSON.stringify(engine)})
          await ring.nop()
          const groups = process.getgroups()
          process.setgroups([54321])
          const outcome = async (p) => p.then(() => "ok", (e) => e instanceof IoUringError ? e.code + "/" + e.reason : String(e))
          const first = await outcome(ring.nop())
          process.setgroups(groups)
          const restored = await outcome(ring.nop())
          const viaCallback = await new Promise((done) => ring.submitNop(0, (e) => done(e?.code ?? "ok")))
          const submitted = ring.stats().submitted
          await ring.close()
          const other = Driver.open(${JSON.stringify(engine)})
          const fresh = await outcome(other.nop())
          await other.close()
          console.log(JSON.stringify({ first, restored, viaCallback, submitted, fresh }))`,
        )
        expect(result.stderr).toBe("")
        expect(JSON.parse(result.stdout)).toEqual({
          first: "ERR_IOU_CREDENTIALS_CHANGED/CredentialsChanged",
          restored: "ERR_IOU_CREDENTIALS_CHANGED/CredentialsChanged", // for good, once seen
          viaCallback: "ERR_IOU_CREDENTIALS_CHANGED",
          submitted: 1,
          fresh: "ok", // a Driver opened with the new credentials works
        })
      },
    )
  })
})
