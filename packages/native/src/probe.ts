/**
 * probe(config?): whether a Driver with `config` can open on this machine and, when not, why.
 * Never throws. It checks, in this order: that this Node is one the package supports
 * (MINIMUM_NODE), that the addon loads (binding.ts), that io_uring_setup succeeds (ENOSYS, EPERM
 * from a seccomp profile or the io_uring_disabled sysctl, ENOMEM from the memlock limit), then each
 * kernel feature in KERNEL_REQUIREMENTS (KernelRequirements.ts, the README's kernel support
 * table) that the config needs.
 *
 * Simulating a missing feature (for tests, and for users testing their fallback) is read here and
 * nowhere else: IOU_SIMULATE_MISSING (see `simulation`).
 *
 * Also openLoop(): the Driver's setup of its loop, whose refusal probe(config) explains; and what
 * the Driver does without an optional opcode or feature (fallbackOps, unsupportedOps).
 */
import { Config, Operations } from "@iou/core"
import { constants } from "node:os"
import {
  IOU_ENGINE_INLINE,
  IOU_ENGINE_THREAD,
  IOU_INLINE_WAKE_EVENTFD,
  IOU_INLINE_WAKE_RINGFD,
  loadBinding,
  type NativeLoop,
  type NativeProbe,
  outOfFds,
} from "./binding.ts"
import { errnoError, unavailableError } from "./IoUringError.ts"
import { KERNEL_REQUIREMENTS, MINIMUM_KERNEL, OPCODE_NAMES, opcode } from "./KernelRequirements.ts"

/**
 * Whether this kernel lacks the opcode IORING_OP_<name> (or IOU_SIMULATE_MISSING says OP_<name>):
 * for the operations that have a fallback or a clear refusal on kernels without their opcode
 * (FTRUNCATE, MKDIRAT…). Reads the kernel's answer that Driver.open's preflight cached; false when
 * there is none (a simulated loop).
 */
export const lacksOpcode = (name: (typeof OPCODE_NAMES)[number]): boolean => {
  if (simulation().features.has(`OP_${name}`)) return true
  return cachedProbe !== undefined && cachedProbe.setupErrno === 0 && !opcode(name)(cachedProbe)
}

/**
 * Whether this kernel lacks the optional feature `name` of KERNEL_REQUIREMENTS (or
 * IOU_SIMULATE_MISSING says so): ACCEPT_MULTISHOT and RECV_MULTISHOT, whose operations the Driver
 * then refuses with ENOSYS. As lacksOpcode, from the answer preflight cached; false when there is none.
 */
export const lacksFeature = (name: "ACCEPT_MULTISHOT" | "RECV_MULTISHOT"): boolean => {
  if (simulation().features.has(name)) return true
  const row = KERNEL_REQUIREMENTS.find((r) => r.name === name)!
  return cachedProbe !== undefined && cachedProbe.setupErrno === 0 && !row.present(cachedProbe)
}

/** The operations whose opcode or feature lacksOpcode or lacksFeature says this kernel lacks: ENOSYS. */
export const unsupportedOps = (): ReadonlySet<number> => {
  const { mkdir, symlink, link, acceptMany, recvMany } = Operations.OPERATIONS
  const ops = new Set<number>()
  if (lacksOpcode("MKDIRAT")) ops.add(mkdir.op)
  if (lacksOpcode("SYMLINKAT")) ops.add(symlink.op)
  if (lacksOpcode("LINKAT")) ops.add(link.op)
  if (lacksFeature("ACCEPT_MULTISHOT")) ops.add(acceptMany.op)
  if (lacksFeature("RECV_MULTISHOT")) ops.add(recvMany.op)
  return ops
}

/**
 * The oldest Node the package supports: its package.json's `engines.node` (a test compares them).
 * Not Node 22: its V8 (12.4) moves an ArrayBuffer's memory with realloc() when `transfer(length)`
 * changes its length, even while a request holds that memory (binding/wire.cc keeps the
 * BackingStore, which does not stop it): the kernel would then read or write freed memory. Node
 * 24's V8 copies into new memory instead.
 */
export const MINIMUM_NODE = "24.0.0"

/**
 * Why Node `version` is too old for this package, or undefined. Importing still works on an older
 * Node, so that a program can ask probe() and fall back; the package is not tested there.
 */
export const nodeTooOld = (version: string = process.versions.node): string | undefined => {
  const have = version.split(".").map((part) => Number.parseInt(part, 10))
  const need = MINIMUM_NODE.split(".").map(Number)
  for (let i = 0; i < need.length; i++) {
    const a = have[i] ?? 0
    const b = need[i] ?? 0
    if (a !== b) return a > b ? undefined : `@iou/native needs Node >= ${MINIMUM_NODE} (this is ${version})`
  }
  return undefined
}

