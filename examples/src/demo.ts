// The first thing a user runs: what this machine's kernel offers, through @iou/native's probe().
import { probe } from "@iou/native"

const p = probe()
console.log(`kernel ${p.kernel}: io_uring ${p.supported ? "usable" : `refused (${p.reason})`}`)
console.log(`SINGLE_ISSUER + DEFER_TASKRUN: ${p.singleIssuer ? "accepted" : "not accepted"}`)
console.log(`opcodes: ${p.opcodes.length} supported`)
