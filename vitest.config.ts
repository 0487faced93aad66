import { defineConfig } from "vitest/config"
import projects from "./vitest.workspace.ts"

// vitest 5 targets Node >= 22.12. The project pins Node 24, but a contributor who runs vitest with
// the machine's Node 20 would get an unreadable failure report (Map.groupBy is Node 21+). The
// polyfill lives here because the reporter runs in this process, not in the test workers.
type GroupBy = <K, T>(items: Iterable<T>, key: (item: T, index: number) => K) => Map<K, Array<T>>
const MapWithGroupBy = Map as unknown as { groupBy?: GroupBy }
MapWithGroupBy.groupBy ??= <K, T>(items: Iterable<T>, key: (item: T, index: number) => K) => {
  const out = new Map<K, Array<T>>()
  let index = 0
  for (const item of items) {
    const k = key(item, index++)
    const list = out.get(k)
    if (list) list.push(item)
    else out.set(k, [item])
  }
  return out
}
const ObjectWithGroupBy = Object as unknown as {
  groupBy?: (items: Iterable<unknown>, key: (item: unknown, index: number) => PropertyKey) => object
}
ObjectWithGroupBy.groupBy ??= (items, key) =>
  Object.assign(Object.create(null), Object.fromEntries(MapWithGroupBy.groupBy!(items, key)))

export default defineConfig({ test: { projects } })
