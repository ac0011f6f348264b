/**
 * The UDP pipeline (shared/reference/memberlist-wire-protocol.md §4.5). Sending: one message or a
 * compound of several; LZW-compressed if enabled and only if that makes it smaller; a CRC
 * wrapper when the destination's PMax >= 5; AES-GCM with the label as additional data when a
 * keyring is present and outgoing verification is on; the label header outermost.
 *
 * Receiving reverses it: strip and check the label; decrypt when a keyring is present (falling
 * back to plaintext only when incoming verification is off); check and strip an outermost CRC;
 * then decode the message, recursing into compound (7) and compressed (9) messages. A failure in
 * the envelope or the outermost message fails the whole packet; a bad part inside a compound is
 * dropped and reported while the other parts are still delivered, as Go handles each part on
 * its own. Nesting depth and total decompressed bytes are bounded.
 */

import { decodePacketMessage, encodePacketMessage } from './codec.ts'
import { decodeCompound, encodeCompound, maxCompoundParts } from './compound.ts'
import { compressMessage, decompressMessage } from './compress.ts'
import { addCrc, stripCrc } from './crc.ts'
import {
  decryptPayload,
  type EncryptionVersion,
  encryptPayload,
  type RandomBytes,
} from './crypto.ts'
import { type WireFailure, wireFailure } from './failure.ts'
import type { Keyring } from './keyring.ts'
import { addLabelHeader, checkInboundLabel, labelBytes, readLabelHeader } from './label.ts'
import { defaultWireLimits } from './limits.ts'
import { MessageType, type PacketMessage } from './messages.ts'

/** How to wrap an outgoing datagram. */
export interface PacketEncodeOptions {
  /** Compress with LZW (kept only if smaller). Go: `EnableCompression`. */
  readonly compress: boolean
  /** Add the CRC wrapper; set it when the destination node's PMax >= 5. */
  readonly crc: boolean
  /** Our label ('' for none; then the bytes are identical to memberlist 0.2.2). */
  readonly label: string
  /** Encrypt with the primary key when this ring holds a key (and `verifyOutgoing`). */
  readonly keyring?: Keyring | undefined
  /** Go: `GossipVerifyOutgoing`. False sends plaintext even with a keyring. */
  readonly verifyOutgoing: boolean
  /** Nonce source for encryption. */
  readonly randomBytes: RandomBytes
  /** 1 unless the local protocol version is 1. @default 1 */
  readonly encryptionVersion?: EncryptionVersion | undefined
}

/** A part of a packet: a message to encode, or bytes of an already encoded message. */
export type PacketPart = PacketMessage | Uint8Array

/**
 * Builds one datagram from 1..127 parts (a compound when more than one). Pre-encoded parts
 * (queued broadcasts, `[8]+bytes` user broadcasts) are used as they are. Throws a RangeError
 * on caller bugs: no parts, too many, an empty part or one over 65,535 bytes.
 */
export function encodePacket(parts: readonly PacketPart[], opts: PacketEncodeOptions): Uint8Array {
  if (parts.length === 0 || parts.length > maxCompoundParts) {
    throw new RangeError(`a packet needs 1..${maxCompoundParts} parts, got ${parts.length}`)
  }
  const encoded = parts.map((p) => (p instanceof Uint8Array ? p : encodePacketMessage(p)))
  let msg = encoded.length === 1 ? encoded[0]! : encodeCompound(encoded)
  if (msg.length === 0) throw new RangeError('cannot send an empty message')
  if (opts.compress) {
    const compressed = compressMessage(msg)
    if (compressed.length < msg.length) msg = compressed
  }
  if (opts.crc) msg = addCrc(msg)
  const key = opts.keyring?.primaryKey()
  if (key !== undefined && opts.verifyOutgoing) {
    msg = encryptPayload({
      key,
      plaintext: msg,
      aad: labelBytes(opts.label),
      randomBytes: opts.randomBytes,
      version: opts.encryptionVersion ?? 1,
    })
  }
  return addLabelHeader(msg, opts.label)
}

