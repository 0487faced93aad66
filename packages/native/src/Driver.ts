/**
 * The Driver: one io_uring loop (a C thread that owns one ring) driven from one JS thread, with a
 * Promise API (`readAt`, `writeAt`, `send`, `recv`, `sync`, `nop`) and a low-level callback API
 * (`submit*`, no Promise per request) that `@iou/effect` and the benchmarks use.
 *
 * This file keeps the public surface and composes the parts that own the data:
 *
 * | part            | owns                                                                       |
 * | --------------- | -------------------------------------------------------------------------- |
 * | Validate.ts     | argument checks: TypeError/RangeError before anything changes              |
 * | Operations.ts   | one row per operation: op number, syscall name, methods                    |
 * | PendingTable.ts | every request from its call to its completion; the handle ⇄ tag codec      |
 * | Backpressure.ts | requests waiting for room in the loop's inbound queue, and their deadlines |
 * | Wire.ts         | the staging record and the completion records shared with the binding      |
 * | Delivery.ts     | the end of every request (from the loop or not), the quarantine, counters  |
 * | Submission.ts   | the path to the loop: staging, Loop.submit, publishing, refill             |
 * | Shutdown.ts     | close(): the shutdown drain, its timer, abandonment and the join           |
 * | Clock.ts        | the monotonic clock of every deadline                                      |
 *
 * A request travels as README.md, "How a request travels", draws it.
 *
 * A deadline holds wherever the request waits: in the kernel and the loop's wheel, in the loop's
 * inbound queue (the loop ends it), and in the backpressure queue (its timer ends it here with the
 * same ETIMEDOUT error). Cancelling (ring.cancel, an AbortSignal) a request still in the
 * backpressure queue completes it at once (AbortError) without touching the loop; a submitted one
 * gets an async cancel in the loop and ends with its own completion, only after the kernel has let
 * go of its buffer (success if the operation finished first).
 *
 * The file descriptor stays the caller's: keep it open until the request has completed.
 *
 * Refusals before the loop (`refusal`), in this order: a closing Driver (ERR_IOU_CLOSED), an
 * operation outside the config's `operations` (ERR_IOU_OPERATION_NOT_ALLOWED: the kernel ring is
 * restricted to the others' opcodes anyway), and a process whose uid, gid or groups changed since
 * the Driver opened (ERR_IOU_CREDENTIALS_CHANGED, for good): checked at the first request of each
 * JS turn (three syscalls), so requests made later in the turn that changed them are still taken.
 */
import { Config } from "@iou/core"
import { constants } from "node:os"
import { BackpressureQueue } from "./Backpressure.ts"
import {
  binding,
  IOU_FLAG_DATA_ONLY,
  IOU_FLAG_EXACT,
  IOU_OUTCOME_ERROR,
  IOU_OUTCOME_OK,
  IOU_OUTCOME_TIMEOUT,
  type NativeLoop,
} from "./binding.ts"
import * as Clock from "./Clock.ts"
import { Delivery, type Multishot } from "./Delivery.ts"
import * as Errors from "./IoUringError.ts"
import { accepts, BY_OP, fdOf, OPERATIONS } from "./Operations.ts"
import * as Pending from "./PendingTable.ts"
import { openLoop, preflight } from "./probe.ts"
import { RecvBuffers } from "./RecvBuffers.ts"
import { RecvMany } from "./RecvMany.ts"
import { Shutdown } from "./Shutdown.ts"
import { Submission } from "./Submission.ts"
import type * as T from "./types.ts"
import * as Validate from "./Validate.ts"
import { Wire } from "./Wire.ts"

export const SLOT_LIMIT = Pending.SLOT_LIMIT

// A Promise executor that allocates nothing: new Promise(capture) leaves its functions here.
let capturedResolve: ((value: never) => void) | undefined
let capturedReject: ((error: unknown) => void) | undefined
const capture = (resolve: (value: never) => void, reject: (error: unknown) => void): void => {
  capturedResolve = resolve
  capturedReject = reject
}

