import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  decodeMsgpack,
  encodeMsgpack,
  type MsgpackValue,
  MsgpackWriter,
} from '../../src/wire/msgpack.ts'
import { fromHex, toHex } from './helpers.ts'

function decodeHex(hex: string): MsgpackValue {
  const r = decodeMsgpack(fromHex(hex))
  assert.equal(r.status, 'ok', hex)
  if (r.status !== 'ok') throw new Error('unreachable')
  return r.value
}

describe('msgpack decoder', () => {
  it('decodes every int form, positive and negative', () => {
    const cases: [string, number | bigint][] = [
      ['00', 0],
      ['7f', 127],
      ['e0', -32],
      ['ff', -1],
      ['cc80', 128],
      ['cdffff', 65535],
      ['ceffffffff', 4294967295],
      ['cf001fffffffffffff', Number.MAX_SAFE_INTEGER],
      ['cfffffffffffffffff', 0xffffffffffffffffn],
      ['d080', -128],
      ['d18000', -32768],
      ['d280000000', -2147483648],
      ['d3ffffffffffffffff', -1],
      ['d38000000000000000', -(2n ** 63n)],
    ]
    for (const [hex, want] of cases) assert.equal(decodeHex(hex), want, hex)
  })

  it('decodes nil, booleans, every str and bin width as bytes, arrays and maps', () => {
    assert.equal(decodeHex('c0'), null)
    assert.equal(decodeHex('c2'), false)
    assert.equal(decodeHex('c3'), true)
    for (const hex of [
      'a3616263',
      'd903616263',
      'da0003616263',
      'db00000003616263',
      'c403616263',
      'c50003616263',
      'c600000003616263',
    ]) {
      assert.deepEqual(decodeHex(hex), fromHex('616263'), hex)
    }
    assert.deepEqual(decodeHex('920102'), [1, 2])
    assert.deepEqual(decodeHex('dc00020102'), [1, 2])
    assert.deepEqual(decodeHex('dd000000020102'), [1, 2])
    assert.deepEqual(decodeHex('81a16101'), new Map([['a', 1]]))
    assert.deepEqual(decodeHex('de0001a16101'), new Map([['a', 1]]))
    assert.deepEqual(decodeHex('df00000001a16101'), new Map([['a', 1]]))
  })

  it('reports the bytes one value used, so values can be read back to back', () => {
    const buf = fromHex('81a16101 a3616263 ff')
    const first = decodeMsgpack(buf)
    assert.equal(first.status, 'ok')
    if (first.status !== 'ok') return
    assert.equal(first.bytesRead, 4)
    const second = decodeMsgpack(buf, 4)
    assert.equal(second.status === 'ok' && second.bytesRead, 4)
  })

  it('tells a value cut short (needMore) apart from malformed bytes', () => {
    for (const hex of ['', 'cd00', 'a3616', 'da00', '92 01', '81a161', 'db00000010', 'df0000']) {
      assert.equal(decodeMsgpack(fromHex(hex)).status, 'needMore', hex)
    }
    for (const hex of [
      'c1',
      'ca00000000',
      'cb0000000000000000',
      'd40000',
      'c70100',
      '81 92 01 02 01',
    ]) {
      assert.equal(decodeMsgpack(fromHex(hex)).status, 'malformed', hex)
    }
  })

  it('enforces depth and length limits', () => {
    const deep = fromHex('91'.repeat(40) + '01')
    assert.equal(decodeMsgpack(deep).status, 'malformed')
    assert.equal(decodeMsgpack(deep, 0, { maxDepth: 64 }).status, 'ok')
    assert.equal(
      decodeMsgpack(fromHex('db7fffffff'), 0, { maxBytesLength: 1024 }).status,
      'malformed',
    )
    assert.equal(
      decodeMsgpack(fromHex('dd7fffffff'), 0, { maxContainerLength: 1024 }).status,
      'malformed',
    )
  })

  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const r = decodeMsgpack(bytes)
        assert.ok(['ok', 'needMore', 'malformed'].includes(r.status))
      }),
      { numRuns: 2000 },
    )
  })
})

describe('msgpack encoder', () => {
  it('writes Go forms: fixstr, then str16 (never str8), then str32', () => {
    assert.equal(toHex(new MsgpackWriter().str(new Uint8Array(31)).finish()).slice(0, 2), 'bf')
    assert.equal(toHex(new MsgpackWriter().str(new Uint8Array(32)).finish()).slice(0, 6), 'da0020')
    assert.equal(
      toHex(new MsgpackWriter().str(new Uint8Array(70000)).finish()).slice(0, 10),
      'db00011170',
    )
  })

  it('writes the smallest unsigned form and the smallest signed form for negatives', () => {
    const cases: [number, string][] = [
      [0, '00'],
      [127, '7f'],
      [128, 'cc80'],
      [256, 'cd0100'],
      [65536, 'ce00010000'],
      [2 ** 32, 'cf0000000100000000'],
      [-1, 'ff'],
      [-33, 'd0df'],
      [-129, 'd1ff7f'],
      [-32769, 'd2ffff7fff'],
    ]
    for (const [n, hex] of cases)
      assert.equal(toHex(new MsgpackWriter().int(n).finish()), hex, String(n))
  })

  it('sorts map keys byte-wise like Go sorts struct fields', () => {
    const m = new Map<string, number>([
      ['SeqNo', 1],
      ['Node', 2],
      ['SourceAddr', 3],
    ])
    assert.equal(toHex(encodeMsgpack(m)), '83a44e6f646502a55365714e6f01aa536f757263654164647203')
  })

  it('round-trips arbitrary values through encode and decode (strings come back as bytes)', () => {
    const leaf = fc.oneof(
      fc.constant(null),
      fc.boolean(),
      fc.maxSafeInteger(),
      fc.uint8Array({ maxLength: 40 }),
    )
    const value = fc.letrec<{ v: MsgpackValue }>((tie) => ({
      v: fc.oneof(
        { depthSize: 'small' },
        leaf,
        fc.array(tie('v'), { maxLength: 4 }),
        fc
          .uniqueArray(fc.tuple(fc.string({ maxLength: 6 }), tie('v')), {
            maxLength: 4,
            selector: (e) => e[0],
          })
          .map((entries) => new Map(entries)),
      ),
    })).v
    fc.assert(
      fc.property(value, (v) => {
        const bytes = encodeMsgpack(v)
        const r = decodeMsgpack(bytes)
        assert.equal(r.status, 'ok')
        if (r.status !== 'ok') return
        assert.equal(r.bytesRead, bytes.length)
        assert.deepStrictEqual(toHex(encodeMsgpack(r.value)), toHex(bytes))
      }),
      { numRuns: 500 },
    )
  })
})
