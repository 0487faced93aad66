/**
 * Loads the compiled addon (build/Release/iou.node) and types what it exports. The path is the same
 * from src/ (tests) and dist/ (built), both one level below the package root.
 */
import { createRequire } from "node:module"

export interface NativeProbe {
  readonly kernel: string
  readonly ioUringDisabled: number
  readonly setupErrno: number
  readonly singleIssuer: boolean
  readonly features: number
  readonly opcodes: ReadonlyArray<boolean>
}

export interface NativeBinding {
  probe(): NativeProbe
}

const require = createRequire(import.meta.url)
export const binding: NativeBinding = require("../build/Release/iou.node")