const rethrowLater = (error: unknown): never => {
  throw error
}

const syscallOf = (op: number): Errors.IoUringError["syscall"] & string => BY_OP[op]!.syscall

/** Builds a native loop; tests substitute a simulated one. */
export type NativeFactory = (
  deliver: (count: number, final: boolean) => void,
  staging: ArrayBuffer,
  completions: ArrayBuffer,
) => NativeLoop

const nativeFactory: NativeFactory = (deliver, staging, completions) => new binding.Loop(deliver, staging, completions)

export class Driver implements Multishot {
  /**
   * Opens a ring: validates `config` (TypeError/RangeError) and creates the ring (with the thread
   * engine: starts the loop thread and waits until its ring exists). Throws an IoUringError with
   * code "ERR_IOU_UNAVAILABLE" (message: probe()'s reason) where the addon is not built, the kernel
   * refuses io_uring or lacks a feature the loop needs: checked before the loop starts, so an old
   * kernel never gets as far as the loop.
   */
  static open(config?: T.DriverConfig): Driver {
    const resolved = Config.resolve(config)
    const refusal = preflight(resolved)
    if (refusal?.emfile) throw Errors.errnoError(-constants.errno.EMFILE, "open", undefined)
    if (refusal !== undefined) throw Errors.unavailableError(refusal.reason, undefined)
    return new Driver(resolved, nativeFactory)
  }

  /** CLOCK_MONOTONIC in milliseconds: the clock of the low-level API's absolute deadlines. */
  static now(): number {
    return Clock.now()
  }

  /** The effective config: size after rounding, and whether SINGLE_ISSUER was accepted. */
  readonly config: T.EffectiveConfig

  private readonly native: NativeLoop
  private readonly wire: Wire
  private readonly table: Pending.PendingTable
  private readonly queue: BackpressureQueue
  private readonly shutdown: Shutdown
  private readonly delivery: Delivery
  private readonly submission: Submission
  private readonly recvBuffers: RecvBuffers
  /** recvMany requests the loop ended for want of buffers (or with a last chunk): re-armed after the batch. */
  private rearming: Array<number> = []
  /** The kernel took the provided buffers (Linux 5.19+); without them recvMany ends ENOBUFS. */
  private readonly recvBuffersRegistered: boolean
  /** The process's credentials differed from those at open once: every later call is refused. */
  private credentialsChanged = false

  // The binding holds its delivery function weakly while nothing is outstanding: the Driver keeps it.
  private readonly deliverFn = (count: number, final: boolean): void => this.deliver(count, final)

  /** @internal Use Driver.open. */
  constructor(resolved: Config.ResolvedConfig, factory: NativeFactory) {
    const table = new Pending.PendingTable(resolved.size * 2 + 16)
    this.table = table
    this.wire = new Wire(Math.max(64, resolved.size * 2))
    this.queue = new BackpressureQueue(table, (slot) => {
      this.delivery.timedOut++
      this.delivery.local(slot, Errors.fromCompletion(table.op[slot]!, table.fd[slot]!, 0, IOU_OUTCOME_TIMEOUT)!)
    })
    this.native = factory(this.deliverFn, this.wire.staging, this.wire.completions)
    this.recvBuffers = new RecvBuffers(resolved.recvBuffers.count, resolved.recvBuffers.size)
    openLoop(this.native, resolved, this.recvBuffers.pool)
    this.recvBuffersRegistered = (this.native.stats()?.recvBuffers ?? 0) > 0
    if (this.recvBuffersRegistered) this.recvBuffers.all(this.native)
    const opened = this.native.stats()!
    this.shutdown = new Shutdown(this.native, opened, {
      flush: () => this.submission.flushNow(),
      abandonQueued: () =>
        this.queue.endAll((slot) => {
          this.delivery.abandoned++
          this.delivery.local(slot, Errors.abandonedError(syscallOf(table.op[slot]!), this.fdOf(slot)))
        }),
      exited: () => this.queue.dispose(),
    })
    this.delivery = new Delivery(table, this.shutdown, () => {
      if (this.shutdown.closing && !this.shutdown.destroyed) this.submission.refill()
    })
    this.delivery.multishot = this
    this.submission = new Submission(this.native, table, this.wire, this.queue, this.delivery, this.shutdown)
    this.config = { ...resolved, singleIssuerAccepted: opened.singleIssuer }
  }

