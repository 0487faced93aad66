/**
 * The operations that move data (and nop, sync): nop, readAt, writeAt, send, recv, sync and the
 * multishot recvMany, in their Promise and callback forms. Each validates its arguments in the
 * public method's parameter order (a TypeError/RangeError before anything changes) and fills a
 * slot through Requests; Driver.ts documents them.
 */
import { IOU_FLAG_DATA_ONLY, IOU_FLAG_EXACT } from "./binding.ts"
import * as Errors from "./IoUringError.ts"
import { Many } from "./Many.ts"
import { OPERATIONS } from "./Operations.ts"
import * as Pending from "./PendingTable.ts"
import type { Requests } from "./Requests.ts"
import type * as T from "./types.ts"
import * as Validate from "./Validate.ts"

// ---- Promise forms ---------------------------------------------------------------------------------

export const nop = (r: Requests, options: T.WriteOptions | undefined): Promise<void> => {
  const o = Validate.options(options)
  const deadline = Validate.deadlineOf(o.timeout)
  const signal = Validate.signal(o.signal)
  const slot = r.fill(OPERATIONS.nop.op, 0, 0, undefined, 0, 0, 0, deadline)
  return r.promise(slot, signal, Pending.KIND_PROMISE_VOID)
}

export const readAt = (
  r: Requests,
  fd: number,
  buffer: Uint8Array | ReadonlyArray<Uint8Array>,
  position: number | bigint,
  options: T.ReadAtOptions | undefined,
): Promise<number> => {
  Validate.fd(fd)
  // Every option is read (once) before the buffers are looked at: a getter among them runs before
  // the buffers' sizes are taken, so it cannot detach or shrink one after.
  const o = Validate.options(options)
  const lengthOption: unknown = o.length
  const flags = Validate.optionalBoolean(o.exact, "exact") ? IOU_FLAG_EXACT : 0
  const deadline = Validate.deadlineOf(o.timeout)
  const signal = Validate.signal(o.signal)
  const buffers = Validate.readBuffers(buffer)
  const size = Validate.bytesOf(buffers)
  const length = Validate.requestLength(
    lengthOption === undefined ? size : Validate.integer(lengthOption, "length", 0, size),
  )
  const at = Validate.position(position)
  Validate.endWithin(at, length)
  const slot = r.fill(OPERATIONS.readAt.op, flags, fd, readData(buffers, length), at, 0, length, deadline)
  return r.promise(slot, signal, Pending.KIND_PROMISE_NUMBER)
}

export const writeAt = (
  r: Requests,
  fd: number,
  data: T.Data,
  position: number | bigint,
  options: T.WriteOptions | undefined,
): Promise<void> => {
  Validate.fd(fd)
  const o = Validate.options(options)
  const deadline = Validate.deadlineOf(o.timeout)
  const signal = Validate.signal(o.signal)
  const valid = Validate.data(data)
  const at = Validate.position(position)
  const bytes = Validate.bytesOf(valid)
  Validate.endWithin(at, bytes)
  const slot = r.fill(OPERATIONS.writeAt.op, 0, fd, valid, at, 0, bytes, deadline)
  return r.promise(slot, signal, Pending.KIND_PROMISE_VOID)
}

export const send = (r: Requests, fd: number, data: T.Data, options: T.WriteOptions | undefined): Promise<void> => {
  Validate.fd(fd)
  const o = Validate.options(options)
  const deadline = Validate.deadlineOf(o.timeout)
  const signal = Validate.signal(o.signal)
  const valid = Validate.data(data)
  const slot = r.fill(OPERATIONS.send.op, 0, fd, valid, 0, 0, Validate.bytesOf(valid), deadline)
  return r.promise(slot, signal, Pending.KIND_PROMISE_VOID)
}

