/**
 * Arena: the memory of the small arguments the kernel reads or writes for a request (a path's
 * NUL-terminated UTF-8, a statx record), cut from a shared slab (one ArrayBuffer) instead of one
 * ArrayBuffer each. Each range is handed out once and never again: nothing here is reused while a
 * request may still use it, and there is nothing to give back. A slab is freed by the garbage
 * collector once no range of it is referenced: the Driver holds a request's argument views until
 * its completion and the binding holds the slab's backing store as long (binding/wire.cc
 * AttachArgs); a request quarantined at teardown keeps its whole slab. A range larger than
 * MAX_RANGE gets an ArrayBuffer of its own. Module state, used by this thread alone.
 */

/** A slab's size in bytes. */
const SLAB_SIZE = 16384

/** The largest range cut from a slab. */
const MAX_RANGE = 1024

let slab = new ArrayBuffer(SLAB_SIZE)
let bytes = Buffer.from(slab)
let used = 0

/** The slab to cut `size` bytes from (a fresh one when the current one has less left). */
const room = (size: number): void => {
  if (used + size > SLAB_SIZE) {
    slab = new ArrayBuffer(SLAB_SIZE)
    bytes = Buffer.from(slab)
    used = 0
  }
}

/** `size` zeroed bytes of their own (a statx record the kernel fills), 8-byte aligned. */
export const zeroed = (size: number): Uint8Array => {
  if (size > MAX_RANGE) return new Uint8Array(size)
  used = (used + 7) & ~7
  room(size)
  const range = new Uint8Array(slab, used, size)
  used += size
  return range
}

/**
 * `text` as UTF-8 followed by a NUL byte, in bytes of their own (lone surrogates become U+FFFD, as
 * TextEncoder makes them).
 */
export const cString = (text: string): Uint8Array => {
  // UTF-8 takes at most 3 bytes per UTF-16 code unit.
  const most = 3 * text.length + 1
  if (most > MAX_RANGE) {
    const encoded = Buffer.from(text, "utf8")
    const out = new Uint8Array(encoded.length + 1)
    out.set(encoded)
    return out
  }
  room(most)
  const n = bytes.write(text, used, "utf8")
  // The slab is zeroed and this byte never handed out before: it is the NUL already.
  const range = new Uint8Array(slab, used, n + 1)
  used += n + 1
  return range
}
