// Goal: the payload primitives round-trip every value, whichever path encodes it (ASCII text is
// written from its char codes, other text through TextEncoder; writers borrow a shared scratch
// buffer and return views into shared slabs), and an earlier result is never changed by a later
// writer.
// Method: fast-check sequences of primitive writes, read back in order; outputs of many writers
// kept and compared with copies taken at the time.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { PayloadReader, PayloadWriter } from '../../src/rpc/payload.ts'

type Op =
  | { kind: 'u8'; v: number }
  | { kind: 'u16'; v: number }
  | { kind: 'u32'; v: number }
  | { kind: 'u64'; v: number }
  | { kind: 'string'; v: string }
  | { kind: 'bytes'; v: Uint8Array }
  | { kind: 'flag'; v: boolean }

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.integer({ min: 0, max: 0xff }).map((v) => ({ kind: 'u8' as const, v })),
  fc.integer({ min: 0, max: 0xffff }).map((v) => ({ kind: 'u16' as const, v })),
  fc.integer({ min: 0, max: 0xffffffff }).map((v) => ({ kind: 'u32' as const, v })),
  fc.maxSafeNat().map((v) => ({ kind: 'u64' as const, v })),
  fc
    .oneof(
      fc.string({ maxLength: 40 }),
      fc.string({ maxLength: 40, unit: 'grapheme' }),
      fc.string({ unit: 'binary', maxLength: 10 }),
    )
    .map((v) => ({ kind: 'string' as const, v })),
  fc.uint8Array({ maxLength: 6000 }).map((v) => ({ kind: 'bytes' as const, v })),
  fc.boolean().map((v) => ({ kind: 'flag' as const, v })),
)

function write(ops: readonly Op[]): Uint8Array {
  const w = new PayloadWriter()
  for (const o of ops) {
    if (o.kind === 'flag') w.u8(o.v ? 1 : 0)
    else if (o.kind === 'string') w.string(o.v)
    else if (o.kind === 'bytes') w.bytes(o.v)
    else w[o.kind](o.v)
  }
  return w.finish()
}

function read(bytes: Uint8Array, ops: readonly Op[]): unknown[] {
  const r = new PayloadReader(bytes)
  const result = r.run(() => ops.map((o) => (o.kind === 'flag' ? r.flag() : r[o.kind]())))
  assert.ok(result.ok, !result.ok ? result.reason : '')
  assert.ok(r.atEnd())
  return result.value
}

const wellFormed = (text: string) =>
  text === new TextDecoder().decode(new TextEncoder().encode(text))

test('every primitive round-trips, ASCII and non-ASCII text alike', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 12 }), (ops) => {
      const usable = ops.filter((o) => o.kind !== 'string' || wellFormed(o.v))
      const values = read(write(usable), usable)
      assert.deepEqual(
        values,
        usable.map((o) => (o.kind === 'bytes' ? new Uint8Array(o.v) : o.v)),
      )
    }),
    { numRuns: 500 },
  )
})

test('a result is never changed by later writers (slab views are handed out once)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.array(op, { maxLength: 6 }), { minLength: 2, maxLength: 40 }),
      (batches) => {
        const kept = batches.map((ops) => {
          const bytes = write(ops.filter((o) => o.kind !== 'string' || wellFormed(o.v)))
          return { bytes, copy: new Uint8Array(bytes) }
        })
        for (const { bytes, copy } of kept) assert.deepEqual(bytes, copy)
      },
    ),
    { numRuns: 200 },
  )
})

test('text over 65535 bytes is refused, ASCII or not', () => {
  assert.throws(() => new PayloadWriter().string('a'.repeat(0x10000)), RangeError)
  assert.throws(() => new PayloadWriter().string('é'.repeat(0x8000)), RangeError)
  const max = 'a'.repeat(0xffff)
  const w = new PayloadWriter()
  w.string(max)
  assert.equal(new PayloadReader(w.finish()).string(), max)
})

test('a write that grows the buffer lands in the grown buffer, at every fill level', () => {
  // Each primitive reserves first (growth may replace the buffer) and writes after. A payload
  // over 64 KiB is not kept as the shared scratch buffer, so the writer after it starts from a
  // fresh 256-byte buffer: fill it to every length across its first growths, then write each
  // primitive at the edge.
  const big = new Uint8Array(70_000)
  for (let fill = 0; fill < 600; fill += 1) {
    const reset = new PayloadWriter()
    reset.bytes(big)
    reset.finish()
    const w = new PayloadWriter()
    w.bytes(new Uint8Array(fill))
    w.u16(0xabcd)
    w.u32(0x89abcdef)
    w.u64(2 ** 40 + 7)
    w.string('key')
    w.u8(0x7f)
    const r = new PayloadReader(w.finish())
    const values = r.run(() => [r.bytes().length, r.u16(), r.u32(), r.u64(), r.string(), r.u8()])
    assert.deepEqual(values, {
      ok: true,
      value: [fill, 0xabcd, 0x89abcdef, 2 ** 40 + 7, 'key', 0x7f],
    })
  }
})
