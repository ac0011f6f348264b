// Goal: timers fire in (deadline, insertion) order, cancelled ones never fire, and timers
// scheduled while firing run in the same call when already due.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { TimerQueue } from '../../src/core/timers.ts'

test('timers fire in deadline order with insertion order breaking ties', () => {
  const q = new TimerQueue()
  const fired: string[] = []
  q.schedule(20, () => fired.push('b'))
  q.schedule(10, () => fired.push('a'))
  q.schedule(20, () => fired.push('c'))
  const cancelled = q.schedule(15, () => fired.push('x'))
  cancelled.cancel()
  assert.equal(q.nextDeadlineMs(), 10)
  q.fireDue(19)
  assert.deepEqual(fired, ['a'])
  q.fireDue(20)
  assert.deepEqual(fired, ['a', 'b', 'c'])
  assert.equal(q.nextDeadlineMs(), undefined)
  assert.equal(q.size, 0)
})

test('a timer scheduled while firing runs in the same call if already due', () => {
  const q = new TimerQueue()
  const fired: number[] = []
  q.schedule(5, () => q.schedule(5, () => fired.push(2)))
  q.fireDue(5)
  assert.deepEqual(fired, [2])
})
