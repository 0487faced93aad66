/**
 * The issues' targets, checked against the medians of this run (they report; nothing fails): issue
 * 12's table first (the inline engine; the thread engine's figures beside it), then the earlier ones.
 */
import { FIO } from "./fio.ts"
import type { ComparisonResult } from "./harness.ts"
import { NOP_CB_BATCHED } from "./nop.ts"
import { RAW_C } from "./raw-read.ts"
import { BASELINE, EFFECT, FS_READ, RING_CB, RING_PROMISE } from "./read.ts"
import { si } from "./report.ts"
import { withEngine } from "./ring.ts"
import type { Engine } from "./ring.ts"
import { NODE_FS, NODE_SERVER, RING_FS, RING_SERVER } from "./platform.ts"
import {
  NODE_CALLBACK as FILES_NODE_CALLBACK,
  NODE_PROMISE as FILES_NODE_PROMISE,
  RING_CALLBACK_READ_FILE as FILES_CALLBACK,
  RING_READ_FILE as FILES_PROMISE,
} from "./smallfiles.ts"
import { ACCEPT_CB, RING_CB as TCP_CB, RING_MANY as TCP_MANY } from "./tcp.ts"

const NODE = "node:net"

export interface TargetResult {
  readonly name: string
  readonly measured: string
  readonly wanted: string
  /** undefined: not measured in this run, or a reported row. */
  readonly met: boolean | undefined
  /** Shown next to a target, not one itself. */
  readonly reported?: boolean | undefined
  readonly note?: string | undefined
  /** A `>= Nx` target's ratio, unrounded (what `met` was decided on). */
  readonly ratio?: number | undefined
  /** A `>= Nx` target's N. */
  readonly wantedRatio?: number | undefined
}

const rateOf = (results: ReadonlyArray<ComparisonResult>, id: string, variant: string): number | undefined => {
  const v = results.find((r) => r.id === id)?.variants.find((x) => x.name === variant)
  return v && !v.error && v.rounds.length ? v.rate.median : undefined
}

const extraOf = (results: ReadonlyArray<ComparisonResult>, id: string, key: string): number | undefined => {
  const x = results.find((r) => r.id === id)?.extra?.[key]
  return typeof x === "number" ? x : undefined
}

const variantOf = (results: ReadonlyArray<ComparisonResult>, id: string, variant: string) => {
  const v = results.find((r) => r.id === id)?.variants.find((x) => x.name === variant)
  return v && !v.error && v.rounds.length ? v : undefined
}

const ratioTarget = (
  results: ReadonlyArray<ComparisonResult>,
  name: string,
  id: string,
  a: string,
  b: string,
  wanted: number,
): TargetResult | undefined => {
  if (!results.some((r) => r.id === id)) return undefined
  const x = rateOf(results, id, a)
  const y = rateOf(results, id, b)
  if (x === undefined || y === undefined) {
    return { name, measured: "not measured", wanted: `>= ${wanted}x`, met: undefined, note: `${a} or ${b} missing` }
  }
  const ratio = x / y
  return {
    name,
    measured: `${shownRatio(ratio)}x`,
    wanted: `>= ${wanted}x`,
    met: ratio >= wanted,
    ratio,
    wantedRatio: wanted,
  }
}

/** `a`'s figure (p99 µs, CPU µs per unit) at most `b`'s: lower is better. */
const atMostTarget = (
  results: ReadonlyArray<ComparisonResult>,
  name: string,
  id: string,
  a: string,
  b: string,
  figure: (v: NonNullable<ReturnType<typeof variantOf>>) => number | undefined,
  unit: string,
): TargetResult | undefined => {
  if (!results.some((r) => r.id === id)) return undefined
  const va = variantOf(results, id, a)
  const vb = variantOf(results, id, b)
  const x = va && figure(va)
  const y = vb && figure(vb)
  if (x === undefined || y === undefined) {
    return { name, measured: "not measured", wanted: `<= ${b}'s`, met: undefined, note: `${a} or ${b} missing` }
  }
  return {
    name,
    measured: `${x.toPrecision(3)} ${unit}`,
    wanted: `<= ${y.toPrecision(3)} ${unit} (${b})`,
    met: x <= y,
  }
}

/** A measurement shown next to the targets but not one itself (every engine's rows but inline's). */
const reported = (t: TargetResult | undefined): TargetResult | undefined =>
  t && { ...t, met: undefined, reported: true }

/**
 * A ratio as the tables show it: three decimals, rounded down, so that a shown value never reaches
 * a target the unrounded ratio misses (1.9996 shows as 1.999, NOT met, not as 2.000).
 */
export const shownRatio = (ratio: number): string => (Math.floor(ratio * 1000) / 1000).toFixed(3)

