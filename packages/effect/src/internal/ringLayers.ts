/**
 * The ring-side layers the self-contained `IoUringServices.layer` provides by default, in one place
 * so that swapping one in is a one-line change here (and callers can pass their own through
 * `IoUringServices.layer({ fileSystem })`).
 *
 * FileSystem: `IoUringFileSystem.layer` (Effect's FileSystem on the ring).
 */
import type { FileSystem } from "effect/FileSystem"
import type { Layer } from "effect"
import type { IoUring } from "../IoUring.ts"
import * as IoUringFileSystem from "../IoUringFileSystem.ts"

export const fileSystem: Layer.Layer<FileSystem, never, IoUring> = IoUringFileSystem.layer
