/**
 * RecvBuffers: the provided buffers of `recvMany` (the loop's buffer ring, include/iou.h
 * IOU_OP_RECV_MANY), as the Driver sees them. The pool is one Uint8Array the Driver allocates and
 * the binding keeps alive for the loop's life (the kernel writes into it); buffer `id` is
 * pool[id * size, (id + 1) * size). A completion that names a buffer makes it JavaScript's: `take`
 * copies the chunk out and queues the id, and `flush` gives every queued id back to the kernel in
 * one call at the end of the batch. This thread is the buffer ring's only producer (both engines).
 */
import { constants } from "node:os"
import type { NativeLoop } from "./binding.ts"

export class RecvBuffers {
  readonly pool: Uint8Array
  readonly size: number
  private readonly returning: Uint16Array
  private pending = 0

  constructor(count: number, size: number) {
    this.size = size
    this.pool = new Uint8Array(count * size)
    this.returning = new Uint16Array(count)
  }

  /** Every buffer, for the ring's first fill. */
  all(native: NativeLoop): void {
    for (let id = 0; id < this.returning.length; id++) this.returning[id] = id
    this.pending = this.returning.length
    this.flush(native)
  }

  /**
   * A copy of the `length` bytes in buffer `id`, whose id is queued to go back to the kernel. The
   * copy is a Buffer from Buffer.allocUnsafe, so a small chunk is a slice of Node's shared pool (as
   * Buffer.allocUnsafe's are): a chunk sent back on the ring then already has memory outside the JS
   * heap, where a small Uint8Array of its own (kept inside the heap by V8) would be moved out of it
   * (an allocation) when its request holds its memory.
   */
  take(id: number, length: number): Uint8Array {
    const start = id * this.size
    const chunk = Buffer.allocUnsafe(length)
    chunk.set(this.pool.subarray(start, start + length))
    this.returning[this.pending++] = id
    return chunk
  }

  /** Gives the queued buffers back to the kernel (one release of the ring's tail). */
  flush(native: NativeLoop): void {
    if (this.pending === 0) return
    const rc = native.returnBuffers(this.returning, this.pending)
    // -EINVAL: an id given back twice, a Driver bug. Anything else (the loop is gone): nothing
    // receives into them any more.
    if (rc === -constants.errno.EINVAL) throw new Error("iou: a provided buffer was given back twice")
    this.pending = 0
  }
}
