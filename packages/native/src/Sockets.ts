/**
 * The socket requests made of several steps (their targets planned by SocketTargets.ts): listen
 * (socket, setsockopt, bind, listen, getsockname), connect (dns.lookup for a host name, then
 * socket and connect per address, setsockopt, getsockname and getpeername) and accept (accept,
 * getsockname and getpeername). The ring steps are the Driver's own requests (its submit*
 * methods, so the fallbacks of socket, bind and listen on older kernels apply); the other steps
 * never block and are made synchronously through the binding (binding/socket.cc).
 *
 * Each request is one `Composite`: one callback, called exactly once, and one handle (negative, so
 * it never names a slot of the pending table) that the Driver's `cancel` accepts. Cancelling
 * cancels the ring step in flight, or ends a host name lookup at once (its answer is ignored). The
 * deadline is the same absolute deadline for every ring step, and a timer for the lookup.
 *
 * fd ownership: an fd made on the way (the socket of listen and connect) is the request's until it
 * is handed over in the result; if any later step fails, times out or is cancelled, it is closed
 * here. An fd handed to the callback is the caller's. (An fd a ring step makes after its cancel
 * was requested never reaches this file: Delivery.ts.) With `closeOnExit`, each socket is marked to
 * be closed if the thread ends (Requests.closeOnExit) from the moment the kernel made it, a Unix
 * listener's path from before its bind is sent (unlinked then only if the socket is bound); a
 * socket closed here is unmarked first. A Unix socket file a
 * listen's bind made is the request's too: a listen that fails, times out or is cancelled after its
 * bind unlinks it (as node:net's server does when its listen fails), so a retry can bind the path.
 * Once the listener is handed over, its file goes with it: closeFd of the listener unlinks it
 * (onClose), as node:net's server.close() does, if the path still names that file.
 */
import { Sockaddr } from "@iou/core"
import { lookup } from "node:dns"
import { lstatSync, unlinkSync } from "node:fs"
import { constants as os } from "node:os"
import { resolve } from "node:path"
import type { NativeSockets } from "./binding.ts"
import * as Clock from "./Clock.ts"
import * as Errors from "./IoUringError.ts"
import { compositeHandle } from "./PendingTable.ts"
import type * as T from "./types.ts"
import { atEndpoint, type Endpoint, type Endpoints, endpointOf, type ListenPlan, placeOf } from "./SocketTargets.ts"

/** The Driver's ring steps and cancel, as this file uses them. */
export interface Ring {
  submitSocket(domain: number, type: number, protocol: number, deadline: number, callback: T.Callback): number
  submitConnect(fd: number, address: Uint8Array, deadline: number, callback: T.Callback): number
  submitAccept(fd: number, deadline: number, callback: T.Callback): number
  submitBind(fd: number, address: Uint8Array, deadline: number, callback: T.Callback): number
  submitListen(fd: number, backlog: number, deadline: number, callback: T.Callback): number
  cancel(handle: number): boolean
}

/** One request of several steps: see the module comment. */
class Composite<A> {
  readonly handle = compositeHandle()
  /** The ring step in flight (its handle), 0 for none. */
  step = 0
  cancelled = false
  ended = false
  timer: ReturnType<typeof setTimeout> | undefined = undefined
  /** fds made on the way, closed if the request does not end with them handed over. */
  readonly owned: Array<number> = []
  /** The socket file a listen's bind made (absolute), unlinked if the request does not end with it. */
  boundPath: string | undefined = undefined
  /** The name its AbortError carries: "listen", "connect" or "accept". */
  readonly syscall: "listen" | "connect" | "accept"
  /** The endpoint being tried (listen, connect), which its errors carry; accept: the listener's fd. */
  place: Errors.Place = {}
  /** Its sockets are marked to be closed on exit from the moment they exist. */
  closeOnExit = false
  fd: number | undefined = undefined
  private readonly callback: T.ResultCallback<A>
  private readonly registry: Map<number, Composite<unknown>>
  private readonly closeFd: (fd: number) => void

  constructor(
    syscall: "listen" | "connect" | "accept",
    callback: T.ResultCallback<A>,
    registry: Map<number, Composite<unknown>>,
    closeFd: (fd: number) => void,
  ) {
    this.syscall = syscall
    this.callback = callback
    this.registry = registry
    this.closeFd = closeFd
    registry.set(this.handle, this as Composite<unknown>)
  }

  end(error: Error | null, result?: A): void {
    if (this.ended) return
    this.ended = true
    this.registry.delete(this.handle)
    if (this.timer !== undefined) clearTimeout(this.timer)
    if (error !== null) {
      for (const fd of this.owned.splice(0)) this.closeFd(fd)
      this.unlinkBound()
    }
    this.callback(error, error === null ? result : undefined)
  }

