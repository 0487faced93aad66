/**
 * probe(config?): what it reports on this kernel, and each missing feature simulated through
 * IOU_SIMULATE_MISSING, the one documented mask that probe() and Driver.open both read. A feature the
 * loop needs makes probe() answer supported: false with a reason naming it and Driver.open throw
 * ERR_IOU_UNAVAILABLE with that reason before any loop starts; one it can do without is reported
 * and nothing is refused. The README's kernel support table is checked against the probe's table.
 */
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { afterEach, describe, expect, it } from "vitest"
import { Driver, IoUringError, probe } from "@iou/native"
import { KERNEL_REQUIREMENTS, MINIMUM_KERNEL } from "../src/KernelRequirements.ts"
import { MINIMUM_NODE, nodeTooOld } from "../src/probe.ts"
import { SRC_INDEX } from "./helpers.ts"

const real = probe()
const ROOT = resolve(fileURLToPath(new URL(".", import.meta.url)), "../../..")

const simulate = (missing: string): void => {
  process.env["IOU_SIMULATE_MISSING"] = missing
}
afterEach(() => {
  delete process.env["IOU_SIMULATE_MISSING"]
})

const openError = (config?: Parameters<typeof Driver.open>[0]): unknown => {
  try {
    const driver = Driver.open(config)
    void driver.close()
  } catch (error) {
    return error
  }
  return undefined
}

