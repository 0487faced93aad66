/**
 * What the FileSystem tests share: the two layers under comparison (NodeFileSystem, and
 * IoUringFileSystem on a real ring), a scratch directory per test, and the comparable shape of a
 * PlatformError (fds differ between two runs, so a descriptor is shown as "fd").
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { Effect, type FileSystem, Layer, type PlatformError, type Scope } from "effect"
import { IoUringFileSystem, type IoUring, NodeIoUring } from "@iou/effect"
import type { IoUringError } from "@iou/effect"

export const nodeLayer: Layer.Layer<FileSystem.FileSystem> = NodeFileSystem.layer

/** IoUringFileSystem over a ring of its own, with the IoUring service kept for its counters. */
export const ringLayer: Layer.Layer<FileSystem.FileSystem | IoUring, IoUringError> = IoUringFileSystem.layer.pipe(
  Layer.provideMerge(NodeIoUring.layer({ size: 64, shutdownTimeout: 2000 })),
)

/**
 * IoUringFileSystem over a service that is not the ring's own (wrapped by the latency histograms):
 * it cannot reach the Driver, so readFile, writeFile and File's reads run as the service's
 * operations one by one instead of fused, and must behave the same.
 */
export const composedRingLayer: Layer.Layer<FileSystem.FileSystem | IoUring, IoUringError> =
  IoUringFileSystem.layer.pipe(
    Layer.provideMerge(NodeIoUring.layer({ size: 64, shutdownTimeout: 2000 }, { latencyHistograms: true })),
  )

/** A fresh directory, removed with everything in it when the scope closes (through node:fs). */
export const scratchDir: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "iou-fs-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })),
)

export interface ErrorShape {
  readonly tag: string
  readonly method: string
  readonly syscall?: string | undefined
  readonly target?: string | undefined
}

/** `error` as what both layers must agree on; paths are shown relative to `dir`. */
export const shapeOf = (error: PlatformError.PlatformError, dir?: string): ErrorShape => {
  const reason = error.reason
  if (reason._tag === "BadArgument") return { tag: "BadArgument", method: reason.method }
  const target = reason.pathOrDescriptor
  return {
    tag: reason._tag,
    method: reason.method,
    syscall: reason.syscall,
    target:
      typeof target === "number"
        ? "fd"
        : target === undefined
          ? undefined
          : dir === undefined
            ? target
            : path.relative(dir, target),
  }
}

export const text = (s: string): Uint8Array => new TextEncoder().encode(s)
export const decode = (b: Uint8Array): string => new TextDecoder().decode(b)
