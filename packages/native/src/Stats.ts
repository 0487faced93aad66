/**
 * Stats: the struct statx the kernel fills for `stat` (IORING_OP_STATX) read into an object shaped
 * like node:fs's BigIntStats (what `fs.statSync(path, { bigint: true })` returns). The Driver owns
 * the 256-byte record (a range of an Arena.ts slab of its own per request, handed to the kernel as
 * the request's second argument); it is read here once the request completed and is then garbage.
 *
 * As node:fs does it: the bigint fields are own data properties set at construction; the four
 * Dates are accessors on the prototype that build the Date on first access from its *Ms field and
 * store it as an own property (so later reads return that same Date; an assignment replaces it).
 * Each bigint field is made with one allocation: a 64-bit value is put together from the record's
 * 32-bit halves in a scratch word and read out as one bigint, and a small field repeats the bigint
 * of the last record when its value is the same (a bigint is a value: which allocation holds it is
 * not observable).
 */
import type { FileStats } from "./types.ts"

/** sizeof(struct statx) (linux/stat.h). */
export const STATX_SIZE = 256

/** STATX_BASIC_STATS | STATX_BTIME: what node:fs asks for. */
export const STATX_MASK = 0x7ff | 0x800
/** STATX_TYPE | STATX_SIZE: what readFile asks for. */
export const STATX_TYPE_AND_SIZE = 0x1 | 0x200

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

const S_IFMT = 0o170000
const S_IFREG = 0o100000

const TWO_32 = 2 ** 32

/**
 * The seconds up to which a timestamp takes the fast path: its ms and ns then fit a double exactly
 * and the ns a signed 64-bit word (2^63 ns is in the year 2262).
 */
const FAST_SECONDS = 9_000_000_000

/** A 64-bit word built from halves, read out as one bigint (this thread's only user; no state between calls). */
const scratch = new DataView(new ArrayBuffer(8))

const uint64 = (hi: number, lo: number): bigint => {
  scratch.setUint32(0, lo, true)
  scratch.setUint32(4, hi, true)
  return scratch.getBigUint64(0, true)
}

/** A uint32 field as a bigint: the last one made again when the value repeats (uid, gid, nlink…). */
class Small {
  private value = -1
  private big = 0n
  of(value: number): bigint {
    if (value !== this.value) {
      this.big = BigInt(value)
      this.value = value
    }
    return this.big
  }
}

/** A dev_t as a bigint: the last one again when major and minor repeat. */
class Device {
  private major = -1
  private minor = -1
  private big = 0n
  /** glibc's makedev(major, minor), which Node's dev and rdev are, put together from 32-bit halves. */
  of(major: number, minor: number): bigint {
    if (major !== this.major || minor !== this.minor) {
      // makedev: ((M & 0xfffff000) << 32) | ((M & 0xfff) << 8) | ((m & 0xffffff00) << 12) | (m & 0xff)
      const hi = (major & 0xfffff000) | (minor >>> 20)
      const lo = ((minor & 0x000fff00) << 12) | ((major & 0xfff) << 8) | (minor & 0xff)
      this.big = uint64(hi >>> 0, lo >>> 0)
      this.major = major
      this.minor = minor
    }
    return this.big
  }
}

const modes = new Small()
const nlinks = new Small()
const uids = new Small()
const gids = new Small()
const blksizes = new Small()
const devs = new Device()
const rdevs = new Device()

/**
 * A statx_timestamp (tv_sec int64, tv_nsec uint32) as ns and ms, the ms as BigIntStats' are:
 * ns / 1,000,000n (bigint division: toward zero, so -0.5 ms is 0n).
 */
interface Time {
  ns: bigint
  ms: bigint
}

/** The timestamp at `at`, written into `out` (reused across the four of a record). */
const timeOf = (view: DataView, at: number, out: Time): void => {
  const secHi = view.getInt32(at + 4, true)
  const secLo = view.getUint32(at, true)
  const nsec = view.getUint32(at + 8, true)
  const seconds = secHi * TWO_32 + secLo
  if (secHi >= 0 && seconds < FAST_SECONDS) {
    // ns >= 0 here: ms = floor(ns / 1e6) = seconds * 1000 + floor(nsec / 1e6), below 2^53; ns = ms * 1e6 + the
    // rest, made in 32-bit halves (each product below 2^53, so exact).
    const ms = seconds * 1000 + Math.floor(nsec / 1_000_000)
    const msHi = Math.floor(ms / TWO_32)
    const low = (ms - msHi * TWO_32) * 1_000_000 + (nsec % 1_000_000)
    const carry = Math.floor(low / TWO_32)
    out.ms = BigInt(ms)
    out.ns = uint64(msHi * 1_000_000 + carry, low - carry * TWO_32)
    return
  }
  // Before 1970 or after 2262: the same values in bigint arithmetic.
  const ns = view.getBigInt64(at, true) * 1_000_000_000n + BigInt(nsec)
  out.ns = ns
  out.ms = ns / 1_000_000n
}

const time: Time = { ns: 0n, ms: 0n }