  // ---- The Promise API -----------------------------------------------------------------------

  /** A no-op through the ring. */
  nop(options?: T.WriteOptions): Promise<void> {
    const o = Validate.options(options)
    const deadline = Validate.deadlineOf(o.timeout)
    const signal = Validate.signal(o.signal)
    const slot = this.fill(OPERATIONS.nop.op, 0, 0, undefined, 0, 0, 0, deadline)
    return this.promise(slot, signal, Pending.KIND_PROMISE_VOID)
  }

  /**
   * Reads into buffer[0, length) from `position` until the range is full or end of file; resolves
   * with the count. With `exact`, end of file first rejects with ERR_IOU_UNEXPECTED_EOF.
   */
  readAt(fd: number, buffer: Uint8Array, position: number | bigint, options?: T.ReadAtOptions): Promise<number> {
    Validate.fd(fd)
    Validate.buffer(buffer, "buffer")
    const o = Validate.options(options)
    const size = Validate.lengthOf(buffer)
    const length = Validate.requestLength(o.length === undefined ? size : Validate.integer(o.length, "length", 0, size))
    const flags = Validate.optionalBoolean(o.exact, "exact") ? IOU_FLAG_EXACT : 0
    const deadline = Validate.deadlineOf(o.timeout)
    const signal = Validate.signal(o.signal)
    const at = Validate.position(position)
    const slot = this.fill(OPERATIONS.readAt.op, flags, fd, buffer, at, 0, length, deadline)
    return this.promise(slot, signal, Pending.KIND_PROMISE_NUMBER)
  }

  /** Writes all of `data` (one buffer, or several: writev) at `position`. */
  writeAt(fd: number, data: T.Data, position: number | bigint, options?: T.WriteOptions): Promise<void> {
    Validate.fd(fd)
    const o = Validate.options(options)
    const deadline = Validate.deadlineOf(o.timeout)
    const signal = Validate.signal(o.signal)
    const valid = Validate.data(data)
    const at = Validate.position(position)
    const slot = this.fill(OPERATIONS.writeAt.op, 0, fd, valid, at, 0, Validate.bytesOf(valid), deadline)
    return this.promise(slot, signal, Pending.KIND_PROMISE_VOID)
  }

  /** Sends all of `data` (one buffer, or several: sendmsg), with MSG_NOSIGNAL. */
  send(fd: number, data: T.Data, options?: T.WriteOptions): Promise<void> {
    Validate.fd(fd)
    const o = Validate.options(options)
    const deadline = Validate.deadlineOf(o.timeout)
    const signal = Validate.signal(o.signal)
    const valid = Validate.data(data)
    const slot = this.fill(OPERATIONS.send.op, 0, fd, valid, 0, 0, Validate.bytesOf(valid), deadline)
    return this.promise(slot, signal, Pending.KIND_PROMISE_VOID)
  }

  /**
   * Receives into buffer[offset, offset + length). Without `exact`: the first non-empty read, or 0
   * when the peer closed. With `exact`: until the range is full; a close first rejects with
   * ERR_IOU_UNEXPECTED_EOF.
   */
  recv(fd: number, buffer: Uint8Array, options?: T.RecvOptions): Promise<number> {
    Validate.fd(fd)
    Validate.buffer(buffer, "buffer")
    const o = Validate.options(options)
    const size = Validate.lengthOf(buffer)
    const offset = o.offset === undefined ? 0 : Validate.integer(o.offset, "offset", 0, size)
    const rest = size - offset
    const length = Validate.requestLength(o.length === undefined ? rest : Validate.integer(o.length, "length", 0, rest))
    const flags = Validate.optionalBoolean(o.exact, "exact") ? IOU_FLAG_EXACT : 0
    const deadline = Validate.deadlineOf(o.timeout)
    const signal = Validate.signal(o.signal)
    const slot = this.fill(OPERATIONS.recv.op, flags, fd, buffer, 0, offset, length, deadline)
    return this.promise(slot, signal, Pending.KIND_PROMISE_NUMBER)
  }

