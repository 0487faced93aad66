/**
 * probe(): whether io_uring can be used on this machine and, when not, why. Never throws.
 * Also openLoop(): the Driver's setup, whose refusal probe() explains.
 */
import type { Config } from "@iou/core"
import { constants } from "node:os"
import { binding, type NativeLoop } from "./binding.ts"
import { errnoError, unavailableError } from "./IoUringError.ts"

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

/** Opcodes the loop needs: nop, read, write, writev, fsync, send, recv, sendmsg, poll_add, async_cancel. */
export const REQUIRED_OPCODES = [
  "NOP",
  "READ",
  "WRITE",
  "WRITEV",
  "FSYNC",
  "SEND",
  "RECV",
  "SENDMSG",
  "POLL_ADD",
  "ASYNC_CANCEL",
] as const

export interface Probe {
  readonly supported: boolean
  readonly reason?: string
  readonly kernel: string
  readonly ioUringDisabled?: 0 | 1 | 2
  readonly setupError?: string
  readonly singleIssuer: boolean
  readonly opcodes: ReadonlyArray<string>
}

const errnoName = (errno: number): string => {
  for (const [name, value] of Object.entries(constants.errno)) if (value === errno) return name
  return `errno ${errno}`
}

/** Why io_uring_setup failed with `errno`, in words a person can act on. */
export const explainSetupError = (errno: number, disabled: number): string => {
  const name = errnoName(errno)
  switch (name) {
    case "ENOSYS":
      return "io_uring_setup failed with ENOSYS: this kernel was built without io_uring (CONFIG_IO_URING) or is older than 5.1"
    case "EPERM":
      return disabled > 0
        ? `io_uring_setup failed with EPERM: the sysctl kernel.io_uring_disabled is ${disabled} (0 enables io_uring for everyone)`
        : "io_uring_setup failed with EPERM: a seccomp filter (for example Docker's default profile) or an LSM refuses io_uring; run with a profile that allows io_uring_setup/io_uring_enter/io_uring_register"
    case "ENOMEM":
      return "io_uring_setup failed with ENOMEM: the locked-memory limit (ulimit -l, RLIMIT_MEMLOCK) is too small for a ring on this kernel"
    default:
      return `io_uring_setup failed with ${name}`
  }
}

/**
 * TEST ONLY: `IOU_TEST_SETUP_ERROR=EPERM` (any errno name) makes probe() and Driver.open() behave as
 * if io_uring_setup failed with that errno, so that the refusal path can be tested on a kernel that
 * allows io_uring. Returns the errno number, or 0 when the variable is unset.
 */
export const simulatedSetupErrno = (): number => {
  const name = process.env["IOU_TEST_SETUP_ERROR"]
  if (name === undefined || name === "") return 0
  return (constants.errno as Record<string, number | undefined>)[name] ?? constants.errno.EPERM
}

export const probe = (): Probe => {
  let raw
  try {
    raw = binding.probe()
    const simulated = simulatedSetupErrno()
    if (simulated !== 0) raw = { ...raw, setupErrno: simulated }
  } catch (error) {
    return {
      supported: false,
      reason: `the native addon failed: ${String(error)}`,
      kernel: "unknown",
      singleIssuer: false,
      opcodes: [],
    }
  }
  const opcodes = raw.opcodes.flatMap((ok, i) => (ok ? [OPCODE_NAMES[i] ?? `OP_${i}`] : []))
  const disabled: 0 | 1 | 2 | undefined =
    raw.ioUringDisabled === 0 || raw.ioUringDisabled === 1 || raw.ioUringDisabled === 2
      ? raw.ioUringDisabled
      : undefined
  const base = {
    kernel: raw.kernel,
    singleIssuer: raw.singleIssuer,
    opcodes,
    ...(disabled === undefined ? {} : { ioUringDisabled: disabled }),
  }
  if (raw.setupErrno !== 0) {
    return {
      ...base,
      supported: false,
      setupError: errnoName(raw.setupErrno),
      reason: explainSetupError(raw.setupErrno, disabled ?? 0),
    }
  }
  const missing = REQUIRED_OPCODES.filter((name) => !opcodes.includes(name))
  if (missing.length > 0) {
    return {
      ...base,
      supported: false,
      reason: `this kernel's io_uring lacks opcodes the loop needs: ${missing.join(", ")} (Linux 6.0 or newer has them all)`,
    }
  }
  return { ...base, supported: true }
}

/**
 * Opens `native` with `config`, or throws what the Driver reports for a refusal: Node's EMFILE or
 * ENFILE error when out of file descriptors (that is not "io_uring unavailable"), otherwise
 * ERR_IOU_UNAVAILABLE with probe()'s explanation. IOU_TEST_SETUP_ERROR stands in for the kernel's
 * answer here as in probe().
 */
export const openLoop = (native: NativeLoop, config: Config.ResolvedConfig): void => {
  const simulated = simulatedSetupErrno()
  const rc =
    simulated !== 0
      ? -simulated
      : native.open(
          config.size,
          config.singleIssuer,
          config.ioPoll,
          config.maxRequestTimeout * 1e6,
          config.timeoutWheelTick * 1e6,
          config.idleSpin,
        )
  if (rc === -constants.errno.EMFILE || rc === -constants.errno.ENFILE) throw errnoError(rc, "open", undefined)
  if (rc < 0) {
    const p = probe()
    throw unavailableError(p.supported ? explainSetupError(-rc, p.ioUringDisabled ?? 0) : (p.reason ?? ""), rc)
  }
}
