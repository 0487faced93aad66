/**
 * readFile: a whole file into a new Buffer (with `encoding`, decoded into a string), as
 * fs.promises.readFile reads it, in one request (a Promise; submitReadFile: one callback and a
 * handle cancel takes) whose steps are the Driver's own requests, each submitted from the callback
 * of the one before: open (O_RDONLY | O_CLOEXEC), a stat of the fd (its type and size), reads at
 * increasing positions into a Buffer of that size, and the close. On a local file system
 * (Mounts.ts) the stat is a synchronous statx of the fd (binding/file.cc) made in the open's
 * callback, which reads the attributes as they are (the kernel runs every ring statx on an io-wq
 * worker, whose wake-ups cost more than the rest of a small file's steps). There, with the inline
 * engine, the close is close(2) on this thread (Requests.closeUnmarked) in the last step's
 * callback: the ring's close would run on this thread too, inline in its next io_uring_enter,
 * with the file's last release after it (the blocks of a file deleted while it was read are
 * freed there), one round trip later. The thread engine's close stays a ring request, so that
 * release runs on the loop thread. On any other file system (NFS, FUSE…), which may have to ask
 * the server, both are ring requests (a ring statx, closeFd). A
 * file stat reports empty or not regular (procfs, a FIFO, a character device) is read in 64 KiB
 * chunks until end of file, which are then joined. As Node's: a file that shrank meanwhile ends
 * where its reads end; one that grew is read up to the size stat reported; a file over 2 GiB - 1 is
 * refused (RangeError, code ERR_FS_FILE_TOO_LARGE).
 *
 * Deadline: `timeout` is one absolute deadline for every step but the close (closeFd has none).
 * Abort (or cancel(handle)): the step in flight is cancelled in the kernel; once it ended, the fd
 * (if it was made) is closed, then the request fails with an AbortError whose cause is the
 * signal's reason. An abort once the close has started changes nothing: the bytes are read and the
 * fd is being closed.
 *
 * Outcomes: each step's own error (syscall open, fstat, read or close, as node:fs names them;
 * with the path, and the fd from the stat on); a step's failure is reported after the close, whose
 * own failure then is dropped; a close that fails after every read succeeded rejects with the
 * close's error.
 *
 * fd ownership: the fd is this request's from its open to its close and never reaches the caller;
 * it is closed on every path (closeFd closes it with close(2) where the ring would refuse the
 * close: the Driver began closing, or the process changed its credentials), and marked to be
 * closed on exit meanwhile (Requests.closeOnExit: a worker terminated while a read waits). A step
 * due on a closing Driver is not sent: the ring would refuse it a tick later, when close() may
 * have resolved and its destroy() dropped the mark (a worker that ended right after would leave
 * the fd open), so the fd is closed at once and the request fails with that refusal
 * (ERR_IOU_CLOSED). An open the cancel came too late for has its fd closed by Delivery. An
 * exception in a step's callback (the Buffer's allocation failing) closes the fd and rejects with
 * it.
 *
 * Invariants: at most one step is in flight, and the next is submitted only from the callback of
 * the one before; the request ends exactly once (the Promise settles, the callback runs), after the
 * fd is closed; an exception the callback throws goes to the Driver's delivery, as any callback's.
 */
import { MAX_READ_FILE, UNKNOWN_SIZE_CHUNK } from "@iou/core"
import * as Errors from "./IoUringError.ts"
import { binding } from "./binding.ts"
import * as Arena from "./Arena.ts"
import { fillOpen, fillTypeAndSize } from "./FileOps.ts"
import * as Mounts from "./Mounts.ts"
import { OPERATIONS } from "./Operations.ts"
import { compositeHandle } from "./PendingTable.ts"
import type { Requests } from "./Requests.ts"
import * as Stats from "./Stats.ts"
import type * as T from "./types.ts"
import * as Validate from "./Validate.ts"

/**
 * The stat's record: the synchronous statx writes it and the open's callback reads the type and
 * size at once, so one serves every readFile of this thread.
 */
const STATX = new Uint8Array(Stats.STATX_SIZE)