  /** fsync, or fdatasync with `dataOnly`. */
  sync(fd: number, options?: T.SyncOptions): Promise<void> {
    Validate.fd(fd)
    const o = Validate.options(options)
    const flags = Validate.optionalBoolean(o.dataOnly, "dataOnly") ? IOU_FLAG_DATA_ONLY : 0
    const deadline = Validate.deadlineOf(o.timeout)
    const signal = Validate.signal(o.signal)
    const slot = this.fill(OPERATIONS.sync.op, flags, fd, undefined, 0, 0, 0, deadline)
    return this.promise(slot, signal, Pending.KIND_PROMISE_VOID)
  }

  /**
   * Receives from a socket until end of stream, one chunk at a time, with one multishot recv on the
   * Driver's provided buffers (config.recvBuffers): a connection that waits holds a waiter slot, no
   * buffer. Iterate with `for await`; breaking out (or `return()`) cancels it. The iterator throws
   * the request's error: AbortError when `signal` aborts, ETIMEDOUT at `timeout` (ms, for the whole
   * stream), ERR_IOU_CLOSED when the Driver closes. Chunks the consumer has not taken yet wait in
   * memory (the socket's own buffer no longer pushes back on the peer).
   */
  recvMany(fd: number, options?: T.RecvManyOptions): RecvMany {
    Validate.fd(fd)
    const o = Validate.options(options)
    const deadline = Validate.deadlineOf(o.timeout)
    const signal = Validate.signal(o.signal)
    return new RecvMany(this, fd, deadline, signal)
  }

  // ---- The low-level API: one callback per request, no Promise ----------------------------------

  /**
   * A multishot recv: `onChunk` gets each chunk (a copy) as it arrives, then `callback` once: (null,
   * 0) at end of stream, or the error that ended it (AbortError after cancel(handle), ETIMEDOUT at
   * `deadline`). The provided buffers running out (ENOBUFS) ends nothing: it is re-armed once they
   * are back, and counted in stats().recvBuffersEmpty.
   */
  submitRecvMany(fd: number, deadline: number, onChunk: T.ChunkCallback, callback: T.Callback): T.RequestHandle {
    Validate.fd(fd)
    const d = Validate.deadline(deadline)
    if (typeof onChunk !== "function") {
      throw Object.assign(new TypeError(`The "onChunk" argument must be of type function`), {
        code: "ERR_INVALID_ARG_TYPE",
      })
    }
    Validate.callback(callback)
    const slot = this.fill(OPERATIONS.recvMany.op, 0, fd, undefined, 0, 0, 0, d)
    this.table.onChunk[slot] = onChunk
    return this.callback(slot, callback)
  }

  /** A no-op. `deadline`: absolute ms on Driver.now(), 0 = none. */
  submitNop(deadline: number, callback: T.Callback): T.RequestHandle {
    const d = Validate.deadline(deadline)
    Validate.callback(callback)
    return this.callback(this.fill(OPERATIONS.nop.op, 0, 0, undefined, 0, 0, 0, d), callback)
  }

  /** readAt into buffer[0, length); the callback gets the count read. */
  submitReadAt(
    fd: number,
    buffer: Uint8Array,
    position: number | bigint,
    length: number,
    exact: boolean,
    deadline: number,
    callback: T.Callback,
  ): T.RequestHandle {
    return this.submitInto(OPERATIONS.readAt.op, fd, buffer, 0, length, exact, position, deadline, callback)
  }