export interface Probe {
  readonly supported: boolean
  readonly reason?: string
  readonly kernel: string
  readonly ioUringDisabled?: 0 | 1 | 2
  readonly setupError?: string
  readonly singleIssuer: boolean
  readonly opcodes: ReadonlyArray<string>
  /** KERNEL_REQUIREMENTS names this kernel lacks (those this config needs make `supported` false). */
  readonly missing: ReadonlyArray<string>
  /** The config's `operations` ("all" when absent), and the Driver methods such a ring accepts. */
  readonly operations: Operations.Classes
  readonly accepts: ReadonlyArray<Operations.Method>
  /**
   * The inline engine's wake modes (Config's `inlineWake`): those this kernel can open ("eventfd"
   * needs SINGLE_ISSUER | DEFER_TASKRUN, Linux 6.1, and singleIssuer; "ringfd" opens wherever a
   * ring does, on a COOP_TASKRUN ring from Linux 5.19 and a plain one before; none where no ring
   * opens: io_uring refused, the addon missing), the one a Driver opened with
   * `config` gets (its `inlineWake`, or the fallback where that is unavailable), and the fallback
   * (the other mode: what the Driver opens where the kernel refuses the one asked for).
   */
  readonly inlineWake: InlineWakeProbe
}

export interface InlineWakeProbe {
  readonly available: ReadonlyArray<Config.InlineWake>
  readonly chosen: Config.InlineWake
  readonly fallback: Config.InlineWake
  /** COOP_TASKRUN | TASKRUN_FLAG accepted (Linux 5.19): "ringfd" gets the cooperative ring. */
  readonly coopTaskrun: boolean
}

/**
 * What probe() says of the inline wake modes, from the kernel's answers (raw) and `config`;
 * `rings`: false where no ring opens (then none is available, and `chosen` is the one asked for).
 */
const inlineWakeOf = (
  config: Config.Config,
  deferTaskrun: boolean,
  coopTaskrun: boolean,
  rings = true,
): InlineWakeProbe => {
  const asked: Config.InlineWake = config.inlineWake ?? Config.DEFAULTS.inlineWake
  const other: Config.InlineWake = asked === "ringfd" ? "eventfd" : "ringfd"
  const available: Array<Config.InlineWake> = deferTaskrun && config.singleIssuer !== false ? ["eventfd"] : []
  if (rings) available.push("ringfd")
  const chosen = available.includes(asked) || !rings ? asked : other
  return { available, chosen, fallback: other, coopTaskrun }
}

const errnoName = (errno: number): string => {
  for (const [name, value] of Object.entries(constants.errno)) if (value === errno) return name
  return `errno ${errno}`
}

const errnoNumber = (name: string): number | undefined => (constants.errno as Record<string, number | undefined>)[name]

/** Why io_uring_setup failed with `errno`, in words a person can act on. */
export const explainSetupError = (errno: number, disabled: number): string => {
  const name = errnoName(errno)
  switch (name) {
    case "ENOSYS":
      return "io_uring_setup failed with ENOSYS: this kernel was built without io_uring (CONFIG_IO_URING) or is older than 5.1"
    case "EPERM":
      return disabled > 0
        ? `io_uring_setup failed with EPERM: the sysctl kernel.io_uring_disabled is ${disabled} (0 enables io_uring for everyone)`
        : "io_uring_setup failed with EPERM: a seccomp filter (for example Docker's default profile) or an LSM refuses io_uring; run with a profile that allows io_uring_setup/io_uring_enter/io_uring_register"
    case "ENOMEM":
      return "io_uring_setup failed with ENOMEM: the locked-memory limit (ulimit -l, RLIMIT_MEMLOCK) is too small for a ring on this kernel"
    default:
      return `io_uring_setup failed with ${name}`
  }
}

/**
 * What IOU_SIMULATE_MISSING asks to pretend is missing: a comma-separated list of
 *
 * - `ADDON`: the addon does not load (as if it were not built);
 * - `IO_URING` or `IO_URING:<errno name>`: io_uring_setup fails (default ENOSYS; `IO_URING:EPERM` is
 *   what Docker's default seccomp profile gives);
 * - any name of KERNEL_REQUIREMENTS (`EXT_ARG`, `POLL_MULTISHOT`, `NODROP`, `SINGLE_ISSUER`,
 *   `OP_SEND`, …): the kernel lacks that feature.
 *
 * probe() and Driver.open both read it here, at each call, so a test or a user trying their fallback
 * path can set it on a kernel that has everything. Unknown names are ignored.
 */
