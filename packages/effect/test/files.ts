/** A scratch file opened with node:fs for the test's scope, removed when the scope closes. */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, type Scope } from "effect"

export interface ScratchFile {
  readonly path: string
  /** Opened read-write. */
  readonly fd: number
  /** Opened read-only. */
  readonly readOnlyFd: number
}

export const scratchFile = (contents: Uint8Array = new Uint8Array(0)): Effect.Effect<ScratchFile, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "iou-effect-"))
      const file = path.join(dir, "data")
      fs.writeFileSync(file, contents)
      return { dir, path: file, fd: fs.openSync(file, "r+"), readOnlyFd: fs.openSync(file, "r") }
    }),
    ({ dir, fd, readOnlyFd }) =>
      Effect.sync(() => {
        fs.closeSync(fd)
        fs.closeSync(readOnlyFd)
        fs.rmSync(dir, { recursive: true, force: true })
      }),
  )

/** An fd number that is certainly closed: opened, then closed. */
export const closedFd = (): number => {
  const fd = fs.openSync(os.devNull, "r")
  fs.closeSync(fd)
  return fd
}
