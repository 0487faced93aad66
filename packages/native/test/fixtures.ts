/**
 * The per-test fixtures the Driver's test files share: what a test makes (a TCP pair, a temporary
 * file, anything pushed on `cleanups`) is closed after it, last made first closed. Apart from
 * helpers.ts, which child processes import too (this module registers a vitest hook).
 */
import { afterEach } from "vitest"
import type { Driver } from "../src/index.ts"
import { tcpPair, type TcpPair, tempFile, type TempFile } from "./helpers.ts"

export const cleanups: Array<() => unknown> = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

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
