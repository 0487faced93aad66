/**
 * What a listen or connect is asked for: the target validated into the endpoints to try in order
 * (or a host name and port to look up first), listen's backlog and options, and an endpoint as an
 * error's place (`address` and `port`, or a Unix socket's path). Pure: no request is made here;
 * Sockets.ts runs the plans.
 */
import { Sockaddr } from "@iou/core"
import { readFileSync } from "node:fs"
import * as Errors from "./IoUringError.ts"
import * as Validate from "./Validate.ts"

/** node:net's default backlog. */
export const DEFAULT_BACKLOG = 511
const MAX_BACKLOG = 0x7fffffff

export type Ip = Sockaddr.Ip

/** Where a socket goes: its domain and the sockaddr's bytes. */
export interface Endpoint {
  readonly domain: number
  readonly sockaddr: Uint8Array
  /** `::` with IPV6_V6ONLY off (dual-stack), the default host of listen. */
  readonly dualStack: boolean
  /** An IPv6 address's zone as given (`lo` of `fe80::1%lo`; the sockaddr has its index): for errors. */
  readonly zone?: string | undefined
}

/** The endpoints a listen or connect tries in order, or a host name and port to look up first. */
export type Endpoints = ReadonlyArray<Endpoint> | { readonly host: string; readonly port: number }

const ANY_V6: Ip = { family: "IPv6", bytes: new Uint8Array(16) }
const ANY_V4: Ip = { family: "IPv4", bytes: new Uint8Array(4) }

/**
 * The index of the interface a zone names (`lo` of `::1%lo`), as libuv's uv_ip6_addr finds it for
 * node:net (if_nametoindex): from /sys/class/net; 0 for a name no interface has.
 */
const scopeIdOf = (zone: string): number => {
  if (zone.length > 15 || zone === "." || zone === ".." || /[/\0]/.test(zone)) return 0
  try {
    return Number.parseInt(readFileSync(`/sys/class/net/${zone}/ifindex`, "latin1"), 10) || 0
  } catch {
    return 0
  }
}

export const endpointOf = (ip: Ip, port: number, dualStack = false): Endpoint => ({
  domain: ip.family === "IPv4" ? Sockaddr.AF_INET : Sockaddr.AF_INET6,
  sockaddr: Sockaddr.encodeIp(ip, port, ip.zone === undefined ? 0 : scopeIdOf(ip.zone)),
  dualStack,
  zone: ip.zone,
})

const unixEndpoint = (path: unknown, name: string): Endpoint => {
  if (typeof path !== "string") throw Validate.typeError(`${name}.path must be a string, got ${typeof path}`)
  const sockaddr = Sockaddr.encodeUnix(path)
  if (typeof sockaddr === "string") throw invalidValue(`${name}.path`, `${sockaddr}`)
  return { domain: Sockaddr.AF_UNIX, sockaddr, dualStack: false }
}

/**
 * An endpoint as an error's place: `address` (an IPv6 address with its zone, `fe80::1%lo`) and
 * `port`, or a Unix socket's path as `address` (as node:net).
 */
export const placeOf = (e: Endpoint): Errors.Place => {
  const a = Sockaddr.decode(e.sockaddr)
  if ("path" in a) return { address: a.path }
  return { address: e.zone === undefined ? a.address : `${a.address}%${e.zone}`, port: a.port }
}

/**
 * Where a listen or connect starts, as an error's place: its first endpoint, or the host name and
 * port it would look up (an AbortError for a signal aborted before the call).
 */
export const firstPlace = (endpoints: Endpoints): Errors.Place =>
  "host" in endpoints ? { address: endpoints.host, port: endpoints.port } : placeOf(endpoints[0]!)

/**
 * A connect's, bind's or listen's failure as node:net reports it: at the endpoint it was for
 * (`address` and `port`; a Unix socket's path as `address`), not at the socket's fd, which is closed
 * by the time the caller sees the error. A closed Driver's error is left as it is.
 */
