/**
 * Loads the ring under test: @iou/native's Driver and @iou/effect's IoUring service. Either may be
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

let cached: Promise<RingLoad> | undefined

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

/** Opens one Driver for the whole run (size 512, so QD 256 plus a batch fit), or says why not. */
export const loadRing = (): Promise<RingLoad> =>
  (cached ??= (async (): Promise<RingLoad> => {
    let mod: Record<string, unknown>
    try {
      mod = (await import("@iou/native")) as Record<string, unknown>
    } catch (e) {
      return { ok: false, reason: `@iou/native did not load (${reasonOf(e)}); run npm run build` }
    }
    const Driver = mod["Driver"] as DriverStatic | undefined
    if (!Driver || typeof Driver.open !== "function") {
      return { ok: false, reason: "@iou/native does not export the Driver yet" }
    }
    try {
      const ring = Driver.open({ size: Number(process.env["IOU_BENCH_RING_SIZE"] ?? 512), ...idleSpinConfig() })
      return { ok: true, ring }
    } catch (e) {
      return { ok: false, reason: `Driver.open failed (${reasonOf(e)})` }
    }
  })())

/** Closes the shared Driver if one was opened. */
export const closeRing = async (): Promise<void> => {
  if (!cached) return
  const r = await cached
  cached = undefined
  if (r.ok) await r.ring.close()
}
