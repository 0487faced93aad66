/**
 * Which Uint8Arrays a request may hand the kernel for the time it is in flight. Pure: @iou/native's
 * Driver checks its data and targets with it, and @iou/effect's FileSystem checks writeFile's data
 * before it opens the file.
 *
 * A view of a resizable ArrayBuffer is not one of them: `resize()` shrinks it in place while the
 * kernel reads or writes the bytes a request named, and no reference to its memory prevents that
 * (within a page the kernel would write past the new end; across pages the request would fail with
 * EFAULT). A growable SharedArrayBuffer only grows: its views are.
 */

// The intrinsic getters: a subclass or an own property may lie about `buffer` or `resizable`.
const typedArrayBuffer = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), "buffer")!
  .get as (this: Uint8Array) => ArrayBufferLike
const arrayBufferResizable = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, "resizable")!.get as (
  this: ArrayBufferLike,
) => boolean

const sharedGrowable = Object.getOwnPropertyDescriptor(SharedArrayBuffer.prototype, "growable")?.get as
  | ((this: ArrayBufferLike) => boolean)
  | undefined

/**
 * Whether `view` is over a growable SharedArrayBuffer: taken, but a view that tracks its length
 * grows with it, so a list of buffers whose total was checked fixes each such view's length.
 */
export const isGrowableShared = (view: Uint8Array): boolean => {
  if (sharedGrowable === undefined) return false
  try {
    return sharedGrowable.call(typedArrayBuffer.call(view)) === true
  } catch {
    return false // the getter throws for an ArrayBuffer
  }
}

/** Whether `view` is over a resizable ArrayBuffer (false for a SharedArrayBuffer's, growable or not). */
export const isResizable = (view: Uint8Array): boolean => {
  try {
    return arrayBufferResizable.call(typedArrayBuffer.call(view)) === true
  } catch {
    return false // the getter throws for a SharedArrayBuffer
  }
}
