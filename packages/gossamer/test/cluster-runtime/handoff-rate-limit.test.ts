// Goal: `handoffRecordsPerSec` bounds how fast a joining node pulls partitions in, and every
// key still arrives.
// Method: real nodes in one process on loopback (see helpers.ts) with a small limit; a fourth
// node joins a cluster holding KEYS keys. From its first streamed page to its readiness the
// records it received may not exceed what the token bucket allows (its burst, the pages in flight
// that may put it into debt, and the limit times the elapsed time). Every wait has a deadline.
import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import { handoffPacing } from '../../src/cluster/runtime/replication-driver.ts'
import {
  FAST,
  get,
  localValue,
  replicasOf,
  startLoadedCluster,
  TestCluster,
  waitFor,
} from './helpers.ts'

const KEYS = 3000
const LIMIT = 1000 // records per second
const SLACK_S = 0.3

describe('cluster runtime: handoff rate limit', { timeout: 120_000 }, () => {
  const clusters: TestCluster[] = []
  after(async () => {
    for (const cluster of clusters) await cluster.stop()
  })

  test('a joining node streams no faster than handoffRecordsPerSec, and gets every key', async (t) => {
    const cluster = new TestCluster({ handoffRecordsPerSec: LIMIT })
    clusters.push(cluster)
    await startLoadedCluster(cluster, KEYS)

    const d = await cluster.start('d')
    const stats = d.cluster.driver.stats
    let firstPageAt: number | undefined
    let firstPageRecords = 0
    // Bounded by waitFor's deadline.
    await waitFor(
      'd ready',
      async () => {
        if (firstPageAt === undefined && stats.handoffRecords > 0) {
          firstPageAt = performance.now()
          firstPageRecords = stats.handoffRecords
        }
        return (await get(d, '/v1/ready')).status === 200
      },
      90_000,
    )
    const readyAt = performance.now()
    assert.ok(firstPageAt !== undefined, 'd streamed records in')
    const records = stats.handoffRecords - firstPageRecords
    const elapsedS = (readyAt - firstPageAt) / 1000

    // What the bucket lets through on top of LIMIT × t: its fill (5 ticks' worth) and the debt
    // of the pages in flight when it ran dry.
    const { batchLimit, maxConcurrentTransfers } = handoffPacing({
      requestTimeoutMs: FAST.requestTimeoutMs!,
      tickIntervalMs: FAST.tickIntervalMs!,
      handoffRecordsPerSec: LIMIT,
      tombstoneGraceMs: 0,
      maxClockSkewMs: 0,
      antiEntropyIntervalMs: 0,
      antiEntropyRecordsPerSec: 1,
    })
    const burst =
      5 * Math.round((LIMIT * FAST.tickIntervalMs!) / 1000) + maxConcurrentTransfers * batchLimit
    const minS = (records - burst) / LIMIT - SLACK_S
    t.diagnostic(`${records} records in ${elapsedS.toFixed(2)} s (at least ${minS.toFixed(2)} s)`)
    assert.ok(records > 3 * burst, `enough records moved to see the limit (${records})`)
    assert.ok(
      elapsedS >= minS,
      `${records} records in ${elapsedS.toFixed(2)} s: faster than ${LIMIT}/s allows (≥ ${minS.toFixed(2)} s)`,
    )

    // Every key d now replicates is on d.
    await cluster.waitMembers(['a', 'b', 'c', 'd'])
    const missing: string[] = []
    let replicated = 0
    for (let i = 0; i < KEYS; i++) {
      const key = `k-${i}`
      if (!replicasOf(d, key).includes('d')) continue
      replicated += 1
      if ((await localValue(d, key)) !== `v-${i}`) missing.push(key)
    }
    assert.ok(replicated > KEYS / 2, `d replicates many keys (${replicated})`)
    assert.deepEqual(missing, [])
  })
})
