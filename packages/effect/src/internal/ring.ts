/**
 * The IoUring service around one Driver: each operation is an `Effect.callback` over the Driver's
 * low-level submit API, and its cleanup (run only when the fiber is interrupted before the request
 * completed) cancels that request in the kernel and waits for the request's callback, so that an
 * interrupted fiber resumes only once the kernel has let go of the buffer.
 *
 * Invariant: each request's callback fires exactly once (Driver contract). Before interruption it
 * resumes the fiber; after interruption it only releases the waiting cleanup.
 */
import { type Connection, type FileStats, type Listener, Operations, type RequestHandle } from "@iou/core"
import { Duration, Effect } from "effect"
import { dirname } from "node:path"
import { fileURLToPath } from "node:url"
import type * as IoUring from "../IoUring.ts"
import type { IoUringError } from "../IoUringError.ts"
import type { DriverLike } from "./driver.ts"
import * as Errors from "./errors.ts"

/** The loop's "no deadline". */
const NO_DEADLINE = 0

/**
 * A `timeout` option as the loop's absolute deadline in ms on `now()`'s clock; 0 for none.
 * Zero is a deadline already past: the Driver fails it at once with
 * ETIMEDOUT without touching the kernel.
 */
export const deadlineOf = (timeout: Duration.Input | undefined, now: () => number): number => {
  if (timeout === undefined) return NO_DEADLINE
  // Duration reads NaN as zero; the Driver treats it as a bug, and so do we.
  if (typeof timeout === "number" && Number.isNaN(timeout)) throw new RangeError("timeout must not be NaN")
  const duration = Duration.fromInput(timeout)
  if (duration._tag === "None") {
    throw new TypeError(
      `timeout must be a Duration.Input (a number of ms, "5 seconds", a Duration…), got ${String(timeout)}`,
    )
  }
  const ms = Duration.toMillis(duration.value)
  if (Number.isNaN(ms) || ms < 0) throw new RangeError(`timeout must be a duration >= 0, got ${String(timeout)}`)
  if (ms === Number.POSITIVE_INFINITY) return NO_DEADLINE
  // max(…, 1): a deadline is never 0, which would mean "none".
  return Math.max(now() + ms, 1)
}

/**
 * One request of operation `method` as an Effect. `submit` calls the Driver's submit method with
 * the completion callback and returns the handle; `onSuccess` turns the raw result into the
 * operation's value. Errors carry the operation's syscall name (@iou/core's operation table).
 */
const request = <A, R = number>(
  driver: DriverLike,
  method: Operations.Method,
  fd: number | undefined,
  submit: (callback: (error: Error | null, result: R) => void) => RequestHandle,
  onSuccess: (result: R) => A,
): Effect.Effect<A, IoUringError> => {
  const syscall = Operations.OPERATIONS[method].syscall
  return Effect.callback<A, IoUringError>((resume) => {
    // settled: the request's callback has fired. release: set by the cleanup when interrupted.
    let settled = false
    let release: (() => void) | undefined
    let handle: RequestHandle
    try {
      handle = submit((error, result) => {
        settled = true
        if (release !== undefined) return release()
        resume(error === null ? Effect.succeed(onSuccess(result)) : Errors.failure(error, syscall, fd, method))
      })
    } catch (error) {
      // Thrown before anything reached the loop: bad arguments (a defect) or a closed Driver.
      resume(Errors.failure(error, syscall, fd, method))
      return
    }
    if (settled) return
    return Effect.callback<void>((resumeCleanup) => {
      if (settled) return resumeCleanup(Effect.void)
      release = () => resumeCleanup(Effect.void)
      try {
        driver.cancel(handle)
      } catch {
        // The request is ending on its own (completed, or the Driver is abandoning it on close):
        // its callback still fires exactly once and releases this cleanup.
      }
    })
  })
}

const toVoid = (): void => undefined
const statsOf = (stats: FileStats | undefined): FileStats => stats!
const identity = (n: number): number => n

/** Runs `f` and turns a synchronous argument error into a defect (the Effect is still lazy). */
const guard = <A>(method: Operations.Method, fd: number | undefined, f: () => Effect.Effect<A, IoUringError>) =>
  Effect.suspend(() => {
    try {
      return f()
    } catch (error) {
      return Errors.failure(error, Operations.OPERATIONS[method].syscall, fd, method)
    }
  })

