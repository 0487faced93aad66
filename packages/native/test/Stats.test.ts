/**
 * Stats.fromStatx on statx records written here field by field: every field against the formula
 * node:fs's BigIntStats follows (makedev for dev and rdev; ns = sec * 1e9 + nsec; ms = ns / 1e6n,
 * bigint division, toward zero), at the edges of the fast path (before 1970, past 2262, the largest nsec), for
 * records read one after another from the same and from different buffers (the small fields repeat
 * the last value's bigint; a record from another buffer reads its own bytes). The kernel filling
 * records is in Driver.files.test.ts (stat against fs.statSync).
 */
import { describe, expect, it } from "vitest"
import { fromStatx, STATX_SIZE } from "../src/Stats.ts"

interface Fields {
  readonly major: number
  readonly minor: number
  readonly rmajor: number
  readonly rminor: number
  readonly mode: number
  readonly nlink: number
  readonly uid: number
  readonly gid: number
  readonly blksize: number
  readonly ino: bigint
  readonly size: bigint
  readonly blocks: bigint
  /** [sec, nsec] of atime, btime, ctime, mtime */
  readonly times: ReadonlyArray<readonly [bigint, number]>
}

const write = (record: Uint8Array, f: Fields): Uint8Array => {
  const v = new DataView(record.buffer, record.byteOffset, STATX_SIZE)
  v.setUint32(4, f.blksize, true)
  v.setUint32(16, f.nlink, true)
  v.setUint32(20, f.uid, true)
  v.setUint32(24, f.gid, true)
  v.setUint16(28, f.mode, true)
  v.setBigUint64(32, f.ino, true)
  v.setBigUint64(40, f.size, true)
  v.setBigUint64(48, f.blocks, true)
  f.times.forEach(([sec, nsec], i) => {
    v.setBigInt64(64 + 16 * i, sec, true)
    v.setUint32(72 + 16 * i, nsec, true)
  })
  v.setUint32(128, f.rmajor, true)
  v.setUint32(132, f.rminor, true)
  v.setUint32(136, f.major, true)
  v.setUint32(140, f.minor, true)
  return record
}

const makedev = (major: number, minor: number): bigint => {
  const M = BigInt(major)
  const m = BigInt(minor)
  return ((M & 0xfffff000n) << 32n) | ((M & 0xfffn) << 8n) | ((m & 0xffffff00n) << 12n) | (m & 0xffn)
}

const expectFields = (record: Uint8Array, f: Fields): void => {
  const st = fromStatx(record)
  expect([st.dev, st.rdev]).toEqual([makedev(f.major, f.minor), makedev(f.rmajor, f.rminor)])
  expect([st.mode, st.nlink, st.uid, st.gid, st.blksize]).toEqual(
    [f.mode, f.nlink, f.uid, f.gid, f.blksize].map((x) => BigInt(x)),
  )
  expect([st.ino, st.size, st.blocks]).toEqual([f.ino, f.size, f.blocks])
  ;(["atime", "birthtime", "ctime", "mtime"] as const).forEach((name, i) => {
    const [sec, nsec] = f.times[i]!
    const ns = sec * 1_000_000_000n + BigInt(nsec)
    const ms = ns / 1_000_000n
    expect([name, st[`${name}Ns`], st[`${name}Ms`], st[name].getTime()]).toEqual([
      name,
      ns,
      ms,
      new Date(Number(ms)).getTime(),
    ])
  })
}

const base: Fields = {
  major: 8,
  minor: 1,
  rmajor: 0,
  rminor: 0,
  mode: 0o100644,
  nlink: 1,
  uid: 1000,
  gid: 1000,
  blksize: 4096,
  ino: 1234567n,
  size: 4096n,
  blocks: 8n,
  times: [
    [1_764_660_000n, 123_456_789],
    [1_700_000_000n, 0],
    [1_764_660_001n, 999_999_999],
    [1_764_660_002n, 1],
  ],
}

describe("Stats.fromStatx", () => {
  it("reads every field of a record as node:fs's BigIntStats has it", () => {
    expectFields(write(new Uint8Array(STATX_SIZE), base), base)
  })

  it("reads timestamps before 1970, at the fast path's edge, past 2262 and at the int64 ends", () => {
    const edges: ReadonlyArray<readonly [bigint, number]> = [
      [-1n, 999_999_999],
      [-1n, 0],
      [-1_000_000_000_000n, 500_000_000],
      [0n, 0],
      [0n, 999_999],
      [8_999_999_999n, 999_999_999],
      [9_000_000_000n, 0],
      [9_223_372_036n, 854_775_807],
      [9_223_372_037n, 0],
      [(1n << 32n) - 1n, 999_999_999],
      [1n << 32n, 1],
      [(1n << 63n) - 1n, 999_999_999],
      [-(1n << 63n), 0],
    ]
    for (let i = 0; i < edges.length; i += 4) {
      const times = [0, 1, 2, 3].map((k) => edges[(i + k) % edges.length]!)
      const f = { ...base, times }
      expectFields(write(new Uint8Array(STATX_SIZE), f), f)
    }
  })

  it("reads dev and rdev of every bit of major and minor", () => {
    for (let bit = 0; bit < 32; bit++) {
      const f = { ...base, major: 2 ** bit, minor: 2 ** (31 - bit), rmajor: 0xffffffff, rminor: 2 ** bit }
      expectFields(write(new Uint8Array(STATX_SIZE), f), f)
    }
  })

  it("gives each record its own values when records alternate, from one buffer and from several", () => {
    const a = base
    const b: Fields = {
      ...base,
      major: 0,
      minor: 27,
      rmajor: 1,
      rminor: 3,
      mode: 0o20666,
      nlink: 2,
      uid: 0,
      gid: 5,
      blksize: 512,
      ino: (1n << 64n) - 1n,
      size: 0n,
      blocks: 0n,
    }
    const slab = new Uint8Array(STATX_SIZE * 4)
    const records = [0, 1, 2, 3].map((i) => slab.subarray(i * STATX_SIZE, (i + 1) * STATX_SIZE))
    records.forEach((r, i) => write(r, i % 2 === 0 ? a : b))
    const other = write(new Uint8Array(STATX_SIZE), b)
    for (let round = 0; round < 3; round++) {
      records.forEach((r, i) => expectFields(r, i % 2 === 0 ? a : b))
      expectFields(other, b)
    }
    expect(fromStatx(records[1]!).isCharacterDevice()).toBe(true)
    expect(fromStatx(records[0]!).isFile()).toBe(true)
  })

  it("refuses a record shorter than struct statx", () => {
    expect(() => fromStatx(new Uint8Array(STATX_SIZE - 1))).toThrow(RangeError)
  })
})
