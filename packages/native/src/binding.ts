/**
 * Loads the addon, lazily, and types what it exports. Importing this module never loads it: the
 * first use of `binding` (or `loadBinding()`) does, through node-gyp-build, which takes
 * build/Release/iou.node when it was compiled on install and otherwise the prebuilt addon for this
 * platform, CPU, Node ABI and libc from prebuilds/ (made by prebuildify when the package is packed).
 * Both paths are relative to the package root, one level above src/ (tests) and dist/ (built).
 *
 * The addon uses V8's API besides Node-API, so it works only in the Node ABI it was compiled for,
 * yet Node loads any Node-API module, and node-gyp-build takes build/Release before looking at the
 * ABI. So the addon exports the ABI it was compiled for (`moduleVersion`) and `loadBinding()`
 * checks it: when it is another Node's, the prebuilt addon for this Node's ABI is taken instead if
 * there is one (`chooseAddon`).
 *
 * When nothing fits, `loadBinding()` returns the reason in words a user can act on, probe() reports
 * it and Driver.open throws ERR_IOU_UNAVAILABLE with it; nothing throws at import time.
 *
 * The constants mirror include/iou.h and keep their C spelling (the operations' numbers are in
 * Operations.ts, one row each). The wire's layout (binding/loop.h) and the IOV limit are not spelled
 * here: the addon exports them and this file reads them when they are first asked for, since
 * importing must not load the addon.
 */
import { readdirSync } from "node:fs"
import { createRequire } from "node:module"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import type { DriverStats } from "./types.ts"

export interface NativeProbe {
  readonly kernel: string
  readonly ioUringDisabled: number
  readonly setupErrno: number
  readonly singleIssuer: boolean
  /** COOP_TASKRUN | TASKRUN_FLAG accepted (Linux 5.19): the ring-fd inline wake's ring. */
  readonly coopTaskrun: boolean
  readonly features: number
  readonly opcodes: ReadonlyArray<boolean>
}

/** iou_loop_stats, field by field: the loop's part of DriverStats, and whether the ring is single-issuer. */
export interface NativeStats
  extends Omit<DriverStats, "outstanding" | "inFlight" | "quarantinedBytes" | "recvBuffersEmpty"> {
  readonly singleIssuer: boolean
  /** IOU_INLINE_WAKE_* the inline engine opened with (0 for the thread engine). */
  readonly inlineWake?: number
  /** Provided buffers registered for recvMany (0: the kernel has no buffer rings, before Linux 5.19). */
  readonly recvBuffers?: number
}

/**
 * One iou_loop seen from JavaScript (binding/loop.cc). Every method must be called on the JS thread
 * that created it. Request scalars travel through the staging record, completions come back through
 * the completion area and `dispatch(count, final)` (Wire.ts; layouts in WireLayout below).
 */
