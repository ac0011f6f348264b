// Goal: the cluster runtime turns startNode() instances into one cluster — membership and
// placement agree, quorum writes are readable through every node, hints carry writes to a node
// that was down, read repair and anti-entropy fix stale and missing replicas.
// Method: real nodes in one process on loopback (port 0, `local` gossip preset, 64 partitions,
// 20 ms driver tick); every wait has a deadline.
import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import { get, localValue, put, read, replicasOf, TestCluster, waitFor } from './helpers.ts'

describe('cluster runtime: replication', { timeout: 120_000 }, () => {
  const clusters: TestCluster[] = []
  after(async () => {
    for (const cluster of clusters) await cluster.stop()
  })

  test('three nodes agree on members and placement, and w=quorum writes read back through every node', async () => {
    const cluster = new TestCluster()
    clusters.push(cluster)
    for (const name of ['a', 'b', 'c']) await cluster.start(name)
    await cluster.waitMembers(['a', 'b', 'c'])
    await cluster.waitReady()
    const nodes = [...cluster.nodes.values()]
    const reference = nodes[0]!.cluster.partitions()
    for (const node of nodes) {
      assert.deepEqual(
        node.cluster.partitions().partitions.map((p) => p.owners),
        reference.partitions.map((p) => p.owners),
      )
      const members = node.cluster.members()
      assert.deepEqual(members.map((m) => m.name).sort(), ['a', 'b', 'c'])
      assert.ok(members.every((m) => m.state === 'alive' && m.owner && m.role === 'gossamer'))
    }
    for (let i = 0; i < 60; i++) {
      const result = await put(nodes[i % 3]!, `key-${i}`, `value-${i}`)
      assert.equal(result.status, 200, JSON.stringify(result.body))
    }
    for (let i = 0; i < 60; i++) {
      for (const node of nodes) assert.equal(await read(node, `key-${i}`), `value-${i}`)
    }
    await cluster.stop()
  })

  test('writes taken while a replica is down reach it through hints when it returns', async () => {
    const cluster = new TestCluster({ replicas: 2 })
    clusters.push(cluster)
    for (const name of ['a', 'b', 'c']) await cluster.start(name)
    await cluster.waitMembers(['a', 'b', 'c'])
    await cluster.waitReady()
    await cluster.crash('c')
    const a = cluster.node('a')
    const keys: string[] = []
    for (let i = 0; keys.length < 20 && i < 500; i++) {
      const key = `hinted-${i}`
      if (!replicasOf(a, key).includes('c')) continue
      keys.push(key)
      // w=1: the live replica acks; the copy meant for c goes to the fallback as a hint.
      assert.equal((await put(a, key, `v-${i}`, 'one')).status, 200)
    }
    await waitFor('hints stored', () => {
      const held = ['a', 'b'].map((n) => cluster.node(n).cluster.driver.hintsPending)
      return held[0]! + held[1]! >= keys.length
    })
    await waitFor('c declared dead', () =>
      a.cluster.members().some((m) => m.name === 'c' && (m.state === 'dead' || m.state === 'left')),
    )
    const c = await cluster.start('c')
    await waitFor(
      'hints delivered',
      () => ['a', 'b'].every((n) => cluster.node(n).cluster.driver.hintsPending === 0),
      20_000,
    )
    for (const key of keys) assert.ok((await localValue(c, key))?.startsWith('v-'), key)
    await cluster.stop()
  })

  test('a quorum read repairs a replica that missed a write', async () => {
    const cluster = new TestCluster()
    clusters.push(cluster)
    for (const name of ['a', 'b', 'c']) await cluster.start(name)
    await cluster.waitMembers(['a', 'b', 'c'])
    await cluster.waitReady()
    const a = cluster.node('a')
    assert.equal((await put(a, 'repaired', 'old', 'all')).status, 200)
    // A newer version reaches two replicas only, as if the third had missed it.
    const record = {
      version: { wallMs: Date.now(), logical: 7, nodeId: 'writer' },
      value: Buffer.from('new'),
      contentType: 'text/plain; charset=utf-8',
    }
    for (const name of ['a', 'b']) {
      await cluster.node(name).cluster.driver.handle('writer', {
        type: 'put',
        requestId: 1,
        key: 'repaired',
        record,
      })
    }
    const c = cluster.node('c')
    assert.equal(await localValue(c, 'repaired'), 'old')
    assert.equal(await read(c, 'repaired', 'all'), 'new')
    await waitFor('read repair', async () => (await localValue(c, 'repaired')) === 'new')
    await cluster.stop()
  })

  test('anti-entropy restores records a replica never received', async () => {
    const cluster = new TestCluster({ antiEntropyIntervalMs: 500 })
    clusters.push(cluster)
    for (const name of ['a', 'b', 'c']) await cluster.start(name)
    await cluster.waitMembers(['a', 'b', 'c'])
    await cluster.waitReady()
    for (let i = 0; i < 40; i++) {
      const record = {
        version: { wallMs: Date.now(), logical: i, nodeId: 'writer' },
        value: Buffer.from(`aae-${i}`),
      }
      await cluster.node('a').cluster.driver.handle('writer', {
        type: 'put',
        requestId: i,
        key: `aae-${i}`,
        record,
      })
    }
    for (const name of ['b', 'c']) {
      const node = cluster.node(name)
      await waitFor(
        `${name} repaired by anti-entropy`,
        async () => {
          for (let i = 0; i < 40; i++)
            if ((await localValue(node, `aae-${i}`)) !== `aae-${i}`) return false
          return true
        },
        20_000,
      )
    }
    assert.ok(cluster.node('a').cluster.adminStats().antiEntropy.repaired > 0)
    await cluster.stop()
  })

  /** Nodes a and b, and c whose clock runs ten minutes ahead (beyond the 60 s skew bound). */
  async function startSkewedCluster(): Promise<TestCluster> {
    const cluster = new TestCluster()
    clusters.push(cluster)
    await cluster.start('a')
    await cluster.start('b')
    await cluster.start('c', { clockOffsetMs: 10 * 60_000, maxClockSkewMs: 60_000 })
    await cluster.waitMembers(['a', 'b', 'c'])
    await cluster.waitReady()
    return cluster
  }

  test('a node whose clock runs far ahead has its writes refused and cannot override newer data', async () => {
    const cluster = await startSkewedCluster()
    const a = cluster.node('a')
    const c = cluster.node('c')
    assert.equal((await put(a, 'skew', 'good', 'all')).status, 200)
    const refused = await put(c, 'skew', 'bad', 'quorum')
    assert.equal(refused.status, 503)
    assert.equal(
      (refused.body as { error: { code: string } }).error.code,
      'GOSSAMER_ERR_CLOCK_SKEW',
    )
    assert.equal(await read(a, 'skew'), 'good')
    assert.equal(await read(cluster.node('b'), 'skew'), 'good')
    assert.equal(await localValue(a, 'skew'), 'good')
    await cluster.stop()
  })

  test('a quorum read does not count a replica answering with a record from beyond the skew bound', async () => {
    // c's clock runs ten minutes ahead and its own write put a future record in its replica; b
    // holds the newest honest write (acknowledged by b and, before the fix in putReplyAfterWrite,
    // by c's stale-at-commit reply); a still holds the older one. With b down, a and c must not
    // form a read quorum: c's future record is no usable answer, so the read fails rather than
    // return a's stale value as if it were the newest.
    const cluster = await startSkewedCluster()
    const a = cluster.node('a')
    assert.equal((await put(a, 'shadow', 'honest 1', 'all')).status, 200)
    const record = (value: string, wallMs: number, nodeId: string) => ({
      version: { wallMs, logical: 0, nodeId },
      value: Buffer.from(value),
    })
    const future = record('from the future', Date.now() + 10 * 60_000, 'c')
    await cluster.node('c').cluster.driver.handle('c', {
      type: 'put',
      requestId: 1,
      key: 'shadow',
      record: future,
    })
    await cluster.node('b').cluster.driver.handle('writer', {
      type: 'put',
      requestId: 2,
      key: 'shadow',
      record: record('honest 2', Date.now(), 'writer'),
    })
    assert.equal(await localValue(cluster.node('c'), 'shadow'), 'from the future')
    assert.equal(await localValue(cluster.node('b'), 'shadow'), 'honest 2')
    // Every replica answers: c's answer counts towards r=all, the newest usable one wins.
    assert.equal(await read(a, 'shadow', 'all'), 'honest 2')
    await cluster.crash('b')
    const got = await get(a, '/get?key=shadow&r=quorum')
    assert.equal(got.status, 503, `a quorum read with b down answered ${JSON.stringify(got.body)}`)
    await cluster.stop()
  })
})