class Stats implements FileStats {
  readonly dev: bigint
  readonly mode: bigint
  readonly nlink: bigint
  readonly uid: bigint
  readonly gid: bigint
  readonly rdev: bigint
  readonly blksize: bigint
  readonly ino: bigint
  readonly size: bigint
  readonly blocks: bigint
  readonly atimeMs: bigint
  readonly mtimeMs: bigint
  readonly ctimeMs: bigint
  readonly birthtimeMs: bigint
  readonly atimeNs: bigint
  readonly mtimeNs: bigint
  readonly ctimeNs: bigint
  readonly birthtimeNs: bigint
  declare readonly atime: Date
  declare readonly mtime: Date
  declare readonly ctime: Date
  declare readonly birthtime: Date

  constructor(view: DataView, at: number) {
    this.dev = devs.of(view.getUint32(at + DEV_MAJOR, true), view.getUint32(at + DEV_MAJOR + 4, true))
    this.mode = modes.of(view.getUint16(at + MODE, true))
    this.nlink = nlinks.of(view.getUint32(at + NLINK, true))
    this.uid = uids.of(view.getUint32(at + UID, true))
    this.gid = gids.of(view.getUint32(at + GID, true))
    this.rdev = rdevs.of(view.getUint32(at + RDEV_MAJOR, true), view.getUint32(at + RDEV_MAJOR + 4, true))
    this.blksize = blksizes.of(view.getUint32(at + BLKSIZE, true))
    this.ino = view.getBigUint64(at + INO, true)
    this.size = view.getBigUint64(at + SIZE, true)
    this.blocks = view.getBigUint64(at + BLOCKS, true)
    timeOf(view, at + ATIME, time)
    this.atimeMs = time.ms
    this.atimeNs = time.ns
    timeOf(view, at + MTIME, time)
    this.mtimeMs = time.ms
    this.mtimeNs = time.ns
    timeOf(view, at + CTIME, time)
    this.ctimeMs = time.ms
    this.ctimeNs = time.ns
    timeOf(view, at + BTIME, time)
    this.birthtimeMs = time.ms
    this.birthtimeNs = time.ns
  }

  /** The file type bits of `mode` (read each call, as node:fs does; Number() of a bigint allocates nothing). */
  private type(): number {
    return Number(this.mode) & S_IFMT
  }
  isFile(): boolean {
    return this.type() === 0o100000
  }
  isDirectory(): boolean {
    return this.type() === 0o040000
  }
  isSymbolicLink(): boolean {
    return this.type() === 0o120000
  }
  isBlockDevice(): boolean {
    return this.type() === 0o060000
  }
  isCharacterDevice(): boolean {
    return this.type() === 0o020000
  }
  isFIFO(): boolean {
    return this.type() === 0o010000
  }
  isSocket(): boolean {
    return this.type() === 0o140000
  }
}

/**
 * atime, mtime, ctime, birthtime: enumerable accessors on the prototype, as node:fs's. The getter
 * makes the Date from the *Ms field and defines it as the instance's own writable property; the
 * setter defines the assigned value so.
 */
for (const name of ["atime", "mtime", "ctime", "birthtime"] as const) {
  const msField = `${name}Ms` as const
  Object.defineProperty(Stats.prototype, name, {
    enumerable: true,
    configurable: true,
    get(this: Stats): Date {
      const date = new Date(Number(this[msField]))
      Object.defineProperty(this, name, { value: date, writable: true, enumerable: true, configurable: true })
      return date
    },
    set(this: Stats, value: unknown): void {
      Object.defineProperty(this, name, { value, writable: true, enumerable: true, configurable: true })
    },
  })
}

// A DataView over the last ArrayBuffer a record was read from: records come from a few slabs in
// turn (Arena.ts), so most reads need no view of their own.
let viewed: ArrayBufferLike | undefined
let slabView: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0))

/** The stats in a statx record (STATX_SIZE bytes) the kernel filled. */
export const fromStatx = (statx: Uint8Array): FileStats => {
  if (statx.byteLength < STATX_SIZE) throw new RangeError(`a statx record has ${STATX_SIZE} bytes`)
  const buffer = statx.buffer
  if (buffer !== viewed) {
    slabView = new DataView(buffer)
    viewed = buffer
  }
  return new Stats(slabView, statx.byteOffset)
}

/** STATX_MNT_ID: the mount id was asked for (binding/file.cc asks) and the kernel filled it in (Linux 5.8). */
const STATX_MNT_ID = 0x1000
const MASK = 0
const MNT_ID = 144

/** The mount id in a statx record (the first field of /proc/self/mountinfo), or -1 when the kernel gave none. */
export const mountId = (statx: Uint8Array): number =>
  (uint32At(statx, MASK) & STATX_MNT_ID) === 0 ? -1 : uint32At(statx, MNT_ID + 4) * TWO_32 + uint32At(statx, MNT_ID)

/** The device of the file system holding the file: major * 2^32 + minor. */
export const deviceOf = (statx: Uint8Array): number =>
  uint32At(statx, DEV_MAJOR) * TWO_32 + uint32At(statx, DEV_MAJOR + 4)

/** The size in a statx record (STATX_TYPE_AND_SIZE asked) of a regular file, or -1 for any other type. */
export const regularFileSize = (statx: Uint8Array): number => {
  if (statx.byteLength < STATX_SIZE) throw new RangeError(`a statx record has ${STATX_SIZE} bytes`)
  if (((statx[MODE]! | (statx[MODE + 1]! << 8)) & S_IFMT) !== S_IFREG) return -1
  return uint32At(statx, SIZE + 4) * TWO_32 + uint32At(statx, SIZE)
}

/** The little-endian uint32 at `at`. */
const uint32At = (bytes: Uint8Array, at: number): number =>
  (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0
