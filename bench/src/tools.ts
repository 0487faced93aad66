/**
 * The bench's C helpers (tools/*.c: the TCP peer, the raw io_uring reader), built with `cc` on first
 * use into bench/.build/ and rebuilt when the source is newer than the binary. Nothing else builds
 * them; without a compiler the suites that need one say why and go on.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const here = path.dirname(fileURLToPath(import.meta.url))

export type Built = { readonly binary: string } | { readonly reason: string }

/**
 * Builds tools/<name>.c into bench/.build/<name> when the binary is missing or older than the
 * source (into a temporary name first, so that a concurrent run never starts a half-written one),
 * and checks that it starts; the binary, or why there is none (no compiler, a failed build, a
 * binary that cannot run here). Every tool prints its usage and exits 2 when called without
 * arguments: anything else means it cannot run here. `CC` may carry words (`ccache gcc`), as with make.
 */
export const buildTool = (name: string): Built => {
  const source = path.join(here, "..", "tools", `${name}.c`)
  const binary = path.join(here, "..", ".build", name)
  const fresh = (() => {
    try {
      return fs.statSync(binary).mtimeMs >= fs.statSync(source).mtimeMs
    } catch {
      return false
    }
  })()
  if (!fresh) {
    fs.mkdirSync(path.dirname(binary), { recursive: true })
    const [cc = "cc", ...ccArgs] = (process.env["CC"] ?? "cc").split(/\s+/).filter((w) => w !== "")
    const temporary = `${binary}.${process.pid}`
    const r = spawnSync(cc, [...ccArgs, "-O2", "-Wall", "-Wextra", "-Werror", "-o", temporary, source], {
      encoding: "utf8",
    })
    if (r.error) return { reason: `${cc} not found (${r.error.message})` }
    if (r.status !== 0) fs.rmSync(temporary, { force: true })
    if (r.status !== 0)
      return { reason: `${cc} failed: ${(r.stderr || r.stdout).trim().split("\n")[0] || `exit ${r.status}`}` }
    fs.renameSync(temporary, binary)
  }
  const probe = spawnSync(binary, [], { encoding: "utf8" })
  if (probe.error || probe.status !== 2) {
    return { reason: `${binary} does not run here (${probe.error?.message ?? `exit ${probe.status}`})` }
  }
  return { binary }
}
