/**
 * AES-GCM payload encryption as memberlist does it (shared/reference/memberlist-wire-protocol.md
 * §4.4). The payload is `[vsn u8][nonce 12 bytes][ciphertext || 16-byte tag]`, with AES-128, -192
 * or -256 chosen by the key's length. Version 1 (protocol version >= 2, the default) seals the
 * plaintext as is; version 0 (protocol version 1) first pads it PKCS#7 to a multiple of 16,
 * always adding 1..16 bytes. Receivers accept both and try every key in keyring order.
 *
 * Additional data: on UDP it is the label (empty without one); on streams it is the 5 bytes
 * `[10][L u32 BE]` followed by the stream's label. This file is the only wire file that uses
 * node:crypto, so the pure codecs stay pure; the nonce comes from an injected random source.
 */

import { createCipheriv, createDecipheriv } from 'node:crypto'
import { type WireFailure, wireFailure } from './failure.ts'

/** Encryption versions: 1 is current, 0 is used only by protocol version 1. */
export type EncryptionVersion = 0 | 1

/** Returns `n` random bytes; injected so the cores stay deterministic under simulation. */
export type RandomBytes = (n: number) => Uint8Array

export const gcmNonceSize = 12
export const gcmTagSize = 16
const blockSize = 16

/** Largest number of bytes encryption adds: 29 for version 1, 45 for version 0. */
export function encryptOverhead(version: EncryptionVersion): number {
  return version === 1 ? 1 + gcmNonceSize + gcmTagSize : 1 + gcmNonceSize + blockSize + gcmTagSize
}

/** Exact length of the encrypted payload for a plaintext of `plaintextLength` bytes. */
export function encryptedLength(version: EncryptionVersion, plaintextLength: number): number {
  if (version === 1) return 1 + gcmNonceSize + plaintextLength + gcmTagSize
  const padding = blockSize - (plaintextLength % blockSize)
  return 1 + gcmNonceSize + plaintextLength + padding + gcmTagSize
}

/** True for a valid AES key length (16, 24 or 32 bytes). */
export function isValidKeyLength(length: number): boolean {
  return length === 16 || length === 24 || length === 32
}

function cipherName(key: Uint8Array): 'aes-128-gcm' | 'aes-192-gcm' | 'aes-256-gcm' {
  if (key.length === 16) return 'aes-128-gcm'
  if (key.length === 24) return 'aes-192-gcm'
  if (key.length === 32) return 'aes-256-gcm'
  throw new RangeError(`AES key must be 16, 24 or 32 bytes, got ${key.length}`)
}

/** Options for `encryptPayload`. */
export interface EncryptOptions {
  readonly key: Uint8Array
  readonly plaintext: Uint8Array
  /** Additional authenticated data: the label (UDP) or `[10][L]‖label` (streams). */
  readonly aad: Uint8Array
  readonly randomBytes: RandomBytes
  /** @default 1 */
  readonly version?: EncryptionVersion | undefined
}

/** Seals a payload. Throws only on caller bugs (bad key length, short nonce). */
export function encryptPayload(opts: EncryptOptions): Uint8Array {
  const version = opts.version ?? 1
  const nonce = opts.randomBytes(gcmNonceSize)
  if (nonce.length !== gcmNonceSize) throw new RangeError('randomBytes returned a short nonce')
  const plaintext = version === 0 ? pkcs7Pad(opts.plaintext) : opts.plaintext
  const cipher = createCipheriv(cipherName(opts.key), opts.key, nonce, {
    authTagLength: gcmTagSize,
  })
  cipher.setAAD(opts.aad)
  const head = cipher.update(plaintext)
  const tail = cipher.final()
  const tag = cipher.getAuthTag()
  const out = new Uint8Array(1 + gcmNonceSize + head.length + tail.length + gcmTagSize)
  out[0] = version
  out.set(nonce, 1)
  out.set(head, 1 + gcmNonceSize)
  out.set(tail, 1 + gcmNonceSize + head.length)
  out.set(tag, out.length - gcmTagSize)
  return out
}

/**
 * Opens a payload with the first key (in order) that authenticates it. Never throws; fails on
 * an empty payload, a version above 1, a payload too short for its version, bad PKCS#7 padding
 * (version 0) or no key that authenticates.
 */
export function decryptPayload(
  keys: readonly Uint8Array[],
  payload: Uint8Array,
  aad: Uint8Array,
): { readonly ok: true; readonly plaintext: Uint8Array } | WireFailure {
  if (payload.length === 0) return wireFailure('decrypt-failed', 'cannot decrypt empty payload')
  const version = payload[0]!
  if (version > 1) return wireFailure('decrypt-failed', `unsupported encryption version ${version}`)
  if (payload.length < encryptedLength(version as EncryptionVersion, 0)) {
    return wireFailure('decrypt-failed', `payload is too small to decrypt: ${payload.length}`)
  }
  for (const key of keys) {
    const plain = openWith(key, payload, aad)
    if (plain === undefined) continue
    if (version === 1) return { ok: true, plaintext: plain }
    const unpadded = pkcs7Unpad(plain)
    if (unpadded === undefined) return wireFailure('decrypt-failed', 'invalid PKCS#7 padding')
    return { ok: true, plaintext: unpadded }
  }
  return wireFailure('decrypt-failed', 'no installed keys could decrypt the message')
}

function openWith(key: Uint8Array, payload: Uint8Array, aad: Uint8Array): Uint8Array | undefined {
  if (!isValidKeyLength(key.length)) return undefined
  try {
    const nonce = payload.subarray(1, 1 + gcmNonceSize)
    const decipher = createDecipheriv(cipherName(key), key, nonce, { authTagLength: gcmTagSize })
    decipher.setAAD(aad)
    decipher.setAuthTag(payload.subarray(payload.length - gcmTagSize))
    const head = decipher.update(payload.subarray(1 + gcmNonceSize, payload.length - gcmTagSize))
    const tail = decipher.final()
    const out = new Uint8Array(head.length + tail.length)
    out.set(head)
    out.set(tail, head.length)
    return out
  } catch {
    return undefined
  }
}

/** PKCS#7 padding to a multiple of 16, always adding 1..16 bytes. */
export function pkcs7Pad(buf: Uint8Array): Uint8Array {
  const n = blockSize - (buf.length % blockSize)
  const out = new Uint8Array(buf.length + n)
  out.set(buf)
  out.fill(n, buf.length)
  return out
}

/** Strips PKCS#7 padding; undefined when the padding is not valid. */
export function pkcs7Unpad(buf: Uint8Array): Uint8Array | undefined {
  if (buf.length === 0) return undefined
  const n = buf[buf.length - 1]!
  if (n < 1 || n > blockSize || n > buf.length) return undefined
  for (let i = buf.length - n; i < buf.length; i++) if (buf[i] !== n) return undefined
  return buf.subarray(0, buf.length - n)
}