  /** writeAt of all of `data`; the callback gets the bytes written. */
  submitWriteAt(
    fd: number,
    data: T.Data,
    position: number | bigint,
    deadline: number,
    callback: T.Callback,
  ): T.RequestHandle {
    Validate.fd(fd)
    const valid = Validate.data(data)
    const at = Validate.position(position)
    const d = Validate.deadline(deadline)
    Validate.callback(callback)
    const bytes = Validate.bytesOf(valid)
    return this.callback(this.fill(OPERATIONS.writeAt.op, 0, fd, valid, at, 0, bytes, d), callback)
  }

  /** send of all of `data`; the callback gets the bytes sent. */
  submitSend(fd: number, data: T.Data, deadline: number, callback: T.Callback): T.RequestHandle {
    Validate.fd(fd)
    const valid = Validate.data(data)
    const d = Validate.deadline(deadline)
    Validate.callback(callback)
    const bytes = Validate.bytesOf(valid)
    return this.callback(this.fill(OPERATIONS.send.op, 0, fd, valid, 0, 0, bytes, d), callback)
  }

  /** recv into buffer[offset, offset + length); the callback gets the count received. */
  submitRecv(
    fd: number,
    buffer: Uint8Array,
    offset: number,
    length: number,
    exact: boolean,
    deadline: number,
    callback: T.Callback,
  ): T.RequestHandle {
    return this.submitInto(OPERATIONS.recv.op, fd, buffer, offset, length, exact, undefined, deadline, callback)
  }

  /** fsync, or fdatasync with `dataOnly`. */
  submitSync(fd: number, dataOnly: boolean, deadline: number, callback: T.Callback): T.RequestHandle {
    Validate.fd(fd)
    const flags = Validate.boolean(dataOnly, "dataOnly") ? IOU_FLAG_DATA_ONLY : 0
    const d = Validate.deadline(deadline)
    Validate.callback(callback)
    return this.callback(this.fill(OPERATIONS.sync.op, flags, fd, undefined, 0, 0, 0, d), callback)
  }

  /**
   * Cancels a request. Returns true when the request was live and this call started its
   * cancellation; its callback still runs exactly once, after the kernel has let go of its buffers:
   * with an AbortError, or with success if the operation finished first. False for a request that
   * already ended, is already being cancelled, or an unknown handle.
   */
  cancel(handle: T.RequestHandle): boolean {
    const t = this.table
    const slot = t.slotOf(handle)
    if (slot < 0) return false
    const state = t.state[slot]
    if (state === Pending.QUEUED) {
      this.delivery.cancelled++
      const cause = this.delivery.abortCause(slot)
      this.delivery.local(slot, Errors.abortError(syscallOf(t.op[slot]!), this.fdOf(slot), cause))
      return true
    }
    if (state !== Pending.SUBMITTED) return false
    t.state[slot] = Pending.CANCELLING
    return this.native.cancel(slot, t.generation[slot]!) === 0
  }

  /**
   * The loop's counters plus the Driver's own: `outstanding` (requests anywhere between the call and
   * their completion: the backpressure queue, the inbound queue or the loop), quarantinedBytes, and
   * the requests ended in the backpressure queue. `inFlight`: `outstanding` under its old name.
   */
  stats(): T.DriverStats {
    return this.delivery.stats(this.shutdown.stats())
  }

  /**
   * Stops admission (later calls reject with ERR_IOU_CLOSED), still admits what was already made
   * (including requests waiting in the backpressure queue), lets outstanding work finish while
   * deadlines keep running, and when `shutdownTimeout` (ms; default: the config's; absent: no limit)
   * expires abandons what is left (ERR_IOU_ABANDONED; buffers quarantined only if the kernel kept
   * them). Resolves once the loop has exited (its thread joined, with the thread engine), with how
   * many requests live at close() completed and how many were abandoned. Calling it again returns the same promise (see Shutdown).
   */
  close(options?: T.CloseOptions): Promise<T.CloseResult> {
    const o = Validate.options(options)
    const timeout =
      o.shutdownTimeout === undefined
        ? this.config.shutdownTimeout
        : Config.shutdownTimeout(o.shutdownTimeout, this.config.shutdownTimeout)
    return this.shutdown.close(timeout === undefined ? -1 : Clock.now() + timeout, () => this.submission.refill())
  }

