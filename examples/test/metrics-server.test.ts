/**
 * `npm run metrics`, run as a user would and scraped over HTTP: the outcome counters' HELP lines
 * say what they count, and the counts agree with them (the program's work includes one request per
 * round whose deadline has passed: a timeout, which is not a failure).
 */
import { describe, expect, it } from "vitest"
import { probe } from "@iou/native"
import { expectOneLine, run, start, withPortInUse } from "./programs.ts"

const value = (text: string, name: string): number => {
  const line = text.split("\n").find((line) => line.startsWith(`${name}{ring="default"} `))
  if (line === undefined) throw new Error(`no ${name} in:\n${text}`)
  return Number(line.split(" ")[1])
}

const help = (text: string, name: string): string =>
  text.split("\n").find((line) => line.startsWith(`# HELP ${name} `)) ?? `no HELP line for ${name}`

describe.skipIf(!probe().supported)("metrics (skipped where the kernel refuses io_uring)", () => {
  it("timeouts are counted in iou_timed_out_total and not in iou_failed_total, and the HELP lines say so", async () => {
    const server = start("metrics-server.ts", { PORT: "0" })
    try {
      const url = (await server.waitFor(/http:\/\/127\.0\.0\.1:\d+\/metrics/))[0]
      let text = await (await fetch(url)).text()
      while (value(text, "iou_timed_out_total") === 0) text = await (await fetch(url)).text()
      expect(value(text, "iou_failed_total")).toBe(0)
      expect(help(text, "iou_failed_total")).toMatch(/ended with an error/)
      expect(help(text, "iou_failed_total")).toMatch(/Timeouts, cancellations and abandonments are not counted here/)
      expect(help(text, "iou_timed_out_total")).toMatch(/timeout passed before the operation finished/)
      expect(help(text, "iou_cancelled_total")).toMatch(/caller cancelled them .* before the operation finished/)
    } finally {
      await server.stop()
    }
  })

  it("a port in use or a bad setting is one line on stderr and exit code 1, as the other examples", async () => {
    await withPortInUse((port) =>
      expectOneLine(
        run("metrics-server.ts", [], { env: { PORT: String(port) } }),
        `metrics: cannot listen on 127.0.0.1:${port}: address already in use (EADDRINUSE)`,
      ),
    )
    expectOneLine(run("metrics-server.ts", [], { env: { PORT: "abc" } }), /^metrics: .*PORT/)
    expectOneLine(run("metrics-server.ts", [], { env: { PORT: "0", IOU_SIZE: "bogus" } }), /^metrics: .*IOU_SIZE/)
  }, 30_000)
})
