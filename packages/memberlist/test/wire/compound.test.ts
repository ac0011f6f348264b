import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { decodeCompound, encodeCompound, maxCompoundParts } from '../../src/wire/compound.ts'
import { addCrc, crc32, stripCrc } from '../../src/wire/crc.ts'
import { fromHex, toHex, utf8 } from './helpers.ts'

const part1 = fromHex('0082a44e6f6465a162a55365714e6f01')
const part2 = fromHex('0383a446726f6da161ab496e6361726e6174696f6e01a44e6f6465a162')
const compoundHex =
  '07020010001d0082a44e6f6465a162a55365714e6f010383a446726f6da161ab496e6361726e6174696f6e01a44e6f6465a162'

describe('compound messages (Appendix A.2)', () => {
  it("builds Go's compound of a ping and a suspect byte for byte", () => {
    assert.equal(toHex(encodeCompound([part1, part2])), compoundHex)
  })

  it("splits Go's compound into its two parts", () => {
    const r = decodeCompound(fromHex(compoundHex))
    assert.ok(r.ok)
    assert.deepEqual(r.parts, [part1, part2])
    assert.equal(r.truncated, 0)
  })

  it('drops and counts parts whose lengths run past the end', () => {
    const cut = fromHex(compoundHex).subarray(0, 6 + part1.length + 3)
    const r = decodeCompound(cut)
    assert.ok(r.ok)
    assert.deepEqual(r.parts, [part1])
    assert.equal(r.truncated, 1)
  })

  it('fails when the length table itself is cut short', () => {
    assert.equal(decodeCompound(fromHex('07')).ok, false)
    assert.equal(decodeCompound(fromHex('070300100010')).ok, false)
  })

  it('refuses to build compounds Go 0.2.2 would mishandle: empty, >127 parts, empty parts', () => {
    assert.throws(() => encodeCompound([]), RangeError)
    assert.throws(() => encodeCompound(new Array(maxCompoundParts + 1).fill(part1)), RangeError)
    assert.throws(() => encodeCompound([part1, new Uint8Array(0)]), RangeError)
    assert.throws(() => encodeCompound([new Uint8Array(65536)]), RangeError)
    assert.equal(encodeCompound(new Array(maxCompoundParts).fill(part1))[1], 127)
  })

  it('round-trips any 1..127 non-empty parts', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 50 }), { minLength: 1, maxLength: 127 }),
        (parts) => {
          const r = decodeCompound(encodeCompound(parts))
          assert.ok(r.ok)
          assert.deepEqual(r.parts, parts)
        },
      ),
      { numRuns: 200 },
    )
  })
})

describe('CRC-32/IEEE wrapper (Appendix A.2)', () => {
  it('computes the standard check value and the CRC of the Go compound', () => {
    assert.equal(crc32(utf8('123456789')), 0xcbf43926)
    assert.equal(crc32(fromHex(compoundHex)), 0x6aa64a72)
  })

  it("wraps a payload as Go's CRC packet and strips it again", () => {
    const wrapped = addCrc(fromHex(compoundHex))
    assert.equal(toHex(wrapped), `0c6aa64a72${compoundHex}`)
    const r = stripCrc(wrapped)
    assert.ok(r.ok)
    assert.equal(r.hadCrc, true)
    assert.equal(toHex(r.payload), compoundHex)
  })

  it('rejects a CRC packet whose payload was changed', () => {
    const wrapped = addCrc(fromHex(compoundHex))
    wrapped[10] = wrapped[10]! ^ 1
    const r = stripCrc(wrapped)
    assert.equal(r.ok, false)
    if (!r.ok) assert.equal(r.reason, 'crc-mismatch')
  })

  it('passes through buffers that are not CRC packets', () => {
    const r = stripCrc(fromHex('0c0102'))
    assert.ok(r.ok)
    assert.equal(r.hadCrc, false)
  })
})
