/**
 * The File handle on both layers, by property: a random file (present or not, random bytes), a
 * random open flag and a random sequence of read / positioned read / readAlloc / write / writeAll /
 * seek / truncate / stat / sync give the same trace on NodeFileSystem and IoUringFileSystem: the
 * same results, the same errors (reason, method, syscall), the same cursor after every step and
 * the same bytes in the file at the end.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, layer } from "@effect/vitest"
import { probe } from "@iou/native"
import { Effect, FileSystem, Option, type PlatformError } from "effect"
import fc from "fast-check"
import { IoUringFileSystem, NodeIoUring } from "@iou/effect"
import { nodeLayer, scratchDir, shapeOf } from "./fileSystems.ts"

const supported = probe().supported

const FLAGS: ReadonlyArray<FileSystem.OpenFlag> = ["r", "r+", "w", "wx", "w+", "wx+", "a", "ax", "a+", "ax+"]

type Command =
  | { readonly op: "read"; readonly size: number }
  | { readonly op: "readAt"; readonly size: number; readonly position: number }
  | { readonly op: "readAlloc"; readonly size: number }
  | { readonly op: "write"; readonly bytes: Uint8Array }
  | { readonly op: "writeAll"; readonly bytes: Uint8Array }
  | { readonly op: "seek"; readonly offset: number; readonly from: FileSystem.SeekMode }
  | { readonly op: "truncate"; readonly length: number | undefined }
  | { readonly op: "stat" }
  | { readonly op: "sync" }

interface Scenario {
  readonly initial: Uint8Array | undefined
  readonly flag: FileSystem.OpenFlag
  readonly commands: ReadonlyArray<Command>
}

const bytes = fc.uint8Array({ minLength: 0, maxLength: 48 })
const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ op: fc.constant("read" as const), size: fc.integer({ min: 0, max: 40 }) }),
  fc.record({
    op: fc.constant("readAt" as const),
    size: fc.integer({ min: 0, max: 40 }),
    position: fc.integer({ min: -2, max: 100 }),
  }),
  fc.record({ op: fc.constant("readAlloc" as const), size: fc.integer({ min: 0, max: 40 }) }),
  fc.record({ op: fc.constant("write" as const), bytes }),
  fc.record({ op: fc.constant("writeAll" as const), bytes }),
  fc.record({
    op: fc.constant("seek" as const),
    offset: fc.integer({ min: -40, max: 90 }),
    from: fc.constantFrom<FileSystem.SeekMode>("start", "current"),
  }),
  fc.record({
    op: fc.constant("truncate" as const),
    length: fc.option(fc.integer({ min: 0, max: 80 }), { nil: undefined }),
  }),
  fc.constant({ op: "stat" as const }),
  fc.constant({ op: "sync" as const }),
)
const scenario: fc.Arbitrary<Scenario> = fc.record({
  initial: fc.option(bytes, { nil: undefined }),
  flag: fc.constantFrom(...FLAGS),
  commands: fc.array(command, { maxLength: 16 }),
})

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex")

const step = (file: FileSystem.File, c: Command): Effect.Effect<unknown, PlatformError.PlatformError> => {
  switch (c.op) {
    case "read": {
      const buffer = new Uint8Array(c.size)
      return Effect.map(file.read(buffer), (n) => ({ n, bytes: hex(buffer.subarray(0, n)) }))
    }
    case "readAt": {
      const buffer = new Uint8Array(c.size)
      return Effect.map(file.read(buffer, { position: BigInt(c.position) }), (n) => ({
        n,
        bytes: hex(buffer.subarray(0, n)),
      }))
    }
    case "readAlloc":
      return Effect.map(file.readAlloc(c.size), Option.map(hex))
    case "write":
      return file.write(c.bytes)
    case "writeAll":
      return file.writeAll(c.bytes)
    case "seek":
      return Effect.map(file.seek(BigInt(c.offset), c.from), String)
    case "truncate":
      return file.truncate(c.length)
    case "stat":
      return Effect.map(file.stat, (info) => ({ type: info.type, size: String(info.size) }))
    case "sync":
      return file.sync
  }
}

/** Runs `s` on `fsys` in a fresh directory: every step's outcome and cursor, then the file's bytes. */
const trace = (fsys: FileSystem.FileSystem, s: Scenario) =>
  Effect.scoped(
    Effect.gen(function* () {
      const dir = yield* scratchDir
      const name = path.join(dir, "f")
      if (s.initial !== undefined) fs.writeFileSync(name, s.initial)
      const out: Array<unknown> = []
      const opened = yield* Effect.result(fsys.open(name, { flag: s.flag }))
      if (opened._tag === "Failure") return { open: shapeOf(opened.failure, dir) }
      const file = opened.success
      for (const c of s.commands) {
        const result = yield* Effect.result(step(file, c))
        const cursor = String(yield* file.seek(0n, "current"))
        out.push(
          result._tag === "Success"
            ? { op: c.op, ok: result.success, cursor }
            : { op: c.op, error: shapeOf(result.failure), cursor },
        )
      }
      return { steps: out, contents: fs.existsSync(name) ? hex(fs.readFileSync(name)) : undefined }
    }),
  )

describe.skipIf(!supported)("IoUringFileSystem against NodeFileSystem (property)", () => {
  layer(NodeIoUring.layer({ size: 64, shutdownTimeout: 2000 }), { timeout: 120_000, excludeTestServices: true })(
    (it) => {
      it.effect(
        "random open/read/write/seek/truncate/append sequences give identical bytes, cursors and errors",
        () =>
          Effect.gen(function* () {
            const ring = yield* IoUringFileSystem.make
            const node = yield* Effect.provide(
              Effect.gen(function* () {
                return yield* FileSystem.FileSystem
              }),
              nodeLayer,
            )
            yield* Effect.promise(() =>
              fc.assert(
                fc.asyncProperty(scenario, async (s) => {
                  const expected = await Effect.runPromise(trace(node, s))
                  const actual = await Effect.runPromise(trace(ring, s))
                  assert.deepStrictEqual(actual, expected)
                }),
                { numRuns: 150 },
              ),
            )
          }),
        60_000,
      )
    },
  )
})
