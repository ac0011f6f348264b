import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { compareKeys, keySuccessor, utf8ByteLength } from '../../src/storage/keys.ts'

describe('storage: keys', () => {
  it('compareKeys agrees with comparing UTF-8 bytes for any well-formed strings', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (a, b) => {
        const expected = Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
        assert.equal(Math.sign(compareKeys(a, b)), expected)
      }),
    )
  })

  it('sorts an astral character after U+FFFF, unlike JavaScript string order', () => {
    assert.ok('😀' < '\uFFFF', 'UTF-16 order puts the surrogate first')
    assert.ok(compareKeys('😀', '\uFFFF') > 0)
    assert.ok(compareKeys('\uE000', '\uD7FF') > 0)
  })

  it('utf8ByteLength matches Buffer.byteLength', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        assert.equal(utf8ByteLength(text), Buffer.byteLength(text, 'utf8'))
      }),
    )
  })

  it('keySuccessor is the smallest key after the given one', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (key, other) => {
        const successor = keySuccessor(key)
        assert.ok(compareKeys(successor, key) > 0)
        if (compareKeys(other, key) > 0) assert.ok(compareKeys(other, successor) >= 0)
      }),
    )
  })
})
