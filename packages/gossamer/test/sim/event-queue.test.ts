import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { EventBudgetExceededError, EventQueue } from '../../src/sim/event-queue.ts'
import { parseDurationMs, swarmOptions } from '../../src/sim/options.ts'

describe('event queue', () => {
  it('fires events in time order and same-time events in scheduling order', () => {
    const queue = new EventQueue()
    const fired: string[] = []
    queue.at(5, () => fired.push('a5'))
    queue.at(1, () => fired.push('b1'))
    queue.at(5, () => fired.push('c5'))
    queue.at(3, () => {
      fired.push('d3')
      queue.after(0, () => fired.push('e3'))
    })
    queue.runUntil(10, 100)
    assert.deepEqual(fired, ['b1', 'd3', 'e3', 'a5', 'c5'])
    assert.equal(queue.nowMs, 10)
  })

  it('stops at the end time and leaves later events queued', () => {
    const queue = new EventQueue()
    let count = 0
    queue.at(2, () => count++)
    queue.at(20, () => count++)
    queue.runUntil(10, 100)
    assert.equal(count, 1)
    assert.equal(queue.size, 1)
  })

  it('throws when a run exceeds its event budget (a livelock fails loudly)', () => {
    const queue = new EventQueue()
    const loop = (): void => queue.after(0, loop)
    loop()
    assert.throws(() => queue.runUntil(1, 1_000), EventBudgetExceededError)
  })
})

describe('sim options', () => {
  it('parses durations with units, bare numbers as seconds', () => {
    assert.equal(parseDurationMs('60s'), 60_000)
    assert.equal(parseDurationMs('1500ms'), 1_500)
    assert.equal(parseDurationMs('2m'), 120_000)
    assert.equal(parseDurationMs('3'), 3_000)
    assert.throws(() => parseDurationMs('soon'), RangeError)
  })

  it('swarm mode draws the same knobs from the same seed and lets overrides win', () => {
    assert.deepEqual(swarmOptions('abc'), swarmOptions('abc'))
    assert.equal(swarmOptions('abc', { nodeCount: 9 }).nodeCount, 9)
  })
})
