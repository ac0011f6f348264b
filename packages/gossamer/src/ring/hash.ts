/**
 * The key hash of the ring: MurmurHash3, x86 32-bit variant (Austin Appleby's `MurmurHash3_x86_32`
 * from SMHasher), over the key's UTF-8 bytes, with a fixed seed. Architecture §5 requires a
 * stable, documented hash that never changes without a migration: this file is that contract.
 * `KEY_HASH_VERSION` names it; any change to the algorithm, the seed or the byte encoding must
 * bump the version and come with a data migration. Test vectors in `test/ring/hash.test.ts` pin
 * the output. Pure TypeScript (no `node:crypto`), so the simulator and production agree exactly.
 */
import { isAscii } from '../bytes/slab.ts'

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
    h = mixRound(
      h,
      bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24),
    )
  }
  const rest = length & 3
  let tail = 0
  if (rest === 3) tail ^= bytes[blockEnd + 2]! << 16
  if (rest >= 2) tail ^= bytes[blockEnd + 1]! << 8
  if (rest >= 1) tail ^= bytes[blockEnd]!
  return finish(h, tail, rest, length)
}

// One 4-byte block folded into the running hash.
function mixRound(h: number, k: number): number {
  const mixed = rotl32(h ^ mixBlock(k), 13)
  return (Math.imul(mixed, 5) + 0xe6546b64) | 0
}

// The tail block (when there is one), the length and the final avalanche.
function finish(h: number, tail: number, rest: number, length: number): number {
  return fmix32((rest > 0 ? h ^ mixBlock(tail) : h) ^ length)
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

/** `murmur3x86_32` of an ASCII string's bytes (its char codes), read without encoding. */
function murmur3x86_32Ascii(text: string, seed: number): number {
  const length = text.length
  const blockEnd = length - (length % 4)
  let h = seed >>> 0
  for (let i = 0; i < blockEnd; i += 4) {
    h = mixRound(
      h,
      text.charCodeAt(i) |
        (text.charCodeAt(i + 1) << 8) |
        (text.charCodeAt(i + 2) << 16) |
        (text.charCodeAt(i + 3) << 24),
    )
  }
  const rest = length & 3
  let tail = 0
  if (rest === 3) tail ^= text.charCodeAt(blockEnd + 2) << 16
  if (rest >= 2) tail ^= text.charCodeAt(blockEnd + 1) << 8
  if (rest >= 1) tail ^= text.charCodeAt(blockEnd)
  return finish(h, tail, rest, length)
}
