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
 * | `onFd`      | it acts on a file descriptor (errors carry `fd`)                          |
 * | `multishot` | one SQE yields many results before its one completion (absent: false)     |
 * | `class`     | `files`, `sockets` or `both`: the Drivers that accept it (the config's `operations`), as the C row's IOU_CLASS_* bits |
 *
 * Adding an operation in TypeScript is one row here, its low-level method's signature in
 * DriverApi.ts and its public method(s) in @iou/native's Driver.ts (that package's README, "Adding
 * an operation").
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
}

/** Which operations an operation belongs with: a Driver opened for `operations: "files"` accepts the `files` and `both` rows. */
export type Class = "files" | "sockets" | "both"

/** What a Driver accepts (its config's `operations`): every operation, or one class and `both`. */
export type Classes = "all" | "files" | "sockets"

export const CLASSES: ReadonlyArray<Classes> = ["all", "files", "sockets"]

export const OPERATIONS = {
  nop: { op: 0, c: "IOU_OP_NOP", submit: "submitNop", syscall: "nop", movesData: false, onFd: false, class: "both" },
  readAt: {
    op: 1,
    c: "IOU_OP_READ_AT",
    submit: "submitReadAt",
    syscall: "read",
    movesData: true,
    onFd: true,
    class: "files",
  },
  writeAt: {
    op: 2,
    c: "IOU_OP_WRITE_AT",
    submit: "submitWriteAt",
    syscall: "write",
    movesData: true,
    onFd: true,
    class: "files",
  },
  send: {
    op: 3,
    c: "IOU_OP_SEND",
    submit: "submitSend",
    syscall: "send",
    movesData: true,
    onFd: true,
    class: "sockets",
  },
  recv: {
    op: 4,
    c: "IOU_OP_RECV",
    submit: "submitRecv",
    syscall: "recv",
    movesData: true,
    onFd: true,
    class: "sockets",
  },
  sync: {
    op: 5,
    c: "IOU_OP_SYNC",
    submit: "submitSync",
    syscall: "fsync",
    movesData: false,
    onFd: true,
    class: "files",
  },
  recvMany: {
    op: 6,
    c: "IOU_OP_RECV_MANY",
    submit: "submitRecvMany",
    syscall: "recv",
    movesData: false,
    onFd: true,
    class: "sockets",
    multishot: true,
  },
} as const satisfies Record<string, Operation>

type Table = typeof OPERATIONS

/** An operation's name: the Driver's Promise method, and @iou/effect's operation. */
export type Method = keyof Table

/** The Driver's low-level method of each operation. */
export type SubmitMethod = Table[Method]["submit"]

/** The operation, named like Node's `syscall` field; "open" is the ring's setup. */
export type Syscall = Table[Method]["syscall"] | "open"

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

/** The operation whose errors carry `syscall` ("read" -> "readAt"); undefined for "open". */
export const methodOf = (syscall: string): Method | undefined => METHOD_OF_SYSCALL.get(syscall)

/** The fd an error of `op` carries: none for an operation that acts on no file descriptor. */
export const fdOf = (op: number, fd: number | undefined): number | undefined =>
  BY_OP[op]?.onFd === true ? fd : undefined
