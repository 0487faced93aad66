/**
 * A Driver-shaped double whose requests complete only when a test says so, and whose cancel
 * completes the request later (as the kernel's async cancel does). It lets the IoUring service's
 * interruption contract be checked in an order the real kernel cannot be forced into.
 */
import {
  type Callback,
  type CloseResult,
  type ConnectTarget,
  type Connection,
  type ListenTarget,
  type Listener,
  type ResultCallback,
  type ShutdownHow,
  type OpenFlags,
  type PathLike,
  type StatCallback,
  type DriverStats,
  IoUringError,
  type Reason,
  type RequestHandle,
  type Syscall,
} from "@iou/native"
import type { NodeIoUring } from "@iou/effect"

export interface FakeRequest {
  readonly handle: RequestHandle
  readonly op: string
  readonly args: ReadonlyArray<unknown>
  readonly callback: Callback
  done: boolean
}

/** The reason the Driver gives each code (an errno name otherwise: SystemError). */
const REASON_OF: Readonly<Record<string, Reason>> = {
  ETIMEDOUT: "Timeout",
  ERR_IOU_CLOSED: "Closed",
  ERR_IOU_ABANDONED: "Abandoned",
  ERR_IOU_UNEXPECTED_EOF: "UnexpectedEof",
  ERR_IOU_UNAVAILABLE: "Unavailable",
  ERR_IOU_OPERATION_NOT_ALLOWED: "NotAllowed",
  ERR_IOU_CREDENTIALS_CHANGED: "CredentialsChanged",
  ABORT_ERR: "Cancelled",
}

export const abortError = (): Error =>
  new IoUringError("The operation was aborted", { code: "ABORT_ERR", reason: "Cancelled" })

/** An error as the Driver makes it: its class, its code, the reason it decides for that code. */
export const nativeError = (code: string, fields: { errno?: number; syscall?: Syscall; fd?: number } = {}): Error =>
  new IoUringError(`${code}: simulated`, { code, reason: REASON_OF[code] ?? "SystemError", ...fields })

export class FakeDriver {
  readonly requests: Array<FakeRequest> = []
  readonly cancelled: Array<RequestHandle> = []
  /** ms after cancel() before the request's AbortError callback fires. */
  cancelDelay = 20
  closed = false
  private next = 1

  readonly config = {
    size: 8,
    maxInFlight: 16384,
    recvBuffers: { count: 256, size: 4096 },
    singleIssuer: false,
    ioPoll: false,
    maxRequestTimeout: 60_000,
    timeoutWheelTick: 5,
    shutdownTimeout: undefined,
    idleSpin: 50,
    engine: "inline" as const,
    operations: "all" as const,
    inlineWake: "eventfd" as const,
    inlineWakeUsed: "eventfd" as const,
    singleIssuerAccepted: false,
  }

  private submit(op: Syscall, args: ReadonlyArray<unknown>, callback: Callback): RequestHandle {
    if (this.closed) throw nativeError("ERR_IOU_CLOSED", { syscall: op })
    const request: FakeRequest = { handle: this.next++, op, args, callback, done: false }
    this.requests.push(request)
    return request.handle
  }

  complete(handle: RequestHandle, error: Error | null, result: unknown = 0): void {
    const request = this.requests.find((r) => r.handle === handle)
    if (request === undefined || request.done) throw new Error(`no pending request ${handle}`)
    request.done = true
    request.callback(error, result as number)
  }

  pending(): number {
    return this.requests.filter((r) => !r.done).length
  }

