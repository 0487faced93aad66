/**
 * Loads the ring under test: @iou/native's Driver, one per engine (inline, thread). It may be
 * missing (not built yet, or io_uring refused by this kernel): the benchmarks then skip their ring
 * variants with the reason instead of failing.
 *
 * The Driver is imported at run time with a dynamic import, so that a missing build is a skip with
 * a reason; its type comes from @iou/native itself.
 */

import type { Driver } from "@iou/native"

export type { Callback, Data } from "@iou/native"

/** The ring under test: the Driver itself (a type-only import, erased when the bench runs). */
export type Ring = Driver

type DriverStatic = Pick<typeof Driver, "open">

export type RingLoad = { readonly ok: true; readonly ring: Ring } | { readonly ok: false; readonly reason: string }

/**
 * The Driver's engines (DriverConfig.engine), and the inline engine with each wake mode named
 * (DriverConfig.inlineWake): "inline" is the engine with its default wake. "baseline" is the Driver
 * of another checkout (BENCH_BASELINE), for before/after comparisons inside one run.
 */
export type Engine = "inline" | "thread" | "inline-eventfd" | "inline-ringfd" | "baseline"
const DEFAULT_ENGINES: ReadonlyArray<Engine> = ["inline", "thread"]
// "baseline" last: a suite that needs a socket from a ring (listen, accept) asks the first engine.
const ENGINES: ReadonlyArray<Engine> = ["inline", "inline-eventfd", "inline-ringfd", "thread", "baseline"]

/**
 * BENCH_BASELINE=dir: an older checkout of this repository, built (its packages' dist and addon),
 * whose Driver and IoUring layer the engine "baseline" opens in this same process, so that every
 * round of a comparison runs the old build's variant right after the new one's. Its
 * node_modules/effect must resolve to this checkout's effect (a symlink), else its Effect variants
 * are skipped with the reason. BENCH_BASELINE_ENGINE: the `engine` it is opened with (default: its
 * own default).
 */
export const baselineModule = (pkg: "native" | "effect"): string => {
  const dir = process.env["BENCH_BASELINE"]
  if (dir === undefined || dir === "") throw new Error("the engine baseline needs BENCH_BASELINE=<checkout>")
  return new URL(`file://${dir.replace(/\/$/, "")}/packages/${pkg}/dist/index.js`).href
}

/**
 * BENCH_ENGINES=inline,thread (the default: those two, in that order; inline-eventfd and
 * inline-ringfd name the inline engine's wake modes): the engines whose Drivers the run opens. Every
 * ring variant runs once per engine, named with the engine in brackets.
 */
export const benchEngines = (): ReadonlyArray<Engine> => {
  const raw = process.env["BENCH_ENGINES"]
  if (raw === undefined || raw.trim() === "") return DEFAULT_ENGINES
  const picked = raw
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x !== "")
  const bad = picked.filter((x) => !ENGINES.includes(x as Engine))
  if (bad.length || picked.length === 0) {
    throw new Error(`BENCH_ENGINES must list some of ${ENGINES.join(", ")}, got ${JSON.stringify(raw)}`)
  }
  return ENGINES.filter((e) => picked.includes(e))
}

/** A ring variant's name for `engine`: "Driver callback (inline)". */
export const withEngine = (name: string, engine: Engine): string => `${name} (${engine})`

const cached = new Map<Engine, Promise<RingLoad>>()

const reasonOf = (e: unknown): string => {
  if (!(e instanceof Error)) return String(e)
  const code = (e as { code?: string }).code ?? e.name
  return e.message.startsWith(code) ? e.message : `${code}: ${e.message}`
}

/** BENCH_IDLE_SPIN=µs: the Driver's idleSpin (default: the Driver's own, 50 µs; 0 = off), for A/B runs. */
export const idleSpinConfig = (): { idleSpin?: number } => {
  const raw = process.env["BENCH_IDLE_SPIN"]
  return raw === undefined || raw === "" ? {} : { idleSpin: Number(raw) }
}

/** The config every Driver of the run is opened with (size 512, so QD 256 plus a batch fit), but its engine. */
export const driverConfig = (engine: Engine) => ({
  size: Number(process.env["IOU_BENCH_RING_SIZE"] ?? 512),
  ...idleSpinConfig(),
  ...(engine === "inline-eventfd" || engine === "inline-ringfd"
    ? {
        engine: "inline" as const,
        inlineWake: engine === "inline-eventfd" ? ("eventfd" as const) : ("ringfd" as const),
      }
    : engine === "baseline"
      ? process.env["BENCH_BASELINE_ENGINE"]
        ? { engine: process.env["BENCH_BASELINE_ENGINE"] as "inline" | "thread" }
        : {}
      : { engine }),
})

/** Opens a Driver for `engine` with the run's config (and `overrides`), or says why not. */
export const openDriver = async (
  engine: Engine,
  overrides: { readonly size?: number; readonly recvBuffers?: { readonly count: number; readonly size: number } } = {},
): Promise<RingLoad> => {
  let mod: Record<string, unknown>
  try {
    mod = (await import(engine === "baseline" ? baselineModule("native") : "@iou/native")) as Record<string, unknown>
  } catch (e) {
    return { ok: false, reason: `@iou/native did not load (${reasonOf(e)}); run npm run build` }
  }
  const Driver = mod["Driver"] as DriverStatic | undefined
  if (!Driver || typeof Driver.open !== "function") {
    return { ok: false, reason: "@iou/native does not export the Driver yet" }
  }
  try {
    return { ok: true, ring: Driver.open({ ...driverConfig(engine), ...overrides }) }
  } catch (e) {
    return { ok: false, reason: `Driver.open({ engine: "${engine}" }) failed (${reasonOf(e)})` }
  }
}

/** One Driver per engine for the whole run, opened on first use. */
export const loadRing = (engine: Engine): Promise<RingLoad> => {
  let r = cached.get(engine)
  if (!r) cached.set(engine, (r = openDriver(engine)))
  return r
}

/** The engines whose Driver this run has opened (never opens one by itself). */
export const openedEngines = (): ReadonlyArray<Engine> => [...cached.keys()]

/** Closes every Driver the run opened. */
export const closeRings = async (): Promise<void> => {
  const all = [...cached.values()]
  cached.clear()
  for (const load of all) {
    const r = await load
    if (r.ok) await r.ring.close()
  }
}
