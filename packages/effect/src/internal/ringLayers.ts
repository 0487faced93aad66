/**
 * The ring-side layers the self-contained `IoUringServices.layer` provides by default, in one place
 * so that swapping one in is a one-line change here (and callers can pass their own through
 * `IoUringServices.layer({ fileSystem })`).
 *
 * FileSystem: @effect/platform-node's NodeFileSystem for now, the ring's `IoUringFileSystem.layer`
 * (a `Layer<FileSystem, never, IoUring>`) being built separately; this constant is where it goes.
 * @effect/platform-node is imported when the layer is built, as it is an optional peer dependency.
 */
import type { FileSystem } from "effect/FileSystem"
import { Effect, Layer } from "effect"
import type { IoUring } from "../IoUring.ts"

export const fileSystem: Layer.Layer<FileSystem, never, IoUring> = Layer.unwrap(
  Effect.promise(() => import("@effect/platform-node/NodeFileSystem")).pipe(Effect.map((module) => module.layer)),
)
