// Goal: a node restarted on its data directory never coordinates a request as "a cluster of
// one" (docs/reliability.md, Finding): it starts from the ownership set it persisted, refuses
// coordinated requests with 503 NOT_READY until it has rejoined and merged the cluster's set,
// and rejoins through the owners it persisted even when its --join list is useless.
// Method: real nodes in one process on loopback; the restarted node's --join names a port
// nobody listens on, so without the persisted state it could never rejoin.
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { CLUSTER_STATE_FILE } from '../../src/cluster/runtime/cluster-state-file.ts'
import { get, put, read, TestCluster, waitFor } from './helpers.ts'

/** A gossip address nobody listens on (port 1 is privileged and unused on test machines). */
const NOWHERE = '127.0.0.1:1'

describe('cluster runtime: restart', { timeout: 120_000 }, () => {
  const clusters: TestCluster[] = []
  after(async () => {
    for (const cluster of clusters) await cluster.stop()
  })

  test('a restarted node answers 503 NOT_READY, never a stale read, until it has rejoined; then it reads the writes it missed', async () => {
    const cluster = new TestCluster()
    clusters.push(cluster)
    for (const name of ['a', 'b', 'c']) await cluster.start(name)
    await cluster.waitMembers(['a', 'b', 'c'])
    await cluster.waitReady()
    const state = JSON.parse(
      await readFile(join(await cluster.dirOf('c'), CLUSTER_STATE_FILE), 'utf8'),
    ) as { peers: string[] }
    assert.equal(state.peers.length, 2, 'c persisted where a and b are')
    await cluster.crash('c')
    const a = cluster.node('a')
    const keys = Array.from({ length: 20 }, (_, i) => `missed-${i}`)
    for (const key of keys) assert.equal((await put(a, key, `v-${key}`)).status, 200)

    const c = await cluster.start('c', { join: NOWHERE })
    // From its very first answer, c starts from the persisted placement, not from itself alone.
    assert.deepEqual([...c.cluster.placement.owners].sort(), ['a', 'b', 'c'])
    for (const key of keys) {
      const result = await get(c, `/get?key=${encodeURIComponent(key)}&r=quorum`)
      if (result.status === 503) {
        assert.equal(
          (result.body as { error: { code: string } }).error.code,
          'GOSSAMER_ERR_NOT_READY',
        )
        assert.equal((await get(c, '/v1/ready')).status, 503)
      } else {
        assert.equal(result.status, 200, `a read through c of ${key} was ${result.status}`)
        assert.equal((result.body as { value: string }).value, `v-${key}`)
      }
    }
    await waitFor('c rejoined through the owners it persisted', () => c.cluster.canCoordinate)
    await cluster.waitReady()
    for (const key of keys) assert.equal(await read(c, key), `v-${key}`)
    await cluster.stop()
  })

  test('a node removed while it was down streams its partitions in when it comes back', async () => {
    const cluster = new TestCluster()
    clusters.push(cluster)
    for (const name of ['a', 'b', 'c']) await cluster.start(name)
    await cluster.waitMembers(['a', 'b', 'c'])
    await cluster.waitReady()
    await cluster.crash('c')
    const a = cluster.node('a')
    a.cluster.removeMember('c')
    await waitFor('a and b place without c', () =>
      ['a', 'b'].every((n) => !cluster.node(n).cluster.placement.owners.includes('c')),
    )
    for (let i = 0; i < 20; i++) assert.equal((await put(a, `later-${i}`, `v-${i}`)).status, 200)
    const c = await cluster.start('c', { join: NOWHERE })
    await cluster.waitMembers(['a', 'b', 'c'])
    await cluster.waitReady()
    assert.equal(c.cluster.driver.stats.handoffRecords >= 20, true, 'c streamed the records in')
    for (let i = 0; i < 20; i++) assert.equal(await read(c, `later-${i}`, 'one'), `v-${i}`)
    await cluster.stop()
  })
})