/** The bytes of one buffer or several (readAt's default length). */
const byteLength = (buffer: Uint8Array | ReadonlyArray<Uint8Array>): number => {
  if (!Array.isArray(buffer)) return (buffer as Uint8Array).byteLength
  let n = 0
  for (const b of buffer as ReadonlyArray<Uint8Array>) n += b instanceof Uint8Array ? b.byteLength : 0
  return n
}

/** A path as text, for walking up its parents (mkdir's recursive). */
const pathText = (path: IoUring.PathLike): string =>
  typeof path === "string" ? path : path instanceof URL ? fileURLToPath(path) : Buffer.from(path).toString()

/**
 * The Driver under a service `make` built, for the platform services' operations that run as one
 * Effect over its callback API (`internal/fsFused.ts`, a connection's send in `internal/socket.ts`).
 * It is a non-enumerable symbol property, so a service wrapped or copied (the latency histograms'
 * wrapper, a test's own service) does not carry it, and the platform services then use the
 * service's operations one by one.
 */
export interface Raw {
  readonly driver: DriverLike
}

const RAW: unique symbol = Symbol("@iou/effect/ring/raw")

/** The Driver under `service`, when `make` built it and nothing wrapped it since. */
export const rawOf = (service: IoUring.IoUring["Service"]): Raw | undefined =>
  (service as { readonly [RAW]?: Raw })[RAW]

/**
 * The connections of a ring that were asked to close and are still finishing their sends (a
 * socket's `requestClose`): each entry cuts its connection off (as a CloseEvent). The layer that
 * opened the ring runs them before it closes the Driver, so that its shutdown drain does not wait
 * on them for a peer that does not read. Carried by the service `make` built and by the latency
 * wrapper (`withLingering`), as a non-enumerable symbol property.
 */
export type Lingering = Set<() => void>

const LINGERING: unique symbol = Symbol("@iou/effect/ring/lingering")

/** The lingering connections of the ring under `service`, when it has a registry. */
export const lingeringOf = (service: IoUring.IoUring["Service"]): Lingering | undefined =>
  (service as { readonly [LINGERING]?: Lingering })[LINGERING]

/** `service` carrying `lingering` (make, and a wrapper of a service that had one). */
export const withLingering = <S extends IoUring.IoUring["Service"]>(
  service: S,
  lingering: Lingering | undefined,
): S => {
  if (lingering !== undefined) Object.defineProperty(service, LINGERING, { value: lingering })
  return service
}

/**
 * The IoUring service over `driver`; `now` is the Driver's monotonic clock in ms; `lingering`, the
 * registry the layer cuts off before it closes the Driver.
 */
export const make = (driver: DriverLike, now: () => number, lingering?: Lingering): IoUring.IoUring["Service"] => {
  const stat = (pathOrFd: IoUring.PathLike | number, options: IoUring.StatOptions | undefined) =>
    request<FileStats, FileStats | undefined>(
      driver,
      "stat",
      typeof pathOrFd === "number" ? pathOrFd : undefined,
      (cb) => driver.submitStat(pathOrFd, options?.followSymlinks ?? true, deadlineOf(options?.timeout, now), cb),
      statsOf,
    )
  const made = service(driver, now, stat)
  Object.defineProperty(made, RAW, { value: { driver } satisfies Raw })
  return withLingering(made, lingering)
}

