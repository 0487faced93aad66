/**
 * The socket operations on the real kernel, both engines (this file runs under native-thread too):
 * listen, accept, connect and shutdownSocket with their defaults, addresses, errors, cancellation,
 * deadlines and the rule that an fd nobody wants any more is closed by the Driver.
 */
import { spawn, spawnSync } from "node:child_process"
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs"
import { connect as netConnect } from "node:net"
import { tmpdir } from "node:os"
import { join, relative } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { Driver, type IoUringError, probe } from "../src/index.ts"
import { binding } from "../src/binding.ts"
import { runChild, UNDER_TEST } from "./helpers.ts"

/** The message of node:net's error for a connect to `target`: what the ring's error says too. */
const netConnectError = (target: { host: string; port: number } | { path: string }): Promise<string> =>
  new Promise((resolve, reject) => {
    const socket = netConnect(target as never)
    socket.once("connect", () => {
      socket.destroy()
      reject(new Error("node:net connected"))
    })
    socket.once("error", (error) => resolve(error.message))
  })

const supported = probe().supported
const reason = probe().reason ?? ""

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

const open = (): Driver => {
  const ring = Driver.open(UNDER_TEST)
  cleanups.push(() => ring.close({ shutdownTimeout: 0 }))
  return ring
}
/** `path` relative to the working directory. */
const relativePath = (path: string): string => relative(process.cwd(), path) || "."
/** Closes the fd after the test (the caller owns every fd the ring hands over). */
const owned = <T extends { fd: number }>(value: T): T => {
  cleanups.push(() => closeQuietly(value.fd))
  return value
}
const closeQuietly = (fd: number): void => {
  try {
    closeSync(fd)
  } catch {
    // already closed
  }
}
const settle = <T>(p: Promise<T>) =>
  p.then(
    (value) => ({ ok: true as const, value }),
    (error: IoUringError) => ({ ok: false as const, error }),
  )
/** The sockets this process holds (each fd that is a socket). */
const socketCount = (): number =>
  readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).startsWith("socket:")
    } catch {
      return false
    }
  }).length
