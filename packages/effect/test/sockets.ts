/**
 * Connected TCP sockets on 127.0.0.1 whose file descriptors the ring can use.
 *
 * Node has no socketpair(2), so the pair comes from node:net: the server side is accepted with
 * `pauseOnConnect` and the client is paused before it connects, so libuv never starts reading
 * either socket and the ring is the only reader. The fds are taken from `socket._handle.fd` (an
 * internal field); the sockets stay referenced and are destroyed (closing the fds) when the scope
 * closes, after the ring's operations on them have ended.
 */
import * as net from "node:net"
import { once } from "node:events"
import { Effect, type Scope } from "effect"

export interface Pair {
  readonly a: number
  readonly b: number
  /** Closes b's socket (the peer of a), e.g. to make a's recv see end of stream. */
  readonly closeB: () => void
}

export const fdOf = (socket: net.Socket): number => {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd
  if (typeof fd !== "number" || fd < 0) throw new Error("this socket has no file descriptor")
  return fd
}

export const tcpPair: Effect.Effect<Pair, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(async () => {
    const server = net.createServer({ pauseOnConnect: true })
    server.listen(0, "127.0.0.1")
    await once(server, "listening")
    const { port } = server.address() as net.AddressInfo
    const accepted = once(server, "connection") as Promise<[net.Socket]>
    const client = net.connect({ port, host: "127.0.0.1" })
    client.pause()
    await once(client, "connect")
    const [peer] = await accepted
    server.close()
    return { client, peer }
  }),
  ({ client, peer }) =>
    Effect.sync(() => {
      client.destroy()
      peer.destroy()
    }),
).pipe(Effect.map(({ client, peer }) => ({ a: fdOf(client), b: fdOf(peer), closeB: () => peer.destroy() })))
