// Goal: the broadcast queue orders by fewest transmits, then largest, then newest; honours the
// byte budget; retires items at the retransmit limit; and invalidates by name.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { BroadcastQueue } from '../../src/core/broadcast-queue.ts'

function queue(nodeCount = 9, retransmitMult = 1, maxItems = 100): BroadcastQueue<string> {
  return new BroadcastQueue<string>({ retransmitMult, nodeCount: () => nodeCount, maxItems })
}

test('broadcasts are taken largest first, then newest first, within one transmit tier', () => {
  const q = queue(9, 4)
  q.queue({ payload: 'small-old', sizeBytes: 10 })
  q.queue({ payload: 'big', sizeBytes: 30 })
  q.queue({ payload: 'small-new', sizeBytes: 10 })
  assert.deepEqual(q.take(2, 1000), ['big', 'small-new', 'small-old'])
})

test('items sent fewer times go first', () => {
  const q = queue(9, 4)
  q.queue({ payload: 'a', sizeBytes: 10 })
  assert.deepEqual(q.take(2, 1000), ['a'])
  q.queue({ payload: 'b', sizeBytes: 5 })
  assert.deepEqual(q.take(2, 1000), ['b', 'a'])
})

test('only broadcasts that fit the remaining bytes are taken', () => {
  const q = queue(9, 4)
  q.queue({ payload: 'big', sizeBytes: 50 })
  q.queue({ payload: 'mid', sizeBytes: 20 })
  q.queue({ payload: 'tiny', sizeBytes: 5 })
  // 30 bytes: big (52) does not fit, mid (22) does, then tiny needs 7 of the remaining 8.
  assert.deepEqual(q.take(2, 30), ['mid', 'tiny'])
})

test('a broadcast retires after retransmitMult * ceil(log10(n + 1)) transmits', () => {
  const q = queue(9, 2) // limit 2
  let finished = 0
  q.queue({ payload: 'x', sizeBytes: 1, onFinished: () => finished++ })
  assert.deepEqual(q.take(0, 100), ['x'])
  assert.equal(finished, 0)
  assert.deepEqual(q.take(0, 100), ['x'])
  assert.equal(finished, 1)
  assert.equal(q.length, 0)
})

test('a named broadcast replaces queued news about the same name', () => {
  const q = queue()
  let finished = 0
  q.queue({ name: 'n1', payload: 'suspect n1', sizeBytes: 10, onFinished: () => finished++ })
  q.queue({ name: 'n2', payload: 'alive n2', sizeBytes: 10 })
  q.queue({ name: 'n1', payload: 'alive n1', sizeBytes: 10 })
  assert.equal(finished, 1)
  assert.deepEqual(q.take(0, 1000).sort(), ['alive n1', 'alive n2'])
})

test('the queue is bounded and drops the most-sent items first', () => {
  const q = queue(9, 10, 2)
  q.queue({ payload: 'old', sizeBytes: 1 })
  q.take(0, 100)
  q.queue({ payload: 'new1', sizeBytes: 1 })
  q.queue({ payload: 'new2', sizeBytes: 1 })
  assert.equal(q.length, 2)
  assert.deepEqual(q.take(0, 100).sort(), ['new1', 'new2'])
})

test('taken broadcasts never exceed the byte budget (property)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 200 }), { maxLength: 40 }),
      fc.integer({ min: 0, max: 1500 }),
      fc.integer({ min: 0, max: 4 }),
      (sizes, limit, overhead) => {
        const q = queue(50, 4, 1000)
        for (const [i, sizeBytes] of sizes.entries()) q.queue({ payload: String(i), sizeBytes })
        const taken = q.take(overhead, limit)
        const used = taken.reduce((sum, id) => sum + sizes[Number(id)]! + overhead, 0)
        return used <= limit
      },
    ),
  )
})
