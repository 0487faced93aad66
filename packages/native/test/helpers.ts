/**
 * Test helpers: TCP loopback pairs made by the ring (only the Driver ever reads them),
 * temporary files, and child Node processes that load the Driver from its TypeScript sources.
 */
import { spawn } from "node:child_process"
import { closeSync, fstatSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

export const SRC_INDEX = resolve(fileURLToPath(new URL(".", import.meta.url)), "../src/index.ts")

/** This module's own path, for child processes that need tcpPair and the like. */
export const HELPERS = fileURLToPath(import.meta.url)

/** Whether `fd` is open in this process (fstat succeeds). */
export const isOpen = (fd: number): boolean => {
  try {
    fstatSync(fd)
    return true
  } catch {
    return false
  }
}

export interface TcpPair {
  /** The fd of the connecting side. */
  readonly a: number
  /** The fd of the accepted side. */
  readonly b: number
  /** Closes a (its peer b then reads end of stream); closing twice does nothing. */
  closeA(): void
  /** Closes b. */
  closeB(): void
  close(): Promise<void>
}

/**
 * A connected TCP loopback pair made by the ring itself (a Driver of its own listens, accepts and
 * connects, then closes): no Node internals, and nothing but the Driver under test reads the fds,
 * which are the test's to close.
 */
export const tcpPair = async (): Promise<TcpPair> => {
  const { Driver } = await import("../src/index.ts")
  const ring = Driver.open()
  let a: number
  let b: number
  try {
    const listener = await ring.listen({ host: "127.0.0.1", port: 0 })
    const port = (listener.localAddress as { port: number }).port
    const [client, peer] = await Promise.all([
      ring.connect({ host: "127.0.0.1", port }, { noDelay: true }),
      ring.accept(listener),
    ])
    closeSync(listener.fd)
    a = client.fd
    b = peer.fd
  } finally {
    await ring.close()
  }
  const open = new Set([a, b])
  const closeOne = (fd: number): void => {
    if (open.delete(fd)) closeSync(fd)
  }
  return {
    a,
    b,
    closeA: () => closeOne(a),
    closeB: () => closeOne(b),
    close: async () => {
      closeOne(a)
      closeOne(b)
    },
  }
}

/** A child's snippet that makes `peer`, the accepted end of a ring-made loopback pair, with `ring`. */
export const CHILD_PAIR = `const listener = await ring.listen({ host: "127.0.0.1", port: 0 })
const [peer] = await Promise.all([ring.accept(listener), ring.connect({ host: "127.0.0.1", port: listener.localAddress.port })])`

export interface TempFile {
  readonly path: string
  readonly fd: number
  close(): void
}

/** A temporary file opened read-write with `content`. */
export const tempFile = (content: Uint8Array = new Uint8Array(0)): TempFile => {
  const dir = mkdtempSync(join(tmpdir(), "iou-native-"))
  const path = join(dir, "data")
  writeFileSync(path, content)
  const fd = openSync(path, "r+")
  return {
    path,
    fd,
    close: () => {
      closeSync(fd)
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** Random-looking but reproducible bytes. */
export const pattern = (n: number, seed = 1): Buffer => {
  const b = Buffer.alloc(n)
  let x = seed
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    b[i] = x >>> 24
  }
  return b
}

export interface ChildResult {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
  readonly ms: number
}

/**
 * The V8 flag every test child that may start workers runs with. On a host whose CPU has memory
 * protection keys (PKU), the V8 of Node 24 protects JIT code pages with them and may abort
 * the whole process with "Check failed: jit_page.has_value()" as workers start and end (public
 * reports show it under worker and WebAssembly churn); that check is in V8's bookkeeping of JIT
 * pages, which this package never touches. The CI host has PKU (its one abort was in a child whose
 * workers exit while their fibers run hot loops); a host without PKU never takes that path.
 */
export const WORKER_SAFE_V8_FLAGS = ["--no-memory-protection-keys"]

/**
 * Runs an ES module body in a child `node` (the same binary as the tests) where `Driver`, `probe`
 * and `IoUringError` are in scope; kills it after `timeoutMs`.
 */
export const runChild = (body: string, options: { args?: Array<string>; timeoutMs?: number } = {}) =>
  new Promise<ChildResult>((done, fail) => {
    const source = `const { Driver, probe, IoUringError } = await import(${JSON.stringify(SRC_INDEX)});\n${body}`
    const started = Date.now()
    const child = spawn(
      process.execPath,
      [
        ...WORKER_SAFE_V8_FLAGS,
        "--conditions=@iou/source",
        "--disable-warning=ExperimentalWarning",
        ...(options.args ?? []),
        "--input-type=module",
        "-e",
        source,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    )
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 10_000)
    child.on("error", fail)
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      done({ code, signal, stdout, stderr, ms: Date.now() - started })
    })
  })

/**
 * The engine and inline wake mode under test, for Driver.open: IOU_TEST_ENGINE (the native-thread
 * project) and IOU_TEST_INLINE_WAKE (the native-eventfd project); empty under the defaults.
 */
export const UNDER_TEST: { readonly engine?: "inline" | "thread"; readonly inlineWake?: "eventfd" | "ringfd" } = {
  ...(process.env["IOU_TEST_ENGINE"] === undefined
    ? {}
    : { engine: process.env["IOU_TEST_ENGINE"] as "inline" | "thread" }),
  ...(process.env["IOU_TEST_INLINE_WAKE"] === undefined
    ? {}
    : { inlineWake: process.env["IOU_TEST_INLINE_WAKE"] as "eventfd" | "ringfd" }),
}
