// Goal: pin the timing formulas to the numbers Go memberlist produces (reference §6.4–§6.7).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  awarenessScaleMs,
  pushPullScaleMs,
  remainingSuspicionMs,
  retransmitLimit,
  suspicionConfirmationsWanted,
  suspicionTimeoutMs,
} from '../../src/core/formulas.ts'

test('suspicion timeout matches memberlist util_test for LAN and small clusters', () => {
  // memberlist util_test.go TestSuspicionTimeout lists these divided by 3 (1698 ms, 2698 ms…);
  // the mult-4 rows are the LAN examples of §6.4.
  const table: [mult: number, n: number, expectedMs: number][] = [
    [3, 5, 3000],
    [3, 10, 3000],
    [3, 50, 5094],
    [3, 100, 6000],
    [3, 500, 8094],
    [3, 1000, 9000],
    [4, 1, 4000],
    [4, 10, 4000],
    [4, 100, 8000],
    [4, 1000, 12000],
  ]
  for (const [suspicionMult, nodeCount, expectedMs] of table) {
    const got = suspicionTimeoutMs({ suspicionMult, nodeCount, probeIntervalMs: 1000 })
    assert.equal(got, expectedMs, `mult ${suspicionMult}, n ${nodeCount}`)
  }
})

test('confirmations wanted are mult - 2, or 0 when fewer than k other nodes exist', () => {
  assert.equal(suspicionConfirmationsWanted(4, 100), 2)
  assert.equal(suspicionConfirmationsWanted(4, 4), 2)
  assert.equal(suspicionConfirmationsWanted(4, 3), 0)
  assert.equal(suspicionConfirmationsWanted(3, 3), 1)
  assert.equal(suspicionConfirmationsWanted(6, 100), 4)
})

test('remaining suspicion time matches memberlist suspicion_test table', () => {
  // TestSuspicion_remainingSuspicionTime: k=3, min 2 s, max 30 s.
  const table: [n: number, elapsedMs: number, expectedMs: number][] = [
    [0, 0, 30000],
    [1, 2000, 14000],
    [2, 3000, 4810],
    [3, 4000, -2000],
    [4, 5000, -3000],
    [5, 10000, -8000],
  ]
  for (const [confirmations, elapsedMs, expectedMs] of table) {
    const got = remainingSuspicionMs({
      confirmations,
      wanted: 3,
      elapsedMs,
      minMs: 2000,
      maxMs: 30000,
    })
    assert.equal(got, expectedMs, `n=${confirmations}`)
  }
})

test('retransmit limit is mult times ceil(log10(n + 1))', () => {
  // memberlist util_test TestRetransmitLimit plus the LAN examples of §6.6.
  const table: [mult: number, n: number, expected: number][] = [
    [3, 0, 0],
    [3, 1, 3],
    [3, 99, 6],
    [4, 9, 4],
    [4, 10, 8],
    [4, 99, 8],
    [4, 100, 12],
    [4, 999, 12],
  ]
  for (const [mult, n, expected] of table) assert.equal(retransmitLimit(mult, n), expected)
})

test('push/pull interval scales with log2 of the cluster size above 32 nodes', () => {
  const table: [n: number, expectedMs: number][] = [
    [1, 30000],
    [32, 30000],
    [33, 60000],
    [64, 60000],
    [65, 90000],
    [128, 90000],
    [129, 120000],
    [256, 120000],
    [1000, 180000],
  ]
  for (const [n, expectedMs] of table) assert.equal(pushPullScaleMs(30000, n), expectedMs, `n=${n}`)
})

test('awareness scales a timeout by score plus one', () => {
  assert.equal(awarenessScaleMs(1000, 0), 1000)
  assert.equal(awarenessScaleMs(1000, 7), 8000)
})
