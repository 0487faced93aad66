/**
 * Mounts: whether a mount holds a local file system, whose attributes readFile's synchronous statx
 * (binding/file.cc, with AT_STATX_DONT_SYNC, which local file systems ignore) reads as they are,
 * or a remote or userspace one (NFS, SMB, 9p, FUSE, Ceph…), whose cached attributes may be stale
 * and whose stat may wait for a server: readFile stats those on the ring, as before.
 *
 * Decided by the file system type of the mount in /proc/self/mountinfo, read synchronously (procfs
 * answers from memory) the first time a mount id is asked about. The kernel hands an id out again
 * after an unmount, so what was read is forgotten after REREAD_MS: an id reused within that time
 * by a remote file system would be taken for the local one it replaced. A mount not in the table,
 * or an unknown id (-1: a kernel before 5.8), is not local. Module state: this thread's alone.
 */
import { readFileSync } from "node:fs"

/** File system types whose attributes live in this kernel (disk, memory, and overlays of them). */
const LOCAL_TYPES: ReadonlySet<string> = new Set([
  "ext2",
  "ext3",
  "ext4",
  "xfs",
  "btrfs",
  "f2fs",
  "bcachefs",
  "zfs",
  "jfs",
  "tmpfs",
  "ramfs",
  "overlay",
  "squashfs",
  "erofs",
  "vfat",
  "exfat",
  "ntfs3",
  "iso9660",
])

const REREAD_MS = 1000

/** Mount id -> local, as of `readAt`. */
let local = new Map<number, boolean>()
let readAt = -Infinity

/** The local mounts of a /proc/self/mountinfo text: "id parent major:minor root point options [tags] - type source options". */
export const parseMountInfo = (text: string): Map<number, boolean> => {
  const out = new Map<number, boolean>()
  for (const line of text.split("\n")) {
    const fields = line.split(" ")
    const separator = fields.indexOf("-", 6)
    if (separator < 0 || separator + 1 >= fields.length) continue
    out.set(Number(fields[0]), LOCAL_TYPES.has(fields[separator + 1]!))
  }
  return out
}

/** Whether mount `id` (Stats.mountId) holds a local file system. */
export const isLocal = (id: number): boolean => {
  if (id < 0) return false
  const now = performance.now()
  if (now - readAt > REREAD_MS) local.clear()
  let answer = local.get(id)
  if (answer === undefined) {
    try {
      local = parseMountInfo(readFileSync("/proc/self/mountinfo", "latin1"))
    } catch {
      local = new Map() // no procfs: nothing is known to be local
    }
    readAt = now
    answer = local.get(id) ?? false
    local.set(id, answer)
  }
  return answer
}
