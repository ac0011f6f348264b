import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { encodePacketMessage } from '../../src/wire/codec.ts'
import { encodeCompound } from '../../src/wire/compound.ts'
import { compressMessage } from '../../src/wire/compress.ts'
import { addCrc } from '../../src/wire/crc.ts'
import { Keyring } from '../../src/wire/keyring.ts'
import type { Alive, PacketMessage } from '../../src/wire/messages.ts'
import {
  type DecodedPacket,
  decodePacket,
  encodePacket,
  type PacketDecodeOptions,
  type PacketEncodeOptions,
} from '../../src/wire/packet.ts'
import { fixedRandom, fromHex, packetMessageArb, seededRandom, toHex } from './helpers.ts'

const key = fromHex('000102030405060708090a0b0c0d0e0f')
const nonce = fromHex('000000000000000000000001')
const ping: PacketMessage = { type: 'ping', node: 'b', seqNo: 1 }
const suspect: PacketMessage = { type: 'suspect', from: 'a', incarnation: 1, node: 'b' }
const compoundHex =
  '07020010001d0082a44e6f6465a162a55365714e6f010383a446726f6da161ab496e6361726e6174696f6e01a44e6f6465a162'

function keyring(...keys: Uint8Array[]): Keyring {
  const r = Keyring.create({ keys })
  assert.ok(r.ok)
  return r.keyring
}

const plainSend: PacketEncodeOptions = {
  compress: false,
  crc: false,
  label: '',
  verifyOutgoing: true,
  randomBytes: fixedRandom(nonce),
}
const plainReceive: PacketDecodeOptions = {
  label: '',
  skipInboundLabelCheck: false,
  verifyIncoming: true,
}

function decoded(datagram: Uint8Array, opts: PacketDecodeOptions = plainReceive): DecodedPacket {
  const r = decodePacket(datagram, opts)
  assert.ok(r.ok, JSON.stringify(r))
  return r
}

function failsWith(datagram: Uint8Array, opts: PacketDecodeOptions, reason: string): void {
  const r = decodePacket(datagram, opts)
  assert.equal(r.ok, false)
  if (!r.ok) assert.equal(r.reason, reason)
}

describe('UDP packets: golden vectors', () => {
  it("builds Go's compound of a ping and a suspect (A.2)", () => {
    assert.equal(toHex(encodePacket([ping, suspect], plainSend)), compoundHex)
  })

  it("adds Go's CRC wrapper when the destination speaks protocol 5 (A.2)", () => {
    const out = encodePacket([ping, suspect], { ...plainSend, crc: true })
    assert.equal(toHex(out), `0c6aa64a72${compoundHex}`)
    const r = decoded(out)
    assert.deepEqual(r.messages, [ping, suspect])
    assert.equal(r.crc, true)
  })

  it('sends a single message without a compound wrapper', () => {
    assert.equal(toHex(encodePacket([ping], plainSend)), '0082a44e6f6465a162a55365714e6f01')
  })

  it('encrypts with the label as additional data and puts the label header outermost (A.4)', () => {
    const out = encodePacket([ping], { ...plainSend, label: 'lbl1', keyring: keyring(key) })
    assert.equal(
      toHex(out),
      'f4046c626c3101000000000000000000000001ba570b2da28daf8f2ce1179952eb6125cfdd0335cec713fefda97f1eb2f833a6',
    )
    const r = decoded(out, { ...plainReceive, label: 'lbl1', keyring: keyring(key) })
    assert.deepEqual(r.messages, [ping])
    assert.equal(r.encrypted, true)
  })

  it('encrypts without a label exactly as 0.2.2 does (A.4)', () => {
    const out = encodePacket([ping], { ...plainSend, keyring: keyring(key) })
    assert.equal(
      toHex(out),
      '01000000000000000000000001ba570b2da28daf8f2ce1179952eb61254c1e9905078ba1455c3d12e40d08d3e7',
    )
  })

  it('decodes a live Go gossip packet with CRC (A.5)', () => {
    const r = decoded(
      fromHex(
        '0c5c41348b0486a441646472a47f000001ab496e6361726e6174696f6e01a44d657461a96d6574612d74732d31a44e6f6465a474732d31a4506f7274cda032a356736ea6010502000000',
      ),
    )
    assert.equal(r.crc, true)
    const alive: Alive = {
      type: 'alive',
      addr: fromHex('7f000001'),
      incarnation: 1,
      meta: new TextEncoder().encode('meta-ts-1'),
      node: 'ts-1',
      port: 41010,
      vsn: fromHex('010502000000'),
    }
    assert.deepEqual(r.messages, [alive])
  })

  it('decodes the ping of a live Go piggy-back compound and counts the cut-off part as truncated (A.5)', () => {
    const r = decoded(
      fromHex(
        '0702004100450085a44e6f6465a474732d31a55365714e6f01aa536f7572636541646472a47f000001aa536f757263654e6f6465a4676f2d62aa536f75726365506f7274cda02a0486',
      ),
    )
    assert.deepEqual(r.messages, [
      {
        type: 'ping',
        node: 'ts-1',
        seqNo: 1,
        sourceAddr: fromHex('7f000001'),
        sourceNode: 'go-b',
        sourcePort: 41002,
      },
    ])
    assert.equal(r.dropped.length, 1)
    assert.equal(r.dropped[0]?.reason, 'truncated')
  })
})