/** How to read an incoming datagram. */
export interface PacketDecodeOptions {
  /** Our label ('' for none). */
  readonly label: string
  /** Accept unlabelled input as if it carried our label; refuse labelled input. */
  readonly skipInboundLabelCheck: boolean
  /** Decrypt with these keys when the ring holds any. */
  readonly keyring?: Keyring | undefined
  /** Go: `GossipVerifyIncoming`. False falls back to plaintext when decryption fails. */
  readonly verifyIncoming: boolean
  /** Total LZW output allowed for one datagram. @default 40 MiB */
  readonly maxDecompressedBytes?: number | undefined
}

/** A decoded datagram: its messages, flattened, and any compound parts that were dropped. */
export interface DecodedPacket {
  readonly ok: true
  readonly messages: readonly PacketMessage[]
  /** One entry per dropped compound part (truncated, unknown type, malformed …). */
  readonly dropped: readonly WireFailure[]
  /** Whether the datagram was decrypted. */
  readonly encrypted: boolean
  /** Whether it carried a valid CRC. */
  readonly crc: boolean
}

/** Compound and compress wrappers may nest this deep (Go does not bound it; packets are small). */
const maxNesting = 8

/** Decodes one datagram. Never throws. */
export function decodePacket(
  datagram: Uint8Array,
  opts: PacketDecodeOptions,
): DecodedPacket | WireFailure {
  const label = readLabelHeader(datagram)
  if (label.status === 'needMore') {
    return datagram.length === 0
      ? wireFailure('empty', 'empty datagram')
      : wireFailure('label-malformed', 'label header truncated')
  }
  if (label.status === 'error') return label.failure
  const checked = checkInboundLabel(label.label, opts)
  if (!checked.ok) return checked
  let buf = datagram.subarray(label.bytesRead)
  let encrypted = false
  if (opts.keyring?.enabled) {
    const plain = decryptPayload(opts.keyring.keys(), buf, checked.label)
    if (plain.ok) {
      buf = plain.plaintext
      encrypted = true
    } else if (opts.verifyIncoming) return plain
  }
  const crc = stripCrc(buf)
  if (!crc.ok) return crc
  const state: FlattenState = {
    messages: [],
    dropped: [],
    budget: opts.maxDecompressedBytes ?? defaultWireLimits.maxDecompressedBytes,
  }
  const failure = flatten(crc.payload, 0, state)
  if (failure !== undefined) return failure
  return { ok: true, messages: state.messages, dropped: state.dropped, encrypted, crc: crc.hadCrc }
}

interface FlattenState {
  readonly messages: PacketMessage[]
  readonly dropped: WireFailure[]
  /** Decompressed bytes still allowed for this datagram. */
  budget: number
}

/** Decodes `buf` into `state`; returns a failure when `buf` itself cannot be used. */
function flatten(buf: Uint8Array, depth: number, state: FlattenState): WireFailure | undefined {
  if (buf.length === 0) return wireFailure('empty', 'empty message')
  if (depth > maxNesting) return wireFailure('unsupported-nesting', 'messages nested too deep')
  const type = buf[0]!
  if (type === MessageType.compound) return flattenCompound(buf, depth, state)
  if (type === MessageType.compress) {
    const r = decompressMessage(buf, state.budget)
    if (!r.ok) return r
    state.budget -= r.message.length
    return flatten(r.message, depth + 1, state)
  }
  const m = decodePacketMessage(buf)
  if (!m.ok) return m
  state.messages.push(m.message)
  return undefined
}

function flattenCompound(
  buf: Uint8Array,
  depth: number,
  state: FlattenState,
): WireFailure | undefined {
  const c = decodeCompound(buf)
  if (!c.ok) return c
  for (const part of c.parts) {
    const failure = flatten(part, depth + 1, state)
    if (failure !== undefined) state.dropped.push(failure)
  }
  for (let i = 0; i < c.truncated; i++) {
    state.dropped.push(wireFailure('truncated', 'truncated compound part'))
  }
  return undefined
}
