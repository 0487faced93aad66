/**
 * The operations: one row per IOU_OP_* of @iou/native's include/iou.h. Everything in TypeScript that
 * differs from one operation to the next derives from this table: the op number the Driver stages,
 * the `syscall` its errors carry, the Driver's methods, the slice of the Driver that @iou/effect
 * uses (DriverApi.ts `DriverLike`) and the names of @iou/effect's operations (which are the
 * Driver's method names). It lives here, with no native code, so that @iou/effect can use it where
 * @iou/native is absent; @iou/native re-exports it (src/Operations.ts).
 *
 * | column      | meaning                                                                   |
 * | ----------- | ------------------------------------------------------------------------- |
 * | key         | the Driver's Promise method and @iou/effect's operation (`readAt`)         |
 * | `op`        | its IOU_OP_* number (checked against the header by @iou/native's test/constants.test.ts) |
 * | `c`         | that constant's C spelling                                                |
 * | `submit`    | the Driver's low-level (callback) method                                  |
 * | `syscall`   | the name its errors carry, like Node's `syscall` field                    |
 * | `movesData` | it transfers bytes: a zero-length request resolves at once, its buffers are quarantined if abandoned kernel-held |
 * | `onFd`      | it acts on a file descriptor (errors carry `fd`); `closeFd(fd)` cancels it first |
 * | `multishot` | one SQE yields many results before its one completion (absent: false)     |
 * | `class`     | `files`, `sockets` or `both`: the Drivers that accept it (the config's `operations`), as the C row's IOU_CLASS_* bits |
 * | `producesFd`| its result is a new fd: one the caller no longer waits for (aborted, timed out, abandoned after the kernel made it) is closed by the Driver |
 * | `paths`     | the paths it takes (errors carry the first as `path`, the second as `dest`, as Node's do) |
 *
 * The socket rows are the ring's single operations; the Driver's `listen`, `connect` and `accept`
 * compose them (socket, setsockopt, bind, listen; socket, connect; accept, getsockname) and their
 * errors carry the syscall of the step that failed.
 * Adding an operation starts with one row here and its low-level method's signature in
 * DriverApi.ts; @iou/native's README, "Adding an operation", lists every other place.
 */

export interface Operation {
  readonly op: number
  readonly c: string
  readonly submit: string
  readonly syscall: string
  readonly movesData: boolean
  readonly onFd: boolean
  readonly multishot?: boolean
  readonly class: Class
  readonly producesFd: boolean
  readonly paths: 0 | 1 | 2
}

/** Which operations an operation belongs with: a Driver opened for `operations: "files"` accepts the `files` and `both` rows. */
export type Class = "files" | "sockets" | "both"

/** What a Driver accepts (its config's `operations`): every operation, or one class and `both`. */
export type Classes = "all" | "files" | "sockets"

export const CLASSES: ReadonlyArray<Classes> = ["all", "files", "sockets"]

// Columns after `syscall`: movesData, onFd, class, producesFd, paths.
const row = <const M extends string, const S extends string, const C extends Class>(
  op: number,
  c: string,
  submit: M,
  syscall: S,
  movesData: boolean,
  onFd: boolean,
  klass: C,
  producesFd: boolean,
  paths: 0 | 1 | 2,
) => ({ op, c, submit, syscall, movesData, onFd, class: klass, producesFd, paths })

