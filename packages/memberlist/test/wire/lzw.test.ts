import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { compressMessage, decompressMessage } from '../../src/wire/compress.ts'
import { lzwCompress, lzwDecompress } from '../../src/wire/lzw.ts'
import { fromHex, lcgBytes, sha256Hex, toHex, utf8 } from './helpers.ts'

const tobe = utf8('TOBEORNOTTOBEORTOBEORNOT#TOBEORNOTTOBEORTOBEORNOT')
const tobeLzw = '00a93c1152e48914274fa80824687061c183094738348850e1c0871321520908'
const pingPart = fromHex('0082a44e6f6465a162a55365714e6f01')
const pingLzw = '00010822e5e40d9932a1c4949a52264ec1000101'

/**
 * Digests of Go's `lzw.NewWriter(w, lzw.LSB, 8)` output for inputs from `lcgBytes`, produced by
 * a Go 1.19 program on this machine (compress/lzw). They cover dictionary resets at 4095 codes,
 * code-width growth, and the increment at Close.
 */
const goDigests: readonly { input: () => Uint8Array; length: number; sha256: string }[] = [
  {
    input: () => lcgBytes(200000, 1, 4),
    length: 59471,
    sha256: '823339e4edcef615840724d4ff780d787fa39d14a80944bf15f957432c76aff1',
  },
  {
    input: () => lcgBytes(100000, 7, 256),
    length: 136788,
    sha256: '9a531f13d77c6d0f6675d209d64ceb84858d0fc6fc4bd7c43f479dc9e2aa3e75',
  },
  {
    input: () => lcgBytes(5000, 3, 256),
    length: 6704,
    sha256: 'df832977cebb2cb3f1adaa9efd7a77044123575cede09b6300eb72bb3bae9483',
  },
  {
    input: () => lcgBytes(70000, 9, 2),
    length: 10731,
    sha256: '849940a49f5708cb66890d9f8eb8fde5230d8eb8014009dfbb800dbe83a77b36',
  },
  {
    input: () => new Uint8Array(70000),
    length: 438,
    sha256: '2719b2d46a92eef0c5c42036bdc2f3753083e734a0e8675e78f324d4828411de',
  },
  {
    input: () => lcgBytes(4093, 11, 256),
    length: 5561,
    sha256: '9b84581e5d4fa6c05d1cd22c95526ed46d7ae261674620120480597936f068fc',
  },
  {
    input: () => lcgBytes(3839, 13, 256),
    length: 5257,
    sha256: '5812472385c90a8358fc5a1015d3bd2deaeefd931f2dcbe7598865d3132cab22',
  },
]

describe('LZW, Go compress/lzw LSB 8 (Appendix A.3)', () => {
  it('compresses the TOBEORNOT string exactly as Go does', () => {
    assert.equal(toHex(lzwCompress(tobe)), tobeLzw)
  })

  it('compresses the ping part and the empty input exactly as Go does', () => {
    assert.equal(toHex(lzwCompress(pingPart)), pingLzw)
    assert.equal(toHex(lzwCompress(new Uint8Array(0))), '000302')
    assert.equal(toHex(lzwCompress(lcgBytes(1, 5, 256))), '00bf0504')
  })

  for (const [i, v] of goDigests.entries()) {
    it(`matches Go's output on reference input ${i} (${v.length} compressed bytes)`, () => {
      const input = v.input()
      const out = lzwCompress(input)
      assert.equal(out.length, v.length)
      assert.equal(sha256Hex(out), v.sha256)
      const back = lzwDecompress(out, 1 << 24)
      assert.ok(back.ok)
      assert.deepEqual(back.output, input)
    })
  }

  it("decompresses Go's vectors", () => {
    const r = lzwDecompress(fromHex(tobeLzw), 1000)
    assert.ok(r.ok)
    assert.deepEqual(r.output, tobe)
    const empty = lzwDecompress(fromHex('000302'), 1000)
    assert.ok(empty.ok)
    assert.equal(empty.output.length, 0)
  })

  it('builds the compressMsg wrappers of Appendix A.3', () => {
    assert.equal(toHex(compressMessage(tobe)), `0982a4416c676f00a3427566da0020${tobeLzw}`)
    assert.equal(toHex(compressMessage(pingPart)), `0982a4416c676f00a3427566b4${pingLzw}`)
    const r = decompressMessage(compressMessage(pingPart), 1000)
    assert.ok(r.ok)
    assert.deepEqual(r.message, pingPart)
  })

  it('round-trips random, repetitive and mixed inputs', () => {
    const input = fc.oneof(
      fc.uint8Array({ maxLength: 3000 }),
      fc.uint8Array({ maxLength: 8, minLength: 1 }).chain((seed) =>
        fc.integer({ min: 1, max: 3000 }).map((reps) => {
          const out = new Uint8Array(seed.length * reps)
          for (let i = 0; i < reps; i++) out.set(seed, i * seed.length)
          return out
        }),
      ),
      fc.array(fc.constantFrom(0, 1, 2, 255), { maxLength: 20000 }).map((a) => Uint8Array.from(a)),
    )
    fc.assert(
      fc.property(input, (bytes) => {
        const r = lzwDecompress(lzwCompress(bytes), bytes.length)
        assert.ok(r.ok)
        assert.deepEqual(r.output, bytes)
      }),
      { numRuns: 200 },
    )
  })

  it('fails when the output would exceed the limit', () => {
    const big = new Uint8Array(100000)
    const r = lzwDecompress(lzwCompress(big), 99999)
    assert.equal(r.ok, false)
    assert.ok(lzwDecompress(lzwCompress(big), 100000).ok)
  })

  it('fails on a stream that ends without the end code', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 500 }),
        fc.integer({ min: 1, max: 3 }),
        (bytes, cut) => {
          const z = lzwCompress(bytes)
          const r = lzwDecompress(z.subarray(0, Math.max(0, z.length - cut)), 1 << 20)
          assert.equal(r.ok, false)
        },
      ),
      { numRuns: 200 },
    )
  })

  it('fails on a code beyond the next dictionary entry', () => {
    // clear (256) then code 300 at 9 bits: 300 > hi (257).
    const bits = 256 | (300 << 9)
    const buf = Uint8Array.of(bits & 0xff, (bits >> 8) & 0xff, (bits >> 16) & 0xff)
    const r = lzwDecompress(buf, 100)
    assert.equal(r.ok, false)
  })

  it('refuses empty decompressed output and unknown algorithms in compress messages', () => {
    const empty = fromHex('0982a4416c676f00a3427566a3000302')
    const r = decompressMessage(empty, 100)
    assert.equal(r.ok, false)
    const algo1 = fromHex('0982a4416c676f01a3427566a3000302')
    const r1 = decompressMessage(algo1, 100)
    assert.equal(r1.ok, false)
    if (!r1.ok) assert.equal(r1.reason, 'unknown-compression')
  })

  it('never throws on random input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        const r = lzwDecompress(bytes, 10000)
        assert.equal(typeof r.ok, 'boolean')
      }),
      { numRuns: 2000 },
    )
  })
})
