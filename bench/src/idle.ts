/**
 * The idle check (`idle` suite): what an inline Driver costs while nothing happens. A Driver of its
 * own (the run's config, engine "inline") sits idle for 10 s (2 s in quick mode), then again with
 * 1,000 receives pending on connected TCP sockets that never get data. The result is the process's
 * CPU time (user + sys over all its threads, process.cpuUsage()) over each window: the inline engine
 * has no thread, no spin and no timer while no deadline is pending, so both should be near zero.
 *
 * The sockets: 1,000 loopback connections the Driver itself makes (listen, accept, connect); the
 * clients never write. The receives are cancelled with an AbortSignal after the window, before the
 * fds are closed.
 */
import { closeSync } from "node:fs"
import type { Suite } from "./context.ts"
import type { ComparisonResult } from "./harness.ts"
import { addCpu, cpuNow, zeroCpu } from "./cpu.ts"
import { openDriver } from "./ring.ts"
import type { Ring } from "./ring.ts"

const PENDING = 1000

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** `count` loopback connections made by the ring (listen, accept, connect): the accepted fds and the clients'. */
const connectPairs = async (ring: Ring, count: number) => {
  const accepted: Array<number> = []
  const clients: Array<number> = []
  const listener = await ring.listen({ host: "127.0.0.1", port: 0 })
  const port = (listener.localAddress as { port: number }).port
  try {
    for (let i = 0; i < count; i += 100) {
      const n = Math.min(100, count - i)
      const batch = Array.from({ length: n }, () =>
        Promise.all([ring.accept(listener), ring.connect({ host: "127.0.0.1", port })]).then(([a, c]) => {
          accepted.push(a.fd)
          clients.push(c.fd)
        }),
      )
      await Promise.all(batch)
    }
  } finally {
    closeSync(listener.fd)
  }
  return {
    accepted,
    close: () => {
      for (const fd of accepted) closeSync(fd)
      for (const fd of clients) closeSync(fd)
    },
  }
}

/**
 * Process CPU (ms), the per-thread split and the Driver's own activity (io_uring_enter calls,
 * completions) over `ms` of doing nothing on the JS thread. No forced GC before it: a full
 * collection arms V8's memory reducer, whose follow-up collection would then fall in the window.
 */
const idleWindow = async (ring: Ring, ms: number) => {
  await sleep(500) // what the set-up started (socket callbacks, promise jobs) ends outside the window
  const s0 = ring.stats()
  const threads0 = cpuNow()
  const u0 = process.cpuUsage()
  await sleep(ms)
  const u = process.cpuUsage(u0)
  const threads = zeroCpu()
  addCpu(threads, threads0, cpuNow())
  const s = ring.stats()
  return {
    cpuMs: (u.user + u.system) / 1000,
    threads,
    enters: s.enters - s0.enters,
    completed: s.completed - s0.completed,
  }
}

export const idleSuite: Suite = {
  id: "idle",
  description: `an inline Driver idle for 10 s, then with ${PENDING} receives pending: the process's CPU`,
  build: async (ctx) => {
    const seconds = ctx.quick ? 2 : 10
    const run = async (): Promise<ComparisonResult> => {
      const base = {
        id: "idle",
        title: `an idle inline Driver: process CPU over ${seconds} s`,
        unit: `ms CPU in ${seconds} s`,
        kind: "throughput" as const,
      }
      // Size 1024: every one of the pending receives is in the kernel, none waits for ring space.
      // The first inline flavour of BENCH_ENGINES (inline-ringfd: the ring-fd wake), else "inline".
      const engine = ctx.engines.find((e) => e.startsWith("inline")) ?? "inline"
      const load = await openDriver(engine, { size: 1024 })
      if (!load.ok) return { ...base, variants: [], notes: [`skipped: ${load.reason}`] }
      const ring = load.ring
      const notes: Array<string> = [
        `engine: ${engine}`,
        "process CPU = user + sys of every thread of this process (process.cpuUsage()); the run's other Drivers, if open, are idle too and included",
        "per-thread split from /proc/self/task/*/schedstat; the JS thread's share includes reading those files for the split itself",
      ]
      const split = (t: ReturnType<typeof zeroCpu>) =>
        `js ${(t.js * 1000).toFixed(2)}, ring loop threads ${(t.loop * 1000).toFixed(2)}, libuv pool ${(t.pool * 1000).toFixed(2)}, other (V8) ${(t.other * 1000).toFixed(2)} ms`
      let idle: Awaited<ReturnType<typeof idleWindow>>
      let pending: Awaited<ReturnType<typeof idleWindow>>
      const controller = new AbortController()
      let pairs: Awaited<ReturnType<typeof connectPairs>> | undefined
      try {
        await ring.nop() // the Driver has run once: its handles exist
        idle = await idleWindow(ring, seconds * 1000)
        pairs = await connectPairs(ring, PENDING)
        const buf = Buffer.alloc(64)
        const receives = pairs.accepted.map((fd) =>
          ring.recv(fd, buf, { signal: controller.signal }).then(
            (n) => {
              throw new Error(`an idle socket received ${n} bytes`)
            },
            (e: unknown) => (controller.signal.aborted ? undefined : Promise.reject(e)),
          ),
        )
        pending = await idleWindow(ring, seconds * 1000)
        controller.abort()
        await Promise.all(receives)
      } finally {
        controller.abort()
        pairs?.close()
        await ring.close()
      }
      const activity = (w: typeof idle) =>
        `the Driver made ${w.enters} io_uring_enter calls and ${w.completed} completions`
      notes.push(
        `idle: ${split(idle.threads)}; ${activity(idle)}`,
        `${PENDING} receives pending: ${split(pending.threads)}; ${activity(pending)}`,
      )
      const row = (name: string, ms: number) => ({
        name,
        rounds: [ms],
        rate: { median: ms, min: ms, max: ms },
      })
      return {
        ...base,
        variants: [row("idle", idle.cpuMs), row(`${PENDING} receives pending`, pending.cpuMs)],
        notes,
        extra: { seconds, idleCpuMs: idle.cpuMs, pendingCpuMs: pending.cpuMs, pending: PENDING },
      }
    }
    return { comparisons: [], direct: [run] }
  },
}
