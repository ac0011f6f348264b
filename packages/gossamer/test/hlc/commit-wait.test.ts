import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ClusterKvService } from '../../src/api/cluster-kv-service.ts'
import { COMMIT_WAIT_MAX_MS, commitWaitMs } from '../../src/hlc/commit-wait.ts'
import { HybridLogicalClock } from '../../src/hlc/hlc.ts'
import { compareVersions, type Version } from '../../src/hlc/version.ts'
import { computePlacement } from '../../src/ring/partitioner.ts'
import { MemoryEngine } from '../../src/storage/memory-engine.ts'

describe('hlc: commitWaitMs', () => {
  it('waits for the rest of the version millisecond, and not once the clock has passed it', () => {
    assert.equal(commitWaitMs(1000, 1000), 1)
    assert.equal(commitWaitMs(1000, 1000.25), 0.75)
    assert.equal(commitWaitMs(1000, 1001), 0)
    assert.equal(commitWaitMs(1000, 1500), 0)
  })

  it('is capped: a version the clock lags far behind waits at most the cap', () => {
    assert.equal(commitWaitMs(2000, 1000), COMMIT_WAIT_MAX_MS)
    assert.equal(commitWaitMs(2000, 1000, 2), 2)
    assert.ok(commitWaitMs(2000, 1000, 0) <= 0)
  })
})

/**
 * Two nodes on one wall clock, each coordinating through its own HLC, as in swarm seed 11132: a
 * put through n4 acknowledged inside millisecond 19338, then a write through n1 invoked after
 * the acknowledgement. The later write must get the larger version.
 */
describe('ClusterKvService: commit wait', () => {
  /**
   * A node `name` among `owners` on a shared wall clock, coordinating through its own HLC. Its
   * writes complete at once (or after `commitMs`); its commit-wait timer moves the clock on by
   * the time waited unless `clockStands`.
   */
  function nodeOn(
    name: string,
    clock: { nowMs: number },
    options: { owners?: string[]; commitMs?: number; clockStands?: boolean } = {},
  ) {
    const hlc = new HybridLogicalClock({ nodeId: name, wallClockMs: () => Math.floor(clock.nowMs) })
    const versions: Version[] = []
    const timers: number[] = []
    const kv = new ClusterKvService({
      coordinator: {
        write: async () => {
          const version = hlc.now()
          versions.push(version)
          clock.nowMs += options.commitMs ?? 0
          return { ok: true, version, acks: 2, replicas: [] }
        },
        read: () => {
          throw new Error('no reads in this test')
        },
      },
      engine: new MemoryEngine(),
      self: name,
      placement: () => computePlacement(options.owners ?? ['n1', 'n4'], { partitionCount: 8 }),
      observe: (version) => hlc.observe(version),
      nowMs: () => clock.nowMs,
      delay: async (ms) => {
        timers.push(ms)
        if (options.clockStands !== true) clock.nowMs += ms
      },
    })
    return { kv, versions, timers }
  }

  it('a write invoked after an acknowledged one, through another node, orders after it', async () => {
    const clock = { nowMs: 19_338.1 }
    const n4 = nodeOn('n4', clock)
    const n1 = nodeOn('n1', clock)
    await n4.kv.put({ key: 'k2', value: new Uint8Array([1]) })
    // Acknowledged: the wall clock has left the put's millisecond.
    assert.ok(Math.floor(clock.nowMs) > n4.versions[0]!.wallMs, `acknowledged at ${clock.nowMs}`)
    clock.nowMs += 0.2
    // (The seed's later write was a delete; a delete reads first, so a put stands in for it.)
    await n1.kv.put({ key: 'k2', value: new Uint8Array([2]) })
    const [put] = n4.versions
    const later = n1.versions.at(-1)!
    assert.ok(
      compareVersions(later, put!) > 0,
      `later write ${JSON.stringify(later)} must order after ${JSON.stringify(put)}`,
    )
  })

  it('does not wait when the write took longer than the rest of its millisecond', async () => {
    const node = nodeOn('n1', { nowMs: 5_000.9 }, { commitMs: 2 })
    await node.kv.put({ key: 'k', value: new Uint8Array([1]) })
    assert.deepEqual(node.timers, [])
  })

  it('gives up after the cap when the clock does not move', async () => {
    const node = nodeOn('n1', { nowMs: 7_000 }, { clockStands: true })
    await node.kv.put({ key: 'k', value: new Uint8Array([1]) })
    const count = node.timers.length
    assert.ok(count >= 1 && count <= COMMIT_WAIT_MAX_MS + 1, `${count} timers`)
  })

  it("the cluster's only owner does not wait: its one HLC orders every write", async () => {
    const node = nodeOn('a', { nowMs: 9_000.1 }, { owners: ['a'] })
    const first = await node.kv.put({ key: 'k', value: new Uint8Array([1]) })
    const second = await node.kv.put({ key: 'k', value: new Uint8Array([2]) })
    assert.deepEqual(node.timers, [])
    assert.ok(compareVersions(second.version, first.version) > 0)
  })
})