export const recv = (
  r: Requests,
  fd: number,
  buffer: Uint8Array,
  options: T.RecvOptions | undefined,
): Promise<number> => {
  Validate.fd(fd)
  // Every option is read (once) before the buffer is looked at (see readAt).
  const o = Validate.options(options)
  const offsetOption: unknown = o.offset
  const lengthOption: unknown = o.length
  const flags = Validate.optionalBoolean(o.exact, "exact") ? IOU_FLAG_EXACT : 0
  const deadline = Validate.deadlineOf(o.timeout)
  const signal = Validate.signal(o.signal)
  Validate.ioBuffer(buffer, "buffer")
  const size = Validate.lengthOf(buffer)
  const offset = offsetOption === undefined ? 0 : Validate.integer(offsetOption, "offset", 0, size)
  const rest = size - offset
  const length = Validate.requestLength(
    lengthOption === undefined ? rest : Validate.integer(lengthOption, "length", 0, rest),
  )
  const slot = r.fill(OPERATIONS.recv.op, flags, fd, buffer, 0, offset, length, deadline)
  return r.promise(slot, signal, Pending.KIND_PROMISE_NUMBER)
}

/** The site of a sync of the data only (shared: a site is never changed). */
const FDATASYNC: Errors.Site = { syscall: "fdatasync" }

/** A sync; with IOU_FLAG_DATA_ONLY its errors name fdatasync, as node:fs's. */
const fillSync = (r: Requests, fd: number, flags: number, deadline: number): number => {
  const slot = r.fill(OPERATIONS.sync.op, flags, fd, undefined, 0, 0, 0, deadline)
  if (flags !== 0) r.table.site[slot] = FDATASYNC
  return slot
}

export const sync = (r: Requests, fd: number, options: T.SyncOptions | undefined): Promise<void> => {
  Validate.fd(fd)
  const o = Validate.options(options)
  const flags = Validate.optionalBoolean(o.dataOnly, "dataOnly") ? IOU_FLAG_DATA_ONLY : 0
  const deadline = Validate.deadlineOf(o.timeout)
  const signal = Validate.signal(o.signal)
  return r.promise(fillSync(r, fd, flags, deadline), signal, Pending.KIND_PROMISE_VOID)
}

export const recvMany = (r: Requests, fd: number, options: T.RecvManyOptions | undefined): Many<Uint8Array> => {
  Validate.fd(fd)
  const o = Validate.options(options)
  const deadline = Validate.deadlineOf(o.timeout)
  const signal = Validate.signal(o.signal)
  return new Many<Uint8Array>(
    {
      start: (chunk, end) => submitRecvMany(r, fd, deadline, chunk, end),
      cancel: (handle) => r.cancel(handle),
      aborted: (reason) => Errors.abortError("recv", fd, reason),
    },
    signal,
  )
}

// ---- Callback forms --------------------------------------------------------------------------------

export const submitRecvMany = (
  r: Requests,
  fd: number,
  deadline: number,
  onChunk: T.ChunkCallback,
  callback: T.Callback,
): T.RequestHandle => {
  Validate.fd(fd)
  const d = Validate.deadline(deadline)
  Validate.listener(onChunk, "onChunk")
  Validate.callback(callback)
  const slot = r.fill(OPERATIONS.recvMany.op, 0, fd, undefined, 0, 0, 0, d)
  r.table.onChunk[slot] = onChunk
  return r.callback(slot, callback)
}

export const submitNop = (r: Requests, deadline: number, callback: T.Callback): T.RequestHandle => {
  const d = Validate.deadline(deadline)
  Validate.callback(callback)
  return r.callback(r.fill(OPERATIONS.nop.op, 0, 0, undefined, 0, 0, 0, d), callback)
}

export const submitReadAt = (
  r: Requests,
  fd: number,
  buffer: Uint8Array | ReadonlyArray<Uint8Array>,
  position: number | bigint,
  length: number,
  exact: boolean,
  deadline: number,
  callback: T.Callback,
): T.RequestHandle => {
  if (buffer instanceof Uint8Array || !Array.isArray(buffer)) {
    return submitInto(r, OPERATIONS.readAt.op, fd, buffer as Uint8Array, 0, length, exact, position, deadline, callback)
  }
  Validate.fd(fd)
  const buffers = Validate.readBuffers(buffer)
  const at = Validate.position(position)
  Validate.integer(length, "length", 0, Validate.bytesOf(buffers))
  Validate.endWithin(at, length)
  const flags = Validate.boolean(exact, "exact") ? IOU_FLAG_EXACT : 0
  const d = Validate.deadline(deadline)
  Validate.callback(callback)
  const data = readData(buffers, length)
  return r.callback(r.fill(OPERATIONS.readAt.op, flags, fd, data, at, 0, length, d), callback)
}

