// Goal: the rebalancing metrics count what a join streams. Method: three agent processes, N=3;
// write keys with w=all (every replica holds every key before the join); scrape /metrics (no
// record has been streamed yet: the cluster formed while empty); add a fourth node; wait until
// every node is ready and both pending-partition gauges are 0 everywhere; then the new node's
// counters must cover at least every key and partition the final placement gives it (records,
// payload bytes = key + value bytes, partitions), and the old nodes must have received nothing.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { type Cluster, replicasOf, startCluster, waitFor } from '../../helpers/cluster-harness.ts'
import { keyNames, writeKeys } from '../../helpers/workload.ts'

const KEY_COUNT = 600
const PARTITIONS = 128
const MOVE_DEADLINE_MS = 120_000

const METRICS = [
  'gossamer_handoff_records_total',
  'gossamer_handoff_bytes_total',
  'gossamer_handoff_partitions_total',
  'gossamer_handoff_inbound_partitions',
  'gossamer_handoff_outbound_partitions',
] as const
type Metric = (typeof METRICS)[number]

/** The rebalancing metrics of one node, parsed from its Prometheus text. */
async function scrape(cluster: Cluster, name: string): Promise<Record<Metric, number>> {
  const response = await cluster.fetch(name, 'GET', '/metrics')
  const text = await response.text()
  assert.equal(response.status, 200, text.slice(0, 200))
  const values = {} as Record<Metric, number>
  for (const metric of METRICS) {
    const match = new RegExp(`^${metric} (\\S+)$`, 'm').exec(text)
    assert.ok(match, `${metric} missing from /metrics of ${name}`)
    values[metric] = Number(match[1])
  }
  return values
}

describe('rebalancing metrics when a fourth node joins', { timeout: 300_000 }, () => {
  let cluster: Cluster | undefined

  before(async () => {
    cluster = await startCluster({ nodes: 3, replicas: 3, partitions: PARTITIONS })
  })
  after(async () => {
    await cluster?.stop()
  })

  test('records, bytes and partitions received rise on the joiner; pending gauges end at 0', async () => {
    const c = cluster!
    const original = c.nodes.map((n) => n.name)
    const valueFor = (key: string) => `value of ${key} `.repeat(4)
    const written = await writeKeys(c, keyNames('rb', KEY_COUNT), {
      through: (attempt) => original[attempt % original.length]!,
      valueOf: valueFor,
      w: 'all',
    })
    assert.equal(written.failed.size, 0, `writes failed: ${[...written.failed][0]}`)
    for (const name of original) {
      const m = await scrape(c, name)
      assert.equal(m.gossamer_handoff_records_total, 0, `${name} streamed records before the join`)
      assert.equal(m.gossamer_handoff_bytes_total, 0, `${name} streamed bytes before the join`)
    }

    await c.addNode()
    let last = ''
    await waitFor(
      'n4 in the placement, every node ready, no partition pending in or out',
      async () => {
        const view = await c.partitions('n1')
        if (!view.partitions.some((p) => p.owners.includes('n4'))) return false
        const ready = await Promise.all(c.up.map((n) => c.isReady(n.name)))
        const metrics = await Promise.all(c.up.map((n) => scrape(c, n.name)))
        last = metrics
          .map(
            (m, i) =>
              `${c.up[i]!.name}: in ${m.gossamer_handoff_inbound_partitions} out ${m.gossamer_handoff_outbound_partitions}`,
          )
          .join(', ')
        return (
          ready.every(Boolean) &&
          metrics.every(
            (m) =>
              m.gossamer_handoff_inbound_partitions === 0 &&
              m.gossamer_handoff_outbound_partitions === 0,
          )
        )
      },
      { deadlineMs: MOVE_DEADLINE_MS, intervalMs: 500 },
    ).catch((error: Error) => {
      throw new Error(`${error.message}; last: ${last}\n${c.describe()}`)
    })

    const view = await c.partitions('n4')
    const keysOnN4 = [...written.acked.keys()].filter((key) => replicasOf(view, key).includes('n4'))
    const partitionsOnN4 = view.partitions.filter((p) =>
      (view.replicas === 'all' ? p.owners : p.owners.slice(0, view.replicas)).includes('n4'),
    ).length
    assert.ok(keysOnN4.length > 0, 'the placement gives n4 no key')
    const recordBytes = (key: string) => Buffer.byteLength(key) + Buffer.byteLength(valueFor(key))
    const expectedBytes = keysOnN4.reduce((sum, key) => sum + recordBytes(key), 0)
    const m4 = await scrape(c, 'n4')
    assert.ok(
      m4.gossamer_handoff_records_total >= keysOnN4.length,
      `n4 received ${m4.gossamer_handoff_records_total} records, holds ${keysOnN4.length} keys`,
    )
    assert.ok(
      m4.gossamer_handoff_bytes_total >= expectedBytes,
      `n4 received ${m4.gossamer_handoff_bytes_total} bytes, its keys are ${expectedBytes}`,
    )
    // Every streamed record is one of the keys written: bytes are key + value, nothing else.
    const sizes = keysOnN4.map(recordBytes)
    assert.ok(
      m4.gossamer_handoff_bytes_total <= m4.gossamer_handoff_records_total * Math.max(...sizes) &&
        m4.gossamer_handoff_bytes_total >= m4.gossamer_handoff_records_total * Math.min(...sizes),
      `${m4.gossamer_handoff_bytes_total} bytes for ${m4.gossamer_handoff_records_total} records of ${Math.min(...sizes)}–${Math.max(...sizes)} bytes`,
    )
    assert.ok(
      m4.gossamer_handoff_partitions_total >= partitionsOnN4,
      `n4 finished ${m4.gossamer_handoff_partitions_total} transfers, replicates ${partitionsOnN4} partitions`,
    )
    for (const name of original) {
      const m = await scrape(c, name)
      assert.equal(m.gossamer_handoff_records_total, 0, `${name} received records in a join`)
    }
  })
})