  // ---- Submission ------------------------------------------------------------------------------

  /**
   * submitReadAt and submitRecv: fills buffer[offset, offset + length), from `position` for readAt
   * (offset 0) or the socket for recv (no position). Validates in the public methods' parameter
   * order: fd, buffer, position or offset, length, exact, deadline, callback.
   */
  private submitInto(
    op: number,
    fd: number,
    buffer: Uint8Array,
    offset: number,
    length: number,
    exact: boolean,
    position: unknown,
    deadline: number,
    callback: T.Callback,
  ): T.RequestHandle {
    Validate.fd(fd)
    Validate.buffer(buffer, "buffer")
    const at = op === OPERATIONS.readAt.op ? Validate.position(position) : 0
    const size = Validate.lengthOf(buffer)
    if (op === OPERATIONS.recv.op) Validate.integer(offset, "offset", 0, size)
    Validate.integer(length, "length", 0, Math.min(size - offset, Validate.MAX_REQUEST_BYTES))
    const flags = Validate.boolean(exact, "exact") ? IOU_FLAG_EXACT : 0
    const d = Validate.deadline(deadline)
    Validate.callback(callback)
    return this.callback(this.fill(op, flags, fd, buffer, at, offset, length, d), callback)
  }

  /** Takes a slot of the pending table for a request and fills it; admit() sends it on. */
  private fill(
    op: number,
    flags: number,
    fd: number,
    data: T.Data | undefined,
    position: number | bigint,
    offset: number,
    length: number,
    deadline: number,
  ): number {
    const t = this.table
    const slot = t.take()
    t.op[slot] = op
    t.flags[slot] = flags
    t.fd[slot] = fd
    t.setPosition(slot, position)
    t.offset[slot] = offset
    t.length[slot] = length
    t.deadline[slot] = deadline
    t.data[slot] = data
    return slot
  }

  /**
   * The request in `slot` settles a new Promise (`kind`: with its count, or with nothing). Refused
   * (ERR_IOU_CLOSED; AbortError for an aborted signal), or resolved at once when it would move no
   * bytes, without reaching the loop.
   */
  private promise(slot: number, signal: AbortSignal | undefined, kind: number): Promise<never> {
    const t = this.table
    const op = t.op[slot]!
    const refusal = this.refusal(slot)
    const aborted = signal?.aborted === true
    if (refusal !== undefined || aborted || (t.length[slot] === 0 && BY_OP[op]!.movesData)) {
      const fd = this.fdOf(slot)
      t.release(slot)
      if (refusal !== undefined) return Promise.reject(refusal)
      if (aborted) return Promise.reject(Errors.abortError(syscallOf(op), fd, signal!.reason))
      return Promise.resolve((kind === Pending.KIND_PROMISE_NUMBER ? 0 : undefined) as never)
    }
    const promise = new Promise<never>(capture)
    t.kind[slot] = kind
    t.resolve[slot] = capturedResolve
    t.reject[slot] = capturedReject
    if (signal !== undefined) {
      const handle = t.handleOf(slot)
      const onAbort = (): void => {
        this.cancel(handle)
      }
      signal.addEventListener("abort", onAbort, { once: true })
      t.signal[slot] = signal
      t.onAbort[slot] = onAbort
    }
    this.submission.admit(slot)
    return promise
  }

  /**
   * The request in `slot` calls `callback` when it ends; returns its handle. A refused request
   * (`refusal`) gets its error, and a request that would move no bytes succeeds with 0, both on the
   * next tick without reaching the loop (handle 0).
   */
  private callback(slot: number, callback: T.Callback): T.RequestHandle {
    const t = this.table
    const refusal = this.refusal(slot)
    if (refusal !== undefined || (t.length[slot] === 0 && BY_OP[t.op[slot]!]!.movesData)) {
      const error = refusal ?? null
      t.release(slot)
      process.nextTick(callback, error, 0)
      return 0
    }
    t.kind[slot] = Pending.KIND_CALLBACK
    t.resolve[slot] = callback
    this.submission.admit(slot)
    return t.handleOf(slot)
  }