  /** Unlinks the socket file its bind made, once: the request did not end with its listener. */
  unlinkBound(): void {
    if (this.boundPath === undefined) return
    unlinkQuietly(this.boundPath)
    this.boundPath = undefined
  }

  /** Ends it as cancelled (cancel() was asked), with the endpoint being tried. */
  endCancelled(): void {
    this.end(Errors.abortError(this.syscall, this.fd, undefined, this.place))
  }
}

/** Removes a socket file the request made (already gone, or not ours to remove any more: nothing to do). */
const unlinkQuietly = (path: string): void => {
  try {
    unlinkSync(path)
  } catch {
    // gone already
  }
}

/** Which file a path names: its device and inode. */
export interface FileIdentity {
  readonly dev: bigint
  readonly ino: bigint
}

/** The device and inode of the file at `path`, or undefined (gone, or not to be looked at: EACCES…). */
const identityOf = (path: string): FileIdentity | undefined => {
  try {
    return lstatSync(path, { bigint: true, throwIfNoEntry: false })
  } catch {
    return undefined
  }
}

/** Whether `file.path` still names the socket file listen made (the same device and inode). */
const sameFile = (file: ListenerFile): boolean => {
  const now = identityOf(file.path)
  return now !== undefined && now.dev === file.dev && now.ino === file.ino
}

const name = (fd: number, get: (fd: number) => Uint8Array | number): T.SocketAddress | number => {
  const bytes = get(fd)
  return typeof bytes === "number" ? bytes : Sockaddr.decode(bytes)
}

/**
 * A Unix listener's socket file as listen handed it over: its absolute path, its identity, and the
 * listener's name as getsockname gives it (the path as bound).
 */
interface ListenerFile extends FileIdentity {
  readonly path: string
  readonly boundName: string
}

/** The socket requests of one Driver: see the module comment. */
export class Sockets {
  private readonly ring: Ring
  private readonly native: () => NativeSockets
  private readonly composites = new Map<number, Composite<unknown>>()
  /** The Unix listeners listen handed over, by fd: the socket file closeFd unlinks (onClose). */
  private readonly listenerFiles = new Map<number, ListenerFile>()
  /** Requests.closeOnExit: marks or unmarks an fd to be closed if the thread ends first. */
  private readonly mark: (fd: number, enabled: boolean, path?: string, identity?: FileIdentity) => void
  /** Requests.closeUnmarked: close(2) of an fd, unmarked in the same native call. */
  private readonly closeFdFn: (fd: number) => void

  /** PendingTable.markFdOf: the fd the request `handle` makes is marked as the Driver takes it from its completion. */
  private readonly markFdOf: (handle: number) => void

  constructor(
    ring: Ring,
    native: () => NativeSockets,
    mark: (fd: number, enabled: boolean, path?: string, identity?: FileIdentity) => void,
    markFdOf: (handle: number) => void,
    closeFd: (fd: number) => void,
  ) {
    this.ring = ring
    this.native = native
    this.mark = mark
    this.markFdOf = markFdOf
    this.closeFdFn = closeFd
  }

  /**
   * closeFd of `fd` starts: for a Unix listener listen handed over as `fd`, `callback` wrapped to
   * unlink its socket file once the close succeeded, as node:net's server.close() does, unless the
   * path names another file by then (removed and made again by someone else); else `callback`.
   * The listener is forgotten either way. A number closed some other way and reused is no longer
   * that listener, and its close unlinks nothing: the fd must still be a listening socket
   * (SO_ACCEPTCONN; a connection accepted on the path's listener has its name too) bound to that
   * name (getsockname).
   */
  onClose(fd: number, callback: T.Callback): T.Callback {
    const file = this.listenerFiles.size === 0 ? undefined : this.listenerFiles.get(fd)
    if (file === undefined) return callback
    this.listenerFiles.delete(fd)
    const native = this.native()
    if (native.getsockopt(fd, native.constants["SOL_SOCKET"]!, native.constants["SO_ACCEPTCONN"]!) <= 0) return callback
    const local = name(fd, native.getsockname)
    if (typeof local === "number" || !("path" in local) || local.path !== file.boundName) return callback
    return (error, result) => {
      if (error === null && sameFile(file)) unlinkQuietly(file.path)
      callback(error, result)
    }
  }

  /** Closes an fd the Driver made and nobody wants (close(2); errors are of no use to anyone here). */
  closeFd(fd: number): void {
    this.closeFdFn(fd)
  }

