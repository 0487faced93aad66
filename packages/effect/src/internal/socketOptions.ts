/**
 * A connection's reading options as NodeSocket takes them (how many chunks one pull returns, how
 * many bytes not yet pulled stop the receive) and their defaults, NodeSocket's and node:net's.
 */

/** node:net's readable high-water mark: the bytes a connection buffers before it stops receiving. */
const DEFAULT_HIGH_WATER_MARK = 65536
/** NodeSocket's default: chunks one pull returns at most. */
const DEFAULT_CHUNKS = 4096

export interface Options {
  /** Chunks one pull returns at most (as NodeSocket); default 4096. */
  readonly chunkSize?: number | undefined
  /**
   * Bytes received and not yet pulled at which the connection stops receiving until the next pull
   * (the peer is then held back by TCP); default 64 KiB.
   */
  readonly highWaterMark?: number | undefined
}

/** A positive safe integer or Infinity as given; anything else (absent included) the default. */
const positive = (value: number | undefined, fallback: number): number =>
  value !== undefined && (value === Number.POSITIVE_INFINITY || (Number.isSafeInteger(value) && value > 0))
    ? value
    : fallback

/** The limits a connection reads by: its options with the defaults filled in. */
export const limitsOf = (
  options: Options | undefined,
): { readonly highWaterMark: number; readonly maxChunks: number } => ({
  highWaterMark: positive(options?.highWaterMark, DEFAULT_HIGH_WATER_MARK),
  maxChunks: positive(options?.chunkSize, DEFAULT_CHUNKS),
})
