/**
 * Mounts: whether a mount holds a local file system, whose attributes readFile's synchronous statx
 * (binding/file.cc, with AT_STATX_DONT_SYNC, which local file systems ignore) reads as they are,
 * or a remote or userspace one (NFS, SMB, 9p, FUSE, Ceph…), whose cached attributes may be stale
 * and whose stat may wait for a server: readFile stats those on the ring, as before.
 *
 * Decided by the file system type of the mount in /proc/self/mountinfo, read synchronously (procfs
 * answers from memory) when a mount is asked about for the first time. A mount is named by its id
 * and the device of the file asked about: the kernel hands an id out again after an unmount, and
 * the file system mounted under it then has a device of its own, so it is looked up afresh. (A
 * file's device may differ from its mount's, on btrfs subvolumes or overlay layers: each such pair
 * is looked up once.) A mount not in the table is not local. A kernel that gives no mount id
 * (before Linux 5.8) has no local mount: readFile then skips the synchronous statx (`useful`).
 * Module state: this thread's alone.
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

/** Mount id -> the file's device (Stats.deviceOf) -> local. */
const known = new Map<number, Map<number, boolean>>()

/** False once the kernel gave a statx without a mount id: no file is known to be local. */
export let useful = true

/**
 * Mount id -> local, from a /proc/self/mountinfo text, whose lines are "id parent major:minor root
 * point options [tags] - type source options".
 */
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

/**
 * Whether mount `id` (Stats.mountId; -1: none given) holds a local file system, for a file on
 * `device` (Stats.deviceOf).
 */
export const isLocal = (id: number, device: number): boolean => {
  if (id < 0) {
    useful = false
    return false
  }
  let devices = known.get(id)
  if (devices === undefined) known.set(id, (devices = new Map()))
  let answer = devices.get(device)
  if (answer === undefined) {
    let table: Map<number, boolean>
    try {
      table = parseMountInfo(readFileSync("/proc/self/mountinfo", "latin1"))
    } catch {
      table = new Map() // no procfs: nothing is known to be local
    }
    answer = table.get(id) ?? false
    devices.set(device, answer)
  }
  return answer
}
