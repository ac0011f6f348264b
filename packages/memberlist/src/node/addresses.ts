/**
 * Address handling for the Node driver: converting between IP strings and the raw 4/16-byte
 * form the wire carries, and resolving join targets (`host`, `host:port`, `[v6]:port`, and
 * memberlist's `name/host:port` form) with DNS. The core only ever sees raw bytes.
 */

import { lookup } from 'node:dns/promises'
import { isIP, isIPv4 } from 'node:net'
import type { Address } from '../core/ports.ts'
import { formatIp } from '../core/ports.ts'

/** Parses a literal IPv4 or IPv6 string into 4 or 16 bytes; undefined if it is not an IP. */
export function ipToBytes(ip: string): Uint8Array | undefined {
  if (isIPv4(ip)) return new Uint8Array(ip.split('.').map(Number))
  if (isIP(ip) !== 6) return undefined
  return ipv6ToBytes(ip)
}

function ipv6ToBytes(ip: string): Uint8Array {
  let text = ip.split('%')[0]!
  const out = new Uint8Array(16)
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hex groups.
  const lastColon = text.lastIndexOf(':')
  const tail = text.slice(lastColon + 1)
  if (isIPv4(tail)) {
    const b = tail.split('.').map(Number)
    const hex = (hi: number, lo: number) => ((hi << 8) | lo).toString(16)
    text = `${text.slice(0, lastColon + 1)}${hex(b[0]!, b[1]!)}:${hex(b[2]!, b[3]!)}`
  }
  const [head, rest] = text.split('::') as [string, string | undefined]
  const headGroups = head === '' ? [] : head.split(':')
  const tailGroups = rest === undefined || rest === '' ? [] : rest.split(':')
  const groups =
    rest === undefined
      ? headGroups
      : [
          ...headGroups,
          ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'),
          ...tailGroups,
        ]
  groups.forEach((g, i) => {
    const v = Number.parseInt(g, 16)
    out[2 * i] = v >> 8
    out[2 * i + 1] = v & 0xff
  })
  return out
}

/** Formats raw IP bytes as a string usable with dgram/net (no brackets for IPv6). */
export function bytesToIp(ip: Uint8Array): string {
  const text = formatIp(ip)
  return text.startsWith('[') ? text.slice(1, -1) : text
}

/** A node's gossip address as `ip:port` (`[v6]:port`), the form `Member.address` and `join` use. */
export function nodeAddress(node: { readonly addr: Uint8Array; readonly port: number }): string {
  const ip = bytesToIp(node.addr)
  return ip.includes(':') ? `[${ip}]:${node.port}` : `${ip}:${node.port}`
}

/** Splits `host:port`, `[v6]:port`, `host` or `name/host:port` into host and port. */
export function splitHostPort(
  target: string,
  defaultPort: number,
): { host: string; port: number } | undefined {
  const slash = target.indexOf('/')
  const hostPort = slash >= 0 ? target.slice(slash + 1) : target
  let host = hostPort
  let portText: string | undefined
  if (hostPort.startsWith('[')) {
    const end = hostPort.indexOf(']')
    if (end < 0) return undefined
    host = hostPort.slice(1, end)
    const after = hostPort.slice(end + 1)
    if (after.startsWith(':')) portText = after.slice(1)
    else if (after !== '') return undefined
  } else if (isIP(hostPort) !== 6) {
    const colon = hostPort.lastIndexOf(':')
    if (colon >= 0) {
      host = hostPort.slice(0, colon)
      portText = hostPort.slice(colon + 1)
    }
  }
  const port = portText === undefined ? defaultPort : Number(portText)
  if (host === '' || !Number.isInteger(port) || port < 1 || port > 65535) return undefined
  return { host, port }
}

/** Resolves one join target to addresses (every A/AAAA record of a hostname). */
export async function resolveTarget(target: string, defaultPort: number): Promise<Address[]> {
  const parsed = splitHostPort(target, defaultPort)
  if (parsed === undefined) throw new Error(`invalid address ${JSON.stringify(target)}`)
  const literal = ipToBytes(parsed.host)
  if (literal !== undefined) return [{ ip: literal, port: parsed.port }]
  const records = await lookup(parsed.host, { all: true })
  const out: Address[] = []
  for (const record of records) {
    const ip = ipToBytes(record.address)
    if (ip !== undefined) out.push({ ip, port: parsed.port })
  }
  return out
}
