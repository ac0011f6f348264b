// Goal: a move that is slow but progressing is not pushed a second time by the old replicas.
// An old replica drains a partition (pushes every record to the new replicas itself) only when
// its receivers stop pulling for the hand-off wait, max(10 s, 2 × requestTimeoutMs). Before this
// rule, a rate-limited or large move had every partition that waited longer than that pushed
// again, and again after each failed push, for as long as the move lasted: CPU spent in
// proportion to the move's duration, not to its records (docs/performance.md).
// Method: real nodes in one process on loopback (helpers.ts); a fourth node joins with
// `handoffRecordsPerSec` low enough that its move takes longer than the hand-off wait; no old
// replica may count a drain, and every key the new node replicates reaches it.
import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import { get, localValue, put, replicasOf, TestCluster, waitFor } from './helpers.ts'

const KEYS = 1200
const LIMIT = 100 // records per second
const HAND_OFF_WAIT_MS = 10_000

describe('cluster runtime: a slow move is not drained', { timeout: 150_000 }, () => {
  const clusters: TestCluster[] = []
  after(async () => {
    for (const cluster of clusters) await cluster.stop()
  })

  test('old replicas do not push partitions whose receiver is still pulling', async (t) => {
    const cluster = new TestCluster({ handoffRecordsPerSec: LIMIT })
    clusters.push(cluster)
    for (const name of ['a', 'b', 'c']) await cluster.start(name)
    await cluster.waitMembers(['a', 'b', 'c'])
    await cluster.waitReady()
    const nodes = [...cluster.nodes.values()]
    await Promise.all(
      Array.from({ length: 20 }, async (_, w) => {
        for (let i = w; i < KEYS; i += 20) {
          const result = await put(nodes[i % nodes.length]!, `k-${i}`, `v-${i}`, 'all')
          assert.equal(result.status, 200, JSON.stringify(result.body))
        }
      }),
    )

    const startedAt = performance.now()
    const d = await cluster.start('d')
    // Bounded by waitFor's deadline.
    await waitFor('d ready', async () => (await get(d, '/v1/ready')).status === 200, 120_000)
    const moveMs = performance.now() - startedAt
    t.diagnostic(
      `move took ${(moveMs / 1000).toFixed(1)} s, ${d.cluster.driver.stats.handoffRecords} records`,
    )
    assert.ok(
      moveMs > HAND_OFF_WAIT_MS + 1000,
      `the move must outlast the hand-off wait to test anything (${moveMs.toFixed(0)} ms)`,
    )
    for (const node of nodes) {
      assert.equal(
        node.cluster.driver.stats.handoffDrains,
        0,
        `${node.name} pushed partitions while d was still pulling them`,
      )
    }

    await cluster.waitMembers(['a', 'b', 'c', 'd'])
    const missing: string[] = []
    for (let i = 0; i < KEYS; i++) {
      const key = `k-${i}`
      if (!replicasOf(d, key).includes('d')) continue
      if ((await localValue(d, key)) !== `v-${i}`) missing.push(key)
    }
    assert.deepEqual(missing, [])
  })
})