  /** An accepted fd with both its addresses, or the error of getsockname / getpeername. */
  describe(fd: number): T.Connection | Error {
    return this.connection(fd)
  }

  /** Cancels the composite request `handle`; false for one that already ended or an unknown handle. */
  cancel(handle: number): boolean {
    const c = this.composites.get(handle)
    if (c === undefined || c.ended || c.cancelled) return false
    c.cancelled = true
    // A ring step in flight is cancelled in the kernel, and its callback ends the request once the
    // kernel let go (whatever the step's outcome: see step()); with none (a lookup, or between
    // steps) the request ends in a microtask, as any cancelled request: never inside cancel().
    if (c.step !== 0) this.ring.cancel(c.step)
    else queueMicrotask(() => c.endCancelled())
    return true
  }

  listen(plan: ListenPlan, deadline: number, callback: T.ResultCallback<T.Listener>, closeOnExit: boolean): number {
    const c = new Composite("listen", callback, this.composites, this.closeFdFn)
    c.closeOnExit = closeOnExit
    const start = (endpoints: ReadonlyArray<Endpoint>): void => {
      let i = 0
      const attempt = (): void => {
        const e = endpoints[i++]!
        c.place = placeOf(e)
        this.socket(
          c,
          e.domain,
          deadline,
          (fd) => {
            const k = this.native().constants
            const fail = this.options(fd, c.place, [
              [e.domain !== Sockaddr.AF_UNIX, k["SOL_SOCKET"]!, k["SO_REUSEADDR"]!, 1],
              [plan.reusePort, k["SOL_SOCKET"]!, k["SO_REUSEPORT"]!, 1],
              [plan.noDelay, k["IPPROTO_TCP"]!, k["TCP_NODELAY"]!, 1],
              [plan.keepAlive, k["SOL_SOCKET"]!, k["SO_KEEPALIVE"]!, 1],
              [e.dualStack, k["IPPROTO_IPV6"]!, k["IPV6_V6ONLY"]!, 0],
              [plan.ipv6Only && e.domain === Sockaddr.AF_INET6, k["IPPROTO_IPV6"]!, k["IPV6_V6ONLY"]!, 1],
            ])
            if (fail !== null) return c.end(fail)
            // A Unix socket's file (not an abstract name's), by its absolute path (the process's
            // working directory may change meanwhile): once the bind made it, the request's until
            // it ends with the listener, and unlinked on exit too (closeOnExit).
            const bound = Sockaddr.decode(e.sockaddr)
            const file = "path" in bound && !bound.path.startsWith("\0") ? resolve(bound.path) : undefined
            // Marked with the file before the bind is sent: a thread that ends once the kernel
            // made it, before its completion reached JavaScript, unlinks it too. The binding
            // unlinks it only if the socket is bound then, so a failed bind leaves another's file.
            if (c.closeOnExit && file !== undefined) this.mark(fd, true, file)
            this.step(
              c,
              false,
              (cb) => this.ring.submitBind(fd, e.sockaddr, deadline, cb),
              (error) => {
                // The default host: `::` where IPv6 works, else 0.0.0.0 (as node:net).
                const errno = (error as { errno?: number } | null)?.errno
                if (
                  error !== null &&
                  i < endpoints.length &&
                  (errno === -os.errno.EADDRNOTAVAIL || errno === -os.errno.EAFNOSUPPORT)
                ) {
                  this.release(c, fd)
                  return attempt()
                }
                if (error !== null) return c.end(atEndpoint(error, e))
                this.step(
                  c,
                  false,
                  (cb) => this.ring.submitListen(fd, plan.backlog, deadline, cb),
                  (error) => {
                    if (error !== null) return c.end(atEndpoint(error, e))
                    const local = name(fd, this.native().getsockname)
                    if (typeof local === "number") {
                      return c.end(Errors.errnoError(local, "getsockname", undefined, c.place))
                    }
                    c.owned.length = 0
                    if (c.boundPath !== undefined && "path" in local) {
                      this.handOverFile(fd, c.boundPath, local.path, c.closeOnExit)
                    }
                    c.end(null, { fd, localAddress: local })
                  },
                )
              },
              file === undefined
                ? undefined
                : () => {
                    c.boundPath = file
                  },
            )
          },
          (error) => {
            const errno = (error as { errno?: number }).errno
            if (i < endpoints.length && errno === -os.errno.EAFNOSUPPORT) return attempt()
            c.end(atEndpoint(error, e))
          },
        )
      }
      attempt()
    }
    if (Array.isArray(plan.endpoints)) start(plan.endpoints)
    else {
      const { host, port } = plan.endpoints as { host: string; port: number }
      this.lookup(c, host, port, deadline, (endpoints) => start(endpoints.slice(0, 1)))
    }
    return c.handle
  }