export interface Simulation {
  readonly addon: boolean
  readonly setupErrno: number
  readonly features: ReadonlySet<string>
}

export const simulation = (): Simulation => {
  const value = process.env["IOU_SIMULATE_MISSING"] ?? ""
  let addon = false
  let setupErrno = 0
  const features = new Set<string>()
  for (const item of value.split(",")) {
    const name = item.trim().toUpperCase()
    if (name === "") continue
    if (name === "ADDON") addon = true
    else if (name === "IO_URING") setupErrno = constants.errno.ENOSYS
    else if (name.startsWith("IO_URING:")) setupErrno = errnoNumber(name.slice(9)) ?? constants.errno.ENOSYS
    else features.add(name)
  }
  return { addon, setupErrno, features }
}

/** What a ring opened with `config` accepts (an invalid `operations` is Driver.open's to refuse). */
const accepting = (config: Config.Config): Pick<Probe, "operations" | "accepts"> => {
  const operations = Operations.CLASSES.includes(config.operations as Operations.Classes)
    ? (config.operations as Operations.Classes)
    : "all"
  const methods = Object.keys(Operations.OPERATIONS) as Array<Operations.Method>
  return { operations, accepts: methods.filter((m) => Operations.accepts(operations, Operations.OPERATIONS[m].op)) }
}

const unsupported = (reason: string, config: Config.Config): Probe => ({
  supported: false,
  reason,
  kernel: "unknown",
  singleIssuer: false,
  opcodes: [],
  missing: [],
  ...accepting(config),
  inlineWake: inlineWakeOf(config, false, false, false),
})

/** The addon's raw probe with the simulation applied, or why there is none. */
const rawProbe = (sim: Simulation, cached: boolean): NativeProbe | string => {
  const old = nodeTooOld()
  if (old !== undefined) return old
  const b = loadBinding()
  if (sim.addon) return `the native addon is not built (simulated by IOU_SIMULATE_MISSING=ADDON)`
  if (typeof b === "string") return b
  let raw: NativeProbe
  try {
    raw = cached ? (cachedProbe ??= b.probe()) : b.probe()
  } catch (error) {
    return `the native addon failed: ${String(error)}`
  }
  if (cached && raw.setupErrno !== 0) cachedProbe = undefined // a failed setup may be transient (EMFILE)
  // As the addon reports a refused io_uring_setup: nothing it could only learn from a ring.
  return sim.setupErrno !== 0
    ? {
        ...raw,
        setupErrno: sim.setupErrno,
        singleIssuer: false,
        coopTaskrun: false,
        features: 0,
        opcodes: raw.opcodes.map(() => false),
      }
    : raw
}
let cachedProbe: NativeProbe | undefined

/** The reason a Driver with `config` cannot open, from what the kernel lacks (undefined: nothing). */
const lacking = (
  raw: NativeProbe,
  config: Config.Config,
  sim: Simulation,
): { missing: Array<string>; reason?: string } => {
  const missing = KERNEL_REQUIREMENTS.filter((r) => sim.features.has(r.name) || !r.present(raw))
  const needed = missing.filter((r) => r.neededBy(config))
  const names = missing.map((r) => r.name)
  if (needed.length === 0) return { missing: names }
  const list = needed.map((r) => `${r.name} (Linux ${r.kernel}: ${r.use})`).join(", ")
  return {
    missing: names,
    reason: `this kernel's io_uring lacks what the loop needs: ${list}; Linux ${MINIMUM_KERNEL} or newer has it all (kernel ${raw.kernel})`,
  }
}

