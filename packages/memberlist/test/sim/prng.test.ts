// Goal: the seeded PRNG is reproducible, forks independently, and stays in range.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { SeededRandom } from '../../src/sim/prng.ts'

test('the same seed gives the same sequence; different seeds differ', () => {
  const draw = (seed: string | number): number[] => {
    const r = new SeededRandom(seed)
    return Array.from({ length: 8 }, () => r.u32())
  }
  assert.deepEqual(draw(42), draw(42))
  assert.notDeepEqual(draw(42), draw(43))
})

test('a fork depends only on the seed and label, not on draws made before it', () => {
  const a = new SeededRandom(1)
  const b = new SeededRandom(1)
  b.u32()
  b.u32()
  assert.equal(a.fork('net').u32(), b.fork('net').u32())
  assert.notEqual(a.fork('net').u32(), a.fork('disk').u32())
})

test('intBelow stays in range and shuffle keeps the elements (property)', () => {
  fc.assert(
    fc.property(fc.integer(), fc.integer({ min: 1, max: 1000 }), (seed, n) => {
      const r = new SeededRandom(seed)
      const k = r.intBelow(n)
      const items = Array.from({ length: 20 }, (_, i) => i)
      r.shuffle(items)
      return k >= 0 && k < n && [...items].sort((x, y) => x - y).every((v, i) => v === i)
    }),
  )
})
