/**
 * Runs the example programs as a user would: child processes of this Node, with `--conditions`
 * resolving the workspace packages to their TypeScript sources (so a stale build cannot hide a
 * break). `run` waits for the program to exit; `start` keeps it running and lets a test wait for a
 * line of its output, then stop it.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process"
import { once } from "node:events"
import * as net from "node:net"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { expect } from "vitest"

export const examples = path.join(path.dirname(fileURLToPath(import.meta.url)), "..")

// Node 24.0–24.2 print an ExperimentalWarning for every .ts file they run (24.3 dropped it): not
// the program's output, which the tests hold to one line on stderr for each refusal.
const argv = (program: string, args: ReadonlyArray<string>) => [
  "--disable-warning=ExperimentalWarning",
  "--conditions=@iou/source",
  path.join(examples, "src", program),
  ...args,
]

export interface Ran {
  readonly status: number | null
  readonly stdout: string
  readonly stderr: string
  /** Both streams, for assertion messages. */
  readonly output: string
}

/**
 * Runs `program` to its end. `fileSizeLimit` (in 512-byte blocks) runs it under `ulimit -f`, so
 * that a write past the limit fails with EFBIG (Node ignores SIGXFSZ).
 */
export const run = (
  program: string,
  args: ReadonlyArray<string>,
  options: { readonly env?: Record<string, string>; readonly fileSizeLimit?: number } = {},
): Ran => {
  const env = { ...process.env, ...options.env }
  const r =
    options.fileSizeLimit === undefined
      ? spawnSync(process.execPath, argv(program, args), { cwd: examples, env, encoding: "utf8", timeout: 30_000 })
      : spawnSync(
          "/bin/sh",
          ["-c", `ulimit -f ${options.fileSizeLimit} && exec "$0" "$@"`, process.execPath, ...argv(program, args)],
          { cwd: examples, env, encoding: "utf8", timeout: 30_000 },
        )
  if (r.error !== undefined) throw r.error
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, output: `${r.stdout}\n${r.stderr}` }
}

export interface Started {
  readonly child: ChildProcess
  /** Everything printed so far, both streams. */
  readonly output: () => string
  /** Resolves with the first match of `pattern` in the output (waiting for it), rejects if the program exits first. */
  readonly waitFor: (pattern: RegExp) => Promise<RegExpMatchArray>
  /** Resolves with the exit status (after SIGINT when it is still running). */
  readonly stop: () => Promise<number | null>
}

export const start = (program: string, env: Record<string, string> = {}): Started => {
  const child = spawn(process.execPath, argv(program, []), { cwd: examples, env: { ...process.env, ...env } })
  let output = ""
  let exited: number | null | undefined
  const listeners = new Set<() => void>()
  const changed = () => listeners.forEach((listener) => listener())
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => ((output += chunk), changed()))
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => ((output += chunk), changed()))
  const closed = new Promise<number | null>((resolve) =>
    child.on("close", (code) => {
      exited = code
      changed()
      resolve(code)
    }),
  )
  const waitFor = (pattern: RegExp) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        const match = output.match(pattern)
        if (match !== null) {
          listeners.delete(check)
          resolve(match)
        } else if (exited !== undefined) {
          listeners.delete(check)
          reject(new Error(`${program} exited (${exited}) before printing ${pattern}:\n${output}`))
        }
      }
      listeners.add(check)
      check()
    })
  const stop = () => {
    if (exited === undefined) child.kill("SIGINT")
    return closed
  }
  return { child, output: () => output, waitFor, stop }
}

/** One line on stderr, nothing that looks like a stack frame, exit code 1. */
export const expectOneLine = (r: ReturnType<typeof run>, line: string | RegExp) => {
  expect(r.status, r.output).toBe(1)
  expect(r.stderr.trimEnd().split("\n"), r.output).toHaveLength(1)
  expect(r.stderr.trimEnd()).toMatch(line)
  expect(r.output).not.toMatch(/^\s+at /m)
}

/**
 * Runs `use` with a port of 127.0.0.1 that a node:net server holds (the examples' "address already
 * in use" case), then frees it.
 */
export const withPortInUse = async (use: (port: number) => void): Promise<void> => {
  const taken = net.createServer()
  taken.listen(0, "127.0.0.1")
  await once(taken, "listening")
  try {
    use((taken.address() as net.AddressInfo).port)
  } finally {
    taken.close()
  }
}
