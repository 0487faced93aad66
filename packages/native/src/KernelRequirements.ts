/**
 * The kernel support table: what the loop needs from the kernel, one row per feature (its name as
 * IOU_SIMULATE_MISSING spells it, the first Linux release with it, what uses it, whether a config
 * needs it), the same rows as the root README's table (a test compares them). probe.ts checks a
 * kernel's answers against it; the opcode names and feature bits it reads are here too.
 */
import type { Config } from "@iou/core"
import type { NativeProbe } from "./binding.ts"

/** IORING_OP_* names, indexed by opcode number (linux/io_uring.h order). */
export const OPCODE_NAMES = [
  "NOP",
  "READV",
  "WRITEV",
  "FSYNC",
  "READ_FIXED",
  "WRITE_FIXED",
  "POLL_ADD",
  "POLL_REMOVE",
  "SYNC_FILE_RANGE",
  "SENDMSG",
  "RECVMSG",
  "TIMEOUT",
  "TIMEOUT_REMOVE",
  "ACCEPT",
  "ASYNC_CANCEL",
  "LINK_TIMEOUT",
  "CONNECT",
  "FALLOCATE",
  "OPENAT",
  "CLOSE",
  "FILES_UPDATE",
  "STATX",
  "READ",
  "WRITE",
  "FADVISE",
  "MADVISE",
  "SEND",
  "RECV",
  "OPENAT2",
  "EPOLL_CTL",
  "SPLICE",
  "PROVIDE_BUFFERS",
  "REMOVE_BUFFERS",
  "TEE",
  "SHUTDOWN",
  "RENAMEAT",
  "UNLINKAT",
  "MKDIRAT",
  "SYMLINKAT",
  "LINKAT",
  "MSG_RING",
  "FSETXATTR",
  "SETXATTR",
  "FGETXATTR",
  "GETXATTR",
  "SOCKET",
  "URING_CMD",
  "SEND_ZC",
  "SENDMSG_ZC",
  "READ_MULTISHOT",
  "WAITID",
  "FUTEX_WAIT",
  "FUTEX_WAKE",
  "FUTEX_WAITV",
  "FIXED_FD_INSTALL",
  "FTRUNCATE",
  "BIND",
  "LISTEN",
  "RECV_ZC",
  "EPOLL_WAIT",
  "READV_FIXED",
  "WRITEV_FIXED",
  "PIPE",
] as const

/** IORING_FEAT_* bits of io_uring_params.features (linux/io_uring.h). */
export const IORING_FEAT_NODROP = 1 << 1
export const IORING_FEAT_EXT_ARG = 1 << 8
/** Linux 5.13, the release that also brought multishot POLL_ADD, which has no feature bit of its own. */
export const IORING_FEAT_RSRC_TAGS = 1 << 10

/**
 * One thing the loop needs from the kernel: its name (as IOU_SIMULATE_MISSING spells it), the first
 * Linux release that has it, what the loop uses it for, and whether a given config needs it.
 */
export interface KernelRequirement {
  readonly name: string
  readonly kernel: string
  readonly use: string
  readonly present: (raw: NativeProbe) => boolean
  /** false: the loop works without it (reported, not refused). */
  readonly neededBy: (config: Config.Config) => boolean
}

const always = (): boolean => true
/** Needed unless the config's `operations` leaves out every operation of `c`. */
const usedBy =
  (c: "files" | "sockets") =>
  (config: Config.Config): boolean =>
    config.operations === undefined || config.operations === "all" || config.operations === c
/** The row's `present` for an opcode: the kernel's probe lists IORING_OP_<name>. */
export const opcode =
  (name: (typeof OPCODE_NAMES)[number]) =>
  (raw: NativeProbe): boolean =>
    raw.opcodes[OPCODE_NAMES.indexOf(name)] === true

/**
 * What the loop needs, one row per feature: the kernel support table of the README. The minimum is
 * the newest `kernel` of the rows every config needs (Linux 5.13); 6.1 adds the single-issuer ring.
 */
