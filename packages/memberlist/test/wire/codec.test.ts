import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  decodePacketMessage,
  decodeStreamMessage,
  encodePacketMessage,
  encodeStreamMessage,
  StreamBodyParser,
} from '../../src/wire/codec.ts'
import type { PacketMessage, PushNodeState, StreamMessage } from '../../src/wire/messages.ts'
import { fromHex, packetMessageArb, streamMessageArb, toHex, utf8 } from './helpers.ts'

const localhost = fromHex('7f000001')
const vsnDefault = fromHex('010502000000')

/** Appendix A.1: Go's bytes for single messages (old == new unless noted). */
const packetVectors: readonly { name: string; hex: string; message: PacketMessage }[] = [
  {
    name: 'ping_full',
    hex: '0085a44e6f6465a66e6f64652d62a55365714e6f07aa536f7572636541646472a47f000001aa536f757263654e6f6465a66e6f64652d61aa536f75726365506f7274cd1f0a',
    message: {
      type: 'ping',
      node: 'node-b',
      seqNo: 7,
      sourceAddr: localhost,
      sourceNode: 'node-a',
      sourcePort: 7946,
    },
  },
  {
    name: 'ping_minimal',
    hex: '0082a44e6f6465a66e6f64652d62a55365714e6f07',
    message: { type: 'ping', node: 'node-b', seqNo: 7 },
  },
  {
    name: 'indirect',
    hex: '0188a44e61636bc3a44e6f6465a66e6f64652d63a4506f7274cd1f0ba55365714e6fcd012caa536f7572636541646472a47f000001aa536f757263654e6f6465a66e6f64652d61aa536f75726365506f7274cd1f0aa6546172676574a47f000001',
    message: {
      type: 'indirectPing',
      nack: true,
      node: 'node-c',
      port: 7947,
      seqNo: 300,
      target: localhost,
      sourceAddr: localhost,
      sourceNode: 'node-a',
      sourcePort: 7946,
    },
  },
  {
    name: 'ack (nil payload)',
    hex: '0282a75061796c6f6164c0a55365714e6f07',
    message: { type: 'ackResp', seqNo: 7 },
  },
  {
    name: 'ack (empty payload)',
    hex: '0282a75061796c6f6164a0a55365714e6f07',
    message: { type: 'ackResp', seqNo: 7, payload: new Uint8Array(0) },
  },
  {
    name: 'nack 70000',
    hex: '0b81a55365714e6fce00011170',
    message: { type: 'nackResp', seqNo: 70000 },
  },
  {
    name: 'suspect',
    hex: '0383a446726f6da66e6f64652d61ab496e6361726e6174696f6e03a44e6f6465a66e6f64652d62',
    message: { type: 'suspect', from: 'node-a', incarnation: 3, node: 'node-b' },
  },
  {
    name: 'alive',
    hex: '0486a441646472a47f000001ab496e6361726e6174696f6e01a44d657461c0a44e6f6465a66e6f64652d61a4506f7274cd1f0aa356736ea6010502000000',
    message: {
      type: 'alive',
      addr: localhost,
      incarnation: 1,
      node: 'node-a',
      port: 7946,
      vsn: vsnDefault,
    },
  },
  {
    name: 'alive (::1, Meta ff00, inc 70000, Vsn 1,5,2,2,5,4)',
    hex: '0486a441646472b000000000000000000000000000000001ab496e6361726e6174696f6ece00011170a44d657461a2ff00a44e6f6465a16ea4506f7274cd1f0aa356736ea6010502020504',
    message: {
      type: 'alive',
      addr: fromHex('00000000000000000000000000000001'),
      incarnation: 70000,
      meta: fromHex('ff00'),
      node: 'n',
      port: 7946,
      vsn: fromHex('010502020504'),
    },
  },
  {
    name: 'alive (40-char name as str16, not str8)',
    hex: '0486a441646472a47f000001ab496e6361726e6174696f6e01a44d657461c0a44e6f6465da0028612d6e6f64652d6e616d652d746861742d69732d6c6f6e6765722d7468616e2d33322d6279746573a4506f7274cd1f0aa356736ea6010502000000',
    message: {
      type: 'alive',
      addr: localhost,
      incarnation: 1,
      node: 'a-node-name-that-is-longer-than-32-bytes',
      port: 7946,
      vsn: vsnDefault,
    },
  },
  {
    name: 'dead',
    hex: '0583a446726f6da66e6f64652d61ab496e6361726e6174696f6e02a44e6f6465a66e6f64652d61',
    message: { type: 'dead', from: 'node-a', incarnation: 2, node: 'node-a' },
  },
]

