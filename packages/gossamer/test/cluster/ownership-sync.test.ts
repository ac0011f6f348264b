import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  OWNERSHIP_SYNC_MIN_INTERVAL_MS,
  ownershipSyncTargets,
} from '../../src/cluster/ownership-sync.ts'

describe('cluster: ownershipSyncTargets', () => {
  const live = new Set(['a', 'b', 'c'])
  const pick = (
    lastSyncMs: Map<string, number>,
    nowMs: number,
    candidates = ['a', 'b', 'c', 'd'],
  ) =>
    ownershipSyncTargets({ self: 'a', candidates, isLive: (n) => live.has(n), lastSyncMs, nowMs })

  it('picks live nodes other than itself, in order', () => {
    assert.deepEqual(pick(new Map(), 0), ['b', 'c'])
  })

  it('syncs with one node at most once per interval, and records the ones it picks', () => {
    const last = new Map<string, number>()
    assert.deepEqual(pick(last, 1_000, ['b']), ['b'])
    assert.deepEqual(pick(last, 1_000 + OWNERSHIP_SYNC_MIN_INTERVAL_MS - 1), ['c'])
    assert.deepEqual(pick(last, 1_000 + OWNERSHIP_SYNC_MIN_INTERVAL_MS), ['b'])
    assert.equal(last.get('c'), 1_000 + OWNERSHIP_SYNC_MIN_INTERVAL_MS - 1)
  })
})
