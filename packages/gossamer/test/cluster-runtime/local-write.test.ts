// Goal: the driver's local write path (this node the key's only replica) answers exactly as a
// coordinator would: one ack and the replaced record on success, a precondition failure, a
// storage failure reported to the node, and a timeout at the request deadline when the engine
// never answers.
// Method: a ReplicationDriver over a MemoryEngine whose writes the test can stall or fail, a
// one-node placement, an injected clock the test moves; the driver's own tick timer runs (5 ms).
import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import { ReplicationDriver } from '../../src/cluster/runtime/replication-driver.ts'
import { HybridLogicalClock } from '../../src/hlc/hlc.ts'
import { silentLogger } from '../../src/log.ts'
import { computePlacement } from '../../src/ring/partitioner.ts'
import type { WriteEntry, WriteOutcome } from '../../src/storage/engine.ts'
import { MemoryEngine } from '../../src/storage/memory-engine.ts'

const TIMEOUT_MS = 1000
const text = (s: string) => new TextEncoder().encode(s)

async function makeDriver() {
  let nowMs = 1_000_000
  let mode: 'normal' | 'stall' | 'fail' = 'normal'
  const storageFailures: unknown[] = []
  const engine = new MemoryEngine()
  const realWrite = engine.write.bind(engine)
  engine.write = (entry: WriteEntry): Promise<WriteOutcome> => {
    if (mode === 'stall') return new Promise(() => {})
    if (mode === 'fail') return Promise.reject(new Error('disk on fire'))
    return realWrite(entry)
  }
  const placement = computePlacement(['n1'], { replicaCount: 1, partitionCount: 64 })
  const driver = await ReplicationDriver.start(
    {
      self: 'n1',
      engine,
      hlc: new HybridLogicalClock({ nodeId: 'n1', wallClockMs: () => nowMs }),
      hintStore: { apply: () => {}, list: () => [] },
      transport: {
        request: () => Promise.reject(new Error('no peer traffic expected')),
        close: async () => {},
      },
      placement: () => placement,
      isReachable: (node) => node === 'n1',
      nowMs: () => nowMs,
      logger: silentLogger(),
      onStorageFailure: (error) => storageFailures.push(error),
    },
    {
      requestTimeoutMs: TIMEOUT_MS,
      tickIntervalMs: 5,
      tombstoneGraceMs: 60_000,
      maxClockSkewMs: 60_000,
      antiEntropyIntervalMs: 60_000,
      antiEntropyRecordsPerSec: 100,
      handoffRecordsPerSec: 100,
    },
  )
  return {
    driver,
    engine,
    storageFailures,
    setMode: (m: typeof mode) => {
      mode = m
    },
    advance: (ms: number) => {
      nowMs += ms
    },
  }
}

describe('replication driver: the local write path', () => {
  const drivers: ReplicationDriver[] = []
  after(async () => {
    for (const driver of drivers) await driver.close()
  })

  test('acks once, reports the replaced record, and stores the write', async () => {
    const t = await makeDriver()
    drivers.push(t.driver)
    const first = await t.driver.write({ key: 'k', value: text('1'), w: 'quorum' })
    assert.ok(first.ok)
    assert.equal(first.acks, 1)
    assert.deepEqual(first.replicas, [{ node: 'n1', status: 'acked' }])
    assert.equal(first.local?.previous, undefined)
    const second = await t.driver.write({ key: 'k', value: text('2'), w: 'quorum' })
    assert.ok(second.ok)
    assert.deepEqual(second.local?.previous?.version, first.version)
    assert.deepEqual(t.engine.getRecord('k')?.value, text('2'))
    assert.equal(t.driver.stats.writes, 2)
    assert.equal(t.driver.stats.writeFailures, 0)
  })

  test('a failed condition is a precondition failure, and nothing is written', async () => {
    const t = await makeDriver()
    drivers.push(t.driver)
    const first = await t.driver.write({ key: 'k', value: text('1'), w: 'quorum' })
    const result = await t.driver.write({
      key: 'k',
      value: text('2'),
      w: 'quorum',
      condition: { kind: 'absent' },
    })
    assert.equal(result.ok, false)
    assert.equal(!result.ok && result.error.code, 'GOSSAMER_ERR_PRECONDITION_FAILED')
    assert.deepEqual(!result.ok && result.error.replicas, [{ node: 'n1', status: 'rejected' }])
    assert.deepEqual(t.engine.getRecord('k')?.version, first.version)
  })

  test('a storage failure fails the write and is reported to the node', async () => {
    const t = await makeDriver()
    drivers.push(t.driver)
    t.setMode('fail')
    const result = await t.driver.write({ key: 'k', value: text('1'), w: 'quorum' })
    assert.equal(result.ok, false)
    assert.equal(!result.ok && result.error.code, 'GOSSAMER_ERR_QUORUM_NOT_REACHED')
    assert.equal(t.storageFailures.length, 1)
    assert.equal(t.driver.stats.writeFailures, 1)
  })

  test('an engine that never answers times the write out at the request deadline', {
    timeout: 10_000,
  }, async () => {
    const t = await makeDriver()
    drivers.push(t.driver)
    t.setMode('stall')
    let settled = false
    const pending = t.driver.write({ key: 'k', value: text('1'), w: 'quorum' }).then((r) => {
      settled = true
      return r
    })
    await new Promise((resolve) => setTimeout(resolve, 30))
    assert.equal(settled, false, 'no answer before the deadline')
    t.advance(TIMEOUT_MS)
    // The driver's tick timer is unref'd; keep the loop alive until the tick answers.
    const keepAlive = setInterval(() => {}, 1000)
    const result = await pending.finally(() => clearInterval(keepAlive))
    assert.equal(result.ok, false)
    assert.equal(!result.ok && result.error.code, 'GOSSAMER_ERR_TIMEOUT')
    assert.equal(t.driver.stats.timeouts, 1)
  })
})