describe('codec golden vectors (Appendix A.1)', () => {
  for (const v of packetVectors) {
    it(`encodes ${v.name} byte for byte as Go does`, () => {
      assert.equal(toHex(encodePacketMessage(v.message)), v.hex)
    })
    it(`decodes Go's ${v.name}`, () => {
      const r = decodePacketMessage(fromHex(v.hex))
      assert.ok(r.ok, JSON.stringify(r))
      assert.deepEqual(r.message, v.message)
    })
  }

  it('encodes and decodes the errResp "boom" stream frame', () => {
    const hex = '0d81a54572726f72a4626f6f6d'
    assert.equal(toHex(encodeStreamMessage({ type: 'err', error: 'boom' })), hex)
    const r = decodeStreamMessage(fromHex(hex))
    assert.ok(r.ok)
    assert.deepEqual(r.message, { type: 'err', error: 'boom' })
  })

  it('encodes the stream user message header {UserMsgLen: 5} followed by the raw bytes', () => {
    const payload = utf8('hello')
    const frame = encodeStreamMessage({ type: 'user', payload })
    assert.equal(toHex(frame), `0881aa557365724d73674c656e05${toHex(payload)}`)
    const r = decodeStreamMessage(frame)
    assert.ok(r.ok)
    assert.deepEqual(r.message, { type: 'user', payload })
  })

  const nodeStateHex =
    '87a441646472a47f000001ab496e6361726e6174696f6e01a44d657461c0a44e616d65a66e6f64652d61a4506f7274cd1f0aa5537461746500a356736ea6010502000000'
  const nodeState: PushNodeState = {
    name: 'node-a',
    addr: localhost,
    port: 7946,
    incarnation: 1,
    state: 'alive',
    vsn: vsnDefault,
  }

  it('encodes a push/pull frame as header (old, unsigned form), node states and user state', () => {
    const userState = new Uint8Array(300).fill(7)
    const frame = encodeStreamMessage({
      type: 'pushPull',
      join: true,
      nodes: [nodeState, nodeState],
      userState,
    })
    const header = '0683a44a6f696ec3a54e6f64657302ac5573657253746174654c656ecd012c'
    assert.equal(toHex(frame), header + nodeStateHex + nodeStateHex + toHex(userState))
  })

  for (const [form, header] of [
    ['old (unsigned)', '0683a44a6f696ec3a54e6f64657302ac5573657253746174654c656ecd012c'],
    ['new (signed int16)', '0683a44a6f696ec3a54e6f64657302ac5573657253746174654c656ed1012c'],
  ] as const) {
    it(`decodes a push/pull frame whose header uses the ${form} int form`, () => {
      const userState = new Uint8Array(300).fill(9)
      const r = decodeStreamMessage(
        fromHex(header + nodeStateHex + nodeStateHex + toHex(userState)),
      )
      assert.ok(r.ok, JSON.stringify(r))
      assert.deepEqual(r.message, {
        type: 'pushPull',
        join: true,
        nodes: [nodeState, nodeState],
        userState,
      })
    })
  }

  for (const [form, header] of [
    ['old', '0683a44a6f696ec2a54e6f646573ccc8ac5573657253746174654c656ece00011170'],
    ['new', '0683a44a6f696ec2a54e6f646573d100c8ac5573657253746174654c656ed200011170'],
  ] as const) {
    it(`decodes the ${form} header {Nodes 200, UserStateLen 70000} with its nodes and state`, () => {
      const userState = new Uint8Array(70000).fill(1)
      const r = decodeStreamMessage(fromHex(header + nodeStateHex.repeat(200) + toHex(userState)))
      assert.ok(r.ok, JSON.stringify(r))
      assert.equal(r.message.type, 'pushPull')
      if (r.message.type !== 'pushPull') return
      assert.equal(r.message.nodes.length, 200)
      assert.equal(r.message.join, false)
      assert.deepEqual(r.message.userState, userState)
    })
  }

  it('encodes the {Nodes 200, UserStateLen 70000} header in the old unsigned form', () => {
    const nodes = new Array<PushNodeState>(200).fill(nodeState)
    const frame = encodeStreamMessage({
      type: 'pushPull',
      join: false,
      nodes,
      userState: new Uint8Array(70000),
    })
    const header = '0683a44a6f696ec2a54e6f646573ccc8ac5573657253746174654c656ece00011170'
    assert.equal(toHex(frame.subarray(0, header.length / 2)), header)
  })
})

