// Goal: pin the key hash forever. These are the published MurmurHash3_x86_32 vectors; if any
// fails, the ring hash changed and every key would move — that needs a migration, not a fix here.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import {
  KEY_HASH_SEED,
  KEY_HASH_VERSION,
  keyHash,
  murmur3x86_32,
  utf8Bytes,
} from '../../src/ring/hash.ts'

const vectors: ReadonlyArray<readonly [string, number, number]> = [
  ['', 0, 0],
  ['', 1, 0x514e28b7],
  ['', 0xffffffff, 0x81f16f39],
  ['\0\0\0\0', 0, 0x2362f9de],
  ['a', 0x9747b28c, 0x7fa09ea6],
  ['aa', 0x9747b28c, 0x5d211726],
  ['aaa', 0x9747b28c, 0x283e0130],
  ['aaaa', 0x9747b28c, 0x5a97808a],
  ['Hello, world!', 0x9747b28c, 0x24884cba],
  ['The quick brown fox jumps over the lazy dog', 0x9747b28c, 0x2fa826cd],
  ['hello', 0, 0x248bfa47],
  ['The quick brown fox jumps over the lazy dog', 0, 0x2e4ff723],
]

test('murmur3x86_32 matches the published reference vectors', () => {
  for (const [text, seed, expected] of vectors) {
    assert.equal(murmur3x86_32(utf8Bytes(text), seed), expected, JSON.stringify([text, seed]))
  }
})

test('key hash version 1 is murmur3x86_32 over UTF-8 with seed 0', () => {
  assert.equal(KEY_HASH_VERSION, 1)
  assert.equal(KEY_HASH_SEED, 0)
  assert.equal(keyHash('hello'), 0x248bfa47)
  // Non-ASCII keys hash their UTF-8 bytes, not UTF-16 code units.
  assert.equal(keyHash('é'), murmur3x86_32(new Uint8Array([0xc3, 0xa9]), 0))
})

test('key hash is always an unsigned 32-bit integer', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), (key) => {
      const h = keyHash(key)
      return Number.isInteger(h) && h >= 0 && h <= 0xffffffff
    }),
  )
})

test('keyHash equals murmur3 over the UTF-8 bytes for any key (the ASCII path included)', () => {
  const encoder = new TextEncoder()
  const reference = (key: string) => murmur3x86_32(encoder.encode(key), KEY_HASH_SEED)
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ maxLength: 40 }),
        fc.string({ unit: 'binary-ascii', maxLength: 40 }),
        fc.string({ unit: 'grapheme', maxLength: 20 }),
      ),
      (key) => {
        assert.equal(keyHash(key), reference(key))
      },
    ),
    { numRuns: 2000 },
  )
  for (const key of ['', 'a', 'ab', 'abc', 'abcd', 'abcde', 'bench-000123', 'é', 'a\u007f']) {
    assert.equal(keyHash(key), reference(key), key)
  }
})
