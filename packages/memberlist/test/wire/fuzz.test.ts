/**
 * Fuzzing every decoder with fast-check: random bytes and mutations of valid packets and streams.
 * Decoders must never throw; whatever they accept must be a valid message (it encodes again);
 * and authenticated envelopes (GCM, CRC) must reject mutations.
 */

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  decodePacketMessage,
  encodePacketMessage,
  encodeStreamMessage,
} from '../../src/wire/codec.ts'
import { decodeCompound } from '../../src/wire/compound.ts'
import { decompressMessage } from '../../src/wire/compress.ts'
import { Keyring } from '../../src/wire/keyring.ts'
import { readLabelHeader } from '../../src/wire/label.ts'
import type { PacketMessage } from '../../src/wire/messages.ts'
import { decodePacket, encodePacket, type PacketDecodeOptions } from '../../src/wire/packet.ts'
import {
  encodeStreamFrame,
  type StreamDecodeOptions,
  StreamDecoder,
} from '../../src/wire/stream.ts'
import { fromHex, packetMessageArb, seededRandom, streamMessageArb } from './helpers.ts'

const key = fromHex('000102030405060708090a0b0c0d0e0f')
const ringResult = Keyring.create({ keys: [key] })
assert.ok(ringResult.ok)
const ring = ringResult.keyring

/** A mutation of a byte string: flip, overwrite, insert, delete, truncate or splice. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat({ max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.nat({ max: 255 }) }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
  }),
  fc.record({
    kind: fc.constant('delete' as const),
    at: fc.nat(),
    count: fc.integer({ min: 1, max: 8 }),
  }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
)
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never

function mutate(buf: Uint8Array, m: Mutation): Uint8Array {
  if (buf.length === 0) return buf
  const at = m.at % buf.length
  const out = Array.from(buf)
  switch (m.kind) {
    case 'flip':
      out[at] = out[at]! ^ (1 << m.bit)
      break
    case 'set':
      out[at] = m.value
      break
    case 'insert':
      out.splice(at, 0, ...m.bytes)
      break
    case 'delete':
      out.splice(at, m.count)
      break
    case 'truncate':
      out.length = at
      break
  }
  return Uint8Array.from(out)
}

const receiveOptions = fc.constantFrom<PacketDecodeOptions>(
  { label: '', skipInboundLabelCheck: false, verifyIncoming: true },
  { label: 'lbl1', skipInboundLabelCheck: false, verifyIncoming: true },
  { label: 'lbl1', skipInboundLabelCheck: true, verifyIncoming: true },
  { label: '', skipInboundLabelCheck: false, keyring: ring, verifyIncoming: true },
  { label: '', skipInboundLabelCheck: false, keyring: ring, verifyIncoming: false },
)

/** Every accepted message must be a valid message: it encodes again without a RangeError. */
function assertEncodable(messages: readonly PacketMessage[]): void {
  for (const m of messages) encodePacketMessage(m)
}

