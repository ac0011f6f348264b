/**
 * Compound messages, type 7 (shared/reference/memberlist-wire-protocol.md §4.1):
 * `[7][n u8][len_1 u16 BE]…[len_n u16 BE][msg_1]…[msg_n]`, each part a complete message with its
 * own type byte. We never build more than 127 parts (0.2.2 checks lengths with 8-bit math that
 * wraps at 128) and never an empty part (0.2.2 panics on one). On receive, parts whose lengths
 * run past the end of the buffer are dropped and counted as truncated, as Go does.
 */

import { type WireFailure, wireFailure } from './failure.ts'
import { MessageType } from './messages.ts'

/** The most parts we put in one compound message. */
export const maxCompoundParts = 127

/** Bytes a compound costs before its parts: the type byte and the count byte. */
export const compoundHeaderOverhead = 2

/** Bytes each part adds to a compound besides its own bytes: its u16 length. */
export const compoundPartOverhead = 2

/**
 * Builds a compound message. Throws a RangeError on a caller bug: no parts, more than 127, an
 * empty part, or a part longer than 65,535 bytes.
 */
export function encodeCompound(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 0 || parts.length > maxCompoundParts) {
    throw new RangeError(`compound must have 1..${maxCompoundParts} parts, got ${parts.length}`)
  }
  let total = compoundHeaderOverhead
  for (const p of parts) {
    if (p.length === 0 || p.length > 0xffff) {
      throw new RangeError(`compound part length ${p.length} out of range 1..65535`)
    }
    total += compoundPartOverhead + p.length
  }
  const out = new Uint8Array(total)
  const view = new DataView(out.buffer)
  out[0] = MessageType.compound
  out[1] = parts.length
  let offset = compoundHeaderOverhead
  for (const p of parts) {
    view.setUint16(offset, p.length)
    offset += 2
  }
  for (const p of parts) {
    out.set(p, offset)
    offset += p.length
  }
  return out
}

/** The parts of a compound message, and how many trailing parts were truncated. */
export interface CompoundParts {
  readonly ok: true
  readonly parts: readonly Uint8Array[]
  readonly truncated: number
}

/** Splits a compound message (`buf` starts with the type byte 7). Never throws. */
export function decodeCompound(buf: Uint8Array): CompoundParts | WireFailure {
  if (buf.length < 2) return wireFailure('truncated', 'missing compound length byte')
  const n = buf[1]!
  const lengthsEnd = 2 + n * 2
  if (buf.length < lengthsEnd) return wireFailure('truncated', 'truncated compound length slice')
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  const parts: Uint8Array[] = []
  let offset = lengthsEnd
  for (let i = 0; i < n; i++) {
    const len = view.getUint16(2 + i * 2)
    if (buf.length - offset < len) return { ok: true, parts, truncated: n - i }
    parts.push(buf.subarray(offset, offset + len))
    offset += len
  }
  return { ok: true, parts, truncated: 0 }
}
