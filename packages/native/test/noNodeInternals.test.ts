/**
 * No Node internals anywhere (issue 13): the examples, the demo, the tests and the bench get their
 * sockets from the ring (listen, accept, connect), never from a node:net socket's `_handle`, and
 * nothing reaches Node's private bindings. node:net stays as the baseline and the peer, through its
 * public API. Scans every TypeScript and JavaScript source of the repository but node_modules and
 * build output; this file spells the patterns in pieces so that it does not match itself.
 */
import { readdirSync, readFileSync } from "node:fs"
import { join, relative } from "node:path"
import { describe, expect, it } from "vitest"

const ROOT = join(import.meta.dirname, "..", "..", "..")
const SKIP = new Set(["node_modules", "dist", "build", "build-ctest", ".git", "results", ".build"])
const SOURCE = /\.(ts|mts|cts|js|mjs|cjs)$/

/** A private field or binding of Node: a socket's libuv handle, the internal module loaders. */
const INTERNALS: ReadonlyArray<RegExp> = [
  new RegExp(["\\.", "_handle", "\\b"].join("")),
  new RegExp(["internal", "Binding"].join("")),
  new RegExp(["process", "\\.binding\\("].join("")),
  new RegExp(["--expose-", "internals"].join("")),
]

const sources = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (entry.isDirectory()) return SKIP.has(entry.name) ? [] : sources(join(dir, entry.name))
    return SOURCE.test(entry.name) ? [join(dir, entry.name)] : []
  })

describe("no Node internals", () => {
  it("no source of the repository (packages, tests, examples, bench, scripts) uses a private field or binding of Node", () => {
    const files = sources(ROOT)
    // The scan reaches every part it is about.
    for (const part of ["packages", "examples", "bench", "scripts"]) {
      expect(files.some((file) => relative(ROOT, file).startsWith(`${part}/`))).toBe(true)
    }
    const uses = files.flatMap((file) => {
      const text = readFileSync(file, "utf8")
      return INTERNALS.filter((pattern) => pattern.test(text)).map((pattern) => `${relative(ROOT, file)}: ${pattern}`)
    })
    expect(uses).toEqual([])
  })

  it("the patterns find a socket's handle fd and a private binding where they are used", () => {
    const sample = ["const fd = socket.", "_handle.fd; process.", "binding('fs')"].join("")
    expect(INTERNALS.filter((pattern) => pattern.test(sample))).toHaveLength(2)
  })
})
