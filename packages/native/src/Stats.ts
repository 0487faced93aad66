/**
 * Stats: the struct statx the kernel fills for `stat` (IORING_OP_STATX) read into an object shaped
 * like node:fs's BigIntStats (what `fs.statSync(path, { bigint: true })` returns). The Driver owns
 * the 256-byte buffer (one per request, handed to the kernel as the request's second argument); it
 * is read here once the request completed and is then garbage.
 */
import type { FileStats } from "./types.ts"

/** sizeof(struct statx) (linux/stat.h). */
export const STATX_SIZE = 256

/** STATX_BASIC_STATS | STATX_BTIME: what node:fs asks for. */
export const STATX_MASK = 0x7ff | 0x800

// struct statx offsets (linux/stat.h).
const BLKSIZE = 4
const NLINK = 16
const UID = 20
const GID = 24
const MODE = 28
const INO = 32
const SIZE = 40
const BLOCKS = 48
const ATIME = 64
const BTIME = 80
const CTIME = 96
const MTIME = 112
const RDEV_MAJOR = 128
const DEV_MAJOR = 136

const S_IFMT = 0o170000n

/** glibc's makedev(major, minor), which Node's dev and rdev are. */
const makedev = (major: number, minor: number): bigint => {
  const M = BigInt(major >>> 0)
  const m = BigInt(minor >>> 0)
  return ((M & 0xfffff000n) << 32n) | ((M & 0xfffn) << 8n) | ((m & 0xffffff00n) << 12n) | (m & 0xffn)
}

const nsOf = (view: DataView, at: number): bigint =>
  view.getBigInt64(at, true) * 1_000_000_000n + BigInt(view.getUint32(at + 8, true))

/** ns -> ms rounded down, as BigIntStats' *Ms fields are. */
const msOf = (ns: bigint): bigint => (ns >= 0n ? ns / 1_000_000n : (ns - 999_999n) / 1_000_000n)

class Stats implements FileStats {
  readonly dev: bigint
  readonly ino: bigint
  readonly mode: bigint
  readonly nlink: bigint
  readonly uid: bigint
  readonly gid: bigint
  readonly rdev: bigint
  readonly size: bigint
  readonly blksize: bigint
  readonly blocks: bigint
  readonly atimeNs: bigint
  readonly mtimeNs: bigint
  readonly ctimeNs: bigint
  readonly birthtimeNs: bigint
  readonly atimeMs: bigint
  readonly mtimeMs: bigint
  readonly ctimeMs: bigint
  readonly birthtimeMs: bigint
  readonly atime: Date
  readonly mtime: Date
  readonly ctime: Date
  readonly birthtime: Date

  constructor(view: DataView) {
    this.dev = makedev(view.getUint32(DEV_MAJOR, true), view.getUint32(DEV_MAJOR + 4, true))
    this.ino = view.getBigUint64(INO, true)
    this.mode = BigInt(view.getUint16(MODE, true))
    this.nlink = BigInt(view.getUint32(NLINK, true))
    this.uid = BigInt(view.getUint32(UID, true))
    this.gid = BigInt(view.getUint32(GID, true))
    this.rdev = makedev(view.getUint32(RDEV_MAJOR, true), view.getUint32(RDEV_MAJOR + 4, true))
    this.size = view.getBigUint64(SIZE, true)
    this.blksize = BigInt(view.getUint32(BLKSIZE, true))
    this.blocks = view.getBigUint64(BLOCKS, true)
    this.atimeNs = nsOf(view, ATIME)
    this.mtimeNs = nsOf(view, MTIME)
    this.ctimeNs = nsOf(view, CTIME)
    this.birthtimeNs = nsOf(view, BTIME)
    this.atimeMs = msOf(this.atimeNs)
    this.mtimeMs = msOf(this.mtimeNs)
    this.ctimeMs = msOf(this.ctimeNs)
    this.birthtimeMs = msOf(this.birthtimeNs)
    this.atime = new Date(Number(this.atimeMs))
    this.mtime = new Date(Number(this.mtimeMs))
    this.ctime = new Date(Number(this.ctimeMs))
    this.birthtime = new Date(Number(this.birthtimeMs))
  }

  private type(): bigint {
    return this.mode & S_IFMT
  }
  isFile(): boolean {
    return this.type() === 0o100000n
  }
  isDirectory(): boolean {
    return this.type() === 0o040000n
  }
  isSymbolicLink(): boolean {
    return this.type() === 0o120000n
  }
  isBlockDevice(): boolean {
    return this.type() === 0o060000n
  }
  isCharacterDevice(): boolean {
    return this.type() === 0o020000n
  }
  isFIFO(): boolean {
    return this.type() === 0o010000n
  }
  isSocket(): boolean {
    return this.type() === 0o140000n
  }
}

/** The stats in a statx buffer the kernel filled. */
export const fromStatx = (statx: Uint8Array): FileStats =>
  new Stats(new DataView(statx.buffer, statx.byteOffset, STATX_SIZE))