const build = (raw: NativeProbe, config: Config.Config, sim: Simulation): Probe => {
  const opcodes = raw.opcodes.flatMap((ok, i) => {
    const name = OPCODE_NAMES[i] ?? `OP_${i}`
    return ok && !sim.features.has(`OP_${name}`) ? [name] : []
  })
  const disabled: 0 | 1 | 2 | undefined =
    raw.ioUringDisabled === 0 || raw.ioUringDisabled === 1 || raw.ioUringDisabled === 2
      ? raw.ioUringDisabled
      : undefined
  const base = {
    kernel: raw.kernel,
    singleIssuer: raw.singleIssuer && !sim.features.has("SINGLE_ISSUER"),
    opcodes,
    ...(disabled === undefined ? {} : { ioUringDisabled: disabled }),
    ...accepting(config),
    inlineWake: inlineWakeOf(
      config,
      raw.singleIssuer && !sim.features.has("SINGLE_ISSUER"),
      raw.coopTaskrun === true && !sim.features.has("COOP_TASKRUN"),
      raw.setupErrno === 0,
    ),
  }
  if (raw.setupErrno !== 0) {
    return {
      ...base,
      supported: false,
      missing: [],
      setupError: errnoName(raw.setupErrno),
      reason:
        explainSetupError(raw.setupErrno, disabled ?? 0) +
        (sim.setupErrno !== 0 ? " (simulated by IOU_SIMULATE_MISSING)" : ""),
    }
  }
  const { missing, reason } = lacking(raw, config, sim)
  return reason === undefined ? { ...base, missing, supported: true } : { ...base, missing, supported: false, reason }
}

/**
 * Whether a Driver opened with `config` (default: the Driver's defaults) would work here, and why
 * not. Never throws. Each call asks the kernel again.
 */
export const probe = (config: Config.Config = {}): Probe => {
  const sim = simulation()
  const raw = rawProbe(sim, false)
  return typeof raw === "string" ? unsupported(raw, config) : build(raw, config, sim)
}

/**
 * Driver.open's check before it starts a loop: undefined when the addon loads and the kernel has what
 * `config` needs, else the reason (with `emfile` when loading the addon failed for want of a file
 * descriptor: that is no missing addon). The kernel's answer is asked once per process (features do
 * not change); a failed io_uring_setup is left to the loop's own open, which reports its errno.
 */
export const preflight = (config: Config.Config): { readonly reason: string; readonly emfile: boolean } | undefined => {
  const sim = simulation()
  const raw = rawProbe(sim, true)
  if (typeof raw === "string") return { reason: raw, emfile: outOfFds(raw) }
  if (raw.setupErrno !== 0) return undefined
  const reason = lacking(raw, config, sim).reason
  return reason === undefined ? undefined : { reason, emfile: false }
}

/**
 * The optional opcodes (rows no config needs: OP_SOCKET, OP_BIND, OP_LISTEN) that this kernel lacks
 * or IOU_SIMULATE_MISSING says it lacks: the Driver makes those calls itself instead of submitting
 * them. Asked once per process, as preflight.
 */
export const fallbackOps = (): ReadonlySet<string> => {
  const sim = simulation()
  const raw = rawProbe(sim, true)
  const optional = KERNEL_REQUIREMENTS.filter((r) => r.name.startsWith("OP_") && !r.neededBy({}))
  if (typeof raw === "string") return new Set(optional.map((r) => r.name))
  return new Set(optional.filter((r) => sim.features.has(r.name) || !r.present(raw)).map((r) => r.name))
}

/**
 * Opens `native` with `config`, or throws what the Driver reports for a refusal: Node's EMFILE or
 * ENFILE error when out of file descriptors (that is not "io_uring unavailable"), otherwise
 * ERR_IOU_UNAVAILABLE with probe(config)'s explanation. IOU_SIMULATE_MISSING's setup errno stands
 * in for the kernel's answer here as in probe(), and its SINGLE_ISSUER opens the fallback ring (as
 * a kernel that refuses SINGLE_ISSUER | DEFER_TASKRUN does: the inline engine's eventfd wake falls
 * back to the ring fd).
 */
export const openLoop = (native: NativeLoop, config: Config.ResolvedConfig, pool?: Uint8Array): void => {
  const sim = simulation()
  const rc =
    sim.setupErrno !== 0
      ? -sim.setupErrno
      : native.open(
          config.size,
          config.singleIssuer && !sim.features.has("SINGLE_ISSUER"),
          config.ioPoll,
          config.maxRequestTimeout * 1e6,
          config.timeoutWheelTick * 1e6,
          config.idleSpin,
          config.engine === "inline" ? IOU_ENGINE_INLINE : IOU_ENGINE_THREAD,
          Operations.classBits(config.operations),
          config.maxInFlight,
          pool,
          config.recvBuffers.size,
          config.inlineWake === "ringfd" ? IOU_INLINE_WAKE_RINGFD : IOU_INLINE_WAKE_EVENTFD,
        )
  if (rc === -constants.errno.EMFILE || rc === -constants.errno.ENFILE) throw errnoError(rc, "open", undefined)
  if (rc < 0) {
    const p = probe(config)
    throw unavailableError(p.supported ? explainSetupError(-rc, p.ioUringDisabled ?? 0) : (p.reason ?? ""), rc)
  }
}
