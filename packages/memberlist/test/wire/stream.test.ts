import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { encodeStreamMessage } from '../../src/wire/codec.ts'
import { compressMessage } from '../../src/wire/compress.ts'
import { Keyring } from '../../src/wire/keyring.ts'
import type { StreamMessage } from '../../src/wire/messages.ts'
import {
  encodeStreamFrame,
  type StreamDecodeOptions,
  StreamDecoder,
  type StreamEncodeOptions,
  type StreamFeedResult,
} from '../../src/wire/stream.ts'
import { fixedRandom, fromHex, seededRandom, streamMessageArb, toHex } from './helpers.ts'

const key = fromHex('000102030405060708090a0b0c0d0e0f')
const nonce = fromHex('000000000000000000000001')
const pingPart = fromHex('0082a44e6f6465a162a55365714e6f01')
const ping: StreamMessage = { type: 'ping', node: 'b', seqNo: 1 }
const streamVector =
  '0a0000002d01000000000000000000000001ba570b2da28daf8f2ce1179952eb61257189c723de7f1ec6773e59f26446df06'

function keyring(...keys: Uint8Array[]): Keyring {
  const r = Keyring.create({ keys })
  assert.ok(r.ok)
  return r.keyring
}

const send: StreamEncodeOptions = {
  compress: false,
  label: '',
  writeLabelHeader: false,
  verifyOutgoing: true,
  randomBytes: fixedRandom(nonce),
}
const accept: StreamDecodeOptions = {
  readLabelHeader: true,
  label: '',
  skipInboundLabelCheck: false,
  verifyIncoming: true,
}

/** Feeds `bytes` in chunks of `size` and returns the last result. */
function feedAll(decoder: StreamDecoder, bytes: Uint8Array, size = bytes.length): StreamFeedResult {
  let last: StreamFeedResult = { status: 'needMore' }
  for (let i = 0; i < bytes.length; i += Math.max(1, size)) {
    last = decoder.feed(bytes.subarray(i, i + Math.max(1, size)))
    if (last.status !== 'needMore') break
  }
  return last
}

function frameOf(r: StreamFeedResult): StreamMessage {
  assert.equal(r.status, 'frame', JSON.stringify(r))
  if (r.status !== 'frame') throw new Error('unreachable')
  return r.message
}

function errorOf(r: StreamFeedResult): string {
  assert.equal(r.status, 'error', JSON.stringify(r))
  return r.status === 'error' ? r.reason : ''
}

describe('stream frames: golden vectors (A.4, A.5)', () => {
  it('encrypts a stream frame with [10][L]‖label as additional data, as Go does', () => {
    const out = encodeStreamFrame(pingPart, { ...send, label: 'lbl1', keyring: keyring(key) })
    assert.equal(toHex(out), streamVector)
  })

  it('writes the label header before the frame only when asked to (the dialer)', () => {
    const out = encodeStreamFrame(pingPart, {
      ...send,
      label: 'lbl1',
      writeLabelHeader: true,
      keyring: keyring(key),
    })
    assert.equal(toHex(out), `f4046c626c31${streamVector}`)
  })

  it('decodes the labelled encrypted stream byte by byte on the accepting side', () => {
    const d = new StreamDecoder({ ...accept, label: 'lbl1', keyring: keyring(key) })
    const r = feedAll(d, fromHex(`f4046c626c31${streamVector}`), 1)
    assert.deepEqual(frameOf(r), ping)
    assert.equal(r.status === 'frame' && r.encrypted, true)
  })

  it('decodes a reply without a label header on the dialing side, using its own label as AAD', () => {
    const d = new StreamDecoder({
      ...accept,
      readLabelHeader: false,
      label: 'lbl1',
      keyring: keyring(key),
    })
    assert.deepEqual(frameOf(feedAll(d, fromHex(streamVector))), ping)
  })

  it('waits for more bytes after the first bytes of live Go push/pull replies', () => {
    const compressed = new StreamDecoder({ ...accept, readLabelHeader: false })
    assert.equal(compressed.feed(fromHex('0982a4416c676f00a3427566da00a0')).status, 'needMore')
    const encrypted = new StreamDecoder({
      ...accept,
      readLabelHeader: false,
      keyring: keyring(key),
    })
    assert.equal(encrypted.feed(fromHex('0a000000cc01')).status, 'needMore')
  })

  it('refuses an encrypted stream when no keyring is configured', () => {
    const d = new StreamDecoder({ ...accept, readLabelHeader: false })
    assert.equal(errorOf(d.feed(fromHex('0a000000cc01'))), 'encryption-not-configured')
  })
})

