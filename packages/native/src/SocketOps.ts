/**
 * The socket operations: the ring's single steps (socket, bind, listen, accept, connect, shutdown,
 * and the multishot acceptMany) and the requests made of several steps (listen, connect and accept
 * with addresses: SocketTargets.ts plans them, Sockets.ts runs them), in their Promise and callback forms. A step the kernel
 * lacks an opcode for (socket, bind, listen before Linux 6.11) is the syscall itself, which does
 * not block. Each validates its arguments in the public method's parameter order and fills a slot
 * through Requests; Driver.ts documents them.
 */
import { binding } from "./binding.ts"
import * as Errors from "./IoUringError.ts"
import { Many } from "./Many.ts"
import { OPERATIONS } from "./Operations.ts"
import * as Pending from "./PendingTable.ts"
import type { Requests } from "./Requests.ts"
import * as SocketTargets from "./SocketTargets.ts"
import type * as T from "./types.ts"
import * as Validate from "./Validate.ts"

/** `listener`: an fd, or the object listen resolved with. */
const listenerFd = (listener: number | { readonly fd: number }): number =>
  Validate.fd(typeof listener === "object" && listener !== null ? listener.fd : listener)

// ---- Promise forms ---------------------------------------------------------------------------------

export const acceptMany = (
  r: Requests,
  listener: number | { readonly fd: number },
  options: T.AcceptManyOptions | undefined,
): Many<T.Connection> => {
  const fd = listenerFd(listener)
  const o = Validate.options(options)
  const deadline = Validate.deadlineOf(o.timeout)
  const signal = Validate.signal(o.signal)
  const closeOnExit = Validate.optionalBoolean(o.closeOnExit, "closeOnExit")
  return new Many<T.Connection>(
    {
      start: (connection, end) => {
        const handle = submitAcceptMany(r, fd, deadline, connection, end)
        // Each connection marked as the Driver takes it from its completion, before it waits for
        // the iterator (a discarded one is unmarked and closed).
        if (closeOnExit === true) r.table.markFdOf(handle)
        return handle
      },
      cancel: (handle) => r.cancel(handle),
      aborted: (reason) => Errors.abortError("accept", fd, reason),
      discard: (connection) => r.refuseConnection(connection.fd),
    },
    signal,
  )
}

export const listen = (
  r: Requests,
  target: T.ListenTarget,
  options: T.SocketOptions | undefined,
): Promise<T.Listener> => {
  const plan = SocketTargets.listenPlan(target)
  const o = Validate.options(options)
  const deadline = Validate.deadlineOf(o.timeout)
  const signal = Validate.signal(o.signal)
  const closeOnExit = Validate.optionalBoolean(o.closeOnExit, "closeOnExit")
  return composite(r, "listen", signal, SocketTargets.firstPlace(plan.endpoints), (cb) =>
    r.sockets.listen(plan, deadline, cb, closeOnExit),
  )
}

export const accept = (
  r: Requests,
  listener: number | { readonly fd: number },
  options: T.SocketOptions | undefined,
): Promise<T.Connection> => {
  const fd = listenerFd(listener)
  const o = Validate.options(options)
  const deadline = Validate.deadlineOf(o.timeout)
  const signal = Validate.signal(o.signal)
  const closeOnExit = Validate.optionalBoolean(o.closeOnExit, "closeOnExit")
  return composite(r, "accept", signal, undefined, (cb) => r.sockets.accept(fd, deadline, cb, closeOnExit))
}

export const connect = (
  r: Requests,
  target: T.ConnectTarget,
  options: T.ConnectOptions | undefined,
): Promise<T.Connection> => {
  const plan = SocketTargets.connectPlan(target)
  const o = Validate.options(options)
  const noDelay = Validate.optionalBoolean(o.noDelay, "noDelay")
  const keepAlive = Validate.optionalBoolean(o.keepAlive, "keepAlive")
  const closeOnExit = Validate.optionalBoolean(o.closeOnExit, "closeOnExit")
  const deadline = Validate.deadlineOf(o.timeout)
  const signal = Validate.signal(o.signal)
  return composite(r, "connect", signal, SocketTargets.firstPlace(plan), (cb) =>
    r.sockets.connect(plan, { noDelay, keepAlive, closeOnExit }, deadline, cb),
  )
}

export const shutdownSocket = (
  r: Requests,
  fd: number,
  how: T.ShutdownHow,
  options: T.WriteOptions | undefined,
): Promise<void> => {
  Validate.fd(fd)
  const arg = shutdownHow(how)
  const o = Validate.options(options)
  const deadline = Validate.deadlineOf(o.timeout)
  const signal = Validate.signal(o.signal)
  const slot = r.fill(OPERATIONS.shutdownSocket.op, 0, fd, undefined, 0, 0, 0, deadline)
  r.table.setArgs(slot, arg, 0, 0)
  return r.promise(slot, signal, Pending.KIND_PROMISE_VOID)
}