  /** Why the request in `slot` may not go to the loop (see the header), or undefined. */
  private refusal(slot: number): Errors.IoUringError | undefined {
    const op = this.table.op[slot]!
    if (this.shutdown.closing) return Errors.closedError(syscallOf(op), this.fdOf(slot))
    if (!accepts(this.config.operations, op)) {
      return Errors.notAllowedError(syscallOf(op), this.fdOf(slot), this.config.operations)
    }
    if (!this.credentialsChanged && !this.submission.inTurn && this.native.credentialsChanged()) {
      this.credentialsChanged = true
    }
    if (this.credentialsChanged) return Errors.credentialsChangedError(syscallOf(op), this.fdOf(slot))
    return undefined
  }

  // ---- Completion ------------------------------------------------------------------------------

  /** @internal Multishot: a chunk of the recvMany in `slot` is in provided buffer `buffer`. */
  chunk(slot: number, buffer: number, length: number): void {
    const data = this.recvBuffers.take(buffer, length)
    const onChunk = this.table.onChunk[slot]
    if (onChunk === undefined || length === 0) return
    try {
      onChunk(data)
    } catch (thrown) {
      process.nextTick(rethrowLater, thrown) // as a callback's: it must not stop the batch
    }
  }

  /**
   * @internal Multishot: the loop ended the recvMany in `slot`. Out of buffers (ENOBUFS), or the
   * kernel stopped the multishot after a chunk: re-armed after the batch, unless it was cancelled,
   * the Driver is closing or its deadline passed (then it ends so). Anything else ends it.
   */
  ended(slot: number, outcome: number, result: number): boolean {
    const enobufs = outcome === IOU_OUTCOME_ERROR && result === -constants.errno.ENOBUFS
    if (!enobufs && !(outcome === IOU_OUTCOME_OK && result > 0)) return false
    if (enobufs && !this.recvBuffersRegistered) return false // no buffer will ever come
    if (enobufs) this.delivery.recvBuffersEmpty++
    const t = this.table
    const op = t.op[slot]!
    if (t.state[slot] === Pending.CANCELLING) {
      this.delivery.cancelled++
      this.delivery.finish(slot, Errors.abortError(syscallOf(op), this.fdOf(slot), this.delivery.abortCause(slot)), 0)
    } else if (this.shutdown.closing) {
      this.delivery.finish(slot, Errors.closedError(syscallOf(op), this.fdOf(slot)), 0)
    } else if (t.deadline[slot]! > 0 && Clock.now() >= t.deadline[slot]!) {
      this.delivery.timedOut++
      this.delivery.finish(slot, Errors.fromCompletion(op, t.fd[slot]!, 0, IOU_OUTCOME_TIMEOUT)!, 0)
    } else {
      this.rearming.push(slot)
    }
    return true
  }

  /** @internal Multishot: the batch's buffers go back to the kernel, then what ran out is re-armed. */
  afterBatch(): void {
    this.recvBuffers.flush(this.native)
    if (this.rearming.length === 0) return
    const slots = this.rearming
    this.rearming = []
    const t = this.table
    for (const slot of slots) {
      if (t.state[slot] === Pending.CANCELLING) {
        // cancel(handle) came between the loop's end and now: the loop never heard of it.
        this.delivery.cancelled++
        const op = t.op[slot]!
        this.delivery.finish(slot, Errors.abortError(syscallOf(op), this.fdOf(slot), this.delivery.abortCause(slot)), 0)
      } else {
        this.submission.admit(slot)
      }
    }
  }

  /** Called by the binding once per chunk of completions; `final` after the loop exited. */
  private deliver(count: number, final: boolean): void {
    this.delivery.fromLoop(this.wire, count)
    if (this.queue.length > 0) this.submission.refill()
    if (final) this.shutdown.exited()
  }

  private fdOf(slot: number): number | undefined {
    return fdOf(this.table.op[slot]!, this.table.fd[slot])
  }
}