describe('codec leniency (what Go also accepts)', () => {
  it('accepts bin and str8 for bytes and strings, map16, and keys in any order', () => {
    // ping as map16 with SeqNo first, Node as str8, SourceAddr as bin8.
    const hex = `00de0003a55365714e6f07a44e6f6465d9066e6f64652d62aa536f7572636541646472c4047f000001`
    const r = decodePacketMessage(fromHex(hex))
    assert.ok(r.ok, JSON.stringify(r))
    assert.deepEqual(r.message, { type: 'ping', node: 'node-b', seqNo: 7, sourceAddr: localhost })
  })

  it('reads missing keys as zero values and skips unknown keys', () => {
    // nack with only an unknown key {"X": [1, {"y": nil}]}
    const r = decodePacketMessage(fromHex('0b81a15892 01 81a179c0'))
    assert.ok(r.ok, JSON.stringify(r))
    assert.deepEqual(r.message, { type: 'nackResp', seqNo: 0 })
  })

  it('accepts every integer width for unsigned fields, signed or not', () => {
    for (const enc of [
      '07',
      'cc07',
      'cd0007',
      'ce00000007',
      'cf0000000000000007',
      'd007',
      'd10007',
      'd200000007',
      'd30000000000000007',
    ]) {
      const r = decodePacketMessage(fromHex(`0b81a55365714e6f${enc}`))
      assert.ok(r.ok, enc)
      assert.deepEqual(r.message, { type: 'nackResp', seqNo: 7 }, enc)
    }
  })

  it('refuses negative or overflowing values in unsigned fields', () => {
    for (const enc of ['ff', 'd0ff', 'cf0000000100000000', 'ce00010000']) {
      const field = enc === 'ce00010000' ? 'a4506f7274' : 'a55365714e6f'
      const type = enc === 'ce00010000' ? '01' : '0b'
      const r = decodePacketMessage(fromHex(`${type}81${field}${enc}`))
      assert.equal(r.ok, false, enc)
    }
  })

  it('refuses floats, ext types and invalid UTF-8 in string fields', () => {
    assert.equal(decodePacketMessage(fromHex('0b81a55365714e6fcb3ff0000000000000')).ok, false)
    assert.equal(decodePacketMessage(fromHex('0b81a55365714e6fd40000')).ok, false)
    assert.equal(decodePacketMessage(fromHex('0081a44e6f6465a2c328')).ok, false)
  })

  it('refuses unknown message types and compound or compressed wrappers as single messages', () => {
    for (const t of ['06', '07', '09', '0a', '0c', '0d', 'f4', '63']) {
      const r = decodePacketMessage(fromHex(`${t}80`))
      assert.equal(r.ok, false, t)
    }
  })

  it('decodes a UDP user message as the raw bytes after the type byte', () => {
    const r = decodePacketMessage(fromHex('08ff00c1'))
    assert.ok(r.ok)
    assert.deepEqual(r.message, { type: 'user', payload: fromHex('ff00c1') })
  })

  it('refuses a push/pull node with an unknown State and a negative node count', () => {
    const badState =
      '0683a44a6f696ec2a54e6f64657301ac5573657253746174654c656e00' + '81a5537461746504'
    assert.equal(decodeStreamMessage(fromHex(badState)).ok, false)
    const negative = '0683a44a6f696ec2a54e6f646573ffac5573657253746174654c656e00'
    const r = decodeStreamMessage(fromHex(negative))
    assert.equal(r.ok, false)
    if (!r.ok) assert.equal(r.reason, 'too-large')
  })
})

describe('codec round trips', () => {
  it('decodes every encoded packet message to the same message', () => {
    fc.assert(
      fc.property(packetMessageArb, (m) => {
        const r = decodePacketMessage(encodePacketMessage(m))
        assert.ok(r.ok)
        assert.deepStrictEqual(r.message, m)
      }),
      { numRuns: 500 },
    )
  })

  it('decodes every encoded stream message to the same message', () => {
    fc.assert(
      fc.property(streamMessageArb, (m) => {
        const frame = encodeStreamMessage(m)
        const r = decodeStreamMessage(frame)
        assert.ok(r.ok)
        assert.deepStrictEqual(r.message, m)
        assert.equal(r.bytesRead, frame.length)
      }),
      { numRuns: 300 },
    )
  })

  it('parses a stream frame fed one growing prefix at a time, resuming where it stopped', () => {
    fc.assert(
      fc.property(streamMessageArb, fc.integer({ min: 1, max: 64 }), (m: StreamMessage, step) => {
        const frame = encodeStreamMessage(m)
        const parser = new StreamBodyParser()
        for (let end = step; end < frame.length; end += step) {
          const r = parser.step(frame.subarray(0, end))
          assert.equal(r.status, 'needMore')
        }
        const done = parser.step(frame)
        assert.equal(done.status, 'ok')
        if (done.status === 'ok') assert.deepStrictEqual(done.message, m)
      }),
      { numRuns: 200 },
    )
  })

  it('throws a RangeError when asked to encode an out-of-range number (a caller bug)', () => {
    assert.throws(() => encodePacketMessage({ type: 'nackResp', seqNo: -1 }), RangeError)
    assert.throws(() => encodePacketMessage({ type: 'nackResp', seqNo: 2 ** 32 }), RangeError)
    assert.throws(
      () => encodePacketMessage({ type: 'ping', node: 'x', seqNo: 1, sourcePort: 70000 }),
      RangeError,
    )
  })
})