describe('fuzzing the packet decoders', () => {
  it('decodePacketMessage never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.nat({ max: 13 }), fc.uint8Array({ maxLength: 120 }), (type, body) => {
        const r = decodePacketMessage(Uint8Array.of(type, ...body))
        if (r.ok) assertEncodable([r.message])
      }),
      { numRuns: 3000 },
    )
  })

  it('decodePacket never throws on random datagrams, under every receive option', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), receiveOptions, (bytes, opts) => {
        const r = decodePacket(bytes, opts)
        if (r.ok) assertEncodable(r.messages)
      }),
      { numRuns: 3000 },
    )
  })

  it('decodePacket never throws on mutated valid packets', () => {
    fc.assert(
      fc.property(
        fc.array(packetMessageArb, { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        fc.boolean(),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        (messages, compress, crc, mutations) => {
          let bytes = encodePacket(messages, {
            compress,
            crc,
            label: '',
            verifyOutgoing: true,
            randomBytes: seededRandom(1),
          })
          for (const m of mutations) bytes = mutate(bytes, m)
          const r = decodePacket(bytes, {
            label: '',
            skipInboundLabelCheck: false,
            verifyIncoming: true,
          })
          if (r.ok) assertEncodable(r.messages)
        },
      ),
      { numRuns: 1500 },
    )
  })

  it('rejects every change to an encrypted packet after its version byte', () => {
    fc.assert(
      fc.property(
        packetMessageArb,
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (message, at, xor) => {
          const bytes = encodePacket([message], {
            compress: false,
            crc: false,
            label: '',
            keyring: ring,
            verifyOutgoing: true,
            randomBytes: seededRandom(at),
          })
          const i = 1 + (at % (bytes.length - 1))
          bytes[i] = bytes[i]! ^ xor
          const r = decodePacket(bytes, {
            label: '',
            skipInboundLabelCheck: false,
            keyring: ring,
            verifyIncoming: true,
          })
          assert.equal(r.ok, false)
        },
      ),
      { numRuns: 500 },
    )
  })

  it('rejects every change to the payload of a CRC packet', () => {
    fc.assert(
      fc.property(
        fc.array(packetMessageArb, { minLength: 1, maxLength: 4 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (messages, at, xor) => {
          const bytes = encodePacket(messages, {
            compress: false,
            crc: true,
            label: '',
            verifyOutgoing: true,
            randomBytes: seededRandom(0),
          })
          const i = 5 + (at % (bytes.length - 5))
          bytes[i] = bytes[i]! ^ xor
          const r = decodePacket(bytes, {
            label: '',
            skipInboundLabelCheck: false,
            verifyIncoming: true,
          })
          assert.equal(r.ok, false)
          if (!r.ok) assert.equal(r.reason, 'crc-mismatch')
        },
      ),
      { numRuns: 500 },
    )
  })

  it('compound, compress and label readers never throw on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        decodeCompound(Uint8Array.of(7, ...bytes))
        decompressMessage(Uint8Array.of(9, ...bytes), 1 << 20)
        readLabelHeader(Uint8Array.of(244, ...bytes))
      }),
      { numRuns: 2000 },
    )
  })
})

const streamOptions = fc.constantFrom<StreamDecodeOptions>(
  { readLabelHeader: true, label: '', skipInboundLabelCheck: false, verifyIncoming: true },
  { readLabelHeader: true, label: 'lbl1', skipInboundLabelCheck: false, verifyIncoming: true },
  {
    readLabelHeader: false,
    label: '',
    skipInboundLabelCheck: false,
    keyring: ring,
    verifyIncoming: true,
  },
  {
    readLabelHeader: true,
    label: '',
    skipInboundLabelCheck: false,
    keyring: ring,
    verifyIncoming: false,
  },
)

function feedInChunks(decoder: StreamDecoder, bytes: Uint8Array, chunk: number): void {
  for (let i = 0; i < bytes.length; i += chunk) {
    const r = decoder.feed(bytes.subarray(i, i + chunk))
    assert.ok(['needMore', 'frame', 'error', 'done'].includes(r.status))
    if (r.status === 'frame' && r.message.type !== 'pushPull' && r.message.type !== 'err') {
      encodeStreamMessage(r.message)
    }
  }
}

describe('fuzzing the stream decoder', () => {
  it('never throws on random bytes fed in random chunks', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.integer({ min: 1, max: 64 }),
        streamOptions,
        (bytes, chunk, opts) => {
          feedInChunks(new StreamDecoder(opts), bytes, chunk)
        },
      ),
      { numRuns: 2000 },
    )
  })

  it('never throws on mutated valid frames', () => {
    fc.assert(
      fc.property(
        streamMessageArb,
        fc.boolean(),
        fc.boolean(),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 1, max: 64 }),
        (message, compress, encrypt, mutations, chunk) => {
          let bytes = encodeStreamFrame(message, {
            compress,
            label: '',
            writeLabelHeader: false,
            keyring: encrypt ? ring : undefined,
            verifyOutgoing: true,
            randomBytes: seededRandom(chunk),
          })
          for (const m of mutations) bytes = mutate(bytes, m)
          const opts: StreamDecodeOptions = {
            readLabelHeader: true,
            label: '',
            skipInboundLabelCheck: false,
            keyring: encrypt ? ring : undefined,
            verifyIncoming: true,
          }
          feedInChunks(new StreamDecoder(opts), bytes, chunk)
        },
      ),
      { numRuns: 1000 },
    )
  })
})