describe("probe", () => {
  it("reports the kernel and whether io_uring is usable without throwing", () => {
    expect(real.kernel.length).toBeGreaterThan(0)
    if (real.supported) {
      expect(real.opcodes).toContain("NOP")
      expect(real.opcodes).toContain("ASYNC_CANCEL")
      expect(real.reason).toBeUndefined()
    } else {
      expect(real.reason).toMatch(/io_uring|addon/)
    }
  })

  describe.skipIf(!real.supported)("each missing feature, simulated (IOU_SIMULATE_MISSING)", () => {
    it("this kernel lacks nothing the default config needs", () => {
      expect(real.missing.filter((name) => name !== "SINGLE_ISSUER")).toEqual([])
    })

    for (const requirement of KERNEL_REQUIREMENTS.filter((r) => r.neededBy({}))) {
      it(`without ${requirement.name}, probe() says so and Driver.open refuses with the same reason`, () => {
        simulate(requirement.name)
        const p = probe()
        expect(p.supported).toBe(false)
        expect(p.missing).toContain(requirement.name)
        expect(p.reason).toContain(`${requirement.name} (Linux ${requirement.kernel}`)
        expect(p.reason).toContain(`Linux ${MINIMUM_KERNEL} or newer`)
        const error = openError()
        expect(error).toBeInstanceOf(IoUringError)
        expect(error).toMatchObject({ code: "ERR_IOU_UNAVAILABLE" })
        expect((error as Error).message).toContain(p.reason!)
      })
    }

    it("without multishot poll, an ioPoll ring (which does not use the wake poll) is still supported", () => {
      simulate("POLL_MULTISHOT")
      expect(probe({ ioPoll: true }).supported).toBe(true)
      expect(probe({ ioPoll: true }).missing).toEqual(expect.arrayContaining(["POLL_MULTISHOT"]))
      expect(probe().supported).toBe(false)
    })

    it("without SINGLE_ISSUER the loop uses its fallback ring: supported, reported, and open works", async () => {
      simulate("SINGLE_ISSUER")
      const p = probe()
      expect(p.supported).toBe(true)
      expect(p.singleIssuer).toBe(false)
      expect(p.missing).toContain("SINGLE_ISSUER")
      // Driver.open opens the fallback ring, as where the kernel says EINVAL to SINGLE_ISSUER (the C
      // test loop-single-issuer-and-fallback-rings-round-trip covers that answer): the inline
      // engine's eventfd wake falls back to the ring fd, as probe() says.
      for (const config of [
        { size: 4 },
        { size: 4, engine: "thread" as const },
        { size: 4, inlineWake: "eventfd" as const },
      ]) {
        const driver = Driver.open(config)
        expect(driver.config.singleIssuerAccepted).toBe(false)
        if (config.engine === undefined) {
          expect(driver.config.inlineWakeUsed).toBe(probe(config).inlineWake.chosen)
          expect(driver.config.inlineWakeUsed).toBe("ringfd")
        }
        await driver.nop()
        await driver.close()
      }
    })

    it("without ACCEPT_MULTISHOT or RECV_MULTISHOT, acceptMany and recvMany are refused with ENOSYS and nothing else", async () => {
      simulate("ACCEPT_MULTISHOT,RECV_MULTISHOT")
      expect(probe().missing).toEqual(expect.arrayContaining(["ACCEPT_MULTISHOT", "RECV_MULTISHOT"]))
      const driver = Driver.open({ size: 8 })
      try {
        const listener = await driver.listen({ host: "127.0.0.1", port: 0 })
        const accepted = driver.accept(listener.fd)
        const { port } = listener.localAddress as { port: number }
        const client = await driver.connect({ host: "127.0.0.1", port })
        const server = await accepted
        for (const many of [driver.acceptMany(listener.fd), driver.recvMany(server.fd)]) {
          const error = await many.next().then(
            () => undefined,
            (e: unknown) => e,
          )
          expect(error).toMatchObject({ code: "ENOSYS", errno: -38 })
        }
        // The one-shot forms still work.
        await driver.send(client.fd, Buffer.from("hi"))
        const into = Buffer.alloc(2)
        expect(await driver.recv(server.fd, into)).toBe(2)
        for (const fd of [client.fd, server.fd, listener.fd]) await driver.closeFd(fd)
      } finally {
        await driver.close()
      }
      delete process.env["IOU_SIMULATE_MISSING"]
      const plain = Driver.open({ size: 4 })
      expect(plain.config.singleIssuerAccepted).toBe(real.singleIssuer)
      await plain.close()
    })

    it("reports the inline wake modes: the one asked for where the kernel has it, else the other, and the fallback", () => {
      const p = probe()
      expect(p.inlineWake.available).toContain("ringfd") /* opens on every kernel */
      expect(p.inlineWake.available.includes("eventfd")).toBe(p.singleIssuer)
      expect(probe({ inlineWake: "ringfd" }).inlineWake).toMatchObject({ chosen: "ringfd", fallback: "eventfd" })
      expect(probe({ inlineWake: "eventfd", singleIssuer: false }).inlineWake).toMatchObject({
        chosen: "ringfd",
        fallback: "ringfd",
      })
      simulate("SINGLE_ISSUER")
      expect(probe({ inlineWake: "eventfd" }).inlineWake).toMatchObject({ available: ["ringfd"], chosen: "ringfd" })
    })

    it("several missing features are all named", () => {
      simulate("OP_SEND, ext_arg")
      const p = probe()
      expect(p.reason).toContain("OP_SEND (Linux 5.6")
      expect(p.reason).toContain("EXT_ARG (Linux 5.11")
      expect(p.opcodes).not.toContain("SEND")
    })

    it("io_uring refused by the kernel: IO_URING:<errno> reports that errno's explanation, says it is simulated, and nothing only a ring tells", () => {
      simulate("IO_URING")
      expect(probe()).toMatchObject({ supported: false, setupError: "ENOSYS", opcodes: [], singleIssuer: false })
      // No ring opens, so no inline wake mode is available; `chosen` is the one asked for.
      expect(probe({ inlineWake: "eventfd" }).inlineWake).toMatchObject({ available: [], chosen: "eventfd" })
      expect(probe().reason).toMatch(/CONFIG_IO_URING.*\(simulated by IOU_SIMULATE_MISSING\)$/)
      simulate("IO_URING:ENOMEM")
      expect(probe().reason).toMatch(/RLIMIT_MEMLOCK/)
      expect(openError()).toMatchObject({ code: "ERR_IOU_UNAVAILABLE" })
    })

    it("the addon not built (ADDON): probe() and Driver.open say so and how to fix it", () => {
      simulate("ADDON")
      const p = probe()
      expect(p.supported).toBe(false)
      expect(p.reason).toMatch(/^the native addon is not built/)
      expect(p.inlineWake).toMatchObject({ available: [], chosen: "ringfd" })
      const error = openError()
      expect(error).toMatchObject({ code: "ERR_IOU_UNAVAILABLE" })
      expect((error as Error).message).toContain("the native addon is not built")
    })
  })

  it("where no addon can be found, importing never throws, and probe() and Driver.open explain the fix", () => {
    // node-gyp-build's <NAME>_PREBUILD variable points the loader at an empty directory: a real
    // failed load, as after `npm install --ignore-scripts` with no prebuild for this Node.
    const empty = mkdtempSync(join(tmpdir(), "iou-no-addon-"))
    try {
      const source = `
        const { Driver, probe } = await import(${JSON.stringify(SRC_INDEX)})
        const p = probe()
        let open
        try { Driver.open() } catch (error) { open = { code: error.code, message: error.message } }
        console.log(JSON.stringify({ p, open }))`
      const child = spawnSync(
        process.execPath,
        ["--conditions=@iou/source", "--disable-warning=ExperimentalWarning", "--input-type=module", "-e", source],
        { env: { ...process.env, "@IOU/NATIVE_PREBUILD": empty }, encoding: "utf8", timeout: 20_000 },
      )
      expect(child.status, child.stderr).toBe(0)
      const { p, open } = JSON.parse(child.stdout) as {
        p: { supported: boolean; reason: string }
        open: { code: string; message: string }
      }
      expect(p.supported).toBe(false)
      expect(p.reason).toMatch(/^the native addon is not built \(No native build was found/)
      for (const fix of ["npm install-scripts approve @iou/native", "pnpm approve-builds", "npm rebuild @iou/native"])
        expect(p.reason).toContain(fix)
      expect(open.code).toBe("ERR_IOU_UNAVAILABLE")
      expect(open.message).toContain(p.reason)
    } finally {
      rmSync(empty, { recursive: true, force: true })
    }
  })

  it("a Node older than the package's engines is reported as unsupported, with both versions", () => {
    const engines = (
      JSON.parse(readFileSync(join(ROOT, "packages/native/package.json"), "utf8")) as {
        engines: { node: string }
      }
    ).engines.node
    expect(engines).toBe(`>=${MINIMUM_NODE}`)
    expect(nodeTooOld()).toBeUndefined()
    for (const newer of [MINIMUM_NODE, "24.0.1", "24.21.0", "25.0.0", "100.0.0"])
      expect(nodeTooOld(newer)).toBeUndefined()
    for (const older of ["20.20.2", "22.19.0", "22.23.5", "23.11.1", "18.0.0"])
      expect(nodeTooOld(older)).toBe(`@iou/native needs Node >= ${MINIMUM_NODE} (this is ${older})`)
  })

  it("the README's lists of what a files ring and a sockets ring accept are the probe's", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8")
    for (const operations of ["files", "sockets"] as const) {
      const listed = new RegExp(`\`"${operations}"\`: ([^;)]+)[;)]`).exec(readme)?.[1]
      expect([operations, listed?.split(", ")]).toEqual([operations, probe({ operations }).accepts])
    }
  })

  it("the README's kernel support table is the probe's table", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8")
    const rows = [...readme.matchAll(/^\| `([A-Z_]+)` \| ([0-9.]+) \|/gm)].map((m) => [m[1], m[2]])
    expect(rows).toEqual(KERNEL_REQUIREMENTS.map((r) => [r.name, r.kernel]))
    expect(readme).toContain(`Linux ${MINIMUM_KERNEL} or newer`)
  })
})