  submitNop(deadline: number, cb: Callback) {
    return this.submit("nop", [deadline], cb)
  }
  submitReadAt(
    ...args: [number, Uint8Array | ReadonlyArray<Uint8Array>, number | bigint, number, boolean, number, Callback]
  ) {
    return this.submit("read", args.slice(0, 6), args[6])
  }
  submitWriteAt(...args: [number, Uint8Array | ReadonlyArray<Uint8Array>, number | bigint, number, Callback]) {
    return this.submit("write", args.slice(0, 4), args[4])
  }
  submitSend(...args: [number, Uint8Array | ReadonlyArray<Uint8Array>, number, Callback]) {
    return this.submit("send", args.slice(0, 3), args[3])
  }
  submitRecv(...args: [number, Uint8Array, number, number, boolean, number, Callback]) {
    return this.submit("recv", args.slice(0, 6), args[6])
  }
  submitSync(...args: [number, boolean, number, Callback]) {
    return this.submit("fsync", args.slice(0, 3), args[3])
  }
  submitSocket(...args: [number, number, number, number, Callback]) {
    return this.submit("socket", args.slice(0, 4), args[4])
  }
  submitConnect(...args: [number, Uint8Array, number, Callback]) {
    return this.submit("connect", args.slice(0, 3), args[3])
  }
  submitAccept(...args: [number, number, Callback]) {
    return this.submit("accept", args.slice(0, 2), args[2])
  }
  submitShutdown(...args: [number, ShutdownHow, number, Callback]) {
    return this.submit("shutdown", args.slice(0, 3), args[3])
  }
  submitBind(...args: [number, Uint8Array, number, Callback]) {
    return this.submit("bind", args.slice(0, 3), args[3])
  }
  submitListen(...args: [number, number, number, Callback]) {
    return this.submit("listen", args.slice(0, 3), args[3])
  }
  openListener(target: ListenTarget, deadline: number, cb: ResultCallback<Listener>) {
    return this.submit("listen", [target, deadline], cb as unknown as Callback)
  }
  openConnection(target: ConnectTarget, options: object, deadline: number, cb: ResultCallback<Connection>) {
    return this.submit("connect", [target, options, deadline], cb as unknown as Callback)
  }
  acceptConnection(fd: number, deadline: number, cb: ResultCallback<Connection>) {
    return this.submit("accept", [fd, deadline], cb as unknown as Callback)
  }
  submitOpen(...args: [PathLike, OpenFlags, number, number, Callback, boolean?]) {
    return this.submit("open", args.slice(0, 4), args[4])
  }
  submitReadFile(path: PathLike, deadline: number, cb: ResultCallback<Uint8Array>) {
    return this.submit("open", [path, deadline], cb as unknown as Callback) // its first step
  }
  submitCloseFd(fd: number, cb: Callback): void {
    this.submit("close", [fd], cb)
  }
  submitStat(...args: [PathLike | number, boolean, number, StatCallback]) {
    return this.submit("stat", args.slice(0, 3), args[3] as unknown as Callback)
  }
  submitTruncate(...args: [number, number | bigint, number, Callback]) {
    return this.submit("ftruncate", args.slice(0, 3), args[3])
  }
  submitAllocate(...args: [number, number | bigint, number | bigint, boolean, boolean, number, Callback]) {
    return this.submit("fallocate", args.slice(0, 6), args[6])
  }
  submitUnlink(...args: [PathLike, boolean, number, Callback]) {
    return this.submit("unlink", args.slice(0, 3), args[3])
  }
  submitRename(...args: [PathLike, PathLike, boolean, number, Callback]) {
    return this.submit("rename", args.slice(0, 4), args[4])
  }
  submitMkdir(...args: [PathLike, number, number, Callback]) {
    return this.submit("mkdir", args.slice(0, 3), args[3])
  }
  submitSymlink(...args: [PathLike, PathLike, number, Callback]) {
    return this.submit("symlink", args.slice(0, 3), args[3])
  }
  submitLink(...args: [PathLike, PathLike, number, Callback]) {
    return this.submit("link", args.slice(0, 3), args[3])
  }
  submitRecvMany(...args: [number, number, (chunk: Uint8Array) => void, Callback]) {
    return this.submit("recv", args.slice(0, 3), args[3])
  }
  submitAcceptMany(...args: [number, number, (connection: Connection) => void, Callback]) {
    return this.submit("accept", args.slice(0, 3), args[3])
  }
  cancel(handle: RequestHandle): boolean {
    const live = this.requests.some((r) => r.handle === handle && !r.done)
    this.cancelled.push(handle)
    setTimeout(() => {
      const request = this.requests.find((r) => r.handle === handle)
      if (request !== undefined && !request.done) this.complete(handle, abortError())
    }, this.cancelDelay)
    return live
  }
  stats(): DriverStats {
    const pending = this.pending()
    return {
      pendingOperations: pending,
      outstanding: pending,
      inFlight: pending,
      submitted: this.requests.length,
      completed: 0,
      failed: 0,
      timedOut: 0,
      cancelled: this.cancelled.length,
      requeued: 0,
      sqesStaged: 0,
      enters: 0,
      wakes: 0,
      cqOverflow: 0,
      cqKernelOverflow: 0,
      recvBuffersEmpty: 0,
      abandoned: 0,
      quarantinedBytes: 0,
    }
  }
  close(): Promise<CloseResult> {
    this.closed = true
    return Promise.resolve({ completed: 0, abandoned: 0 })
  }
}

/** layerWith options that hand out `driver` and a clock fixed at 1000 ms. */
export const openFake = (driver: FakeDriver): NodeIoUring.OpenOptions => ({ open: () => driver, now: () => 1000 })