/** Which peer a TCP comparison ran against, from its notes (tcp.ts names it there). */
const peerOf = (results: ReadonlyArray<ComparisonResult>, id: string): string => {
  const notes = results.find((r) => r.id === id)?.notes ?? []
  return notes.some((n) => n.includes("tools/tcp-peer.c")) ? "C peer" : "node:net peer"
}

/**
 * Issue 12's targets, for one engine: reads against the raw io_uring C reader, TCP against node:net,
 * CPU per echo message against node:net's. They are the inline engine's targets; the thread
 * engine's figures are shown beside them as reported rows.
 */
const engineTargets = (results: ReadonlyArray<ComparisonResult>, engine: Engine): Array<TargetResult | undefined> => {
  const e = (name: string) => withEngine(name, engine)
  const cpu = (v: { cpuUsPerUnit?: number | undefined }) => v.cpuUsPerUnit
  const p99 = (v: { p99Us?: { median: number } | undefined }) => v.p99Us?.median
  const echo16 = peerOf(results, "tcp-echo-16")
  const echo16Wanted = echo16 === "C peer" ? 1.8 : 1.1
  return [
    ratioTarget(results, `[${engine}] QD64 read, callback vs raw C`, "read-qd64", e(RING_CB), RAW_C, 0.8),
    ratioTarget(results, `[${engine}] QD64 read, Promise vs raw C`, "read-qd64", e(RING_PROMISE), RAW_C, 0.7),
    ratioTarget(results, `[${engine}] QD64 read, Effect vs raw C`, "read-qd64", e(EFFECT), RAW_C, 0.6),
    ratioTarget(results, `[${engine}] QD1 read, callback vs raw C`, "read-qd1", e(RING_CB), RAW_C, 0.5),
    atMostTarget(results, `[${engine}] depth-1 read p99, callback`, "latency-qd1", e(RING_CB), FS_READ, p99, "µs"),
    ratioTarget(results, `[${engine}] TCP echo, 1 connection, vs node:net`, "tcp-echo-1", e(TCP_CB), NODE, 1.1),
    ratioTarget(
      results,
      `[${engine}] TCP echo, 16 connections, vs node:net (${echo16})`,
      "tcp-echo-16",
      e(TCP_CB),
      NODE,
      echo16Wanted,
    ),
    ratioTarget(
      results,
      `[${engine}] TCP echo, 16 connections, vs node:net (node:net peer)`,
      "tcp-echo-16-node-peer",
      e(TCP_CB),
      NODE,
      1.1,
    ),
    ratioTarget(results, `[${engine}] TCP stream receive vs node:net`, "tcp-stream-recv", e(TCP_CB), NODE, 1.5),
    ratioTarget(results, `[${engine}] TCP stream send vs node:net`, "tcp-stream-send", e(TCP_CB), NODE, 1.0),
    atMostTarget(results, `[${engine}] CPU per echo message, 1 connection`, "tcp-echo-1", e(TCP_CB), NODE, cpu, "µs"),
    atMostTarget(
      results,
      `[${engine}] CPU per echo message, 16 connections (${echo16})`,
      "tcp-echo-16",
      e(TCP_CB),
      NODE,
      cpu,
      "µs",
    ),
  ]
}

