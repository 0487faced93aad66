/**
 * Test helpers: TCP loopback pairs whose fds the Driver uses directly (libuv never reads them),
 * temporary files, and child Node processes that load the Driver from its TypeScript sources.
 */
import { spawn } from "node:child_process"
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs"
import { createServer, type Server, Socket } from "node:net"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

export const SRC_INDEX = resolve(fileURLToPath(new URL(".", import.meta.url)), "../src/index.ts")

/** This module's own path, for child processes that need tcpPair and the like. */
export const HELPERS = fileURLToPath(import.meta.url)

export interface TcpPair {
  /** The fd of the connecting side. */
  readonly a: number
  /** The fd of the accepted side. */
  readonly b: number
  readonly sockets: readonly [Socket, Socket]
  close(): Promise<void>
}

const fdOf = (socket: Socket): number => (socket as unknown as { _handle: { fd: number } })._handle.fd

/** A connected TCP loopback pair; both sockets are paused, so only the Driver reads them. */
export const tcpPair = async (): Promise<TcpPair> => {
  const server: Server = createServer({ pauseOnConnect: true })
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done))
  const port = (server.address() as { port: number }).port
  const accepted = new Promise<Socket>((done) => server.once("connection", done))
  const client = new Socket()
  client.pause()
  await new Promise<void>((done) => client.connect(port, "127.0.0.1", done))
  const peer = await accepted
  peer.pause()
  client.on("error", () => {})
  peer.on("error", () => {})
  return {
    a: fdOf(client),
    b: fdOf(peer),
    sockets: [client, peer],
    close: async () => {
      client.destroy()
      peer.destroy()
      await new Promise<void>((done) => server.close(() => done()))
    },
  }
}

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