// ---- Callback forms: the ring's steps --------------------------------------------------------------

export const submitSocket = (
  r: Requests,
  domain: number,
  type: number,
  protocol: number,
  deadline: number,
  callback: T.Callback,
): T.RequestHandle => {
  Validate.integer(domain, "domain", 0, 0x7fffffff)
  Validate.integer(type, "type", 0, 0x7fffffff)
  Validate.integer(protocol, "protocol", 0, 0x7fffffff)
  const d = Validate.deadline(deadline)
  Validate.callback(callback)
  const cloexec = type | binding.sockets.constants["SOCK_CLOEXEC"]!
  if (r.fallbacks.has("OP_SOCKET")) {
    return r.synchronously(OPERATIONS.socket.op, undefined, callback, () =>
      binding.sockets.socket(domain, cloexec, protocol),
    )
  }
  const slot = r.fill(OPERATIONS.socket.op, 0, -1, undefined, 0, 0, 0, d)
  r.table.setArgs(slot, domain, cloexec, protocol)
  return r.callback(slot, callback)
}

export const submitAccept = (r: Requests, fd: number, deadline: number, callback: T.Callback): T.RequestHandle => {
  Validate.fd(fd)
  const d = Validate.deadline(deadline)
  Validate.callback(callback)
  const slot = r.fill(OPERATIONS.accept.op, 0, fd, undefined, 0, 0, 0, d)
  r.table.setArgs(slot, binding.sockets.constants["SOCK_CLOEXEC"]!, 0, 0)
  return r.callback(slot, callback)
}

export const submitShutdown = (
  r: Requests,
  fd: number,
  how: T.ShutdownHow,
  deadline: number,
  callback: T.Callback,
): T.RequestHandle => {
  Validate.fd(fd)
  const arg = shutdownHow(how)
  const d = Validate.deadline(deadline)
  Validate.callback(callback)
  const slot = r.fill(OPERATIONS.shutdownSocket.op, 0, fd, undefined, 0, 0, 0, d)
  r.table.setArgs(slot, arg, 0, 0)
  return r.callback(slot, callback)
}

export const submitBind = (
  r: Requests,
  fd: number,
  address: Uint8Array,
  deadline: number,
  callback: T.Callback,
): T.RequestHandle => {
  if (r.fallbacks.has("OP_BIND")) {
    Validate.fd(fd)
    Validate.buffer(address, "address")
    Validate.deadline(deadline)
    Validate.callback(callback)
    return r.synchronously(OPERATIONS.bind.op, fd, callback, () => binding.sockets.bind(fd, address))
  }
  return submitAddress(r, OPERATIONS.bind.op, fd, address, deadline, callback)
}

export const submitListen = (
  r: Requests,
  fd: number,
  backlog: number,
  deadline: number,
  callback: T.Callback,
): T.RequestHandle => {
  Validate.fd(fd)
  Validate.integer(backlog, "backlog", 0, 0x7fffffff)
  const d = Validate.deadline(deadline)
  Validate.callback(callback)
  if (r.fallbacks.has("OP_LISTEN")) {
    return r.synchronously(OPERATIONS.listen.op, fd, callback, () => binding.sockets.listen(fd, backlog))
  }
  const slot = r.fill(OPERATIONS.listen.op, 0, fd, undefined, 0, 0, 0, d)
  r.table.setArgs(slot, backlog, 0, 0)
  return r.callback(slot, callback)
}

/** submitConnect and submitBind: fd and the sockaddr's bytes (IOU_MEMORY_ARGS). */
export const submitAddress = (
  r: Requests,
  op: typeof OPERATIONS.connect.op | typeof OPERATIONS.bind.op,
  fd: number,
  address: Uint8Array,
  deadline: number,
  callback: T.Callback,
): T.RequestHandle => {
  Validate.fd(fd)
  Validate.buffer(address, "address")
  if (Validate.lengthOf(address) < 2)
    throw Validate.rangeError("address must hold a sockaddr (at least its 2-byte family)")
  const d = Validate.deadline(deadline)
  Validate.callback(callback)
  return r.callback(r.fill(op, 0, fd, address, 0, 0, 0, d), callback)
}