  connect(
    plan: Endpoints,
    options: { noDelay: boolean; keepAlive: boolean; closeOnExit: boolean },
    deadline: number,
    callback: T.ResultCallback<T.Connection>,
  ): number {
    const c = new Composite("connect", callback, this.composites, this.closeFdFn)
    c.closeOnExit = options.closeOnExit
    const start = (endpoints: ReadonlyArray<Endpoint>): void => {
      let i = 0
      let last: Error | null = null
      const attempt = (): void => {
        if (i === endpoints.length) return c.end(last)
        const e = endpoints[i++]!
        c.place = placeOf(e)
        this.socket(
          c,
          e.domain,
          deadline,
          (fd) => {
            this.step(
              c,
              false,
              (cb) => this.ring.submitConnect(fd, e.sockaddr, deadline, cb),
              (error) => {
                if (error !== null) {
                  const reason = error instanceof Errors.IoUringError ? error.reason : undefined
                  // The kernel's refusal (an errno) tries the next address; anything else (a
                  // deadline, a cancel, the Driver closing or abandoning it) ends the request.
                  if (reason !== "SystemError") return c.end(atEndpoint(error, e))
                  last = atEndpoint(error, e)
                  this.release(c, fd)
                  return attempt()
                }
                const k = this.native().constants
                const tcp = e.domain !== Sockaddr.AF_UNIX
                const fail = this.options(fd, c.place, [
                  [tcp && options.noDelay, k["IPPROTO_TCP"]!, k["TCP_NODELAY"]!, 1],
                  [tcp && options.keepAlive, k["SOL_SOCKET"]!, k["SO_KEEPALIVE"]!, 1],
                ])
                if (fail !== null) return c.end(fail)
                const connection = this.connection(fd, c.place)
                if (connection instanceof Error) return c.end(connection)
                c.owned.length = 0
                c.end(null, connection)
              },
            )
          },
          (error) => c.end(atEndpoint(error, e)),
        )
      }
      attempt()
    }
    if (Array.isArray(plan)) start(plan)
    else {
      const { host, port } = plan as { host: string; port: number }
      this.lookup(c, host, port, deadline, start)
    }
    return c.handle
  }

  accept(listenerFd: number, deadline: number, callback: T.ResultCallback<T.Connection>, closeOnExit: boolean): number {
    const c = new Composite("accept", callback, this.composites, this.closeFdFn)
    c.fd = listenerFd
    c.closeOnExit = closeOnExit
    const attempt = (): void => {
      this.step(
        c,
        true,
        (cb) => this.ring.submitAccept(listenerFd, deadline, cb),
        (error, fd) => {
          if (error !== null) return c.end(error)
          this.own(c, fd)
          const connection = this.connection(fd)
          if (connection instanceof Error) {
            // The peer went away between the kernel's accept and getpeername (ENOTCONN): nobody can
            // use that connection; it is closed and the next one is accepted instead.
            this.release(c, fd)
            return attempt()
          }
          c.owned.length = 0
          c.end(null, connection)
        },
      )
    }
    attempt()
    return c.handle
  }

  /** The socket step: a new fd owned by `c`, or `onError`. */
  private socket<A>(
    c: Composite<A>,
    domain: number,
    deadline: number,
    next: (fd: number) => void,
    onError: (error: Error) => void,
  ): void {
    const type = this.native().constants["SOCK_STREAM"]!
    this.step(
      c,
      true,
      (cb) => this.ring.submitSocket(domain, type, 0, deadline, cb),
      (error, fd) => {
        if (error !== null) return onError(error)
        this.own(c, fd)
        next(fd)
      },
    )
  }

  /**
   * One ring step of `c`: its handle is what a cancel of `c` cancels until it completes. A step
   * whose answer arrives after `c` ended (cancelled meanwhile) goes no further; an fd it made
   * (`producesFd`) is closed, and a file its success made is unlinked (`made` records a bind's
   * socket file in `c` first, whether or not the request goes on).
   */
  private step<A>(
    c: Composite<A>,
    producesFd: boolean,
    submit: (callback: T.Callback) => number,
    next: (error: Error | null, result: number) => void,
    made?: () => void,
  ): void {
    // Cancelled between steps: its end is on the way (cancel()'s microtask); nothing more starts.
    if (c.ended || c.cancelled) return
    let done = false
    let handle = 0
    try {
      handle = submit((error, result) => {
        done = true
        c.step = 0
        if (error === null && made !== undefined) made()
        if (c.ended) {
          if (error === null && producesFd) this.closeFdFn(result)
          c.unlinkBound()
          return
        }
        if (c.cancelled) {
          // The cancel came after the kernel had completed the step: the request goes no further.
          if (error === null && producesFd) c.owned.push(result)
          return c.endCancelled()
        }
        next(error, result)
      })
    } catch (error) {
      return c.end(error as Error)
    }
    if (done) return
    c.step = handle
    // closeOnExit: the fd is marked as the Driver takes it from the completion, with no JavaScript
    // in between that a thread's end could stop (own() below marks it again, a no-op).
    if (producesFd && c.closeOnExit) this.markFdOf(handle)
  }