describe('stream frames: rules', () => {
  it('refuses a plaintext stream when encryption is on, unless incoming verification is off', () => {
    const frame = encodeStreamFrame(ping, send)
    assert.equal(
      errorOf(new StreamDecoder({ ...accept, keyring: keyring(key) }).feed(frame)),
      'encryption-required',
    )
    const lax = new StreamDecoder({ ...accept, keyring: keyring(key), verifyIncoming: false })
    assert.deepEqual(frameOf(lax.feed(frame)), ping)
  })

  it('applies the label rules on the accepting side', () => {
    const labelled = encodeStreamFrame(ping, { ...send, label: 'blue', writeLabelHeader: true })
    assert.equal(errorOf(new StreamDecoder(accept).feed(labelled)), 'label-mismatch')
    assert.equal(
      errorOf(new StreamDecoder({ ...accept, label: 'red' }).feed(labelled)),
      'label-mismatch',
    )
    const skip = { ...accept, label: 'blue', skipInboundLabelCheck: true }
    assert.equal(errorOf(new StreamDecoder(skip).feed(labelled)), 'label-double')
    assert.deepEqual(frameOf(new StreamDecoder(skip).feed(encodeStreamFrame(ping, send))), ping)
    assert.equal(errorOf(new StreamDecoder(accept).feed(fromHex('f400'))), 'label-malformed')
  })

  it('refuses types that do not belong on streams, including nested compression', () => {
    for (const hex of ['0380', '0780', '0c00000000', '6300']) {
      assert.equal(errorOf(new StreamDecoder(accept).feed(fromHex(hex))), 'unknown-type', hex)
    }
    const doubly = compressMessage(compressMessage(encodeStreamMessage(ping)))
    assert.equal(errorOf(new StreamDecoder(accept).feed(doubly)), 'unknown-type')
  })

  it('enforces the size limits of memberlist HEAD', () => {
    const ring = keyring(key)
    assert.equal(
      errorOf(new StreamDecoder({ ...accept, keyring: ring }).feed(fromHex('0a01400001'))),
      'too-large',
    )
    // userMsgHeader{UserMsgLen: 20 MiB + 1}
    assert.equal(
      errorOf(new StreamDecoder(accept).feed(fromHex('0881aa557365724d73674c656ece01400001'))),
      'too-large',
    )
    // pushPullHeader{Nodes: 1048577}
    const nodes = '0683a44a6f696ec2a54e6f646573ce00100001ac5573657253746174654c656e00'
    assert.equal(errorOf(new StreamDecoder(accept).feed(fromHex(nodes))), 'too-large')
    const small = new StreamDecoder({ ...accept, limits: { maxPlainFrameBytes: 100 } })
    const userMsg = encodeStreamFrame({ type: 'user', payload: new Uint8Array(200) }, send)
    assert.equal(errorOf(feedAll(small, userMsg, 50)), 'too-large')
    const tinyInflate = new StreamDecoder({ ...accept, limits: { maxDecompressedBytes: 100 } })
    const bigCompressed = encodeStreamFrame(
      { type: 'user', payload: new Uint8Array(1000) },
      { ...send, compress: true },
    )
    assert.equal(errorOf(tinyInflate.feed(bigCompressed)), 'decompress-failed')
  })

  it('reports trailing bytes, then says done; an error is sticky', () => {
    const d = new StreamDecoder(accept)
    const r = d.feed(Uint8Array.of(...encodeStreamFrame(ping, send), 1, 2, 3))
    assert.equal(r.status === 'frame' && r.trailingBytes, 3)
    assert.equal(d.feed(Uint8Array.of(4)).status, 'done')
    const bad = new StreamDecoder(accept)
    assert.equal(errorOf(bad.feed(fromHex('63'))), 'unknown-type')
    assert.equal(errorOf(bad.feed(encodeStreamFrame(ping, send))), 'unknown-type')
  })

  it('returns a push/pull as soon as its declared content has arrived, without waiting for EOF', () => {
    const msg: StreamMessage = {
      type: 'pushPull',
      join: true,
      nodes: [
        {
          name: 'a',
          addr: fromHex('7f000001'),
          port: 1,
          incarnation: 1,
          state: 'alive',
          vsn: fromHex('010502000000'),
        },
      ],
      userState: fromHex('abcd'),
    }
    const frame = encodeStreamFrame(msg, send)
    const d = new StreamDecoder(accept)
    assert.equal(d.feed(frame.subarray(0, frame.length - 1)).status, 'needMore')
    assert.deepEqual(frameOf(d.feed(frame.subarray(frame.length - 1))), msg)
  })
})

describe('stream frames: round trips', () => {
  const options = fc.record({
    compress: fc.boolean(),
    label: fc.constantFrom('', 'lbl1'),
    encrypt: fc.boolean(),
    version: fc.constantFrom(0 as const, 1 as const),
    seed: fc.integer(),
    chunk: fc.integer({ min: 1, max: 97 }),
  })

  it('decodes every frame we encode, split into any chunk size, to the same message', () => {
    fc.assert(
      fc.property(streamMessageArb, options, (msg, o) => {
        const ring = o.encrypt ? keyring(key) : undefined
        const frame = encodeStreamFrame(msg, {
          compress: o.compress,
          label: o.label,
          writeLabelHeader: true,
          keyring: ring,
          verifyOutgoing: true,
          randomBytes: seededRandom(o.seed),
          encryptionVersion: o.version,
        })
        const d = new StreamDecoder({ ...accept, label: o.label, keyring: ring })
        const r = feedAll(d, frame, o.chunk)
        assert.deepStrictEqual(frameOf(r), msg)
        assert.equal(r.status === 'frame' && r.compressed, o.compress)
        assert.equal(r.status === 'frame' && r.encrypted, o.encrypt)
      }),
      { numRuns: 300 },
    )
  })
})