export interface NativeLoop {
  /** 0, or -errno of io_uring_setup. */
  open(
    size: number,
    singleIssuer: boolean,
    ioPoll: boolean,
    maxRequestTimeoutNs: number,
    tickNs: number,
    idleSpinUs: number,
    engine: number,
    operations: number,
    maxInFlight: number,
    recvPool?: Uint8Array,
    recvBufferSize?: number,
    inlineWake?: number,
  ): number
  /** Hands the first n provided buffers named in ids back to the kernel: 0 or -errno. */
  returnBuffers(ids: Uint16Array, n: number): number
  /**
   * 1 taken, 0 inbound queue full, or -errno (-ESHUTDOWN after close, -EINVAL for a malformed request).
   * publishEarly: publish at once with iou_loop_publish_early (the first request of a JS turn).
   */
  submit(data: Uint8Array | ReadonlyArray<Uint8Array> | undefined, publishEarly?: boolean): number
  /**
   * Staging records 0 to count - 1, in order: how many were handled (each record's verdict written
   * into it: 1 taken, -errno refused); the first the inbound queue has no room for ends the walk
   * (verdict 0). `datas[i]`: record i's data. -errno for a closed loop or bad arguments.
   */
  submitStaged(count: number, datas: ReadonlyArray<Uint8Array | ReadonlyArray<Uint8Array> | undefined>): number
  /** iou_loop_publish: publishes what was submitted and ends the owner's turn. */
  publish(): void
  /** 0 or -errno. */
  cancel(slot: number, generation: number): number
  /** shutdownTimeoutMs < 0: no limit. 0 or -errno. */
  close(shutdownTimeoutMs: number): number
  /**
   * Releases the loop: 0, or 1 when its thread had exited but was still leaving the kernel, so
   * that the loop (its eventfd, its memory) is freed later (`released`).
   */
  destroy(): number
  /** Whether the loop destroy() kept is freed by now (true when it kept none). */
  released(): boolean
  stats(): NativeStats | undefined
  /**
   * Adds fd to (on) or takes it out of the fds the binding closes if the Loop is finalized or its
   * environment ends (a worker terminated, the process exiting) before destroy(), with `path` (a
   * Unix socket's) unlinked after it if the socket is bound then and, with `dev` and `ino`, the
   * path still names that file: 0 or -EINVAL (undefined where the binding cannot run: its
   * thread's environment is ending). A close of fd handed to the loop takes it out.
   */
  closeOnExit(fd: number, on: boolean, path?: string, dev?: bigint, ino?: bigint): number
  /** Takes fd out of the closeOnExit marks and closes it (close(2)) in one call: 0 or -errno. */
  closeMarked(fd: number): number
  /**
   * Closes the fd of completion `i` of the completion area (close(2), its mark dropped) and clears
   * its IOU_COMPLETION_FD, in one call: 0, -errno, or -EBADF when it is not flagged.
   */
  closeUntaken(i: number): number
  /** Whether the process's uid, gid or groups differ from those it had at open (three syscalls). */
  credentialsChanged(): boolean
  /** Delivers completions now, as a notification would. */
  poll(): void
  /** Tests only, before open(): the loop reports one TraceEvent per op CQE. */
  enableTrace(): void
  /** Tests only: the trace events buffered since the last call, oldest first. */
  takeTrace(): Array<TraceEvent>
}

/** struct iou_trace_event (tests only): one op CQE and what the loop decided. */
export interface TraceEvent {
  /** The request's tag: the Driver's pending-table slot and its generation. */
  readonly slot: number
  readonly generation: number
  readonly op: number
  readonly flags: number
  /** Bytes transferred before this CQE, and in all. */
  readonly done: number
  readonly total: number
  readonly iovCount: number
  /** IOU_TRACE_CANCEL_*. */
  readonly cancel: number
  /** The CQE of the readiness POLL_ADD that follows -EAGAIN, not of the operation. */
  readonly poll: boolean
  /** The raw CQE result. */
  readonly res: number
  /** The CQE carried IORING_CQE_F_MORE (a multishot op's result that is not its end). */
  readonly more: boolean
  /** IOU_TRACE_*. */
  readonly decision: number
  /** With IOU_TRACE_COMPLETE: the completion's outcome and result. */
  readonly outcome: number
  readonly result: number
  /** With IOU_TRACE_COMPLETE or IOU_TRACE_MORE: the completion's IOU_COMPLETION_* flags. */
  readonly completionFlags: number
}

export interface NativeLoopConstructor {
  new (dispatch: (count: number, final: boolean) => void, staging: ArrayBuffer, completions: ArrayBuffer): NativeLoop
}

/**
 * Byte offsets and sizes of binding/loop.h's records: the staging record (struct iou_binding_stage)
 * and the completion record (struct iou_completion; its tag read as slot, then generation).
 */
