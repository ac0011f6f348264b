// Goal: the replication counters reach /metrics under their Prometheus names, read from the
// source at scrape time — among them the hint re-targeting counters (hints held for a node that
// left the ownership set, moved to the key's current replicas, and the copies a full queue
// dropped).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { NodeMetrics, type ReplicationMetricsSource } from '../../src/api/metrics.ts'

function source(overrides: Partial<ReplicationMetricsSource> = {}): ReplicationMetricsSource {
  return {
    hintsPending: 0,
    hintsStored: 0,
    hintsDelivered: 0,
    hintsRetargeted: 0,
    hintsDropped: 0,
    readRepairs: 0,
    quorumFailures: 0,
    timeouts: 0,
    rpcErrors: 0,
    skewRefusals: 0,
    refusalRetries: 0,
    handoffRecords: 0,
    handoffBytes: 0,
    handoffPartitions: 0,
    handoffDrains: 0,
    handoffInboundPending: 0,
    handoffOutboundPending: 0,
    antiEntropy: { rounds: 0, repaired: 0, waiting: 0 },
    ...overrides,
  }
}

/** The value of an unlabelled sample in a Prometheus exposition. */
function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `))
  return line === undefined ? undefined : Number(line.slice(name.length + 1))
}

describe('api/metrics: replication', () => {
  it('exports the hint counters, re-targeted and dropped included, as read at scrape time', async () => {
    const metrics = new NodeMetrics({ defaultMetrics: false })
    let current = source({ hintsStored: 4, hintsDelivered: 3, hintsRetargeted: 7, hintsDropped: 2 })
    metrics.registerReplication(() => current)
    const first = await metrics.registry.metrics()
    assert.equal(sample(first, 'gossamer_hints_stored_total'), 4)
    assert.equal(sample(first, 'gossamer_hints_delivered_total'), 3)
    assert.equal(sample(first, 'gossamer_hints_retargeted_total'), 7)
    assert.equal(sample(first, 'gossamer_hints_dropped_total'), 2)
    current = source({ hintsRetargeted: 9, hintsDropped: 5 })
    const second = await metrics.registry.metrics()
    assert.equal(sample(second, 'gossamer_hints_retargeted_total'), 9)
    assert.equal(sample(second, 'gossamer_hints_dropped_total'), 5)
  })
  it('exports the hand-off drains counter', async () => {
    const metrics = new NodeMetrics({ defaultMetrics: false })
    metrics.registerReplication(() => source({ handoffDrains: 6 }))
    assert.equal(sample(await metrics.registry.metrics(), 'gossamer_handoff_drains_total'), 6)
  })
  it('exports the anti-entropy messages waiting for tokens', async () => {
    const metrics = new NodeMetrics({ defaultMetrics: false })
    metrics.registerReplication(() =>
      source({ antiEntropy: { rounds: 2, repaired: 5, waiting: 3 } }),
    )
    const text = await metrics.registry.metrics()
    assert.equal(sample(text, 'gossamer_anti_entropy_waiting_messages'), 3)
    assert.equal(sample(text, 'gossamer_anti_entropy_rounds_total'), 2)
  })
})
