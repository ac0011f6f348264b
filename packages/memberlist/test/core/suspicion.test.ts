// Goal: the Lifeguard suspicion timer starts at max with confirmations wanted, shrinks with each
// new independent accuser, ignores repeats and the first accuser, and caps at k confirmations.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Suspicion } from '../../src/core/suspicion.ts'

test('suspicion starts at the max timeout when confirmations are wanted', () => {
  const s = new Suspicion({ from: 'a', wanted: 2, minMs: 4000, maxMs: 24000, startMs: 100 })
  assert.equal(s.deadlineMs, 24100)
})

test('suspicion starts at the min timeout when no confirmations are wanted', () => {
  const s = new Suspicion({ from: 'a', wanted: 0, minMs: 4000, maxMs: 24000, startMs: 0 })
  assert.equal(s.deadlineMs, 4000)
  assert.equal(s.confirm('b', 10), false)
})

test('each new accuser shortens the timeout; repeats and the first accuser do not count', () => {
  const s = new Suspicion({ from: 'a', wanted: 2, minMs: 4000, maxMs: 24000, startMs: 0 })
  assert.equal(s.confirm('a', 1000), false)
  assert.equal(s.confirm('b', 1000), true)
  // 24000 - ln2/ln3 * 20000 = 11381.07… → floor 11381
  assert.equal(s.deadlineMs, 11381)
  assert.equal(s.confirm('b', 2000), false)
  assert.equal(s.confirm('c', 2000), true)
  assert.equal(s.deadlineMs, 4000)
  assert.equal(s.confirm('d', 2000), false, 'confirmations beyond k are ignored')
  assert.equal(s.confirmations, 2)
})

test('a late confirmation whose timeout has already passed fires at once', () => {
  const s = new Suspicion({ from: 'a', wanted: 1, minMs: 4000, maxMs: 24000, startMs: 0 })
  s.confirm('b', 10_000)
  assert.equal(s.deadlineMs, 10_000)
})