// prettier-ignore
export const OPERATIONS = {
  nop:            row(0,  "IOU_OP_NOP",      "submitNop",      "nop",       false, false, "both",    false, 0),
  readAt:         row(1,  "IOU_OP_READ_AT",  "submitReadAt",   "read",      true,  true,  "files",   false, 0),
  writeAt:        row(2,  "IOU_OP_WRITE_AT", "submitWriteAt",  "write",     true,  true,  "files",   false, 0),
  send:           row(3,  "IOU_OP_SEND",     "submitSend",     "send",      true,  true,  "sockets", false, 0),
  recv:           row(4,  "IOU_OP_RECV",     "submitRecv",     "recv",      true,  true,  "sockets", false, 0),
  sync:           row(5,  "IOU_OP_SYNC",     "submitSync",     "fsync",     false, true,  "files",   false, 0),
  socket:         row(6,  "IOU_OP_SOCKET",   "submitSocket",   "socket",    false, false, "sockets", true,  0),
  connect:        row(7,  "IOU_OP_CONNECT",  "submitConnect",  "connect",   false, true,  "sockets", false, 0),
  accept:         row(8,  "IOU_OP_ACCEPT",   "submitAccept",   "accept",    false, true,  "sockets", true,  0),
  shutdownSocket: row(9,  "IOU_OP_SHUTDOWN", "submitShutdown", "shutdown",  false, true,  "sockets", false, 0),
  bind:           row(10, "IOU_OP_BIND",     "submitBind",     "bind",      false, true,  "sockets", false, 0),
  listen:         row(11, "IOU_OP_LISTEN",   "submitListen",   "listen",    false, true,  "sockets", false, 0),
  open:           row(12, "IOU_OP_OPEN",     "submitOpen",     "open",      false, false, "files",   true,  1),
  closeFd:        row(13, "IOU_OP_CLOSE",    "submitCloseFd",  "close",     false, true,  "both",    false, 0),
  stat:           row(14, "IOU_OP_STAT",     "submitStat",     "stat",      false, true,  "files",   false, 1),
  truncate:       row(15, "IOU_OP_TRUNCATE", "submitTruncate", "ftruncate", false, true,  "files",   false, 0),
  allocate:       row(16, "IOU_OP_ALLOCATE", "submitAllocate", "fallocate", false, true,  "files",   false, 0),
  unlink:         row(17, "IOU_OP_UNLINK",   "submitUnlink",   "unlink",    false, false, "files",   false, 1),
  rename:         row(18, "IOU_OP_RENAME",   "submitRename",   "rename",    false, false, "files",   false, 2),
  mkdir:          row(19, "IOU_OP_MKDIR",    "submitMkdir",    "mkdir",     false, false, "files",   false, 1),
  symlink:        row(20, "IOU_OP_SYMLINK",  "submitSymlink",  "symlink",   false, false, "files",   false, 2),
  link:           row(21, "IOU_OP_LINK",     "submitLink",     "link",      false, false, "files",   false, 2),
  recvMany:       { ...row(22, "IOU_OP_RECV_MANY", "submitRecvMany", "recv", false, true, "sockets", false, 0), multishot: true },
  acceptMany:     { ...row(23, "IOU_OP_ACCEPT_MANY", "submitAcceptMany", "accept", false, true, "sockets", true, 0), multishot: true },
} as const satisfies Record<string, Operation>

type Table = typeof OPERATIONS

/** An operation's name: the Driver's Promise method, and @iou/effect's operation. */
export type Method = keyof Table

/** The Driver's low-level method of each operation. */
export type SubmitMethod = Table[Method]["submit"]

/**
 * The operation, named like Node's `syscall` field: the rows' names, plus "rmdir" (an unlink of a
 * directory); "open" is also the ring's setup, "getaddrinfo" the host name lookup before a connect,
 * "setsockopt"/"getsockname"/"getpeername" the synchronous steps of listen, connect and accept.
 */
export type Syscall =
  | Table[Method]["syscall"]
  | "rmdir"
  | "fstat"
  | "lstat"
  | "fdatasync"
  | "getaddrinfo"
  | "setsockopt"
  | "getsockname"
  | "getpeername"

/** The row of each op number (IOU_OP_*), indexed by it. */
export const BY_OP: ReadonlyArray<Table[Method]> = (() => {
  const rows: Array<Table[Method]> = []
  for (const row of Object.values(OPERATIONS)) {
    if (rows[row.op] !== undefined) throw new Error(`two operations have op ${row.op}`)
    rows[row.op] = row
  }
  return rows
})()

/** Whether a Driver opened for `classes` accepts the operation `op` (IOU_OP_*). */
export const accepts = (classes: Classes, op: number): boolean => {
  const c = BY_OP[op]?.class
  return c !== undefined && (classes === "all" || c === "both" || c === classes)
}

/** The IOU_CLASS_* bits of include/iou.h for a class of the table or a config's `operations`. */
export const classBits = (c: Class | Classes): number => (c === "files" ? 1 : c === "sockets" ? 2 : 3)

/** Syscall names indexed by IOU_OP_*. */
export const SYSCALLS: ReadonlyArray<Syscall> = BY_OP.map((row) => row.syscall)

// The first operation of a syscall name is its method ("recv" -> "recv", not "recvMany").
const METHOD_OF_SYSCALL: ReadonlyMap<string, Method> = new Map(
  (Object.keys(OPERATIONS) as Array<Method>).reverse().map((method) => [OPERATIONS[method].syscall, method]),
)

/** The operation of op number `op` is multishot (the `multishot` column). */
export const isMultishot = (op: number): boolean => (BY_OP[op] as Operation | undefined)?.multishot === true

/** The operation whose errors carry `syscall` ("read" -> "readAt", "rmdir" -> "unlink"). */
export const methodOf = (syscall: string): Method | undefined =>
  METHOD_OF_SYSCALL.get(syscall === "rmdir" ? "unlink" : syscall)

/**
 * The fd an error of `op` carries: none for an operation that acts on no file descriptor, nor for
 * one that acts on a path (its fd is AT_FDCWD, negative).
 */
export const fdOf = (op: number, fd: number | undefined): number | undefined =>
  BY_OP[op]?.onFd === true && fd !== undefined && fd >= 0 ? fd : undefined
