/** What every suite gets: the mode, a logger, the ring under test and the Effect service. */
import type { Comparison, ComparisonResult } from "./harness.ts"
import type { EffectLoad } from "./effect.ts"
import type { Engine, RingLoad } from "./ring.ts"

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
