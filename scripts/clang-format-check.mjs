// Checks the C sources against .clang-format when clang-format is installed (apt-get install
// clang-format); says so and passes when it is not, since it is a style check, not a test.
import { spawnSync } from "node:child_process"
import { readdirSync } from "node:fs"
import { join } from "node:path"

const which = spawnSync("clang-format", ["--version"])
if (which.error) {
  console.log("clang-format not installed: C formatting not checked (apt-get install clang-format)")
  process.exit(0)
}
const roots = [
  "packages/native/csrc",
  "packages/native/include",
  "packages/native/binding",
  "packages/native/test/c",
  "bench/tools",
]
const files = roots.flatMap((dir) =>
  readdirSync(dir)
    .filter((f) => /\.(c|h|cc)$/.test(f))
    .map((f) => join(dir, f)),
)
const result = spawnSync("clang-format", ["--dry-run", "--Werror", ...files], { stdio: "inherit" })
process.exit(result.status ?? 1)