export const atEndpoint = (error: Error, e: Endpoint): Error => {
  if (!(error instanceof Errors.IoUringError) || error.syscall === undefined) return error
  const place = placeOf(e)
  if (error.reason === "Timeout") return Errors.timeoutError(error.syscall, undefined, place)
  if (error.reason === "Cancelled") return Errors.abortError(error.syscall, undefined, error.cause, place)
  if (error.reason === "SystemError" && error.errno !== undefined) {
    return Errors.errnoError(error.errno, error.syscall, undefined, place)
  }
  return error
}

const invalidValue = (name: string, why: string): TypeError => {
  const error = new TypeError(`The argument '${name}' is invalid: ${why}`)
  ;(error as TypeError & { code: string }).code = "ERR_INVALID_ARG_VALUE"
  return error
}

const port = (value: unknown, name: string): number => Validate.integer(value, name, 0, 65535)

const target = (value: unknown, name: string): Record<string, unknown> => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw Validate.typeError(`${name} must be an object ({ host, port } or { path })`)
  }
  return value as Record<string, unknown>
}

/**
 * What listen was asked for, validated: the endpoints to try in order, the backlog, and the options
 * set on the listener (SO_REUSEPORT; TCP_NODELAY and SO_KEEPALIVE, which accepted connections inherit).
 */
export interface ListenPlan {
  readonly endpoints: Endpoints
  readonly backlog: number
  readonly reusePort: boolean
  readonly noDelay: boolean
  readonly keepAlive: boolean
  /** IPV6_V6ONLY on an IPv6 listener (node:net's `ipv6Only`). */
  readonly ipv6Only: boolean
}

export const listenPlan = (value: unknown): ListenPlan => {
  const t = target(value, "listen target")
  const backlog =
    t["backlog"] === undefined ? DEFAULT_BACKLOG : Validate.integer(t["backlog"], "backlog", 0, MAX_BACKLOG)
  if (t["path"] !== undefined) {
    return {
      endpoints: [unixEndpoint(t["path"], "target")],
      backlog,
      reusePort: false,
      noDelay: false,
      keepAlive: false,
      ipv6Only: false,
    }
  }
  const p = port(t["port"], "port")
  const options = {
    backlog,
    reusePort: Validate.optionalBoolean(t["reusePort"], "reusePort"),
    noDelay: Validate.optionalBoolean(t["noDelay"], "noDelay"),
    keepAlive: Validate.optionalBoolean(t["keepAlive"], "keepAlive"),
    ipv6Only: Validate.optionalBoolean(t["ipv6Only"], "ipv6Only"),
  }
  const host = t["host"]
  if (host === undefined || host === "") {
    // node:net (an empty host is none): `::` dual-stack, or 0.0.0.0 where IPv6 is unavailable
    // (tried in that order); with ipv6Only, `::` alone.
    if (options.ipv6Only) return { endpoints: [endpointOf(ANY_V6, p)], ...options }
    return { endpoints: [endpointOf(ANY_V6, p, true), endpointOf(ANY_V4, p)], ...options }
  }
  if (typeof host !== "string") throw Validate.typeError(`host must be a string, got ${typeof host}`)
  const ip = Sockaddr.parseIp(host)
  return { endpoints: ip === undefined ? { host, port: p } : [endpointOf(ip, p)], ...options }
}

/** What connect was asked for: the endpoint, or a host name to look up first. */
export const connectPlan = (value: unknown): Endpoints => {
  const t = target(value, "connect target")
  if (t["path"] !== undefined) return [unixEndpoint(t["path"], "target")]
  const host = t["host"]
  if (typeof host !== "string") throw Validate.typeError(`host must be a string, got ${typeof host}`)
  if (host === "") throw invalidValue("host", "must not be empty")
  // Port 0 goes to the kernel, which refuses it (ECONNREFUSED), as node:net's connect.
  const p = port(t["port"], "port")
  const ip = Sockaddr.parseIp(host)
  return ip === undefined ? { host, port: p } : [endpointOf(ip, p)]
}