export const evaluateTargets = (
  results: ReadonlyArray<ComparisonResult>,
  engines: ReadonlyArray<Engine>,
): Array<TargetResult> => {
  const out: Array<TargetResult | undefined> = []
  for (const engine of engines) {
    const rows = engineTargets(results, engine)
    // The targets are the default engine's; the others' rows (thread, a baseline build, an inline
    // wake mode asked for by name) are shown beside them.
    out.push(...(engine === "inline" ? rows : rows.map(reported)))
  }
  if (results.some((r) => r.id === "idle")) {
    const seconds = extraOf(results, "idle", "seconds")
    // The target is per 10 s; a shorter (quick) window is scaled to 10 s.
    const per10 = (key: string) => {
      const ms = extraOf(results, "idle", key)
      return ms === undefined || seconds === undefined ? undefined : (ms * 10) / seconds
    }
    for (const [key, what] of [
      ["idleCpuMs", "idle"],
      ["pendingCpuMs", `with ${si(extraOf(results, "idle", "pending"))} receives pending`],
    ] as const) {
      const ms = per10(key)
      out.push({
        name: `[inline] idle Driver, ${what}: process CPU per 10 s`,
        measured: ms === undefined ? "not measured" : `${ms.toFixed(1)} ms`,
        wanted: "<= 10 ms",
        met: ms === undefined ? undefined : ms <= 10,
        note: seconds !== undefined && seconds !== 10 ? `measured over ${seconds} s, scaled to 10 s` : undefined,
      })
    }
  }
  // Earlier targets (the thread engine's first benchmarks), on the first engine of the run: judged
  // when it is the default (inline) engine, as every target, else reported beside the others.
  const first = engines[0]
  if (first !== undefined) {
    const e = (name: string) => withEngine(name, first)
    const judged = (t: TargetResult | undefined) => (first === "inline" ? t : reported(t))
    const earlier: Array<TargetResult | undefined> = [
      ratioTarget(
        results,
        `[${first}] QD64 Driver Promise vs FileHandle.read`,
        "read-qd64",
        e(RING_PROMISE),
        BASELINE,
        2.5,
      ),
      ratioTarget(results, `[${first}] QD64 Driver callback vs fs.read`, "read-qd64", e(RING_CB), FS_READ, 1.2),
      ratioTarget(results, `[${first}] QD64 Effect service vs FileHandle.read`, "read-qd64", e(EFFECT), BASELINE, 1.5),
      ratioTarget(results, `[${first}] QD64 Driver callback vs fio io_uring`, "fio", e(RING_CB), FIO, 0.5),
    ]
    if (results.some((r) => r.id === "nop")) {
      const nop = rateOf(results, "nop", e(NOP_CB_BATCHED))
      earlier.push({
        name: `[${first}] nop, callback API, batched`,
        measured: nop === undefined ? "not measured" : `${si(nop)} ops/s`,
        wanted: ">= 1M ops/s",
        met: nop === undefined ? undefined : nop >= 1e6,
      })
    }
    out.push(...earlier.map(judged))
  }
  if (results.some((r) => r.id === "memory")) {
    const growth = extraOf(results, "memory", "rssGrowth")
    out.push({
      name: `RSS after ${si(extraOf(results, "memory", "opsTotal"))} mixed ops vs after ${si(extraOf(results, "memory", "opsFirst"))}`,
      measured: growth === undefined ? "not measured" : `${(growth * 100).toFixed(1)}%`,
      wanted: "<= +10%",
      met: growth === undefined ? undefined : growth <= 0.1,
    })
  }
  for (const engine of engines) {
    const rows = issue13And14Targets(results, engine)
    // The targets are the default engine's; the others' rows (thread, a baseline build, an inline
    // wake mode asked for by name) are shown beside them.
    out.push(...(engine === "inline" ? rows : rows.map(reported)))
  }
  return out.filter((t): t is TargetResult => t !== undefined)
}

/** Issues 13 and 14: small files, many connections, accepts, and Effect's platform services. */
const issue13And14Targets = (
  results: ReadonlyArray<ComparisonResult>,
  engine: Engine,
): Array<TargetResult | undefined> => {
  const e = (name: string) => withEngine(name, engine)
  const out: Array<TargetResult | undefined> = []
  for (const size of [4, 64]) {
    for (const depth of [1, 64]) {
      const id = `files-${size}k-qd${depth}`
      out.push(
        ratioTarget(
          results,
          `${size} KiB files, ${depth} at a time, Promise / fs.promises.readFile (${engine})`,
          id,
          e(FILES_PROMISE),
          FILES_NODE_PROMISE,
          2,
        ),
        ratioTarget(
          results,
          `${size} KiB files, ${depth} at a time, callback / fs.readFile (${engine})`,
          id,
          e(FILES_CALLBACK),
          FILES_NODE_CALLBACK,
          1.2,
        ),
      )
    }
  }
  out.push(
    // A server's receive on many connections is recvMany (a provided buffer per message, none per
    // idle connection): the target's row. recv/send, one buffer per connection, is shown beside it.
    ratioTarget(
      results,
      `TCP echo, 1,000 connections, recvMany/send callback / node:net (${engine})`,
      "tcp-echo-1000",
      e(TCP_MANY),
      NODE,
      1.5,
    ),
    reported(
      ratioTarget(
        results,
        `TCP echo, 1,000 connections, recv/send callback / node:net (${engine})`,
        "tcp-echo-1000",
        e(TCP_CB),
        NODE,
        1.5,
      ),
    ),
    ratioTarget(results, `accepts per second, callback / node:net (${engine})`, "tcp-accept", e(ACCEPT_CB), NODE, 1),
    ratioTarget(results, `Effect readFile 4 KiB, 64 fibers (${engine})`, "effect-readfile-4k", e(RING_FS), NODE_FS, 2),
    ratioTarget(results, `Effect stream of 256 MiB (${engine})`, "effect-stream", e(RING_FS), NODE_FS, 1.5),
    ratioTarget(
      results,
      `Effect File.read 4 KiB random, 64 fibers (${engine})`,
      "effect-file-read-4k",
      e(RING_FS),
      NODE_FS,
      3,
    ),
    ratioTarget(
      results,
      `Effect SocketServer echo, 16 connections (${engine})`,
      "effect-echo-16",
      e(RING_SERVER),
      NODE_SERVER,
      1.5,
    ),
    ratioTarget(
      results,
      `Effect SocketServer echo, 256 connections (${engine})`,
      "effect-echo-256",
      e(RING_SERVER),
      NODE_SERVER,
      1.5,
    ),
  )
  return out
}
