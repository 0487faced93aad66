/** What every suite gets: the mode, a logger, the ring under test and the Effect service. */
import type { Comparison, ComparisonResult } from "./harness.ts"
import type { EffectLoad } from "./effect.ts"
import type { Engine, Ring, RingLoad } from "./ring.ts"

export interface Context {
  readonly quick: boolean
  readonly log: (line: string) => void
  /** The engines under test (BENCH_ENGINES), in the order their variants appear. */
  readonly engines: ReadonlyArray<Engine>
  /** The run's Driver for `engine` (opened on first use, shared by every suite). */
  readonly ring: (engine: Engine) => Promise<RingLoad>
  /** The Effect service on a Driver with `engine`. */
  readonly effect: (engine: Engine) => Promise<EffectLoad>
  /** The page-cached 256 MiB file (created and warmed on first use). */
  readonly dataFile: () => string
}

/** A named group of comparisons, selectable from the command line. */
export interface Suite {
  readonly id: string
  readonly description: string
  /** Not run unless named on the command line (long-running). */
  readonly optIn?: boolean | undefined
  /** Builds the comparisons; `cleanup` runs after they ran. */
  readonly build: (ctx: Context) => Promise<{
    readonly comparisons: ReadonlyArray<Comparison>
    /** Checks that are not interleaved comparisons (they produce their result themselves). */
    readonly direct?: ReadonlyArray<() => Promise<ComparisonResult>> | undefined
    readonly cleanup?: (() => Promise<void> | void) | undefined
  }>
}

/** The run's Drivers for each engine under test that opened, and a note for each that did not. */
export const loadRings = async (
  ctx: Context,
): Promise<{ rings: Array<{ engine: Engine; ring: Ring }>; skipped: Array<string> }> => {
  const rings: Array<{ engine: Engine; ring: Ring }> = []
  const skipped: Array<string> = []
  for (const engine of ctx.engines) {
    const load = await ctx.ring(engine)
    if (load.ok) rings.push({ engine, ring: load.ring })
    else skipped.push(`ring variants (${engine}) skipped: ${load.reason}`)
  }
  return { rings, skipped }
}
