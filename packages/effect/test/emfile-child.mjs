// Run by IoUringServices.test.ts in a process of its own: builds IoUringServices.layer once (every
// module loaded), opens /dev/null until the process is out of fds, builds the layer again and
// prints how that build ended.
import * as fs from "node:fs"
import { Cause, Effect, Exit, Layer } from "effect"
import { IoUringServices } from "@iou/effect"

const build = () => Effect.runPromiseExit(Effect.scoped(Layer.build(IoUringServices.layer({ config: { size: 8 } }))))
await build()
const held = []
try {
  for (;;) held.push(fs.openSync("/dev/null", "r"))
} catch {
  // EMFILE: out of fds
}
const exit = await build()
for (const fd of held) fs.closeSync(fd)
const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
console.log(JSON.stringify({ failed: Exit.isFailure(exit), code: error?.code }))
