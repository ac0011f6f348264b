/**
 * The label header, `[244][len u8 1..255][label bytes]` (shared/reference/memberlist-wire-protocol.md
 * §1.8, memberlist HEAD v0.3.0+). It is the outermost prefix of every UDP datagram of a labelled
 * node, and on streams it is written once by the dialing side only. A receiver strips it and
 * requires it to equal its own label; with `skipInboundLabelCheck`, unlabelled input is taken as
 * if it carried the local label and labelled input is refused ("unexpected double label"). The
 * label is also the GCM additional data (crypto.ts).
 */

import { type WireFailure, wireFailure } from './failure.ts'
import { labelMaxSize } from './limits.ts'
import { MessageType } from './messages.ts'

const utf8 = new TextEncoder()

/** The label's bytes; throws a RangeError if it is longer than 255 bytes (a config bug). */
export function labelBytes(label: string): Uint8Array {
  const bytes = utf8.encode(label)
  if (bytes.length > labelMaxSize) throw new RangeError(`label longer than ${labelMaxSize} bytes`)
  return bytes
}

/** Bytes a label header adds: `2 + len(label)`, or 0 without a label. */
export function labelOverhead(label: string): number {
  const n = labelBytes(label).length
  return n === 0 ? 0 : 2 + n
}

/** Prepends the label header, or returns `buf` itself when the label is empty. */
export function addLabelHeader(buf: Uint8Array, label: string): Uint8Array {
  const bytes = labelBytes(label)
  if (bytes.length === 0) return buf
  const out = new Uint8Array(2 + bytes.length + buf.length)
  out[0] = MessageType.hasLabel
  out[1] = bytes.length
  out.set(bytes, 2)
  out.set(buf, 2 + bytes.length)
  return out
}

/** Result of reading a label header at the start of a buffer. */
export type LabelHeaderRead =
  | { readonly status: 'ok'; readonly label: Uint8Array; readonly bytesRead: number }
  | { readonly status: 'needMore' }
  | { readonly status: 'error'; readonly failure: WireFailure }

/**
 * Reads an optional label header. Unlabelled input gives an empty label and `bytesRead: 0`.
 * `needMore` only when the buffer ends inside a header (streams wait; packets treat it as
 * truncated).
 */
export function readLabelHeader(buf: Uint8Array): LabelHeaderRead {
  if (buf.length === 0) return { status: 'needMore' }
  if (buf[0] !== MessageType.hasLabel)
    return { status: 'ok', label: new Uint8Array(0), bytesRead: 0 }
  if (buf.length < 2) return { status: 'needMore' }
  const size = buf[1]!
  if (size === 0) {
    return { status: 'error', failure: wireFailure('label-malformed', 'empty label header') }
  }
  if (buf.length < 2 + size) return { status: 'needMore' }
  return { status: 'ok', label: buf.slice(2, 2 + size), bytesRead: 2 + size }
}

/**
 * Applies the receiver's label rules to a label read from the wire (empty when absent) and
 * returns the effective label: the one to use as GCM additional data.
 */
export function checkInboundLabel(
  received: Uint8Array,
  opts: { readonly label: string; readonly skipInboundLabelCheck: boolean },
): { readonly ok: true; readonly label: Uint8Array } | WireFailure {
  const local = labelBytes(opts.label)
  if (opts.skipInboundLabelCheck) {
    if (received.length > 0) return wireFailure('label-double', 'unexpected double label')
    return { ok: true, label: local }
  }
  if (!bytesEqual(received, local)) {
    return wireFailure('label-mismatch', 'discarding input with unacceptable label')
  }
  return { ok: true, label: local }
}

/** Constant-shape byte equality. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