  /**
   * Sets each option whose condition holds on the request's own socket `fd`; the first failure as
   * an error (syscall setsockopt) at `place`, the endpoint (the socket is closed when the caller
   * sees it), or null.
   */
  private options(
    fd: number,
    place: Errors.Place,
    list: ReadonlyArray<readonly [boolean, number, number, number]>,
  ): Error | null {
    for (const [on, level, option, value] of list) {
      if (!on) continue
      const rc = this.native().setsockopt(fd, level, option, value)
      if (rc < 0) return Errors.errnoError(rc, "setsockopt", undefined, place)
    }
    return null
  }

  /**
   * The fd and both its addresses, or the error of getsockname / getpeername: at `place` for a
   * socket the request made (closed when the caller sees the error), else at the fd.
   */
  private connection(fd: number, place?: Errors.Place): T.Connection | Error {
    const at = place === undefined ? fd : undefined
    const local = name(fd, this.native().getsockname)
    if (typeof local === "number") return Errors.errnoError(local, "getsockname", at, place)
    const remote = name(fd, this.native().getpeername)
    if (typeof remote === "number") return Errors.errnoError(remote, "getpeername", at, place)
    return { fd, localAddress: local, remoteAddress: remote }
  }

  /** `fd`, just made by the kernel, is `c`'s (and marked at once when `c` asks for closeOnExit). */
  private own<A>(c: Composite<A>, fd: number): void {
    c.owned.push(fd)
    if (c.closeOnExit) this.mark(fd, true)
  }

  /**
   * The listener `fd` (bound as `boundName`) goes to its caller with its socket file at `path`,
   * which its closeFd unlinks; a listener marked to be closed on exit (`marked`) is marked again
   * with the file's identity, so that the thread's end too leaves a file made anew at the path.
   */
  private handOverFile(fd: number, path: string, boundName: string, marked: boolean): void {
    const made = identityOf(path)
    if (made === undefined) return
    this.listenerFiles.set(fd, { path, dev: made.dev, ino: made.ino, boundName })
    if (marked) this.mark(fd, true, path, made)
  }

  /** Closes an fd `c` made and gives up its ownership (a failed attempt). */
  private release<A>(c: Composite<A>, fd: number): void {
    const at = c.owned.indexOf(fd)
    if (at >= 0) c.owned.splice(at, 1)
    this.closeFdFn(fd)
  }

  /**
   * dns.lookup of `host` (every address, in the resolver's order), under the request's deadline (a
   * timer) and cancel (ends it at once; the resolver's late answer is ignored).
   */
  private lookup<A>(
    c: Composite<A>,
    host: string,
    port: number,
    deadline: number,
    next: (endpoints: ReadonlyArray<Endpoint>) => void,
  ): void {
    c.place = { address: host, port }
    if (deadline !== 0) {
      // setTimeout's range is about 24.8 days: a later deadline waits that long, then again.
      const arm = (): void => {
        c.timer = setTimeout(() => {
          if (Clock.now() < deadline) return arm()
          c.end(Errors.timeoutError("getaddrinfo", undefined, { address: host, port }))
        }, Clock.delayUntil(deadline))
      }
      arm()
    }
    lookup(host, { all: true }, (error, addresses) => {
      if (c.ended || c.cancelled) return
      if (c.timer !== undefined) clearTimeout(c.timer)
      c.timer = undefined
      if (error !== null) return c.end(Errors.lookupError(error, host, port))
      const endpoints: Array<Endpoint> = []
      for (const a of addresses) {
        const ip = Sockaddr.parseIp(a.address)
        if (ip !== undefined) endpoints.push(endpointOf(ip, port))
      }
      if (endpoints.length === 0)
        return c.end(Errors.lookupError(Object.assign(new Error("no address"), { code: "ENOTFOUND" }), host, port))
      next(endpoints)
    })
  }
}