describe('UDP packets: made by Go 0.2.2', () => {
  it('opens a version-0 encrypted, compressed compound sealed by Go encryptPayload (AES-256)', () => {
    // Produced by go-crosscheck/zz_tscheck_test.go against Debian's memberlist 0.2.2:
    // encryptPayload(0, key 00..1f, compressPayload(makeCompoundMessage([[0 0x80] [8 1 2]])), nil).
    const datagram = fromHex(
      '00c0b9d151ea64fe71d3b2dbf47bd0c425e70ee4020babc1137b41c2c67d9b8e2dbd65bbd0453832890d970cede8347bd1bd92b7b2fbf108abf93d548c',
    )
    const key256 = Uint8Array.from({ length: 32 }, (_, i) => i)
    const r = decoded(datagram, { ...plainReceive, keyring: keyring(key256) })
    assert.deepEqual(r.messages, [
      { type: 'ping', node: '', seqNo: 0 },
      { type: 'user', payload: fromHex('0102') },
    ])
    assert.equal(r.encrypted, true)
  })
})

describe('UDP packets: labels', () => {
  const labelled = encodePacket([ping], { ...plainSend, label: 'blue' })
  const unlabelled = encodePacket([ping], plainSend)

  it('accepts a packet whose label equals ours, and an unlabelled packet when we have none', () => {
    assert.deepEqual(decoded(labelled, { ...plainReceive, label: 'blue' }).messages, [ping])
    assert.deepEqual(decoded(unlabelled).messages, [ping])
  })

  it('drops a packet with another label, a missing label, or an unexpected label', () => {
    failsWith(labelled, { ...plainReceive, label: 'red' }, 'label-mismatch')
    failsWith(unlabelled, { ...plainReceive, label: 'blue' }, 'label-mismatch')
    failsWith(labelled, plainReceive, 'label-mismatch')
  })

  it('with skipInboundLabelCheck takes unlabelled input as ours and refuses a double label', () => {
    assert.deepEqual(
      decoded(unlabelled, { ...plainReceive, label: 'blue', skipInboundLabelCheck: true }).messages,
      [ping],
    )
    failsWith(
      labelled,
      { ...plainReceive, label: 'blue', skipInboundLabelCheck: true },
      'label-double',
    )
  })

  it('uses the assumed label as additional data under skipInboundLabelCheck', () => {
    const sealed = encodePacket([ping], {
      ...plainSend,
      label: 'blue',
      keyring: keyring(key),
    }).subarray(6)
    const opts = {
      ...plainReceive,
      label: 'blue',
      skipInboundLabelCheck: true,
      keyring: keyring(key),
    }
    assert.deepEqual(decoded(sealed, opts).messages, [ping])
  })

  it('refuses an empty or cut-off label header', () => {
    failsWith(fromHex('f400'), plainReceive, 'label-malformed')
    failsWith(fromHex('f40561'), plainReceive, 'label-malformed')
    failsWith(fromHex('f4'), plainReceive, 'label-malformed')
    failsWith(new Uint8Array(0), plainReceive, 'empty')
  })

  it('refuses a label longer than 255 bytes when sending (a config bug)', () => {
    assert.throws(() => encodePacket([ping], { ...plainSend, label: 'x'.repeat(256) }), RangeError)
  })
})

describe('UDP packets: encryption switches', () => {
  it('drops a plaintext packet when a keyring is set and incoming verification is on', () => {
    failsWith(
      encodePacket([ping], plainSend),
      { ...plainReceive, keyring: keyring(key) },
      'decrypt-failed',
    )
  })

  it('falls back to plaintext when incoming verification is off', () => {
    const r = decoded(encodePacket([ping], plainSend), {
      ...plainReceive,
      keyring: keyring(key),
      verifyIncoming: false,
    })
    assert.deepEqual(r.messages, [ping])
    assert.equal(r.encrypted, false)
  })

  it('sends plaintext despite a keyring when outgoing verification is off', () => {
    const out = encodePacket([ping], { ...plainSend, keyring: keyring(key), verifyOutgoing: false })
    assert.equal(toHex(out), '0082a44e6f6465a162a55365714e6f01')
  })

  it('decrypts with a secondary key and fails with none that fits', () => {
    const other = new Uint8Array(32).fill(7)
    const out = encodePacket([ping], { ...plainSend, keyring: keyring(other) })
    assert.deepEqual(decoded(out, { ...plainReceive, keyring: keyring(key, other) }).messages, [
      ping,
    ])
    failsWith(out, { ...plainReceive, keyring: keyring(key) }, 'decrypt-failed')
  })

  it('sends encryption version 0 for protocol version 1 and still decodes it', () => {
    const out = encodePacket([ping], { ...plainSend, keyring: keyring(key), encryptionVersion: 0 })
    assert.equal(out[0], 0)
    assert.deepEqual(decoded(out, { ...plainReceive, keyring: keyring(key) }).messages, [ping])
  })
})