/** open's flags: O_RDONLY | O_CLOEXEC. */
const READ_ONLY = Validate.openFlags(undefined)

const tooLarge = (size: number): RangeError =>
  Object.assign(new RangeError(`File size (${size}) is greater than 2 GiB`), { code: "ERR_FS_FILE_TOO_LARGE" })

export const readFile = (
  r: Requests,
  path: T.PathLike,
  options: T.ReadFileOptions | BufferEncoding | undefined,
): Promise<Buffer | string> => {
  const p = Validate.path(path, "path")
  // A string is the encoding, as fs.promises.readFile takes it.
  const o = typeof options === "string" ? { encoding: options } : Validate.options(options)
  const deadline = Validate.deadlineOf(o.timeout)
  const signal = Validate.signal(o.signal)
  const encoding = Validate.encoding(o.encoding)
  if (Validate.aborted(signal))
    return Promise.reject(Errors.abortError("open", undefined, Validate.abortReason(signal), { path: p.text }))
  let resolve!: (buffer: Buffer) => void
  let reject!: (error: unknown) => void
  const read = new Promise<Buffer>((resolveRead, rejectRead) => {
    resolve = resolveRead
    reject = rejectRead
  })
  // Outside the executor: a signal that refuses the abort listener (start adds it first, before
  // anything is sent) throws here, as every bad argument does, instead of rejecting.
  new WholeFile(r, p, deadline, signal, resolve, reject).start()
  return encoding === undefined ? read : read.then((bytes) => bytes.toString(encoding))
}

/**
 * readFile's callback form: `callback` gets the Buffer or the error, once; the handle is what
 * cancel() takes (negative: a request of several steps), and cancelling is as an abort (AbortError,
 * no reason). `deadline`: absolute ms on Driver.now(), 0 = none.
 */
export const submitReadFile = (
  r: Requests,
  path: T.PathLike,
  deadline: number,
  callback: T.ResultCallback<Buffer>,
): T.RequestHandle => {
  const p = Validate.path(path, "path")
  const d = Validate.deadline(deadline)
  Validate.callback(callback)
  const request = new WholeFile(
    r,
    p,
    d,
    undefined,
    (bytes) => callback(null, bytes),
    (error) => callback(error as Error, undefined),
  )
  request.handle = compositeHandle()
  r.readFiles.set(request.handle, request)
  request.start()
  return request.handle
}

/** One readFile request: see the module comment. */
class WholeFile {
  /** The callback form's handle (registered in Requests.readFiles until it ends), 0 for the Promise's. */
  handle = 0
  /** The ring step in flight (its handle), 0 for none. */
  private step: T.RequestHandle = 0
  /** cancel(handle) was asked (the callback form's abort). */
  private cancelled = false
  /** The close has started: nothing cancels it. */
  private closing = false
  /** The caller has its outcome: an exception from here on is the caller's callback's. */
  private ended = false
  /** The ring stat's record (a file on a mount that is not local), kept until its completion. */
  private statx: Uint8Array | undefined
  private fd = -1
  /** The fd is on a local file system and the engine is inline: its close is close(2) here, not a ring request. */
  private closeHere = false
  /** The size stat reported for a regular file; -1 for a file read in chunks. */
  private size = -1
  /** Bytes read so far: the next read's position. */
  private filled = 0
  /** A sized file's buffer, or the chunk being filled. */
  private buffer: Buffer | undefined
  /** Bytes in `buffer` (a chunk's; a sized file's are `filled`). */
  private used = 0
  /** A file read in chunks: the chunks so far, the last one being filled. */
  private readonly chunks: Array<Buffer> = []
  private readonly site: Errors.Site
  private readonly onAbort = (): void => {
    if (this.step !== 0) this.r.cancel(this.step)
  }
  private readonly onOpen = (error: Error | null, fd: number): void => {
    try {
      this.opened(error, fd)
    } catch (thrown) {
      this.threw(thrown)
    }
  }
  private readonly onRead = (error: Error | null, n: number): void => {
    try {
      this.read(error, n)
    } catch (thrown) {
      this.threw(thrown)
    }
  }

