import { describe, expect, it } from "vitest"
import * as Sockaddr from "../src/Sockaddr.ts"

describe("Sockaddr", () => {
  it("parses IPv4 and IPv6 literals and refuses everything else", () => {
    expect(Array.from(Sockaddr.parseIp("127.0.0.1")!.bytes)).toEqual([127, 0, 0, 1])
    expect(Sockaddr.parseIp("::1")!.family).toBe("IPv6")
    expect(Array.from(Sockaddr.parseIp("::1")!.bytes)).toEqual([...new Array(15).fill(0), 1])
    expect(Array.from(Sockaddr.parseIp("fe80::1:2")!.bytes.subarray(0, 2))).toEqual([0xfe, 0x80])
    expect(Array.from(Sockaddr.parseIp("::ffff:10.1.2.3")!.bytes.subarray(10))).toEqual([0xff, 0xff, 10, 1, 2, 3])
    expect(Sockaddr.parseIp("1:2:3:4:5:6:7:8")!.bytes[15]).toBe(8)
    // A zone, as dns.lookup gives a link-local address: the interface whose index is the scope id.
    expect(Sockaddr.parseIp("fe80::1%eth0")).toEqual({ ...Sockaddr.parseIp("fe80::1"), zone: "eth0" })
    const scoped = Sockaddr.encodeIp(Sockaddr.parseIp("fe80::1%eth0")!, 80, 7)
    expect(new DataView(scoped.buffer).getUint32(24, true)).toBe(7)
    for (const bad of [
      "localhost",
      "1.2.3",
      "1.2.3.256",
      "01.2.3.4",
      "1::2::3",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7",
      "::g",
      "fe80::1%",
      "1.2.3.4%eth0",
      "::1%a%b",
      "",
    ]) {
      expect([bad, Sockaddr.parseIp(bad)]).toEqual([bad, undefined])
    }
  })

  it("encodes sockaddr_in and sockaddr_in6 with the port in network order, and decodes them back", () => {
    const v4 = Sockaddr.encodeIp(Sockaddr.parseIp("10.0.0.7")!, 0x1234)
    expect(v4.length).toBe(16)
    expect(Array.from(v4.subarray(0, 8))).toEqual([Sockaddr.AF_INET, 0, 0x12, 0x34, 10, 0, 0, 7])
    expect(Sockaddr.decode(v4)).toEqual({ address: "10.0.0.7", family: "IPv4", port: 0x1234 })
    for (const text of [
      "::",
      "::1",
      "fe80::1:0:0:2",
      "1:0:0:2::3",
      "2001:db8::",
      "1:2:3:4:5:6:7:8",
      "::ffff:1.2.3.4",
    ]) {
      const v6 = Sockaddr.encodeIp(Sockaddr.parseIp(text)!, 80)
      expect(v6.length).toBe(28)
      expect(v6[0]).toBe(Sockaddr.AF_INET6)
      expect(Sockaddr.decode(v6)).toEqual({ address: text, family: "IPv6", port: 80 })
    }
  })

  it("encodes a Unix path with its NUL (an abstract name without), refuses what sun_path cannot hold, and decodes both", () => {
    const un = Sockaddr.encodeUnix("/tmp/s")
    expect(un).toBeInstanceOf(Uint8Array)
    expect(Array.from(un as Uint8Array)).toEqual([Sockaddr.AF_UNIX, 0, ...new TextEncoder().encode("/tmp/s"), 0])
    expect(Sockaddr.decode(un as Uint8Array)).toEqual({ path: "/tmp/s" })
    const abstract = Sockaddr.encodeUnix("\0name") as Uint8Array
    expect(abstract.length).toBe(2 + 5)
    expect(Sockaddr.decode(abstract)).toEqual({ path: "\0name" })
    expect(typeof Sockaddr.encodeUnix("")).toBe("string")
    expect(typeof Sockaddr.encodeUnix("a\0b")).toBe("string")
    expect(typeof Sockaddr.encodeUnix("x".repeat(108))).toBe("string")
    expect(Sockaddr.encodeUnix("x".repeat(107))).toBeInstanceOf(Uint8Array)
    expect(Sockaddr.decode(new Uint8Array([Sockaddr.AF_UNIX, 0]))).toEqual({ path: "" })
  })
})
