/**
 * CRC-32/IEEE and the CRC wrapper, message type 12 (shared/reference/memberlist-wire-protocol.md
 * §4.2). The checksum is Go's `crc32.ChecksumIEEE`: polynomial 0xEDB88320 (reflected), initial
 * value 0xFFFFFFFF, final xor 0xFFFFFFFF. A sender adds `[12][crc u32 BE]` in front of a UDP
 * payload when the destination's PMax >= 5, after compression and before encryption; a receiver
 * checks it only at the outermost level of a packet.
 */

import { type WireFailure, wireFailure } from './failure.ts'
import { MessageType } from './messages.ts'

const table = (() => {
  const t = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    t[n] = c >>> 0
  }
  return t
})()

/** CRC-32/IEEE of `bytes`, as an unsigned 32-bit number. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff
  for (let i = 0; i < bytes.length; i++) c = table[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

/** Wraps a payload as `[12][crc32(payload) u32 BE][payload]`. */
export function addCrc(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + payload.length)
  out[0] = MessageType.hasCrc
  new DataView(out.buffer).setUint32(1, crc32(payload))
  out.set(payload, 5)
  return out
}

/**
 * If `buf` is a CRC-wrapped payload (length >= 5 and first byte 12, as Go tests it), checks and
 * strips the wrapper; otherwise returns `buf` unchanged with `hadCrc: false`.
 */
export function stripCrc(
  buf: Uint8Array,
): { readonly ok: true; readonly payload: Uint8Array; readonly hadCrc: boolean } | WireFailure {
  if (buf.length < 5 || buf[0] !== MessageType.hasCrc)
    return { ok: true, payload: buf, hadCrc: false }
  const expected = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getUint32(1)
  const payload = buf.subarray(5)
  const actual = crc32(payload)
  if (actual !== expected) {
    return wireFailure('crc-mismatch', `crc ${actual.toString(16)} != ${expected.toString(16)}`)
  }
  return { ok: true, payload, hadCrc: true }
}