  private readonly r: Requests
  private readonly path: Validate.Path
  private readonly deadline: number
  private readonly signal: AbortSignal | undefined
  private readonly resolve: (buffer: Buffer) => void
  private readonly reject: (error: unknown) => void

  constructor(
    r: Requests,
    path: Validate.Path,
    deadline: number,
    signal: AbortSignal | undefined,
    resolve: (buffer: Buffer) => void,
    reject: (error: unknown) => void,
  ) {
    this.r = r
    this.path = path
    this.deadline = deadline
    this.signal = signal
    this.resolve = resolve
    this.reject = reject
    this.site = { path: path.text }
  }

  /**
   * The callback form's cancel: as an abort of the signal (the step in flight is cancelled in the
   * kernel). False once the close has started (the bytes are read), the request ended, or its step
   * was refused before the loop (it ends with that refusal).
   */
  cancel(): boolean {
    // step 0 outside the close: the step was refused before the loop and ends on its own.
    if (this.cancelled || this.closing || this.ended || this.step === 0) return false
    this.cancelled = true
    this.r.cancel(this.step)
    return true
  }

  start(): void {
    if (this.signal !== undefined) Validate.addAbortListener(this.signal, this.onAbort)
    // A thread that ends before the close below closes the fd: marked as the Driver takes it from
    // the open's completion (the close unmarks).
    const slot = fillOpen(this.r, this.path, READ_ONLY, 0, this.deadline, true)
    this.submit(slot, this.onOpen)
  }

  /**
   * A step's callback threw. What may throw there (the Buffer's allocation, a pending table that
   * cannot grow) throws before the next step is sent, so nothing of this request is in flight: the
   * fd, if made, is closed and the Promise rejects with the exception, as fs.promises.readFile's.
   */
  private threw(error: unknown): void {
    if (this.ended) throw error // the callback form's callback threw: the Driver reports it
    this.step = 0
    if (this.fd >= 0) this.close(error as Error)
    else this.end(error as Error)
  }

  /**
   * Sends a step on. Its handle is what an abort cancels until its callback runs (a callback that
   * ran before this returns leaves a handle that names no request any more: cancel ignores it).
   */
  private submit(slot: number, callback: T.Callback): void {
    this.step = this.r.callback(slot, callback)
  }

  private opened(error: Error | null, fd: number): void {
    this.step = 0
    if (error !== null) return this.end(this.stepError(error, "open"))
    this.fd = fd
    if (this.aborted()) return this.close(this.abortError("open"))
    if (Mounts.useful) {
      const result = binding.files.statTypeAndSize(fd, STATX)
      if (result < 0) return this.close(Errors.errnoError(result, "fstat", fd, this.site))
      if (Mounts.isLocal(Stats.mountId(STATX), Stats.deviceOf(STATX))) {
        this.closeHere = this.r.config.engine === "inline"
        return this.sized(Stats.regularFileSize(STATX))
      }
    }
    if (this.r.shutdown.closing) return this.close(Errors.closedError("fstat", this.fd, this.site))
    // Another kind of file system: its cached attributes may be stale, so the ring's statx asks it.
    this.statx = Arena.zeroed(Stats.STATX_SIZE)
    const slot = fillTypeAndSize(this.r, fd, this.statx, this.deadline)
    this.r.table.site[slot] = { ...this.site, syscall: "fstat" }
    // Made here, not per request: only a file on a mount that is not local takes this step.
    this.submit(slot, (error) => {
      try {
        this.statted(error)
      } catch (thrown) {
        this.threw(thrown)
      }
    })
  }

  private statted(error: Error | null): void {
    this.step = 0
    if (error !== null) return this.close(this.stepError(error, "fstat"))
    if (this.aborted()) return this.close(this.abortError("fstat"))
    this.sized(Stats.regularFileSize(this.statx!))
  }

  /** The stat reported `size` (-1: not a regular file): a Buffer of that size, or chunks, then the reads. */
  private sized(size: number): void {
    if (size > MAX_READ_FILE) return this.close(tooLarge(size))
    if (size > 0) {
      this.size = size
      this.buffer = Buffer.allocUnsafeSlow(size)
    }
    this.next()
  }