export interface WireLayout {
  readonly STAGE_BYTES: number
  readonly STAGE_SLOT: number
  readonly STAGE_GENERATION: number
  readonly STAGE_POSITION_LO: number
  readonly STAGE_POSITION_HI: number
  readonly STAGE_LENGTH: number
  readonly STAGE_FD: number
  readonly STAGE_OP: number
  readonly STAGE_FLAGS: number
  readonly STAGE_OFFSET: number
  readonly STAGE_ARG: number
  readonly STAGE_ARG2: number
  readonly STAGE_EXTENT_LO: number
  readonly STAGE_EXTENT_HI: number
  readonly STAGE_VERDICT: number
  /** Records in the staging area. */
  readonly STAGE_RECORDS: number
  readonly STAGE_DEADLINE_MS: number
  readonly COMPLETION_BYTES: number
  readonly COMPLETION_SLOT: number
  readonly COMPLETION_GENERATION: number
  readonly COMPLETION_RESULT: number
  readonly COMPLETION_OUTCOME: number
  readonly COMPLETION_FLAGS: number
  readonly COMPLETION_BUFFER: number
  readonly COMPLETION_DONE: number
}

/**
 * binding/socket.cc: the socket calls that never block, made synchronously (the fallbacks of
 * socket, bind and listen on kernels without their opcodes, and the small steps of listen, connect
 * and accept). Each returns its result or -errno and never throws; arguments are validated first.
 */
export interface NativeSockets {
  socket(domain: number, type: number, protocol: number): number
  bind(fd: number, address: Uint8Array): number
  listen(fd: number, backlog: number): number
  setsockopt(fd: number, level: number, name: number, value: number): number
  /** An int option's value (a flag option: 0 or nonzero), or -errno. */
  getsockopt(fd: number, level: number, name: number): number
  getsockname(fd: number): Uint8Array | number
  getpeername(fd: number): Uint8Array | number
  /** AF_*, SOCK_*, SOL_SOCKET, SO_* (SO_ACCEPTCONN too), IPPROTO_*, TCP_NODELAY, IPV6_V6ONLY, SHUT_*: the build's values. */
  readonly constants: Readonly<Record<string, number>>
}

/**
 * binding/file.cc: readFile's stat of the fd it opened (type, size and mount), made synchronously
 * because the kernel runs every ring statx on an io-wq worker; with AT_STATX_DONT_SYNC, and used as
 * it is only for a file on a local file system (Mounts.ts). Returns 0 or -errno (throws only on
 * arguments that are not a number and a Uint8Array).
 */
export interface NativeFiles {
  /**
   * statx of `fd` for STATX_TYPE | STATX_SIZE | STATX_MNT_ID into `into` (a struct statx: at least
   * 256 bytes, else -EINVAL; fd < 0: -EBADF).
   */
  statTypeAndSize(fd: number, into: Uint8Array): number
}

export interface NativeBinding {
  /** NODE_MODULE_VERSION of the headers the addon was compiled with: the only Node ABI it works in. */
  readonly moduleVersion: number
  probe(): NativeProbe
  /** The bytes of request memory this process keeps because the kernel may still use it (every Driver's, every thread). */
  quarantinedBytes(): number
  readonly sockets: NativeSockets
  readonly files: NativeFiles
  /** The #define values of include/iou.h that TypeScript uses (checked against its mirrors by a test). */
  readonly constants: Readonly<Record<string, number>>
  /** binding/loop.h's record layouts. */
  readonly wire: WireLayout
  /** The class column of csrc/request.c's table (IOU_CLASS_* bits), indexed by IOU_OP_*. */
  readonly opClasses: ReadonlyArray<number>
  /** The produces_fd column of csrc/request.c's table, indexed by IOU_OP_*. */
  readonly opProducesFd: ReadonlyArray<boolean>
  readonly Loop: NativeLoopConstructor
}

const require = createRequire(import.meta.url)
const PACKAGE_ROOT = fileURLToPath(new URL("..", import.meta.url))

