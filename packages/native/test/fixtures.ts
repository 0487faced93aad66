/**
 * The per-test fixtures the Driver's test files share: what a test makes (a Driver, a TCP pair, a
 * temporary file or directory, anything pushed on `cleanups`) is closed after it, last made first
 * closed. Apart from helpers.ts, which child processes import too (this module registers a vitest
 * hook).
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, expect } from "vitest"
import { Driver, IoUringError } from "../src/index.ts"
import { tcpPair, type TcpPair, tempFile, type TempFile, UNDER_TEST } from "./helpers.ts"

export const cleanups: Array<() => unknown> = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

/** A Driver on the engine under test (UNDER_TEST) with `config`, closed after the test. */
export const ring = (config: Parameters<typeof Driver.open>[0] = {}): Driver => {
  const r = Driver.open({ ...UNDER_TEST, ...config })
  cleanups.push(() => r.close({ shutdownTimeout: 0 }))
  return r
}

/** A fresh directory under the temporary directory (named `prefix`…), removed after the test. */
export const tempDir = (prefix: string): string => {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** This process's open fds, by number, sorted as strings. */
export const openFds = (): Array<string> => readdirSync("/proc/self/fd").sort()

/** The IoUringError `p` rejects with (the test fails if it resolves or rejects with anything else). */
export const failure = async (p: Promise<unknown>): Promise<IoUringError> => {
  try {
    await p
  } catch (error) {
    expect(error).toBeInstanceOf(IoUringError)
    return error as IoUringError
  }
  throw new Error("expected a rejection")
}

/** A connected TCP pair on loopback, closed after the test. */
export const pair = async (): Promise<TcpPair> => {
  const p = await tcpPair()
  cleanups.push(() => p.close())
  return p
}

/** A temporary file holding `content`, closed and removed after the test. */
export const file = (content?: Uint8Array): TempFile => {
  const f = tempFile(content)
  cleanups.push(() => f.close())
  return f
}

/** Every engine, with the config that selects it (for files that run each test on both). */
export const ENGINES: ReadonlyArray<{ readonly name: string; readonly config: Parameters<typeof Driver.open>[0] }> = [
  { name: "inline", config: { engine: "inline" } },
  { name: "thread", config: { engine: "thread" } },
]