const cloexec = (fd: number): boolean => {
  const flags = /flags:\s+([0-7]+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"))![1]!
  return (parseInt(flags, 8) & 0o2000000) !== 0
}
/** A child process that connects to port and exits (the JS thread waits for it meanwhile). */
const connectFromChild = (port: number, holdMs = 0): void => {
  const script = `const s = require("node:net").connect(${port}, "127.0.0.1", () => setTimeout(() => s.destroy(), ${holdMs}))`
  const r = spawnSync(process.execPath, ["-e", script], { stdio: "ignore", timeout: 10000 })
  expect(r.status).toBe(0)
}

describe.skipIf(!supported)(`Driver sockets on the real kernel${supported ? "" : ` (skipped: ${reason})`}`, () => {
  it("listen, accept and connect make CLOEXEC sockets with Node-shaped addresses, and bytes flow both ways", async () => {
    const ring = open()
    const listener = owned(await ring.listen({ host: "127.0.0.1", port: 0 }))
    expect(listener.localAddress).toMatchObject({ address: "127.0.0.1", family: "IPv4" })
    const port = (listener.localAddress as { port: number }).port
    expect(port).toBeGreaterThan(0)
    const accepted = ring.accept(listener)
    const client = owned(await ring.connect({ host: "127.0.0.1", port }, { noDelay: true, keepAlive: true }))
    const server = owned(await accepted)
    expect(client.remoteAddress).toEqual({ address: "127.0.0.1", family: "IPv4", port })
    expect(server.localAddress).toEqual({ address: "127.0.0.1", family: "IPv4", port })
    expect(server.remoteAddress).toEqual(client.localAddress)
    for (const fd of [listener.fd, client.fd, server.fd]) expect(cloexec(fd)).toBe(true)
    await ring.send(client.fd, Buffer.from("ping"))
    const buf = Buffer.alloc(4)
    expect(await ring.recv(server.fd, buf, { exact: true })).toBe(4)
    expect(buf.toString()).toBe("ping")
    // shutdownSocket("write"): the peer reads end of stream; the other direction still works.
    await ring.shutdownSocket(client.fd, "write")
    expect(await ring.recv(server.fd, buf)).toBe(0)
    await ring.send(server.fd, Buffer.from("pong"))
    expect(await ring.recv(client.fd, buf, { exact: true })).toBe(4)
  })

  it("listen with no host binds :: dual-stack (IPv4 and IPv6 clients both connect), reusePort as asked", async () => {
    // That `backlog` reaches listen(2): the full-backlog connect test below (backlog 0).
    const ring = open()
    const listener = owned(await ring.listen({ port: 0, backlog: 16, reusePort: true }))
    expect(listener.localAddress).toMatchObject({ address: "::", family: "IPv6" })
    const port = (listener.localAddress as { port: number }).port
    // SO_REUSEPORT: a second listener on the same port is allowed (closed again: the kernel would
    // share the connections below between the two).
    closeQuietly((await ring.listen({ port, reusePort: true })).fd)
    const v4 = owned(await ring.connect({ host: "127.0.0.1", port }))
    const a4 = owned(await ring.accept(listener.fd))
    expect(a4.remoteAddress).toMatchObject({ address: "::ffff:127.0.0.1", family: "IPv6" })
    expect(v4.remoteAddress).toEqual({ address: "127.0.0.1", family: "IPv4", port })
    const v6 = owned(await ring.connect({ host: "::1", port }))
    expect(v6.remoteAddress).toEqual({ address: "::1", family: "IPv6", port })
    owned(await ring.accept(listener))
    // An empty host is none, as node:net's.
    expect(owned(await ring.listen({ host: "", port: 0 })).localAddress).toMatchObject({
      address: "::",
      family: "IPv6",
    })
  })

  it("listen with ipv6Only refuses IPv4 clients and takes IPv6 ones, with no host (`::` alone) or host `::`", async () => {
    const ring = open()
    for (const target of [
      { port: 0, ipv6Only: true },
      { host: "::", port: 0, ipv6Only: true },
    ]) {
      const listener = owned(await ring.listen(target))
      expect(listener.localAddress).toMatchObject({ address: "::", family: "IPv6" })
      const port = (listener.localAddress as { port: number }).port
      const v4 = await settle(ring.connect({ host: "127.0.0.1", port }))
      expect(!v4.ok && v4.error).toMatchObject({ code: "ECONNREFUSED", address: "127.0.0.1", port })
      owned(await ring.connect({ host: "::1", port }))
      expect(owned(await ring.accept(listener)).remoteAddress).toMatchObject({ address: "::1", family: "IPv6" })
    }
    expect(() => ring.listen({ port: 0, ipv6Only: 1 as unknown as boolean })).toThrow(
      Object.assign(new TypeError("ipv6Only must be a boolean, got number"), { code: "ERR_INVALID_ARG_TYPE" }),
    )
  })

  it("an IPv6 address with a zone (`::1%lo`, as dns.lookup gives a link-local one) listens and connects, as node:net", async () => {
    const ring = open()
    const listener = owned(await ring.listen({ host: "::1%lo", port: 0 }))
    expect(listener.localAddress).toMatchObject({ address: "::1", family: "IPv6" })
    const port = (listener.localAddress as { port: number }).port
    const client = owned(await ring.connect({ host: "::1%lo", port }))
    expect(client.remoteAddress).toEqual({ address: "::1", family: "IPv6", port })
    owned(await ring.accept(listener))
    const viaNode = await new Promise<string>((done) => {
      const socket = netConnect({ host: "::1%lo", port }, () => {
        done(socket.remoteAddress ?? "")
        socket.destroy()
      })
      socket.on("error", (e) => done(String(e)))
    })
    expect(viaNode).toBe("::1")
    owned(await ring.accept(listener))
    // A refused connect's error names the address with its zone, as node:net's does.
    const message = await netConnectError({ host: "::1%lo", port: 1 })
    const refused = await settle(ring.connect({ host: "::1%lo", port: 1 }))
    expect(!refused.ok && refused.error).toMatchObject({ code: "ECONNREFUSED", address: "::1%lo", port: 1, message })
  })

  it("listen's noDelay and keepAlive reach every accepted connection; without them neither is set", async () => {
    const ring = open()
    const k = binding.sockets.constants
    const flags = (fd: number) => [
      binding.sockets.getsockopt(fd, k["IPPROTO_TCP"]!, k["TCP_NODELAY"]!) > 0,
      binding.sockets.getsockopt(fd, k["SOL_SOCKET"]!, k["SO_KEEPALIVE"]!) > 0,
    ]
    for (const [options, want] of [
      [{ noDelay: true, keepAlive: true }, [true, true]],
      [{ noDelay: true }, [true, false]],
      [{}, [false, false]],
    ] as const) {
      const listener = owned(await ring.listen({ host: "127.0.0.1", port: 0, ...options }))
      const port = (listener.localAddress as { port: number }).port
      owned(await ring.connect({ host: "127.0.0.1", port }))
      const accepted = owned(await ring.accept(listener))
      expect([options, flags(accepted.fd)]).toEqual([options, want])
    }
    expect(() => ring.listen({ port: 0, noDelay: 1 as never })).toThrow(TypeError)
  })

  it("a host name is resolved with dns.lookup and its addresses are tried in order", async () => {
    const ring = open()
    const listener = owned(await ring.listen({ port: 0 }))
    const port = (listener.localAddress as { port: number }).port
    const accepted = ring.accept(listener)
    const c = owned(await ring.connect({ host: "localhost", port }, { timeout: 5000 }))
    owned(await accepted)
    expect(c.remoteAddress).toMatchObject({ port })
    const r = await settle(ring.connect({ host: "no-such-host.invalid", port }))
    const nodeError = await netConnectError({ host: "no-such-host.invalid", port })
    expect(!r.ok && r.error).toMatchObject({ syscall: "getaddrinfo", message: nodeError })
    // The order, and the move to the next address on a refusal: in a child whose dns.lookup answers
    // two names with two loopback addresses each (listeners on 127.0.0.1 and 127.0.0.2, none on .3).
    const lookup = `import dns from "node:dns"; import { syncBuiltinESMExports } from "node:module";
      const real = dns.lookup;
      const fake = { "both.test": ["127.0.0.2", "127.0.0.1"], "refused-first.test": ["127.0.0.3", "127.0.0.1"] };
      dns.lookup = (host, options, cb) => fake[host] === undefined ? real(host, options, cb)
        : cb(null, fake[host].map((address) => ({ address, family: 4 })));
      syncBuiltinESMExports();`
    const child = await runChild(
      `const ring = Driver.open(${JSON.stringify(UNDER_TEST)})
       const one = await ring.listen({ host: "127.0.0.1", port: 0 })
       const port = one.localAddress.port
       const two = await ring.listen({ host: "127.0.0.2", port })
       const tried = []
       for (const host of ["both.test", "refused-first.test"]) {
         const c = await ring.connect({ host, port }, { timeout: 5000 })
         tried.push(c.remoteAddress.address)
         await ring.closeFd(c.fd)
       }
       await ring.closeFd(one.fd)
       await ring.closeFd(two.fd)
       await ring.close()
       console.log(JSON.stringify(tried))`,
      { args: ["--import", `data:text/javascript,${encodeURIComponent(lookup)}`] },
    )
    expect({ code: child.code, stderr: child.stderr }).toEqual({ code: 0, stderr: "" })
    expect(JSON.parse(child.stdout)).toEqual(["127.0.0.2", "127.0.0.1"])
  })

  it("Unix sockets: listen on a path, connect and accept, addresses as { path }", async () => {
    const ring = open()
    const dir = mkdtempSync(join(tmpdir(), "iou-sock-"))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    const path = join(dir, "s")
    const listener = owned(await ring.listen({ path }))
    expect(listener.localAddress).toEqual({ path })
    const accepted = ring.accept(listener)
    const c = owned(await ring.connect({ path }))
    const s = owned(await accepted)
    expect(c.remoteAddress).toEqual({ path })
    expect(s.localAddress).toEqual({ path })
    expect(s.remoteAddress).toEqual({ path: "" })
    await ring.send(c.fd, Buffer.from("u"))
    expect(await ring.recv(s.fd, Buffer.alloc(1))).toBe(1)
    const missing = await settle(ring.connect({ path: join(dir, "none") }))
    expect(!missing.ok && missing.error).toMatchObject({ code: "ENOENT", syscall: "connect" })
  })

  it("closeFd of a Unix listener unlinks its socket file, as node:net's server.close(), so the path can be listened on again; a file made anew at the path is left alone", async () => {
    const ring = open()
    const dir = mkdtempSync(join(tmpdir(), "iou-sock-"))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    const path = join(dir, "s")
    const first = await ring.listen({ path })
    await ring.closeFd(first.fd)
    expect(existsSync(path)).toBe(false)
    // Through the callback form too, with a relative path (the file is the one listen made).
    const relative = relativePath(path)
    const second = await ring.listen({ path: relative })
    await new Promise<void>((done, fail) =>
      ring.submitCloseFd(second.fd, (error) => (error === null ? done() : fail(error))),
    )
    expect(existsSync(path)).toBe(false)
    // A listener whose file someone removed and made again (another server on the path): its close
    // leaves the other server's file.
    const third = await ring.listen({ path })
    rmSync(path)
    const other = owned(await ring.listen({ path }))
    await ring.closeFd(third.fd)
    expect(existsSync(path)).toBe(true)
    const c = owned(await ring.connect({ path }))
    owned(await ring.accept(other))
    expect(c.remoteAddress).toEqual({ path })
    await ring.closeFd(other.fd) // and the other listener's close unlinks its own
    expect(existsSync(path)).toBe(false)
  })

  it("closeFd unlinks a Unix listener's file only while the fd is that listener: not once the number went to another file or to a connection accepted on the path's new listener", async () => {
    const ring = open()
    const dir = mkdtempSync(join(tmpdir(), "iou-sock-"))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    const path = join(dir, "s")
    // A listener closed by other means keeps its file, also at a closeFd of its number.
    const first = await ring.listen({ path })
    closeSync(first.fd)
    await expect(ring.closeFd(first.fd)).rejects.toMatchObject({ code: "EBADF" })
    expect(existsSync(path)).toBe(true)
    rmSync(path)
    // Its number given to a file (open takes the lowest free number).
    const second = await ring.listen({ path: join(dir, "t") })
    closeSync(second.fd)
    const file = await ring.open(join(dir, "f"), { flags: "w" })
    expect(file).toBe(second.fd)
    await ring.closeFd(file)
    expect(existsSync(join(dir, "t"))).toBe(true)
    // Its number given to a connection accepted on a new listener of the same path, whose name is
    // that path too, with the old listener's file back at the path (so the path's inode is the
    // old one's): the connection is no listener (SO_ACCEPTCONN), and its close unlinks nothing.
    const third = await ring.listen({ path })
    renameSync(path, join(dir, "kept"))
    const listener = owned(await ring.listen({ path }))
    owned(await ring.connect({ path }))
    closeSync(third.fd)
    const connection = await ring.accept(listener)
    expect(connection.fd).toBe(third.fd)
    expect(connection.localAddress).toEqual({ path })
    renameSync(join(dir, "kept"), path)
    await ring.closeFd(connection.fd)
    expect(existsSync(path)).toBe(true)
  })

  it("a Unix listener whose path cannot be looked at any more (its directory moved, a file in its place) is closed and its file left", async () => {
    const ring = open()
    const dir = mkdtempSync(join(tmpdir(), "iou-sock-"))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    const path = join(dir, "d", "s")
    mkdirSync(join(dir, "d"))
    const listener = await ring.listen({ path })
    renameSync(join(dir, "d"), join(dir, "moved"))
    writeFileSync(join(dir, "d"), "") // lstat of the listener's path: ENOTDIR
    await ring.closeFd(listener.fd)
    expect(existsSync(join(dir, "moved", "s"))).toBe(true)
  })

  it("errors carry Node's code, errno, syscall, address and port: EADDRINUSE from bind, ECONNREFUSED from connect; no socket is left behind", async () => {
    const ring = open()
    const listener = owned(await ring.listen({ host: "127.0.0.1", port: 0 }))
    const port = (listener.localAddress as { port: number }).port
    const before = socketCount()
    const inUse = await settle(ring.listen({ host: "127.0.0.1", port }))
    expect(!inUse.ok && inUse.error).toMatchObject({
      code: "EADDRINUSE",
      errno: -98,
      syscall: "bind",
      address: "127.0.0.1",
      port,
      fd: undefined,
      // node:net's form, as its server says a listen's ("listen EADDRINUSE: address already in use …").
      message: `bind EADDRINUSE: address already in use 127.0.0.1:${port}`,
    })
    // A port that was just bound and closed again: nobody listens there.
    const gone = await ring.listen({ host: "127.0.0.1", port: 0 })
    const free = (gone.localAddress as { port: number }).port
    closeQuietly(gone.fd)
    const refused = await settle(ring.connect({ host: "127.0.0.1", port: free }))
    expect(!refused.ok && refused.error).toMatchObject({
      code: "ECONNREFUSED",
      errno: -111,
      syscall: "connect",
      address: "127.0.0.1",
      port: free,
      fd: undefined,
      message: await netConnectError({ host: "127.0.0.1", port: free }),
    })
    expect((refused as { error: Error }).error.message).toBe(`connect ECONNREFUSED 127.0.0.1:${free}`)
    // A Unix socket's path is the address (as node:net's errors say it).
    const dir = mkdtempSync(join(tmpdir(), "iou-addr-"))
    const missing = await settle(ring.connect({ path: join(dir, "none") }))
    const nodeMissing = await netConnectError({ path: join(dir, "none") })
    rmSync(dir, { recursive: true })
    expect(!missing.ok && missing.error).toMatchObject({
      code: "ENOENT",
      address: join(dir, "none"),
      port: undefined,
      message: nodeMissing,
    })
    expect(socketCount()).toBe(before)
  })

  it("connect to port 0 is the kernel's refusal (ECONNREFUSED at the endpoint), as node:net's", async () => {
    const ring = open()
    const message = await netConnectError({ host: "127.0.0.1", port: 0 })
    await expect(ring.connect({ host: "127.0.0.1", port: 0 })).rejects.toMatchObject({
      code: "ECONNREFUSED",
      syscall: "connect",
      address: "127.0.0.1",
      port: 0,
      message,
    })
  })

  it("bad arguments throw before the kernel: TypeError / RangeError with nothing submitted", () => {
    const ring = open()
    const submitted = ring.stats().submitted
    expect(() => ring.listen({ port: 70000 })).toThrow(RangeError)
    expect(() => ring.listen({ port: -1 })).toThrow(RangeError)
    expect(() => ring.listen({ path: "a\0b" })).toThrow(TypeError)
    expect(() => ring.listen({ path: "x".repeat(200) })).toThrow(TypeError)
    expect(() => ring.listen(null as never)).toThrow(
      expect.objectContaining({ name: "TypeError", code: "ERR_INVALID_ARG_TYPE" }),
    )
    expect(() => ring.connect({ host: 1 as never, port: 80 })).toThrow(
      expect.objectContaining({ name: "TypeError", code: "ERR_INVALID_ARG_TYPE" }),
    )
    expect(() => ring.connect({ host: 1 as never, port: 80 })).toThrow(TypeError)
    expect(() => ring.connect({ host: "127.0.0.1", port: 80 }, { noDelay: "yes" as never })).toThrow(TypeError)
    expect(() => ring.accept(-1)).toThrow(RangeError)
    expect(() => ring.shutdownSocket(3, "sideways" as never)).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_ARG_VALUE" }),
    )
    expect(() => ring.submitConnect(3, new Uint8Array(1), 0, () => {})).toThrow(RangeError)
    expect(ring.stats().submitted).toBe(submitted)
  })

  it("aborting a pending accept ends it with an AbortError carrying the signal's reason, after the kernel let go", async () => {
    const ring = open()
    const listener = owned(await ring.listen({ host: "127.0.0.1", port: 0 }))
    const controller = new AbortController()
    const pending = settle(ring.accept(listener, { signal: controller.signal }))
    await new Promise((done) => setTimeout(done, 20))
    expect(ring.stats().pendingOperations).toBe(1)
    controller.abort(new Error("stop"))
    const r = await pending
    expect(!r.ok && r.error).toMatchObject({ name: "AbortError", code: "ABORT_ERR", syscall: "accept" })
    expect(!r.ok && (r.error.cause as Error).message).toBe("stop")
    expect(ring.stats().pendingOperations).toBe(0)
    const late = await settle(ring.accept(listener, { signal: controller.signal }))
    expect(!late.ok && late.error.name).toBe("AbortError")
  })

  it("an accept past its deadline fails with ETIMEDOUT", async () => {
    const ring = open()
    const listener = owned(await ring.listen({ host: "127.0.0.1", port: 0 }))
    const r = await settle(ring.accept(listener, { timeout: 50 }))
    expect(!r.ok && r.error).toMatchObject({ code: "ETIMEDOUT", reason: "Timeout", syscall: "accept" })
  })

  it("a connect to a listener whose backlog is full times out at its deadline (ETIMEDOUT) or ends on abort, and its socket is closed", async () => {
    const ring = open()
    // backlog 0: one connection fills the accept queue; the kernel drops the next SYNs.
    const listener = owned(await ring.listen({ host: "127.0.0.1", port: 0, backlog: 0 }))
    const port = (listener.localAddress as { port: number }).port
    owned(await ring.connect({ host: "127.0.0.1", port }))
    const before = socketCount()
    const r = await settle(ring.connect({ host: "127.0.0.1", port }, { timeout: 200 }))
    expect(!r.ok && r.error).toMatchObject({
      code: "ETIMEDOUT",
      reason: "Timeout",
      syscall: "connect",
      address: "127.0.0.1",
      port,
      fd: undefined,
      message: `connect ETIMEDOUT 127.0.0.1:${port}`, // as node:net says the kernel's ETIMEDOUT
    })
    expect(socketCount()).toBe(before)
    const controller = new AbortController()
    const pending = settle(ring.connect({ host: "127.0.0.1", port }, { signal: controller.signal }))
    await new Promise((done) => setTimeout(done, 50))
    expect(socketCount()).toBe(before + 1)
    controller.abort()
    const aborted = await pending
    expect(!aborted.ok && aborted.error).toMatchObject({ name: "AbortError", syscall: "connect" })
    expect(socketCount()).toBe(before)
    expect(ring.stats().pendingOperations).toBe(0)
  })

  it("a listen or connect that ends before or in its socket step still says which endpoint it was for", async () => {
    // Timed out in the socket step (timeout 0), or refused for a signal aborted before the call:
    // the error carries the endpoint (a host name and its port before a lookup), as every later
    // step's does.
    const ring = open()
    const before = socketCount()
    const aborted = AbortSignal.abort()
    // Each settled at once: a pre-aborted one rejects before the loop below awaits it.
    const cases: Array<[Promise<unknown>, object]> = [
      [
        settle(ring.connect({ host: "127.0.0.1", port: 9 }, { timeout: 0 })),
        { code: "ETIMEDOUT", syscall: "socket", address: "127.0.0.1", port: 9 },
      ],
      [
        settle(ring.listen({ host: "127.0.0.1", port: 0 }, { timeout: 0 })),
        { code: "ETIMEDOUT", syscall: "socket", address: "127.0.0.1", port: 0 },
      ],
      [
        settle(ring.connect({ host: "127.0.0.1", port: 9 }, { signal: aborted })),
        { name: "AbortError", syscall: "connect", address: "127.0.0.1", port: 9 },
      ],
      [
        settle(ring.connect({ host: "localhost", port: 9 }, { signal: aborted })),
        { name: "AbortError", syscall: "connect", address: "localhost", port: 9 },
      ],
      [
        settle(ring.listen({ port: 0 }, { signal: aborted })),
        { name: "AbortError", syscall: "listen", address: "::", port: 0 },
      ],
    ]
    for (const [request, expected] of cases) {
      const r = (await request) as Awaited<ReturnType<typeof settle>>
      expect(!r.ok && r.error).toMatchObject({ ...expected, fd: undefined })
    }
    expect(socketCount()).toBe(before)
  })

  it("an accept whose caller aborted after the kernel made the connection's fd closes that fd (AbortError, nothing leaks)", async () => {
    const ring = open()
    const listener = owned(await ring.listen({ host: "127.0.0.1", port: 0 }))
    const port = (listener.localAddress as { port: number }).port
    const controller = new AbortController()
    const pending = settle(ring.accept(listener, { signal: controller.signal }))
    await new Promise((done) => setTimeout(done, 20))
    const before = socketCount()
    // The JS thread waits for the child: the kernel completes the accept meanwhile, and the abort
    // comes before the Driver has delivered that completion.
    connectFromChild(port)
    controller.abort()
    const r = await pending
    expect(!r.ok && r.error).toMatchObject({ name: "AbortError", syscall: "accept" })
    expect(socketCount()).toBe(before)
  })

  it("an accept the kernel completed before its deadline is delivered even when the JS thread comes back after the deadline (success wins; the fd is the caller's)", async () => {
    const ring = open()
    const listener = owned(await ring.listen({ host: "127.0.0.1", port: 0 }))
    const port = (listener.localAddress as { port: number }).port
    // A child started beforehand (its start-up can take seconds on a loaded machine) connects when
    // told to, and holds the connection until its stdin closes.
    const script = `process.stdin.once("data", () => { const s = require("node:net").connect(${port}, "127.0.0.1", () => process.stdout.write("c")); process.stdin.once("end", () => s.destroy()) }); process.stdout.write("r")`
    const child = spawn(process.execPath, ["-e", script], { stdio: ["pipe", "pipe", "ignore"] })
    cleanups.push(() => child.kill())
    const said = (what: string) =>
      new Promise<void>((done) => {
        const on = (chunk: Buffer) => {
          if (chunk.includes(what)) {
            child.stdout!.off("data", on)
            done()
          }
        }
        child.stdout!.on("data", on)
      })
    await said("r")
    const timeout = 1500 // long enough for a loaded machine to schedule the child's connect
    const pending = settle(ring.accept(listener, { timeout }))
    const deadline = Date.now() + timeout
    await new Promise((done) => setTimeout(done, 20)) // the accept is in the kernel
    const connected = said("c")
    child.stdin!.write("go")
    // The JS thread does not come back until the deadline has passed; meanwhile the child connects
    // and the kernel completes the accept.
    const wait = new Int32Array(new SharedArrayBuffer(4))
    Atomics.wait(wait, 0, 0, deadline - Date.now() + 200)
    await connected
    const r = await pending
    child.stdin!.end()
    expect(r.ok).toBe(true)
    if (r.ok) owned(r.value)
  })

  it("where the kernel lacks IORING_OP_SOCKET, BIND and LISTEN the Driver makes those calls itself, and listen and connect still work", async () => {
    process.env["IOU_SIMULATE_MISSING"] = "OP_SOCKET,OP_BIND,OP_LISTEN"
    cleanups.push(() => delete process.env["IOU_SIMULATE_MISSING"])
    expect(probe().missing).toEqual(expect.arrayContaining(["OP_SOCKET", "OP_BIND", "OP_LISTEN"]))
    expect(probe().supported).toBe(true)
    const ring = open()
    const before = ring.stats().submitted
    const listener = owned(await ring.listen({ host: "127.0.0.1", port: 0 }))
    // Nothing of listen went through the ring: socket, bind and listen were syscalls.
    expect(ring.stats().submitted).toBe(before)
    const port = (listener.localAddress as { port: number }).port
    const inUse = await settle(ring.listen({ host: "127.0.0.1", port }))
    expect(!inUse.ok && inUse.error).toMatchObject({ code: "EADDRINUSE", syscall: "bind" })
    const accepted = ring.accept(listener)
    const c = owned(await ring.connect({ host: "127.0.0.1", port }))
    owned(await accepted)
    expect(cloexec(c.fd)).toBe(true)
  })

  it("the low-level forms cancel through ring.cancel with their handle", async () => {
    const ring = open()
    const listener = owned(await ring.listen({ host: "127.0.0.1", port: 0 }))
    const result = new Promise<Error | null>((done) => {
      const handle = ring.acceptConnection(listener.fd, 0, (error) => done(error))
      setTimeout(() => expect(ring.cancel(handle)).toBe(true), 20)
    })
    expect(await result).toMatchObject({ name: "AbortError" })
    const fd = await new Promise<number>((done, fail) =>
      ring.submitSocket(2, 1, 0, 0, (error, result) => (error === null ? done(result) : fail(error))),
    )
    owned({ fd })
    expect(cloexec(fd)).toBe(true)
  })

  it("a cancel that comes after the kernel completed a step ends the request there: listen goes no further than its bind, connect tries no other address; no socket is left", async () => {
    const ring = open()
    const before = socketCount()
    // A nop submitted just before the step completes in the same batch; its callback cancels the
    // request, whose step the kernel has completed by then (its completion is on its way).
    let handle = 0
    const cancels: Array<boolean> = []
    const cancelNext = (): void => {
      ring.submitNop(0, () => cancels.push(ring.cancel(handle)))
    }
    const bind = ring.submitBind.bind(ring)
    ring.submitBind = (fd, address, deadline, callback) => {
      cancelNext()
      return bind(fd, address, deadline, callback)
    }
    const listened = await new Promise<Error | null>((done) => {
      handle = ring.openListener({ host: "127.0.0.1", port: 0 }, 0, (error, listener) => {
        if (listener !== undefined) owned(listener)
        done(error)
      })
    })
    expect([(listened as IoUringError).code, (listened as IoUringError).syscall, cancels]).toEqual([
      "ABORT_ERR",
      "listen",
      [true],
    ])
    expect(ring.cancel(handle)).toBe(false)
    // connect to a port nobody listens on: the kernel refuses (ECONNREFUSED) before the cancel is
    // seen; the request ends cancelled, not refused.
    const connect = ring.submitConnect.bind(ring)
    ring.submitConnect = (fd, address, deadline, callback) => {
      cancelNext()
      return connect(fd, address, deadline, callback)
    }
    const connected = await new Promise<Error | null>((done) => {
      handle = ring.openConnection({ host: "127.0.0.1", port: 1 }, {}, 0, (error, connection) => {
        if (connection !== undefined) owned(connection)
        done(error)
      })
    })
    const e = connected as IoUringError
    expect([e.code, e.syscall, e.address, e.port, e.fd, cancels]).toEqual([
      "ABORT_ERR",
      "connect",
      "127.0.0.1",
      1,
      undefined,
      [true, true],
    ])
    expect(socketCount()).toBe(before)
  })

  it("a Unix listen cancelled after its bind unlinks the socket file it made, so the path can be listened on again; one refused with EADDRINUSE leaves the other's file", async () => {
    const ring = open()
    const dir = mkdtempSync(join(tmpdir(), "iou-unix-"))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    const path = join(dir, "s.sock")
    const bind = ring.submitBind.bind(ring)
    let handle = 0
    const steps: Array<string> = []
    // The cancel lands once the kernel bound the path: in the bind's completion, before the
    // request takes it (the request then goes no further and unlinks the file).
    ring.submitBind = (fd, address, deadline, callback) =>
      bind(fd, address, deadline, (error, result) => {
        steps.push(error === null ? "bound" : String((error as IoUringError).code))
        steps.push(existsSync(path) ? "file" : "no file", ring.cancel(handle) ? "cancelled" : "not cancelled")
        callback(error, result)
      })
    const afterBind = await new Promise<Error | null>((done) => {
      handle = ring.openListener({ path }, 0, (error, listener) => {
        if (listener !== undefined) owned(listener)
        done(error)
      })
    })
    expect([(afterBind as IoUringError).code, (afterBind as IoUringError).syscall, steps]).toEqual([
      "ABORT_ERR",
      "listen",
      ["bound", "file", "cancelled"],
    ])
    expect(existsSync(path)).toBe(false)
    ring.submitBind = bind
    const listener = owned(await ring.listen({ path }))
    expect(listener.localAddress).toEqual({ path })
    const refused = await settle(ring.listen({ path }))
    expect(!refused.ok && refused.error).toMatchObject({ code: "EADDRINUSE", syscall: "bind", address: path })
    expect(existsSync(path)).toBe(true)
  })

  it("cancel never calls back from inside itself: a cancelled host name lookup ends in a microtask, with the host and port", async () => {
    const ring = open()
    let inside = true
    const ended = new Promise<[IoUringError, boolean]>((done) => {
      const handle = ring.openConnection({ host: "localhost", port: 1 }, {}, 0, (error) =>
        done([error as IoUringError, inside]),
      )
      expect(ring.cancel(handle)).toBe(true)
      inside = false
    })
    const [e, calledInside] = await ended
    expect([calledInside, e.code, e.syscall, e.address, e.port]).toEqual([
      false,
      "ABORT_ERR",
      "connect",
      "localhost",
      1,
    ])
  })

  it("a host name's deadline beyond setTimeout's range (about 24.8 days) does not fire early; a failed lookup says which host and port", async () => {
    const ring = open()
    const refused = await settle(ring.connect({ host: "localhost", port: 1 }, { timeout: 2 ** 31 + 1000 }))
    expect(refused.ok ? "connected" : refused.error.code).toBe("ECONNREFUSED")
    const unknown = await settle(ring.connect({ host: "nonexistent.invalid", port: 80 }))
    expect(unknown.ok ? "connected" : [unknown.error.syscall, unknown.error.address, unknown.error.port]).toEqual([
      "getaddrinfo",
      "nonexistent.invalid",
      80,
    ])
  })
})
