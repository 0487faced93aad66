/**
 * The SocketErrors a connection on the ring fails with where NodeSocket makes its own (not from a
 * failed operation): the close of either side, and a write on a connection asked to close.
 */
import * as Socket from "effect/socket/Socket"

/** A SocketCloseError with `code` (1000: the peer's end of stream or a CloseEvent; 1006: this side closed). */
export const closeError = (code: number) => new Socket.SocketError({ reason: new Socket.SocketCloseError({ code }) })

/** A write on a connection that was asked to close, as NodeSocket fails it. */
export const writeClosed = () =>
  new Socket.SocketError({ reason: new Socket.SocketWriteError({ cause: new Error("socket closed") }) })
