/** The targets, checked against the medians of this run (they report; nothing fails). */
import type { ComparisonResult } from "./harness.ts"
import { si } from "./report.ts"

export interface TargetResult {
  readonly name: string
  readonly measured: string
  readonly wanted: string
  /** undefined: not measured in this run, or a reported row. */
  readonly met: boolean | undefined
  /** Shown next to a target, not one itself. */
  readonly reported?: boolean | undefined
  readonly note?: string | undefined
}

const rateOf = (results: ReadonlyArray<ComparisonResult>, id: string, variant: string): number | undefined => {
  const v = results.find((r) => r.id === id)?.variants.find((x) => x.name === variant)
  return v && !v.error && v.rounds.length ? v.rate.median : undefined
}

const extraOf = (results: ReadonlyArray<ComparisonResult>, id: string, key: string): number | undefined => {
  const x = results.find((r) => r.id === id)?.extra?.[key]
  return typeof x === "number" ? x : undefined
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
  return { name, measured: `${ratio.toFixed(2)}x`, wanted: `>= ${wanted}x`, met: ratio >= wanted }
}

/**
 * A measurement shown next to a target but not one itself: TCP echo against the node:net peer,
 * which needs a core of its own on the machine under test (bench/README.md, "The TCP peer").
 */
const reported = (t: TargetResult | undefined): TargetResult | undefined =>
  t && { ...t, wanted: "–", met: undefined, reported: true, note: t.note ?? "not a target: the peer takes a core" }

/** Which peer a TCP comparison ran against, from its notes (tcp.ts names it there). */
const peerOf = (results: ReadonlyArray<ComparisonResult>, id: string): string => {
  const notes = results.find((r) => r.id === id)?.notes ?? []
  return notes.some((n) => n.includes("tools/tcp-peer.c")) ? "C peer" : "node:net peer"
}

export const evaluateTargets = (results: ReadonlyArray<ComparisonResult>): Array<TargetResult> => {
  const out: Array<TargetResult | undefined> = [
    ratioTarget(
      results,
      "QD64 Driver Promise vs FileHandle.read",
      "read-qd64",
      "Driver Promise",
      "FileHandle.read",
      2.5,
    ),
    ratioTarget(results, "QD64 Driver callback vs fs.read", "read-qd64", "Driver callback", "fs.read (callback)", 1.2),
    ratioTarget(
      results,
      "QD64 Effect service vs FileHandle.read",
      "read-qd64",
      "Effect service",
      "FileHandle.read",
      1.5,
    ),
    ratioTarget(
      results,
      "QD64 Driver callback vs fio io_uring",
      "fio",
      "Driver callback",
      "fio io_uring randread",
      0.5,
    ),
    ratioTarget(
      results,
      `TCP echo, 16 connections: ring vs node:net (${peerOf(results, "tcp-echo-16")})`,
      "tcp-echo-16",
      "ring recv/send (callback)",
      "node:net",
      1,
    ),
    reported(
      ratioTarget(
        results,
        "the same against the node:net peer (reported)",
        "tcp-echo-16-node-peer",
        "ring recv/send (callback)",
        "node:net",
        1,
      ),
    ),
  ]
  if (results.some((r) => r.id === "nop")) {
    const nop = rateOf(results, "nop", "Driver callback, 256 in flight")
    out.push({
      name: "nop, callback API, batched",
      measured: nop === undefined ? "not measured" : `${si(nop)} ops/s`,
      wanted: ">= 1M ops/s",
      met: nop === undefined ? undefined : nop >= 1e6,
    })
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
  return out.filter((t): t is TargetResult => t !== undefined)
}