describe('UDP packets: compression and nesting', () => {
  const alives: PacketMessage[] = Array.from({ length: 20 }, (_, i) => ({
    type: 'alive',
    addr: fromHex('0a000001'),
    incarnation: i,
    node: `node-${i}`,
    port: 7946,
    vsn: fromHex('010502000000'),
  }))

  it('compresses only when that makes the packet smaller', () => {
    assert.equal(
      toHex(encodePacket([ping], { ...plainSend, compress: true })),
      '0082a44e6f6465a162a55365714e6f01',
    )
    const out = encodePacket(alives, { ...plainSend, compress: true })
    assert.equal(out[0], 9)
    assert.ok(out.length < encodePacket(alives, plainSend).length)
    assert.deepEqual(decoded(out).messages, alives)
  })

  it('recurses into compressed compounds inside compounds', () => {
    const inner = compressMessage(encodeCompound(alives.slice(0, 3).map(encodePacketMessage)))
    const outer = encodeCompound([encodePacketMessage(ping), inner])
    assert.deepEqual(decoded(outer).messages, [ping, ...alives.slice(0, 3)])
  })

  it('drops a CRC wrapper, an empty part or an unknown type inside a compound and keeps the rest', () => {
    const parts = [addCrc(encodePacketMessage(ping)), fromHex('63'), encodePacketMessage(suspect)]
    const r = decoded(encodeCompound(parts))
    assert.deepEqual(r.messages, [suspect])
    assert.deepEqual(
      r.dropped.map((d) => d.reason),
      ['unknown-type', 'unknown-type'],
    )
    // A hand-built compound whose first part is empty (Go 0.2.2 would panic on it).
    const empty = fromHex('0702 0000 0001 08')
    const e = decoded(empty)
    assert.deepEqual(e.messages, [{ type: 'user', payload: new Uint8Array(0) }])
    assert.deepEqual(
      e.dropped.map((d) => d.reason),
      ['empty'],
    )
  })

  it('bounds total decompressed bytes per datagram', () => {
    const big = compressMessage(new Uint8Array(200000).fill(8))
    failsWith(big, { ...plainReceive, maxDecompressedBytes: 100000 }, 'decompress-failed')
    const r = decoded(big)
    assert.equal(r.messages.length, 1)
  })

  it('bounds nesting depth', () => {
    let msg = encodePacketMessage(ping)
    for (let i = 0; i < 12; i++) msg = encodeCompound([msg])
    const r = decoded(msg)
    assert.deepEqual(r.messages, [])
    assert.deepEqual(
      r.dropped.map((d) => d.reason),
      ['unsupported-nesting'],
    )
  })

  it('refuses to send no parts, more than 127 parts, or an empty pre-encoded part', () => {
    assert.throws(() => encodePacket([], plainSend), RangeError)
    assert.throws(() => encodePacket(new Array(128).fill(ping), plainSend), RangeError)
    assert.throws(() => encodePacket([ping, new Uint8Array(0)], plainSend), RangeError)
    assert.throws(() => encodePacket([new Uint8Array(0)], plainSend), RangeError)
  })
})

describe('UDP packets: round trips', () => {
  const sendOptions = fc.record({
    compress: fc.boolean(),
    crc: fc.boolean(),
    label: fc.constantFrom('', 'lbl1', 'a'.repeat(255)),
    encrypt: fc.boolean(),
    version: fc.constantFrom(0 as const, 1 as const),
    seed: fc.integer(),
  })

  it('decodes every packet we encode to the same messages, under every option', () => {
    fc.assert(
      fc.property(
        fc.array(packetMessageArb, { minLength: 1, maxLength: 12 }),
        sendOptions,
        (messages, o) => {
          const ring = o.encrypt ? keyring(key) : undefined
          const out = encodePacket(messages, {
            compress: o.compress,
            crc: o.crc,
            label: o.label,
            keyring: ring,
            verifyOutgoing: true,
            randomBytes: seededRandom(o.seed),
            encryptionVersion: o.version,
          })
          const r = decoded(out, {
            label: o.label,
            skipInboundLabelCheck: false,
            keyring: ring,
            verifyIncoming: true,
          })
          assert.deepStrictEqual(r.messages, messages)
          assert.equal(r.dropped.length, 0)
          assert.equal(r.crc, o.crc)
          assert.equal(r.encrypted, o.encrypt)
        },
      ),
      { numRuns: 300 },
    )
  })
})
