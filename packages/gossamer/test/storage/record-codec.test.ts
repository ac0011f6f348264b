import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { VERSION_LOGICAL_MAX } from '../../src/hlc/version.ts'
import { crc32c } from '../../src/storage/crc32c.ts'
import type { StoredRecord } from '../../src/storage/engine.ts'
import { StorageCorruptionError } from '../../src/storage/errors.ts'
import {
  decodeRecord,
  encodeRecord,
  RECORD_FORMAT_VERSION,
} from '../../src/storage/record-codec.ts'

const wellFormedText = (maxLength: number) => fc.string({ maxLength, unit: 'binary' })

const recordArb: fc.Arbitrary<StoredRecord> = fc
  .record({
    wallMs: fc.maxSafeNat(),
    logical: fc.integer({ min: 0, max: VERSION_LOGICAL_MAX }),
    nodeId: wellFormedText(20).filter((s) => s.length > 0),
    value: fc.option(fc.uint8Array({ maxLength: 300 }), { nil: null }),
    expiresAtMs: fc.option(fc.maxSafeInteger(), { nil: undefined }),
    contentType: fc.option(wellFormedText(40), { nil: undefined }),
  })
  .map(({ wallMs, logical, nodeId, value, expiresAtMs, contentType }) => {
    const record: { -readonly [K in keyof StoredRecord]: StoredRecord[K] } = {
      version: { wallMs, logical, nodeId },
      value,
    }
    if (expiresAtMs !== undefined) record.expiresAtMs = expiresAtMs
    if (contentType !== undefined) record.contentType = contentType
    return record
  })

function comparable(record: StoredRecord): unknown {
  return {
    ...record,
    version: { ...record.version },
    value: record.value && new Uint8Array(record.value),
  }
}

describe('storage: record codec', () => {
  it('computes the CRC-32C check value for "123456789"', () => {
    assert.equal(crc32c(new TextEncoder().encode('123456789')), 0xe3069283)
  })

  it('computes the same CRC-32C as a byte-at-a-time reference, at any offset and length', () => {
    const table = new Uint32Array(256)
    for (let n = 0; n < 256; n++) {
      let c = n
      for (let bit = 0; bit < 8; bit++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
      table[n] = c >>> 0
    }
    const reference = (bytes: Uint8Array, start: number, end: number) => {
      let crc = 0xffffffff
      for (let i = start; i < end; i++) crc = table[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8)
      return (crc ^ 0xffffffff) >>> 0
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.nat(), (bytes, a, b) => {
        const start = bytes.length === 0 ? 0 : a % (bytes.length + 1)
        const end = start + (b % (bytes.length - start + 1))
        assert.equal(crc32c(bytes, start, end), reference(bytes, start, end))
      }),
      { numRuns: 500 },
    )
  })

  it('decodes every encoded record back to an equal record', () => {
    fc.assert(
      fc.property(recordArb, (record) => {
        const encoded = encodeRecord(record)
        assert.equal(encoded[0], RECORD_FORMAT_VERSION)
        assert.deepEqual(comparable(decodeRecord(encoded)), comparable(record))
      }),
    )
  })

  it('detects any single flipped bit as corruption', () => {
    fc.assert(
      fc.property(recordArb, fc.nat(), fc.integer({ min: 0, max: 7 }), (record, position, bit) => {
        const encoded = encodeRecord(record)
        encoded[position % encoded.length]! ^= 1 << bit
        assert.throws(() => decodeRecord(encoded, 'k'), StorageCorruptionError)
      }),
    )
  })

  it('detects truncated and extended records as corruption', () => {
    fc.assert(
      fc.property(recordArb, fc.nat(), (record, cut) => {
        const encoded = encodeRecord(record)
        const truncated = encoded.subarray(0, cut % encoded.length)
        assert.throws(() => decodeRecord(truncated), { code: 'GOSSAMER_ERR_STORAGE_CORRUPT' })
        const extended = new Uint8Array(encoded.length + 1)
        extended.set(encoded)
        assert.throws(() => decodeRecord(extended), { code: 'GOSSAMER_ERR_STORAGE_CORRUPT' })
      }),
    )
  })

  it('never throws anything but StorageCorruptionError on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        try {
          decodeRecord(bytes)
        } catch (error) {
          assert.ok(error instanceof StorageCorruptionError, String(error))
        }
      }),
    )
  })

  it('names the key and the checksums in the corruption message', () => {
    const encoded = encodeRecord({ version: { wallMs: 1, logical: 2, nodeId: 'n' }, value: null })
    encoded[3]! ^= 0xff
    assert.throws(() => decodeRecord(encoded, 'user/42'), /user\/42.*checksum mismatch/)
  })

  it('rejects a record that cannot round-trip instead of storing it', () => {
    const version = { wallMs: 1, logical: 0, nodeId: 'n' }
    for (const bad of [
      { version: { ...version, wallMs: -1 }, value: null },
      { version: { ...version, logical: 1.5 }, value: null },
      { version: { ...version, nodeId: '' }, value: null },
      { version: { ...version, nodeId: '\uD800' }, value: null },
      { version, value: null, expiresAtMs: 1.5 },
      { version, value: null, contentType: 'x'.repeat(70_000) },
    ]) {
      assert.throws(() => encodeRecord(bad), RangeError, JSON.stringify(bad).slice(0, 80))
    }
  })
})
