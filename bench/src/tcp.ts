import type { Suite } from "./context.ts"
export const tcpSuite: Suite = {
  id: "tcp",
  description: "TCP loopback: 64-byte echo ping-pong on 1 and 16 connections, 64 KiB one-way stream",
  build: async () => ({ comparisons: [] })
}