export const submitAcceptMany = (
  r: Requests,
  fd: number,
  deadline: number,
  onConnection: (connection: T.Connection) => void,
  callback: T.Callback,
): T.RequestHandle => {
  Validate.fd(fd)
  const d = Validate.deadline(deadline)
  Validate.listener(onConnection, "onConnection")
  Validate.callback(callback)
  const slot = r.fill(OPERATIONS.acceptMany.op, 0, fd, undefined, 0, 0, 0, d)
  r.table.setArgs(slot, binding.sockets.constants["SOCK_CLOEXEC"]!, 0, 0)
  r.table.onFd[slot] = (accepted) => {
    const connection = r.sockets.describe(accepted)
    // The peer went away between the kernel's accept and getpeername: nobody can use it.
    if (connection instanceof Error) return r.refuseConnection(accepted)
    onConnection(connection)
  }
  return r.callback(slot, callback)
}

// ---- Callback forms: the requests of several steps -------------------------------------------------

export const openListener = (
  r: Requests,
  target: T.ListenTarget,
  deadline: number,
  callback: T.ResultCallback<T.Listener>,
  closeOnExit: boolean | undefined,
): T.RequestHandle => {
  const plan = SocketTargets.listenPlan(target)
  const d = Validate.deadline(deadline)
  Validate.callback(callback)
  return r.sockets.listen(plan, d, callback, Validate.optionalBoolean(closeOnExit, "closeOnExit"))
}

export const openConnection = (
  r: Requests,
  target: T.ConnectTarget,
  options: Pick<T.ConnectOptions, "noDelay" | "keepAlive" | "closeOnExit">,
  deadline: number,
  callback: T.ResultCallback<T.Connection>,
): T.RequestHandle => {
  const plan = SocketTargets.connectPlan(target)
  const o = Validate.options(options)
  const noDelay = Validate.optionalBoolean(o.noDelay, "noDelay")
  const keepAlive = Validate.optionalBoolean(o.keepAlive, "keepAlive")
  const closeOnExit = Validate.optionalBoolean(o.closeOnExit, "closeOnExit")
  const d = Validate.deadline(deadline)
  Validate.callback(callback)
  return r.sockets.connect(plan, { noDelay, keepAlive, closeOnExit }, d, callback)
}

export const acceptConnection = (
  r: Requests,
  listener: number,
  deadline: number,
  callback: T.ResultCallback<T.Connection>,
  closeOnExit: boolean | undefined,
): T.RequestHandle => {
  Validate.fd(listener)
  const d = Validate.deadline(deadline)
  Validate.callback(callback)
  return r.sockets.accept(listener, d, callback, Validate.optionalBoolean(closeOnExit, "closeOnExit"))
}

const shutdownHow = (how: unknown): number => {
  const k = binding.sockets.constants
  if (how === "read") return k["SHUT_RD"]!
  if (how === "write") return k["SHUT_WR"]!
  if (how === "both") return k["SHUT_RDWR"]!
  const error = new TypeError(`how must be "read", "write" or "both", got ${String(how)}`)
  ;(error as TypeError & { code: string }).code = "ERR_INVALID_ARG_VALUE"
  throw error
}

/**
 * A Promise for a request made of several steps (Sockets.ts): refused at once on a closing Driver
 * or an aborted signal; the signal cancels it (the AbortError carries the signal's reason).
 */
const composite = <A>(
  r: Requests,
  syscall: "listen" | "connect" | "accept",
  signal: AbortSignal | undefined,
  place: Errors.Place | undefined,
  start: (callback: T.ResultCallback<A>) => T.RequestHandle,
): Promise<A> => {
  if (r.shutdown.closing) return Promise.reject(Errors.closedError(syscall, undefined))
  if (Validate.aborted(signal))
    return Promise.reject(Errors.abortError(syscall, undefined, Validate.abortReason(signal), place))
  let onAbort: (() => void) | undefined
  let handle: T.RequestHandle = 0
  // Added first, outside the Promise: a signal that refuses it throws, as every bad argument does,
  // before anything starts.
  if (signal !== undefined) {
    onAbort = () => {
      r.cancel(handle)
    }
    Validate.addAbortListener(signal, onAbort)
  }
  return new Promise<A>((resolve, reject) => {
    try {
      handle = start((error, result) => {
        if (onAbort !== undefined) Validate.removeAbortListener(signal!, onAbort)
        if (error === null) return resolve(result!)
        const reason = Validate.abortReason(signal)
        if (error instanceof Errors.IoUringError && error.reason === "Cancelled" && reason !== undefined) {
          const place = { address: error.address, port: error.port }
          return reject(Errors.abortError(error.syscall ?? syscall, error.fd, reason, place))
        }
        reject(error)
      })
    } catch (error) {
      if (onAbort !== undefined) Validate.removeAbortListener(signal!, onAbort)
      reject(error)
    }
  })
}
