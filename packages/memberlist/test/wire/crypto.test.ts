import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  decryptPayload,
  encryptedLength,
  encryptOverhead,
  encryptPayload,
  pkcs7Pad,
  pkcs7Unpad,
} from '../../src/wire/crypto.ts'
import { fixedRandom, fromHex, seededRandom, toHex, utf8 } from './helpers.ts'

const key = fromHex('000102030405060708090a0b0c0d0e0f')
const nonce = fromHex('000000000000000000000001')
const pingPart = fromHex('0082a44e6f6465a162a55365714e6f01')
const sealed = '01000000000000000000000001ba570b2da28daf8f2ce1179952eb6125'

describe('AES-GCM known answers (Appendix A.4)', () => {
  it('seals a UDP payload without a label as Go does', () => {
    const out = encryptPayload({
      key,
      plaintext: pingPart,
      aad: new Uint8Array(0),
      randomBytes: fixedRandom(nonce),
    })
    assert.equal(toHex(out), `${sealed}4c1e9905078ba1455c3d12e40d08d3e7`)
  })

  it('seals a UDP payload with label "lbl1" as additional data as Go does', () => {
    const out = encryptPayload({
      key,
      plaintext: pingPart,
      aad: utf8('lbl1'),
      randomBytes: fixedRandom(nonce),
    })
    assert.equal(toHex(out), `${sealed}cfdd0335cec713fefda97f1eb2f833a6`)
  })

  it('opens the Go vectors, and fails the labelled one without its label', () => {
    const plain = decryptPayload(
      [key],
      fromHex(`${sealed}4c1e9905078ba1455c3d12e40d08d3e7`),
      new Uint8Array(0),
    )
    assert.ok(plain.ok)
    assert.deepEqual(plain.plaintext, pingPart)
    const labelled = fromHex(`${sealed}cfdd0335cec713fefda97f1eb2f833a6`)
    assert.ok(decryptPayload([key], labelled, utf8('lbl1')).ok)
    const r = decryptPayload([key], labelled, new Uint8Array(0))
    assert.equal(r.ok, false)
    if (!r.ok) assert.equal(r.reason, 'decrypt-failed')
  })

  it('opens the stream vector with additional data [10][L]‖label', () => {
    const payload = fromHex(`${sealed}7189c723de7f1ec6773e59f26446df06`)
    assert.equal(payload.length, 0x2d)
    const r = decryptPayload([key], payload, fromHex('0a0000002d6c626c31'))
    assert.ok(r.ok)
    assert.deepEqual(r.plaintext, pingPart)
  })
})

describe('AES-GCM versions and keys', () => {
  it('seals version 0 with PKCS#7 padding and opens it again', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), fc.integer(), (plaintext, seed) => {
        const out = encryptPayload({
          key,
          plaintext,
          aad: new Uint8Array(0),
          randomBytes: seededRandom(seed),
          version: 0,
        })
        assert.equal(out[0], 0)
        assert.equal(out.length, encryptedLength(0, plaintext.length))
        assert.equal((out.length - 29) % 16, 0)
        const r = decryptPayload([key], out, new Uint8Array(0))
        assert.ok(r.ok)
        assert.deepEqual(r.plaintext, plaintext)
      }),
      { numRuns: 100 },
    )
  })

  it('uses AES-128, -192 and -256 by key length and tries keys in order', () => {
    for (const size of [16, 24, 32]) {
      const k = new Uint8Array(size).fill(size)
      const other = new Uint8Array(16).fill(1)
      const out = encryptPayload({
        key: k,
        plaintext: pingPart,
        aad: utf8('x'),
        randomBytes: seededRandom(size),
      })
      assert.equal(out.length, encryptedLength(1, pingPart.length))
      const r = decryptPayload([other, k], out, utf8('x'))
      assert.ok(r.ok)
      assert.deepEqual(r.plaintext, pingPart)
      assert.equal(decryptPayload([other], out, utf8('x')).ok, false)
    }
    assert.throws(() =>
      encryptPayload({
        key: new Uint8Array(15),
        plaintext: pingPart,
        aad: new Uint8Array(0),
        randomBytes: seededRandom(1),
      }),
    )
  })

  it('states the overheads Go budgets for: 29 bytes for version 1, 45 for version 0', () => {
    assert.equal(encryptOverhead(1), 29)
    assert.equal(encryptOverhead(0), 45)
    assert.equal(encryptedLength(1, 0), 29)
    assert.equal(encryptedLength(0, 0), 45)
    assert.equal(encryptedLength(0, 16), 61)
  })

  it('refuses versions above 1 and payloads too short for their version', () => {
    const good = encryptPayload({
      key,
      plaintext: pingPart,
      aad: new Uint8Array(0),
      randomBytes: fixedRandom(nonce),
    })
    const v2 = good.slice()
    v2[0] = 2
    assert.equal(decryptPayload([key], v2, new Uint8Array(0)).ok, false)
    assert.equal(
      decryptPayload(
        [key],
        new Uint8Array(28).fill(0).map((_, i) => (i === 0 ? 1 : 0)),
        new Uint8Array(0),
      ).ok,
      false,
    )
    assert.equal(decryptPayload([key], new Uint8Array(44), new Uint8Array(0)).ok, false)
    assert.equal(decryptPayload([key], new Uint8Array(0), new Uint8Array(0)).ok, false)
  })

  it('fails every single-byte change of a sealed payload after the (unauthenticated) version byte', () => {
    // The version byte is outside GCM's additional data in memberlist's format, so flipping 1 to 0
    // can open a payload whose plaintext happens to end in valid PKCS#7 padding; Go shares this.
    const good = encryptPayload({
      key,
      plaintext: pingPart,
      aad: new Uint8Array(0),
      randomBytes: fixedRandom(nonce),
    })
    for (let i = 1; i < good.length; i++) {
      const bad = good.slice()
      bad[i] = bad[i]! ^ 0x01
      assert.equal(decryptPayload([key], bad, new Uint8Array(0)).ok, false, `byte ${i}`)
    }
  })

  it('pads PKCS#7 with 1..16 bytes and refuses invalid padding', () => {
    assert.equal(pkcs7Pad(new Uint8Array(16)).length, 32)
    assert.equal(pkcs7Pad(new Uint8Array(15)).length, 16)
    assert.equal(pkcs7Unpad(fromHex('41420202'))?.length, 2)
    assert.equal(pkcs7Unpad(fromHex('41420302')), undefined)
    assert.equal(pkcs7Unpad(fromHex('414200')), undefined)
    assert.equal(pkcs7Unpad(fromHex('4111')), undefined)
  })
})
