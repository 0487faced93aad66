/**
 * `npm run copy`, run as a user would: what it refuses (and that it then changes nothing), the mode
 * it gives the copy, and that a copy that fails half-way leaves no partial destination.
 */
import { spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { probe } from "@iou/native"
import { run } from "./programs.ts"

const copy = (source: string, destination: string, options?: Parameters<typeof run>[2]) =>
  run("file-copy.ts", [source, destination], options)

/**
 * A refusal or failure: exit code 1 and exactly one line on stderr besides the progress bar's (a
 * failure half-way has drawn some), no stack trace.
 */
const expectOneLine = (r: ReturnType<typeof run>, pattern: RegExp) => {
  expect(r.status, r.output).toBe(1)
  const lines = r.stderr
    .trimEnd()
    .split("\n")
    .filter((line) => !line.startsWith("["))
  expect(lines, r.output).toHaveLength(1)
  expect(lines[0]).toMatch(pattern)
}

describe.skipIf(!probe().supported)("copy (skipped where the kernel refuses io_uring)", () => {
  let dir = ""
  let source = ""
  let data = Buffer.alloc(0)
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "iou-copy-"))
    source = path.join(dir, "source.bin")
    data = randomBytes(3 * 1024 * 1024 + 17)
    fs.writeFileSync(source, data)
  })
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }))

  it("refuses the source itself as destination, named directly, through a symlink or by a hard link, and leaves it intact", () => {
    fs.symlinkSync("source.bin", path.join(dir, "symlink"))
    fs.linkSync(source, path.join(dir, "hardlink"))
    for (const [from, to] of [
      [source, source],
      [source, path.join(dir, "symlink")],
      [path.join(dir, "symlink"), path.join(dir, "hardlink")],
    ] as const) {
      expectOneLine(copy(from, to), /^copy: .* are the same file$/)
      expect(Buffer.compare(fs.readFileSync(source), data), `${from} -> ${to}`).toBe(0)
    }
    expect(fs.readdirSync(dir).sort()).toEqual(["hardlink", "source.bin", "symlink"])
  })

  it("refuses a source that is a directory, a FIFO or a device, and creates nothing", () => {
    const fifo = path.join(dir, "fifo")
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0)
    fs.mkdirSync(path.join(dir, "directory"))
    for (const [from, what] of [
      [path.join(dir, "directory"), "a directory"],
      [fifo, "a FIFO"],
      ["/dev/null", "a character device"],
    ] as const) {
      const destination = path.join(dir, "copy.bin")
      expectOneLine(copy(from, destination), new RegExp(`^copy: source ${from} is ${what}, not a regular file$`))
      expect(fs.existsSync(destination), from).toBe(false)
    }
    expect(fs.readdirSync(dir).sort()).toEqual(["directory", "fifo", "source.bin"])
  })

  it("refuses a destination that exists and is not a regular file (/dev/null, a directory) and leaves it as it was", () => {
    expectOneLine(
      copy(source, "/dev/null"),
      /^copy: destination \/dev\/null is a character device, not a regular file$/,
    )
    expect(fs.statSync("/dev/null").isCharacterDevice()).toBe(true)
    fs.mkdirSync(path.join(dir, "directory"))
    expectOneLine(copy(source, path.join(dir, "directory")), /is a directory, not a regular file$/)
    expect(fs.readdirSync(path.join(dir, "directory"))).toEqual([])
  })

  it("gives the copy the source's mode, not the umask's", () => {
    fs.chmodSync(source, 0o751)
    const destination = path.join(dir, "copy.bin")
    const r = copy(source, destination)
    expect(r.status, r.output).toBe(0)
    expect(fs.statSync(destination).mode & 0o7777).toBe(0o751)
    expect(Buffer.compare(fs.readFileSync(destination), data)).toBe(0)
  })

  it("replaces an existing destination, and writes through a symlinked destination to the file it names", () => {
    const target = path.join(dir, "target.bin")
    fs.writeFileSync(target, "old contents")
    fs.symlinkSync("target.bin", path.join(dir, "link"))
    const r = copy(source, path.join(dir, "link"))
    expect(r.status, r.output).toBe(0)
    expect(fs.lstatSync(path.join(dir, "link")).isSymbolicLink()).toBe(true)
    expect(Buffer.compare(fs.readFileSync(target), data)).toBe(0)
    expect(fs.readdirSync(dir).sort()).toEqual(["link", "source.bin", "target.bin"])
  })

  it("a copy that fails half-way (EFBIG past the file size limit) leaves no partial destination and no temporary file", () => {
    // 1 MiB limit: the 3 MiB source fails part-way through its writes.
    const fresh = path.join(dir, "fresh.bin")
    expectOneLine(copy(source, fresh, { fileSizeLimit: 2048 }), /EFBIG/)
    expect(fs.existsSync(fresh)).toBe(false)
    const existing = path.join(dir, "existing.bin")
    fs.writeFileSync(existing, "old contents")
    expectOneLine(copy(source, existing, { fileSizeLimit: 2048 }), /EFBIG/)
    expect(fs.readFileSync(existing, "utf8")).toBe("old contents")
    expect(fs.readdirSync(dir).sort()).toEqual(["existing.bin", "source.bin"])
  })
})
