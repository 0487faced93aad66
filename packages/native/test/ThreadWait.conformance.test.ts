/**
 * Conformance of the thread engine's wait decision with @iou/core's ThreadWait: the C test program
 * test/c/thread-wait-decision-….c, built here from source with the system C compiler (as the addon
 * is) and run with --table, prints the C decision for every combination of the facts (4 fill
 * results x 8 booleans); the model must decide the same for each. Names are compared across the
 * languages with only the case changed (fill=AT_WAITER_CAPACITY is Loop.AtWaiterCapacity,
 * staging_left is stagingLeft, SUBMIT_ONLY is ThreadWait.SubmitOnly), so a renamed or added fact or
 * outcome on one side fails here too.
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Loop, ThreadWait } from "@iou/core"
import { afterAll, describe, expect, it } from "vitest"

const root = join(import.meta.dirname, "..")
const program = "thread-wait-decision-follows-its-rules-for-every-combination-of-facts"
const dir = mkdtempSync(join(tmpdir(), "iou-thread-wait-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const pascal = (snake: string) =>
  snake
    .toLowerCase()
    .split("_")
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join("")
const camel = (snake: string) => {
  const p = pascal(snake)
  return p[0]!.toLowerCase() + p.slice(1)
}

const FILLS: Record<string, Loop.FillResult> = {
  Drained: Loop.Drained,
  AtSubmissionQueueCapacity: Loop.AtSubmissionQueueCapacity,
  AtWaiterCapacity: Loop.AtWaiterCapacity,
  Disconnected: Loop.Disconnected,
}

/** One line of the C table: the facts and the C decision, names in the model's case. */
const parse = (line: string): { facts: ThreadWait.Facts; wait: string } => {
  const [left, wait] = line.split(" -> ") as [string, string]
  const facts: Record<string, unknown> = {}
  for (const pair of left.split(" ")) {
    const [name, value] = pair.split("=") as [string, string]
    if (name === "fill") {
      const fill = FILLS[pascal(value)]
      if (fill === undefined) throw new Error(`unknown fill result ${value}`)
      facts.fill = fill
    } else {
      expect(value === "0" || value === "1", `${name}=${value}`).toBe(true)
      facts[camel(name)] = value === "1"
    }
  }
  return { facts: facts as unknown as ThreadWait.Facts, wait: pascal(wait) }
}

describe("ThreadWait conformance with the C thread_wait.c", () => {
  it("decides every combination of the facts as iou__wait_decide does", () => {
    const exe = join(dir, program)
    execFileSync(
      "cc",
      [
        "-std=gnu11",
        "-D_GNU_SOURCE",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-Iinclude",
        "-Icsrc",
        `test/c/${program}.c`,
        "csrc/thread_wait.c",
        "-o",
        exe,
      ],
      { cwd: root, stdio: ["ignore", "inherit", "inherit"] },
    )
    const lines = execFileSync(exe, ["--table"], { encoding: "utf8" }).trim().split("\n")
    expect(lines).toHaveLength(4 * 256)
    const factNames = new Set<string>()
    const seen = new Set<string>()
    const mismatches: Array<string> = []
    for (const line of lines) {
      const { facts, wait } = parse(line)
      for (const name of Object.keys(facts)) factNames.add(name)
      seen.add(JSON.stringify(facts))
      const model = ThreadWait.decide(facts)._tag
      if (model !== wait) mismatches.push(`${line}: the model says ${model}`)
    }
    expect(mismatches).toEqual([])
    expect(seen.size).toBe(lines.length) // every combination once
    // The C table names every fact of the model's Facts, and every outcome occurs on both sides.
    expect([...factNames].sort()).toEqual(
      [
        "fill",
        "stagingLeft",
        "wakePoll",
        "waitersInFlight",
        "spinEnabled",
        "ownerInTurn",
        "turnWaitSpent",
        "oneCpu",
        "ownerOnLoopCpu",
      ].sort(),
    )
    const outcomes = new Set(lines.map((l) => pascal(l.split(" -> ")[1]!)))
    expect([...outcomes].sort()).toEqual(ThreadWait.all.map((w) => w._tag).sort())
  })
})