export const submitWriteAt = (
  r: Requests,
  fd: number,
  data: T.Data,
  position: number | bigint,
  deadline: number,
  callback: T.Callback,
): T.RequestHandle => {
  Validate.fd(fd)
  const valid = Validate.data(data)
  const at = Validate.position(position)
  const bytes = Validate.bytesOf(valid)
  Validate.endWithin(at, bytes)
  const d = Validate.deadline(deadline)
  Validate.callback(callback)
  return r.callback(r.fill(OPERATIONS.writeAt.op, 0, fd, valid, at, 0, bytes, d), callback)
}

export const submitSend = (
  r: Requests,
  fd: number,
  data: T.Data,
  deadline: number,
  callback: T.Callback,
): T.RequestHandle => {
  Validate.fd(fd)
  const valid = Validate.data(data)
  const d = Validate.deadline(deadline)
  Validate.callback(callback)
  const bytes = Validate.bytesOf(valid)
  return r.callback(r.fill(OPERATIONS.send.op, 0, fd, valid, 0, 0, bytes, d), callback)
}

export const submitRecv = (
  r: Requests,
  fd: number,
  buffer: Uint8Array,
  offset: number,
  length: number,
  exact: boolean,
  deadline: number,
  callback: T.Callback,
): T.RequestHandle =>
  submitInto(r, OPERATIONS.recv.op, fd, buffer, offset, length, exact, undefined, deadline, callback)

export const submitSync = (
  r: Requests,
  fd: number,
  dataOnly: boolean,
  deadline: number,
  callback: T.Callback,
): T.RequestHandle => {
  Validate.fd(fd)
  const flags = Validate.boolean(dataOnly, "dataOnly") ? IOU_FLAG_DATA_ONLY : 0
  const d = Validate.deadline(deadline)
  Validate.callback(callback)
  return r.callback(fillSync(r, fd, flags, d), callback)
}

/**
 * submitReadAt and submitRecv: fills buffer[offset, offset + length), from `position` for readAt
 * (offset 0) or the socket for recv (no position). Validates in the public methods' parameter
 * order: fd, buffer, position or offset, length, exact, deadline, callback.
 */
const submitInto = (
  r: Requests,
  op: number,
  fd: number,
  buffer: Uint8Array,
  offset: number,
  length: number,
  exact: boolean,
  position: unknown,
  deadline: number,
  callback: T.Callback,
): T.RequestHandle => {
  Validate.fd(fd)
  Validate.ioBuffer(buffer, "buffer")
  const at = op === OPERATIONS.readAt.op ? Validate.position(position) : 0
  const size = Validate.lengthOf(buffer)
  if (op === OPERATIONS.recv.op) Validate.integer(offset, "offset", 0, size)
  Validate.integer(length, "length", 0, Math.min(size - offset, Validate.MAX_REQUEST_BYTES))
  Validate.endWithin(at, length)
  const flags = Validate.boolean(exact, "exact") ? IOU_FLAG_EXACT : 0
  const d = Validate.deadline(deadline)
  Validate.callback(callback)
  return r.callback(r.fill(op, flags, fd, buffer, at, offset, length, d), callback)
}

/** readAt's data: the first `length` bytes of its buffers (one buffer alone is passed as it is). */
const readData = (buffers: Uint8Array | ReadonlyArray<Uint8Array>, length: number): T.Data => {
  if (buffers instanceof Uint8Array) return buffers
  const list = Validate.firstBytes(buffers, length)
  return list.length === 1 ? list[0]! : list
}
