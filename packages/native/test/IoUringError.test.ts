import { constants } from "node:os"
import { describe, expect, it } from "vitest"
import {
  IOU_OUTCOME_ABANDONED,
  IOU_OUTCOME_CANCELLED,
  IOU_OUTCOME_WRITE_ZERO,
  IOU_OUTCOME_ERROR,
  IOU_OUTCOME_OK,
  IOU_OUTCOME_TIMEOUT,
  IOU_OUTCOME_UNEXPECTED_EOF,
} from "../src/binding.ts"
import { fromCompletion, IoUringError } from "../src/IoUringError.ts"
import { OPERATIONS, SYSCALLS } from "../src/Operations.ts"

const IOU_OP_NOP = OPERATIONS.nop.op
const IOU_OP_READ_AT = OPERATIONS.readAt.op
const IOU_OP_SEND = OPERATIONS.send.op
const IOU_OP_RECV = OPERATIONS.recv.op
const IOU_OP_SYNC = OPERATIONS.sync.op

describe("fromCompletion", () => {
  it("returns null for a successful completion", () => {
    expect(fromCompletion(IOU_OP_READ_AT, 3, 4096, IOU_OUTCOME_OK)).toBeNull()
  })

  it("maps a kernel errno to its code name, the negative errno, the syscall and the fd", () => {
    const error = fromCompletion(IOU_OP_READ_AT, 99, -constants.errno.EBADF, IOU_OUTCOME_ERROR)!
    expect(error).toBeInstanceOf(IoUringError)
    expect(error).toBeInstanceOf(Error)
    expect(error.code).toBe("EBADF")
    expect(error.errno).toBe(-constants.errno.EBADF)
    expect(error.syscall).toBe("read")
    expect(error.fd).toBe(99)
    expect(error.name).toBe("IoUringError")
    expect(error.message).toMatch(/^EBADF: bad file descriptor, read fd 99$/)
  })

  it("names every operation like Node's syscall field", () => {
    // Node's names (fs errors: open, stat, rename, unlink, mkdir, ftruncate…; net: accept, connect),
    // written out here for every operation, so that a row of the table that changes its name fails.
    const node: Record<keyof typeof OPERATIONS, string> = {
      nop: "nop",
      readAt: "read",
      writeAt: "write",
      send: "send",
      recv: "recv",
      sync: "fsync",
      socket: "socket",
      connect: "connect",
      accept: "accept",
      shutdownSocket: "shutdown",
      bind: "bind",
      listen: "listen",
      open: "open",
      closeFd: "close",
      stat: "stat",
      truncate: "ftruncate",
      allocate: "fallocate",
      unlink: "unlink",
      rename: "rename",
      mkdir: "mkdir",
      symlink: "symlink",
      link: "link",
      recvMany: "recv",
      acceptMany: "accept",
    }
    for (const [method, name] of Object.entries(node)) {
      expect([method, SYSCALLS[OPERATIONS[method as keyof typeof OPERATIONS].op]]).toEqual([method, name])
    }
    expect(SYSCALLS.length).toBe(Object.keys(node).length)
  })

  it("maps a timeout to ETIMEDOUT with its errno", () => {
    const error = fromCompletion(IOU_OP_RECV, 5, 0, IOU_OUTCOME_TIMEOUT)!
    expect(error.code).toBe("ETIMEDOUT")
    expect(error.errno).toBe(-constants.errno.ETIMEDOUT)
    expect(error.syscall).toBe("recv")
  })

  it("maps a cancellation to an AbortError with code ABORT_ERR and keeps the signal's reason as cause", () => {
    const reason = new Error("stop")
    const error = fromCompletion(IOU_OP_RECV, 5, -constants.errno.ECANCELED, IOU_OUTCOME_CANCELLED, reason)!
    expect(error.name).toBe("AbortError")
    expect(error.code).toBe("ABORT_ERR")
    expect(error.cause).toBe(reason)
  })

  it("maps an unexpected end of file to ERR_IOU_UNEXPECTED_EOF with the bytes filled", () => {
    const error = fromCompletion(IOU_OP_READ_AT, 5, 10, IOU_OUTCOME_UNEXPECTED_EOF)!
    expect(error.code).toBe("ERR_IOU_UNEXPECTED_EOF")
    expect(error.bytes).toBe(10)
    expect(error.errno).toBeUndefined()
  })

  it("maps abandonment to ERR_IOU_ABANDONED", () => {
    expect(fromCompletion(IOU_OP_SYNC, 5, 0, IOU_OUTCOME_ABANDONED)!.code).toBe("ERR_IOU_ABANDONED")
  })

  it("maps a write or send that made no progress to EPIPE", () => {
    const error = fromCompletion(IOU_OP_SEND, 5, 0, IOU_OUTCOME_WRITE_ZERO)!
    expect(error.code).toBe("EPIPE")
    expect(error.errno).toBe(-constants.errno.EPIPE)
  })

  it("leaves the fd out for a nop", () => {
    expect(fromCompletion(IOU_OP_NOP, 0, 0, IOU_OUTCOME_TIMEOUT)!.fd).toBeUndefined()
  })
})