export const KERNEL_REQUIREMENTS: ReadonlyArray<KernelRequirement> = [
  { name: "OP_NOP", kernel: "5.1", use: "nop", present: opcode("NOP"), neededBy: always },
  { name: "OP_WRITEV", kernel: "5.1", use: "vectored writeAt", present: opcode("WRITEV"), neededBy: usedBy("files") },
  { name: "OP_FSYNC", kernel: "5.1", use: "sync", present: opcode("FSYNC"), neededBy: usedBy("files") },
  {
    name: "OP_POLL_ADD",
    kernel: "5.1",
    use: "readiness waits after EAGAIN, the wake poll",
    present: opcode("POLL_ADD"),
    neededBy: always,
  },
  { name: "OP_READV", kernel: "5.1", use: "vectored readAt", present: opcode("READV"), neededBy: usedBy("files") },
  { name: "OP_SENDMSG", kernel: "5.3", use: "vectored send", present: opcode("SENDMSG"), neededBy: usedBy("sockets") },
  {
    name: "NODROP",
    kernel: "5.5",
    use: "the kernel keeps completions when the CQ overflows",
    present: (raw) => (raw.features & IORING_FEAT_NODROP) !== 0,
    neededBy: always,
  },
  {
    name: "OP_ASYNC_CANCEL",
    kernel: "5.5",
    use: "deadlines, cancellation, the shutdown drain",
    present: opcode("ASYNC_CANCEL"),
    neededBy: always,
  },
  { name: "OP_READ", kernel: "5.6", use: "readAt", present: opcode("READ"), neededBy: usedBy("files") },
  { name: "OP_WRITE", kernel: "5.6", use: "writeAt", present: opcode("WRITE"), neededBy: usedBy("files") },
  { name: "OP_SEND", kernel: "5.6", use: "send", present: opcode("SEND"), neededBy: usedBy("sockets") },
  { name: "OP_RECV", kernel: "5.6", use: "recv", present: opcode("RECV"), neededBy: usedBy("sockets") },
  { name: "OP_OPENAT", kernel: "5.6", use: "open", present: opcode("OPENAT"), neededBy: usedBy("files") },
  { name: "OP_CLOSE", kernel: "5.6", use: "closeFd", present: opcode("CLOSE"), neededBy: always },
  { name: "OP_STATX", kernel: "5.6", use: "stat", present: opcode("STATX"), neededBy: usedBy("files") },
  { name: "OP_FALLOCATE", kernel: "5.6", use: "allocate", present: opcode("FALLOCATE"), neededBy: usedBy("files") },
  {
    name: "EXT_ARG",
    kernel: "5.11",
    use: "bounded waits in io_uring_enter (deadlines without timeout SQEs)",
    present: (raw) => (raw.features & IORING_FEAT_EXT_ARG) !== 0,
    neededBy: always,
  },
  { name: "OP_RENAMEAT", kernel: "5.11", use: "rename", present: opcode("RENAMEAT"), neededBy: usedBy("files") },
  { name: "OP_UNLINKAT", kernel: "5.11", use: "unlink", present: opcode("UNLINKAT"), neededBy: usedBy("files") },
  {
    name: "POLL_MULTISHOT",
    kernel: "5.13",
    use: "the eventfd wake poll (not used by an ioPoll ring)",
    present: (raw) => (raw.features & IORING_FEAT_RSRC_TAGS) !== 0,
    neededBy: (config) => config.ioPoll !== true,
  },
  { name: "OP_CONNECT", kernel: "5.5", use: "connect", present: opcode("CONNECT"), neededBy: usedBy("sockets") },
  { name: "OP_ACCEPT", kernel: "5.5", use: "accept", present: opcode("ACCEPT"), neededBy: usedBy("sockets") },
  {
    name: "OP_SHUTDOWN",
    kernel: "5.11",
    use: "shutdownSocket",
    present: opcode("SHUTDOWN"),
    neededBy: usedBy("sockets"),
  },
  {
    name: "OP_SOCKET",
    kernel: "5.19",
    use: "optional: the socket of listen and connect; without it the Driver calls socket(2), which does not block",
    present: opcode("SOCKET"),
    neededBy: () => false,
  },
  {
    name: "OP_BIND",
    kernel: "6.11",
    use: "optional: the bind of listen; without it the Driver calls bind(2), which does not block",
    present: opcode("BIND"),
    neededBy: () => false,
  },
  {
    name: "OP_LISTEN",
    kernel: "6.11",
    use: "optional: listen; without it the Driver calls listen(2), which does not block",
    present: opcode("LISTEN"),
    neededBy: () => false,
  },
  {
    name: "OP_MKDIRAT",
    kernel: "5.15",
    use: "optional: mkdir (without it, ENOSYS)",
    present: opcode("MKDIRAT"),
    neededBy: () => false,
  },
  {
    name: "OP_SYMLINKAT",
    kernel: "5.15",
    use: "optional: symlink (without it, ENOSYS)",
    present: opcode("SYMLINKAT"),
    neededBy: () => false,
  },
  {
    name: "OP_LINKAT",
    kernel: "5.15",
    use: "optional: link (without it, ENOSYS)",
    present: opcode("LINKAT"),
    neededBy: () => false,
  },
  {
    name: "ACCEPT_MULTISHOT",
    kernel: "5.19",
    use: "optional: acceptMany (IORING_ACCEPT_MULTISHOT); without it acceptMany is refused with ENOSYS",
    // No feature bit says so; a kernel that accepts SINGLE_ISSUER | DEFER_TASKRUN (6.1) has it.
    present: (raw) => raw.singleIssuer,
    neededBy: () => false,
  },
  {
    name: "RECV_MULTISHOT",
    kernel: "6.0",
    use: "optional: recvMany (IORING_RECV_MULTISHOT on a provided-buffer ring, IORING_REGISTER_PBUF_RING 5.19); without it recvMany is refused with ENOSYS",
    // No feature bit says so; a kernel that accepts SINGLE_ISSUER | DEFER_TASKRUN (6.1) has it.
    present: (raw) => raw.singleIssuer,
    neededBy: () => false,
  },
  {
    name: "SINGLE_ISSUER",
    kernel: "6.1",
    use: 'SINGLE_ISSUER | DEFER_TASKRUN (6.0, 6.1), used by the thread engine and the inline engine\'s eventfd wake (inlineWake "eventfd"); without them the loop opens a COOP_TASKRUN ring (5.19) or a plain one, and the inline engine polls the ring fd (inlineWake "ringfd", the default)',
    present: (raw) => raw.singleIssuer,
    neededBy: () => false,
  },
  {
    name: "OP_FTRUNCATE",
    kernel: "6.9",
    use: "optional: truncate (without it, ftruncate(2) on libuv's threadpool)",
    present: opcode("FTRUNCATE"),
    neededBy: () => false,
  },
]

/** The oldest Linux release with everything every config needs. */
export const MINIMUM_KERNEL = "5.13"