  /** The next read: the rest of a sized file, or into the chunk being filled (a new one when full). */
  private next(): void {
    if (this.r.shutdown.closing) return this.close(Errors.closedError("read", this.fd, this.site))
    if (this.size < 0 && (this.buffer === undefined || this.used === UNKNOWN_SIZE_CHUNK)) {
      this.buffer = Buffer.allocUnsafeSlow(UNKNOWN_SIZE_CHUNK)
      this.chunks.push(this.buffer)
      this.used = 0
    }
    const into = this.buffer!
    const offset = this.size < 0 ? this.used : this.filled
    const slot = this.r.fill(
      OPERATIONS.readAt.op,
      0,
      this.fd,
      into,
      this.filled,
      offset,
      into.length - offset,
      this.deadline,
    )
    this.r.table.site[slot] = this.site
    this.submit(slot, this.onRead)
  }

  private read(error: Error | null, n: number): void {
    this.step = 0
    if (error !== null) return this.close(this.stepError(error, "read"))
    if (this.aborted()) return this.close(this.abortError("read"))
    this.filled += n
    this.used += n
    if (n === 0 || this.filled === this.size) return this.close(null)
    if (this.filled > MAX_READ_FILE) return this.close(tooLarge(this.filled))
    this.next()
  }

  /**
   * Closes the fd (closeHere: close(2) at once; else closeFd, itself close(2) where the ring would
   * refuse it), then ends with `failure` (null: the bytes read). Its one step in flight has ended,
   * so nothing is outstanding on the fd; should a request on it still be counted, closeFd waits
   * for it instead, so that the number is not reused under it.
   */
  private close(failure: Error | null): void {
    this.closing = true
    if (this.closeHere && this.r.table.onFdCount(this.fd) === 0) {
      const error = this.r.closeUnmarked(this.fd)
      return this.end(failure ?? error)
    }
    this.r.startCloseFd(this.fd, (error) => this.end(failure ?? error))
  }

  private end(error: Error | null): void {
    let bytes: Buffer | undefined
    if (error === null) {
      try {
        bytes = this.bytes()
      } catch (thrown) {
        error = thrown as Error // joining the chunks failed (the allocation): the fd is closed already
      }
    }
    this.ended = true
    if (this.signal !== undefined) Validate.removeAbortListener(this.signal, this.onAbort)
    if (this.handle !== 0) this.r.readFiles.delete(this.handle)
    if (error !== null) this.reject(error)
    else this.resolve(bytes!)
  }

  /** The bytes read: the sized Buffer (cut to what was read), or the chunks joined. */
  private bytes(): Buffer {
    if (this.size >= 0) {
      const buffer = this.buffer!
      return this.filled === this.size ? buffer : buffer.subarray(0, this.filled)
    }
    const last = this.chunks.length - 1
    this.chunks[last] = this.chunks[last]!.subarray(0, this.used)
    return Buffer.concat(this.chunks, this.filled)
  }

  private aborted(): boolean {
    return this.cancelled || Validate.aborted(this.signal)
  }

  /**
   * A step's error; its AbortError (the signal's cancel) as this request's, with the signal's
   * reason; a read step's timeout or errno without the step's `bytes` (what the request read is
   * dropped with it, and a step's count is not the request's).
   */
  private stepError(error: Error, syscall: "open" | "fstat" | "read"): Error {
    if ((error as { code?: unknown }).code === "ABORT_ERR" && this.aborted()) return this.abortError(syscall)
    if (error instanceof Errors.IoUringError && error.bytes !== undefined) {
      if (error.reason === "Timeout") return Errors.timeoutError(syscall, error.fd, this.site)
      if (error.reason === "SystemError" && error.errno !== undefined) {
        return Errors.errnoError(error.errno, syscall, error.fd, this.site)
      }
    }
    return error
  }

  private abortError(syscall: "open" | "fstat" | "read"): Error {
    return Errors.abortError(syscall, this.fd >= 0 ? this.fd : undefined, Validate.abortReason(this.signal), this.site)
  }
}