/** How to get the addon built, appended to every load failure. */
export const ADDON_FIX =
  "The install script of @iou/native did not run or failed. With npm, run `npm rebuild " +
  "@iou/native` (where npm holds install scripts back until approved, `npm install-scripts approve " +
  "@iou/native` first, which writes the right allowScripts key; do not install with " +
  "--ignore-scripts); with pnpm, run " +
  "`pnpm approve-builds` and then `pnpm rebuild @iou/native`. A prebuilt addon ships for linux-x64 " +
  "with glibc on the Node versions listed in the README; anywhere else the install script compiles " +
  "it, which needs python3, make and a C/C++ compiler with C++20 (gcc 10 or clang 10)."

/**
 * What to do with an addon that loaded and says it was compiled for Node ABI `builtFor` (undefined:
 * an addon from before it said so) in a Node of ABI `running`, given the file names in
 * prebuilds/<platform>-<arch>/: use it, load the prebuilt addon `file` of this ABI instead, or fail
 * with the returned reason.
 */
export const chooseAddon = (
  builtFor: number | undefined,
  running: number,
  prebuilds: ReadonlyArray<string>,
  nodeVersion: string,
): { readonly use: "loaded" } | { readonly use: "prebuild"; readonly file: string } | { readonly failure: string } => {
  if (builtFor === running) return { use: "loaded" }
  const tag = `.abi${running}.`
  const file = prebuilds.find((name) => name.endsWith(".node") && name.includes(tag))
  if (file !== undefined) return { use: "prebuild", file }
  const built =
    builtFor === undefined
      ? "the native addon does not say which Node it was built for (it predates this @iou/native)"
      : `the native addon was built for another Node (ABI ${builtFor})`
  return { failure: `${built}; this is Node ${nodeVersion} (ABI ${running}): run \`npm rebuild @iou/native\`` }
}

let loaded: NativeBinding | undefined

/** The names in `dir`; none when it does not exist (no prebuilds for this platform and CPU). */
const filesIn = (dir: string): Array<string> => {
  try {
    return readdirSync(dir)
  } catch {
    return []
  }
}

const readable = (error: unknown): string =>
  (error instanceof Error ? error.message : String(error)).trim().replace(/\s+/g, " ")

/**
 * The addon, or why it cannot be loaded (the loader's error and how to fix it). A success is kept;
 * a failure is not, since it may be transient (out of file descriptors: see `outOfFds`).
 */
export const loadBinding = (): NativeBinding | string => {
  if (loaded !== undefined) return loaded
  let first: NativeBinding
  try {
    const nodeGypBuild = require("node-gyp-build") as (dir: string) => NativeBinding
    first = nodeGypBuild(PACKAGE_ROOT)
  } catch (error) {
    return `the native addon is not built (${readable(error)}). ${ADDON_FIX}`
  }
  const running = Number(process.versions.modules)
  const builtFor = typeof first.moduleVersion === "number" ? first.moduleVersion : undefined
  const dir = join(PACKAGE_ROOT, "prebuilds", `${process.platform}-${process.arch}`)
  const choice = chooseAddon(builtFor, running, builtFor === running ? [] : filesIn(dir), process.versions.node)
  if ("failure" in choice) return choice.failure
  if (choice.use === "loaded") return (loaded = first)
  try {
    const prebuilt = require(join(dir, choice.file)) as NativeBinding
    const again = chooseAddon(prebuilt.moduleVersion, running, [], process.versions.node)
    return "failure" in again ? again.failure : (loaded = prebuilt)
  } catch (error) {
    return `the native addon was built for another Node and the prebuilt one for this Node does not load (${readable(error)}). ${ADDON_FIX}`
  }
}

/** A load failure that is the process running out of file descriptors, not a missing addon. */
export const outOfFds = (failure: string): boolean =>
  /too many open files|file table overflow|\bE[MN]FILE\b/i.test(failure)

const required = (): NativeBinding => {
  const b = loadBinding()
  if (typeof b === "string") throw new Error(b)
  return b
}

/**
 * The addon, loaded on first use; throws an Error with loadBinding()'s reason where it cannot be
 * loaded (Driver.open checks loadBinding() first and throws ERR_IOU_UNAVAILABLE instead).
 */