const service = (
  driver: DriverLike,
  now: () => number,
  stat: (
    pathOrFd: IoUring.PathLike | number,
    options: IoUring.StatOptions | undefined,
  ) => Effect.Effect<FileStats, IoUringError>,
): IoUring.IoUring["Service"] => ({
  // The transfers are the hot path: their arguments are read inside `request`'s submit, which
  // turns a throw (a bad argument or timeout) into the same failure `guard` would, without a
  // second Effect per operation.
  nop: request(driver, "nop", undefined, (cb) => driver.submitNop(NO_DEADLINE, cb), toVoid),
  readAt: (fd, buffer, position, options) =>
    request(
      driver,
      "readAt",
      fd,
      (cb) =>
        driver.submitReadAt(
          fd,
          buffer,
          position,
          options?.length ?? byteLength(buffer),
          options?.exact ?? false,
          deadlineOf(options?.timeout, now),
          cb,
        ),
      identity,
    ),
  writeAt: (fd, data, position, options) =>
    request(
      driver,
      "writeAt",
      fd,
      (cb) => driver.submitWriteAt(fd, data, position, deadlineOf(options?.timeout, now), cb),
      toVoid,
    ),
  send: (fd, data, options) =>
    request(driver, "send", fd, (cb) => driver.submitSend(fd, data, deadlineOf(options?.timeout, now), cb), toVoid),
  recv: (fd, buffer, options) =>
    request(
      driver,
      "recv",
      fd,
      (cb) => {
        const offset = options?.offset ?? 0
        const length = options?.length ?? buffer.byteLength - offset
        return driver.submitRecv(
          fd,
          buffer,
          offset,
          length,
          options?.exact ?? false,
          deadlineOf(options?.timeout, now),
          cb,
        )
      },
      identity,
    ),
  recvMany: (fd, onChunk, options) =>
    Effect.suspend(() => {
      // A throw in onChunk is the caller's defect: the receive is cancelled in the kernel, later
      // chunks are dropped, and the Effect dies with it once the request ended. (Left to the
      // Driver, it would be rethrown as an uncaught exception.)
      let thrown: { readonly error: unknown } | undefined
      let handle: RequestHandle = 0
      const guarded = (chunk: Uint8Array): void => {
        if (thrown !== undefined) return
        try {
          onChunk(chunk)
        } catch (error) {
          thrown = { error }
          driver.cancel(handle)
        }
      }
      // Not a function: passed as it is, for the Driver to refuse.
      const listener = typeof onChunk === "function" ? guarded : onChunk
      const receive = request(
        driver,
        "recvMany",
        fd,
        (cb) => (handle = driver.submitRecvMany(fd, deadlineOf(options?.timeout, now), listener, cb)),
        toVoid,
      )
      return Effect.flatMap(Effect.exit(receive), (exit) => (thrown === undefined ? exit : Effect.die(thrown.error)))
    }),
  sync: (fd, options) =>
    request(
      driver,
      "sync",
      fd,
      (cb) => driver.submitSync(fd, options?.dataOnly ?? false, deadlineOf(options?.timeout, now), cb),
      toVoid,
    ),
  // The sockets the service makes are closed (a Unix listener's path unlinked) if the worker or
  // process ends before their closeFd, from the moment the kernel made them: as Node closes its own.
  listen: (target, options) =>
    guard("listen", undefined, () => {
      const deadline = deadlineOf(options?.timeout, now)
      return request<Listener, Listener | undefined>(
        driver,
        "listen",
        undefined,
        (cb) => driver.openListener(target, deadline, cb, true),
        (listener) => listener!,
      )
    }),
  accept: (listener, options) =>
    guard("accept", typeof listener === "number" ? listener : undefined, () => {
      const fd = typeof listener === "number" ? listener : listener.fd
      const deadline = deadlineOf(options?.timeout, now)
      return request<Connection, Connection | undefined>(
        driver,
        "accept",
        fd,
        (cb) => driver.acceptConnection(fd, deadline, cb, true),
        (connection) => connection!,
      )
    }),
  connect: (target, options) =>
    guard("connect", undefined, () => {
      const deadline = deadlineOf(options?.timeout, now)
      const socketOptions = {
        noDelay: options?.noDelay ?? false,
        keepAlive: options?.keepAlive ?? false,
        closeOnExit: true,
      }
      return request<Connection, Connection | undefined>(
        driver,
        "connect",
        undefined,
        (cb) => driver.openConnection(target, socketOptions, deadline, cb),
        (connection) => connection!,
      )
    }),
  shutdownSocket: (fd, how, options) =>
    guard("shutdownSocket", fd, () => {
      const deadline = deadlineOf(options?.timeout, now)
      return request(driver, "shutdownSocket", fd, (cb) => driver.submitShutdown(fd, how, deadline, cb), toVoid)
    }),
  open: (path, options) =>
    request(
      driver,
      "open",
      undefined,
      (cb) =>
        driver.submitOpen(
          path,
          options?.flags ?? "r",
          options?.mode ?? 0o666,
          deadlineOf(options?.timeout, now),
          cb,
          options?.closeOnExit === true,
        ),
      identity,
    ),
  closeFd: (fd) =>
    // Not interruptible: a close cannot be taken back (the Driver cancels what is pending on fd first).
    Effect.uninterruptible(
      Effect.callback<void, IoUringError>((resume) => {
        try {
          driver.submitCloseFd(fd, (error) =>
            resume(error === null ? Effect.void : Errors.failure(error, "close", fd, "closeFd")),
          )
        } catch (error) {
          resume(Errors.failure(error, "close", fd, "closeFd"))
        }
      }),
    ),
  stat,
  truncate: (fd, length, options) =>
    guard("truncate", fd, () => {
      const deadline = deadlineOf(options?.timeout, now)
      return request(driver, "truncate", fd, (cb) => driver.submitTruncate(fd, length, deadline, cb), toVoid)
    }),
  allocate: (fd, offset, length, options) =>
    guard("allocate", fd, () => {
      const deadline = deadlineOf(options?.timeout, now)
      const keep = options?.keepSize ?? false
      const punch = options?.punchHole ?? false
      return request(
        driver,
        "allocate",
        fd,
        (cb) => driver.submitAllocate(fd, offset, length, keep, punch, deadline, cb),
        toVoid,
      )
    }),
  unlink: (path, options) =>
    guard("unlink", undefined, () => {
      const deadline = deadlineOf(options?.timeout, now)
      const directory = options?.directory ?? false
      return request(driver, "unlink", undefined, (cb) => driver.submitUnlink(path, directory, deadline, cb), toVoid)
    }),
  rename: (from, to, options) =>
    guard("rename", undefined, () => {
      const deadline = deadlineOf(options?.timeout, now)
      const noReplace = options?.noReplace ?? false
      return request(
        driver,
        "rename",
        undefined,
        (cb) => driver.submitRename(from, to, noReplace, deadline, cb),
        toVoid,
      )
    }),
  mkdir: (path, options) =>
    guard("mkdir", undefined, () => {
      const deadline = deadlineOf(options?.timeout, now)
      const mode = options?.mode ?? 0o777
      const one = (dir: IoUring.PathLike) =>
        request(driver, "mkdir", undefined, (cb) => driver.submitMkdir(dir, mode, deadline, cb), toVoid)
      if (options?.recursive !== true) return Effect.as(one(path), undefined)
      const isDirectory = (dir: string) =>
        request<boolean, FileStats | undefined>(
          driver,
          "stat",
          undefined,
          (cb) => driver.submitStat(dir, true, deadline, cb),
          (st) => st!.isDirectory(),
        )
      // As fs.mkdir's recursive: parents first where one is missing (ENOENT), an existing directory
      // is no error, the value is the first directory created (as the path was given) or undefined.
      const existing = (dir: string, error: IoUringError) =>
        Effect.flatMap(isDirectory(dir), (yes) => (yes ? Effect.succeed(undefined) : Effect.fail(error)))
      const make = (dir: string): Effect.Effect<string | undefined, IoUringError> =>
        Effect.catch(Effect.as(one(dir), dir as string | undefined), (error) => {
          if (error.code === "EEXIST") return existing(dir, error)
          const parent = dirname(dir)
          if (error.code !== "ENOENT" || parent === dir) return Effect.fail(error)
          return Effect.flatMap(make(parent), (first) =>
            Effect.as(
              Effect.catch(one(dir), (again) => (again.code === "EEXIST" ? existing(dir, again) : Effect.fail(again))),
              first ?? dir,
            ),
          )
        })
      return make(pathText(path))
    }),
  symlink: (target, path, options) =>
    guard("symlink", undefined, () => {
      const deadline = deadlineOf(options?.timeout, now)
      return request(driver, "symlink", undefined, (cb) => driver.submitSymlink(target, path, deadline, cb), toVoid)
    }),
  link: (existing, path, options) =>
    guard("link", undefined, () => {
      const deadline = deadlineOf(options?.timeout, now)
      return request(driver, "link", undefined, (cb) => driver.submitLink(existing, path, deadline, cb), toVoid)
    }),
  stats: Effect.sync(() => driver.stats()),
})
