/**
 * The key hash of the ring: MurmurHash3, x86 32-bit variant (Austin Appleby's `MurmurHash3_x86_32`
 * from SMHasher), over the key's UTF-8 bytes, with a fixed seed. Architecture §5 requires a
 * stable, documented hash that never changes without a migration: this file is that contract.
 * `KEY_HASH_VERSION` names it; any change to the algorithm, the seed or the byte encoding must
 * bump the version and come with a data migration. Test vectors in `test/ring/hash.test.ts` pin
 * the output. Pure TypeScript (no `node:crypto`), so the simulator and production agree exactly.
 */

/** Version of the key → partition hash. Stored with cluster metadata; bump only with a migration. */
export const KEY_HASH_VERSION = 1

/** Seed of the key hash (version 1). Zero, so outputs match published murmur3_32 vectors. */
export const KEY_HASH_SEED = 0

const C1 = 0xcc9e2d51
const C2 = 0x1b873593
const UTF8 = new TextEncoder()

function rotl32(x: number, bits: number): number {
  return (x << bits) | (x >>> (32 - bits))
}

/** MurmurHash3's 32-bit finaliser: full avalanche of `h`. Returns an unsigned 32-bit integer. */
export function fmix32(h: number): number {
  let x = h
  x ^= x >>> 16
  x = Math.imul(x, 0x85ebca6b)
  x ^= x >>> 13
  x = Math.imul(x, 0xc2b2ae35)
  x ^= x >>> 16
  return x >>> 0
}

function mixBlock(k: number): number {
  return Math.imul(rotl32(Math.imul(k, C1), 15), C2)
}

/**
 * `MurmurHash3_x86_32(bytes, seed)`: an unsigned 32-bit integer. Blocks are read little-endian,
 * as in the reference implementation, so the result does not depend on the host.
 */
export function murmur3x86_32(bytes: Uint8Array, seed: number): number {
  const length = bytes.length
  const blockEnd = length - (length % 4)
  let h = seed >>> 0
  for (let i = 0; i < blockEnd; i += 4) {
    const k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24)
    h ^= mixBlock(k)
    h = rotl32(h, 13)
    h = (Math.imul(h, 5) + 0xe6546b64) | 0
  }
  const rest = length & 3
  if (rest > 0) {
    let tail = 0
    if (rest === 3) tail ^= bytes[blockEnd + 2]! << 16
    if (rest >= 2) tail ^= bytes[blockEnd + 1]! << 8
    tail ^= bytes[blockEnd]!
    h ^= mixBlock(tail)
  }
  h ^= length
  return fmix32(h)
}

/** UTF-8 bytes of a string (the one encoding every hash in the ring uses). */
export function utf8Bytes(text: string): Uint8Array {
  return UTF8.encode(text)
}

/** The key hash, version 1: `murmur3x86_32(utf8(key), KEY_HASH_SEED)`. */
export function keyHash(key: string): number {
  // Every request hashes its key (placement); an ASCII key's UTF-8 bytes are its char codes, so
  // they are hashed without encoding (TextEncoder was ~1.5 µs of a PUT). Same result.
  return isAscii(key)
    ? murmur3x86_32Ascii(key, KEY_HASH_SEED)
    : murmur3x86_32(utf8Bytes(key), KEY_HASH_SEED)
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) >= 0x80) return false
  return true
}

/** `murmur3x86_32` of an ASCII string's bytes (its char codes), read without encoding. */
function murmur3x86_32Ascii(text: string, seed: number): number {
  const length = text.length
  const blockEnd = length - (length % 4)
  let h = seed >>> 0
  for (let i = 0; i < blockEnd; i += 4) {
    const k =
      text.charCodeAt(i) |
      (text.charCodeAt(i + 1) << 8) |
      (text.charCodeAt(i + 2) << 16) |
      (text.charCodeAt(i + 3) << 24)
    h ^= mixBlock(k)
    h = rotl32(h, 13)
    h = (Math.imul(h, 5) + 0xe6546b64) | 0
  }
  const rest = length & 3
  if (rest > 0) {
    let tail = 0
    if (rest === 3) tail ^= text.charCodeAt(blockEnd + 2) << 16
    if (rest >= 2) tail ^= text.charCodeAt(blockEnd + 1) << 8
    tail ^= text.charCodeAt(blockEnd)
    h ^= mixBlock(tail)
  }
  h ^= length
  return fmix32(h)
}