export const binding: NativeBinding = {
  get moduleVersion() {
    return required().moduleVersion
  },
  probe: () => required().probe(),
  quarantinedBytes: () => required().quarantinedBytes(),
  get constants() {
    return required().constants
  },
  get wire() {
    return required().wire
  },
  get opClasses() {
    return required().opClasses
  },
  get opProducesFd() {
    return required().opProducesFd
  },
  get Loop() {
    return required().Loop
  },
  get sockets() {
    return required().sockets
  },
  get files() {
    return required().files
  },
}

// ---- include/iou.h ---------------------------------------------------------------------------

/** Who runs the loop (iou.h IOU_ENGINE_*). */
export const IOU_ENGINE_THREAD = 0
export const IOU_ENGINE_INLINE = 1

/** How the inline engine learns of work (iou.h IOU_INLINE_WAKE_*). */
export const IOU_INLINE_WAKE_EVENTFD = 0
export const IOU_INLINE_WAKE_RINGFD = 1

/** Operation classes (iou.h IOU_CLASS_*): what a loop accepts (Operations.classBits spells them). */
export const IOU_CLASS_FILES = 1
export const IOU_CLASS_SOCKETS = 2
export const IOU_CLASS_ALL = 3

export const IOU_FLAG_EXACT = 1
export const IOU_FLAG_DATA_ONLY = 2

export const IOU_OUTCOME_OK = 0
export const IOU_OUTCOME_ERROR = 1
export const IOU_OUTCOME_TIMEOUT = 2
export const IOU_OUTCOME_CANCELLED = 3
export const IOU_OUTCOME_UNEXPECTED_EOF = 4
export const IOU_OUTCOME_ABANDONED = 5
export const IOU_OUTCOME_WRITE_ZERO = 6

export const IOU_TRACE_CANCEL_NONE = 0
export const IOU_TRACE_CANCEL_DEADLINE = 1
export const IOU_TRACE_CANCEL_CALLER = 2
export const IOU_TRACE_CANCEL_SHUTDOWN = 3
export const IOU_TRACE_COMPLETE = 0
export const IOU_TRACE_REQUEUE = 1
export const IOU_TRACE_POLL_WAIT = 2
export const IOU_TRACE_MORE = 3

/** iou_completion.flags: an ABANDONED request the kernel may still use (quarantine its memory). */
export const IOU_COMPLETION_KERNEL_HELD = 1
/** iou_completion.flags: an OK request whose cancel (deadline, caller, shutdown) came too late: success won. */
export const IOU_COMPLETION_CANCEL_LOST = 2
/** iou_completion.flags with CANCEL_LOST: the outcome the lost cancel asked for, in the 3 bits from this shift. */
export const IOU_COMPLETION_CANCEL_OUTCOME_SHIFT = 4
export const IOU_COMPLETION_CANCEL_OUTCOME_MASK = 7 << IOU_COMPLETION_CANCEL_OUTCOME_SHIFT
/** iou_completion.flags: one result of a multishot request, not its end. */
export const IOU_COMPLETION_MORE = 4
/** iou_completion.flags: `buffer` names the provided buffer holding the result's bytes. */
export const IOU_COMPLETION_BUFFER = 8
/**
 * iou_completion.flags: with IOU_OUTCOME_OK, the result is an fd the request made. The Driver clears
 * it in the completion area (Wire.takeFd) before the fd goes anywhere; the binding closes the fds
 * of a chunk whose flag is still set when the Driver's dispatch could not finish it.
 */
export const IOU_COMPLETION_FD = 128

let maxIovValue: number | undefined

/**
 * Largest iov_count of one vectored request: include/iou.h's IOU_MAX_IOV, read from the
 * addon on first use (which loads it).
 */
export const maxIov = (): number => (maxIovValue ??= binding.constants["IOU_MAX_IOV"]!)

/** binding/loop.h's record layouts, read from the addon on first use (which loads it). */
export const wireLayout = (): WireLayout => binding.wire
