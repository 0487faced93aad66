/** The data file of the read benchmarks, and the random offsets into it. */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

export const BLOCK = 4096
export const FILE_SIZE = 256 * 1024 * 1024
const BLOCKS = FILE_SIZE / BLOCK

/** Where the benchmarks put their files: $IOU_BENCH_DIR, else the OS temporary directory. */
export const benchDir = (): string => process.env["IOU_BENCH_DIR"] ?? os.tmpdir()

export const dataFilePath = (): string => path.join(benchDir(), "iou-bench-256MiB.dat")

/**
 * Creates the 256 MiB file once (reused when present with the right size), then reads it through
 * once so that it sits in the page cache: the read benchmarks measure the machinery, not the disk.
 */
export const prepareDataFile = (log: (line: string) => void): string => {
  const file = dataFilePath()
  let size = -1
  try {
    size = fs.statSync(file).size
  } catch {
    // absent
  }
  const chunk = Buffer.allocUnsafe(8 * 1024 * 1024)
  if (size !== FILE_SIZE) {
    log(`creating ${file} (256 MiB)…`)
    const fd = fs.openSync(file, "w")
    try {
      let x = 0x9e3779b9
      for (let off = 0; off < FILE_SIZE; off += chunk.length) {
        for (let i = 0; i < chunk.length; i += 4) {
          x ^= x << 13
          x ^= x >>> 17
          x ^= x << 5
          chunk.writeUInt32LE(x >>> 0, i)
        }
        fs.writeSync(fd, chunk, 0, chunk.length, off)
      }
      fs.fsyncSync(fd)
    } finally {
      fs.closeSync(fd)
    }
  }
  const fd = fs.openSync(file, "r")
  try {
    for (let off = 0; off < FILE_SIZE; off += chunk.length) fs.readSync(fd, chunk, 0, chunk.length, off)
  } finally {
    fs.closeSync(fd)
  }
  return file
}

/** A fixed-seed xorshift32 stream of 4 KiB-aligned offsets inside the file. */
export class Offsets {
  private x: number
  constructor(seed = 0x2545f491) {
    this.x = seed >>> 0 || 1
  }
  next(): number {
    let x = this.x
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    this.x = x >>> 0
    return (this.x % BLOCKS) * BLOCK
  }
}
