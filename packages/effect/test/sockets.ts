/**
 * Connected TCP sockets on 127.0.0.1 whose file descriptors the ring can use, made by the ring
 * itself: a Driver of their own listens, accepts and connects (no Node internals, and nothing but
 * the ring ever reads them). The fds are the test's: they are closed when the scope closes, after
 * the ring's operations on them have ended.
 */
import { closeSync } from "node:fs"
import { Driver } from "@iou/native"
import { Effect, type Scope } from "effect"

export interface Pair {
  readonly a: number
  readonly b: number
  /** Closes b (the peer of a), e.g. to make a's recv see end of stream. */
  readonly closeB: () => void
}

const closeOnce = (fd: number, closed: Set<number>): void => {
  if (closed.has(fd)) return
  closed.add(fd)
  closeSync(fd)
}

export const tcpPair: Effect.Effect<Pair, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(async () => {
    const ring = Driver.open()
    try {
      const listener = await ring.listen({ host: "127.0.0.1", port: 0 })
      const port = (listener.localAddress as { port: number }).port
      const accepted = ring.accept(listener)
      const client = await ring.connect({ host: "127.0.0.1", port }, { noDelay: true })
      const peer = await accepted
      closeSync(listener.fd)
      return { a: client.fd, b: peer.fd, closed: new Set<number>() }
    } finally {
      await ring.close()
    }
  }),
  ({ a, b, closed }) =>
    Effect.sync(() => {
      closeOnce(a, closed)
      closeOnce(b, closed)
    }),
).pipe(Effect.map(({ a, b, closed }) => ({ a, b, closeB: () => closeOnce(b, closed) })))
