/**
 * Socket addresses between their Node shape (`{ address, family, port }` or `{ path }`) and the
 * bytes of a Linux `struct sockaddr_in`, `sockaddr_in6` or `sockaddr_un`, which connect and bind
 * hand to the kernel and getsockname / getpeername return. Pure: no native code, so it is tested
 * alone and @iou/effect can use it; @iou/native's test checks the constants against the addon's.
 *
 * Layouts (Linux, every architecture; the family in host order, port and address in network order):
 *
 * | struct        | bytes | fields                                                              |
 * | ------------- | ----- | ------------------------------------------------------------------- |
 * | sockaddr_in   | 16    | family u16, port u16 BE, addr[4], zero[8]                           |
 * | sockaddr_in6  | 28    | family u16, port u16 BE, flowinfo u32, addr[16], scope_id u32       |
 * | sockaddr_un   | 2 + n | family u16, path (NUL-terminated; a leading NUL: the abstract namespace, no terminator) |
 */
import type { SocketAddress } from "./DriverApi.ts"

export const AF_UNIX = 1
export const AF_INET = 2
export const AF_INET6 = 10

/** The longest sockaddr_un path, its terminating NUL included (sun_path's size). */
export const UNIX_PATH_MAX = 108

const SOCKADDR_IN = 16
const SOCKADDR_IN6 = 28

/** An IP address: its family, its 4 or 16 bytes, and an IPv6 address's zone (the interface after `%`). */
export interface Ip {
  readonly family: "IPv4" | "IPv6"
  readonly bytes: Uint8Array
  /** `eth0` of `fe80::1%eth0`: the interface whose index is the sockaddr's scope id. */
  readonly zone?: string | undefined
}

/**
 * An IP literal (an IPv6 one with a zone too: `fe80::1%eth0`, as node:net and dns.lookup give
 * it), or undefined when `host` is not one.
 */
export const parseIp = (host: string): Ip | undefined => {
  const v4 = parseIPv4(host)
  if (v4 !== undefined) return { family: "IPv4", bytes: v4 }
  const mark = host.indexOf("%")
  const zone = mark < 0 ? undefined : host.slice(mark + 1)
  // The characters node:net's isIPv6 takes in a zone.
  if (zone !== undefined && !/^[0-9a-zA-Z.:-]+$/.test(zone)) return undefined
  const v6 = parseIPv6(mark < 0 ? host : host.slice(0, mark))
  if (v6 === undefined) return undefined
  return zone === undefined ? { family: "IPv6", bytes: v6 } : { family: "IPv6", bytes: v6, zone }
}

const parseIPv4 = (s: string): Uint8Array | undefined => {
  const parts = s.split(".")
  if (parts.length !== 4) return undefined
  const out = new Uint8Array(4)
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined
    const n = Number(p)
    if (n > 255) return undefined
    out[i] = n
  }
  return out
}

const parseIPv6 = (s: string): Uint8Array | undefined => {
  if (s.includes("%")) return undefined // a second zone
  const halves = s.split("::")
  if (halves.length > 2) return undefined
  const groups = (part: string): Array<number> | undefined => {
    if (part === "") return []
    const out: Array<number> = []
    const items = part.split(":")
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!
      if (i === items.length - 1 && item.includes(".")) {
        const v4 = parseIPv4(item)
        if (v4 === undefined) return undefined
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!)
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(item)) return undefined
        out.push(parseInt(item, 16))
      }
    }
    return out
  }
  const head = groups(halves[0]!)
  const tail = halves.length === 2 ? groups(halves[1]!) : []
  if (head === undefined || tail === undefined) return undefined
  const missing = 8 - head.length - tail.length
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined
  const all = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail]
  const out = new Uint8Array(16)
  for (let i = 0; i < 8; i++) {
    out[i * 2] = all[i]! >> 8
    out[i * 2 + 1] = all[i]! & 0xff
  }
  return out
}

const formatIPv6 = (b: Uint8Array): string => {
  const groups: Array<number> = []
  for (let i = 0; i < 8; i++) groups.push((b[i * 2]! << 8) | b[i * 2 + 1]!)
  // An IPv4-mapped address (::ffff:a.b.c.d) is printed as Node prints it.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`
  }
  // The longest run of two or more zero groups becomes "::" (RFC 5952).
  let best = -1
  let bestLength = 1
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLength) {
      best = i
      bestLength = j - i
    }
    i = j
  }
  const hex = groups.map((g) => g.toString(16))
  if (best < 0) return hex.join(":")
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLength).join(":")}`
}

/**
 * The sockaddr of an IP address and a port (0 to 65535; the caller validated both); `scopeId` is an
 * IPv6 address's interface index (its zone's).
 */
export const encodeIp = (ip: Ip, port: number, scopeId = 0): Uint8Array => {
  const out = new Uint8Array(ip.family === "IPv4" ? SOCKADDR_IN : SOCKADDR_IN6)
  const view = new DataView(out.buffer)
  view.setUint16(0, ip.family === "IPv4" ? AF_INET : AF_INET6, true)
  view.setUint16(2, port, false)
  out.set(ip.bytes, ip.family === "IPv4" ? 4 : 8)
  if (ip.family === "IPv6") view.setUint32(24, scopeId, true)
  return out
}

/**
 * The sockaddr_un of `path` (UTF-8), or a string saying why it cannot be one: empty, containing a
 * NUL byte other than the leading one of an abstract name, or longer than sun_path.
 */
export const encodeUnix = (path: string): Uint8Array | string => {
  const bytes = new TextEncoder().encode(path)
  const abstract = bytes.length > 0 && bytes[0] === 0
  if (bytes.length === 0) return "path must not be empty"
  if (bytes.indexOf(0, abstract ? 1 : 0) !== -1) return "path must not contain a NUL byte"
  const length = abstract ? bytes.length : bytes.length + 1
  if (length > UNIX_PATH_MAX) return `path must be at most ${UNIX_PATH_MAX - 1} bytes`
  const out = new Uint8Array(2 + length)
  new DataView(out.buffer).setUint16(0, AF_UNIX, true)
  out.set(bytes, 2)
  return out
}

/** The Node shape of a sockaddr's bytes (getsockname, getpeername). An unnamed Unix socket is `{ path: "" }`. */
export const decode = (bytes: Uint8Array): SocketAddress => {
  if (bytes.length < 2) return { path: "" }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const family = view.getUint16(0, true)
  if (family === AF_INET && bytes.length >= SOCKADDR_IN) {
    return { address: Array.from(bytes.subarray(4, 8)).join("."), family: "IPv4", port: view.getUint16(2, false) }
  }
  if (family === AF_INET6 && bytes.length >= SOCKADDR_IN6) {
    return { address: formatIPv6(bytes.subarray(8, 24)), family: "IPv6", port: view.getUint16(2, false) }
  }
  let path = bytes.subarray(2)
  if (path.length > 0 && path[0] !== 0) {
    const end = path.indexOf(0)
    if (end >= 0) path = path.subarray(0, end)
  }
  return { path: new TextDecoder().decode(path) }
}
