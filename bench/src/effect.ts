/**
 * The Effect side: @iou/effect's IoUring service, provided by NodeIoUring.layer through one
 * ManagedRuntime per engine for the whole run (each layer's Driver is opened once, outside every
 * timed region, with the same config as the bench's own Drivers).
 */
import { Effect, ManagedRuntime } from "effect"
import type { Context, Layer } from "effect"
import { baselineModule, driverConfig } from "./ring.ts"
import type { Engine } from "./ring.ts"

/** The part of the IoUring service the benchmarks use. */
export interface IoService {
  readonly nop: Effect.Effect<void, unknown>
  readonly readAt: (
    fd: number,
    buffer: Uint8Array,
    position: number | bigint,
    options?: { length?: number; exact?: boolean },
  ) => Effect.Effect<number, unknown>
  readonly writeAt: (fd: number, data: Uint8Array, position: number | bigint) => Effect.Effect<void, unknown>
  readonly sync: (fd: number, options?: { dataOnly?: boolean }) => Effect.Effect<void, unknown>
}

export interface EffectIo {
  /** Runs `body` with the service. */
  readonly run: <A>(body: (io: IoService) => Effect.Effect<A, unknown>) => Promise<A>
  readonly dispose: () => Promise<void>
}

export type EffectLoad = { readonly ok: true; readonly io: EffectIo } | { readonly ok: false; readonly reason: string }

const cached = new Map<Engine, Promise<EffectLoad>>()

const reasonOf = (e: unknown): string => {
  if (!(e instanceof Error)) return String(e)
  const code = (e as { code?: string }).code ?? e.name
  return e.message.startsWith(code) ? e.message : `${code}: ${e.message}`
}

export const loadEffect = (engine: Engine): Promise<EffectLoad> => {
  let r = cached.get(engine)
  if (!r) cached.set(engine, (r = openEffect(engine)))
  return r
}

const openEffect = async (engine: Engine): Promise<EffectLoad> => {
  let mod: Record<string, unknown>
  try {
    mod = (await import(engine === "baseline" ? baselineModule("effect") : "@iou/effect")) as Record<string, unknown>
  } catch (e) {
    return { ok: false, reason: `@iou/effect did not load (${reasonOf(e)}); run npm run build` }
  }
  const tag = mod["IoUring"] as Context.Key<unknown, IoService> | undefined
  const NodeIoUring = mod["NodeIoUring"] as
    | { layer: (config?: Record<string, unknown>) => Layer.Layer<unknown, unknown, never> }
    | undefined
  if (!tag || !NodeIoUring || typeof NodeIoUring.layer !== "function") {
    return { ok: false, reason: "@iou/effect does not export IoUring / NodeIoUring yet" }
  }
  const runtime = ManagedRuntime.make(NodeIoUring.layer(driverConfig(engine)))
  const io: EffectIo = {
    run: (body) =>
      runtime.runPromise(Effect.flatMap(Effect.service(tag), body) as Effect.Effect<never, unknown, never>),
    dispose: () => runtime.dispose(),
  }
  try {
    await io.run((s) => s.nop)
  } catch (e) {
    await runtime.dispose().catch(() => undefined)
    return { ok: false, reason: `the IoUring layer failed (${reasonOf(e)})` }
  }
  return { ok: true, io }
}

export const disposeEffect = async (): Promise<void> => {
  const all = [...cached.values()]
  cached.clear()
  for (const load of all) {
    const r = await load
    if (r.ok) await r.io.dispose()
  }
}

/**
 * Keeps `depth` fibers going, each running `op(slot)` one at a time, until `budgetMs` has passed;
 * resolves with the count of completed operations and the elapsed seconds.
 */
export const effectLoop = (
  io: EffectIo,
  depth: number,
  budgetMs: number,
  op: (s: IoService, slot: number) => Effect.Effect<unknown, unknown>,
): Promise<{ ops: number; seconds: number }> =>
  io.run((s) =>
    Effect.suspend(() => {
      let ops = 0
      let stop = false
      const t0 = performance.now()
      const end = t0 + budgetMs
      const worker = (slot: number) =>
        Effect.whileLoop({
          while: () => !stop,
          body: () => op(s, slot),
          step: () => {
            if ((++ops & 63) === 0 && performance.now() >= end) stop = true
          },
        })
      const workers: Array<Effect.Effect<void, unknown>> = []
      for (let i = 0; i < depth; i++) workers.push(worker(i))
      return Effect.map(Effect.all(workers, { concurrency: "unbounded", discard: true }), () => ({
        ops,
        seconds: (performance.now() - t0) / 1000,
      }))
    }),
  )
