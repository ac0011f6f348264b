import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { scanPartitionEntries } from '../../src/replication/hash-tree.ts'
import { StorageCorruptionError } from '../../src/storage/errors.ts'
import { MemoryEngine } from '../../src/storage/memory-engine.ts'
import { partitionScanReader } from '../../src/storage/partition-index.ts'
import { engineCompliance } from './compliance.ts'
import { partitionCompliance } from './partition-compliance.ts'

engineCompliance('MemoryEngine', async () => {
  const engine = new MemoryEngine()
  return { engine, cleanup: () => engine.close() }
})

describe('storage: MemoryEngine', () => {
  it('detects an injected bit flip on read with StorageCorruptionError', async () => {
    const engine = new MemoryEngine()
    await engine.write({
      key: 'k',
      record: { version: { wallMs: 1, logical: 0, nodeId: 'n' }, value: new Uint8Array([1, 2]) },
    })
    assert.ok(engine.corruptForTesting('k', 12))
    assert.throws(() => engine.getRecord('k'), StorageCorruptionError)
    assert.throws(() => engine.scan({ limit: 1, nowMs: 0 }), {
      code: 'GOSSAMER_ERR_STORAGE_CORRUPT',
    })
  })

  it('applies writes synchronously through the Sync variants for the simulator', () => {
    const engine = new MemoryEngine()
    const outcome = engine.writeSync({
      key: 'k',
      record: { version: { wallMs: 1, logical: 0, nodeId: 'n' }, value: null },
    })
    assert.equal(outcome.status, 'applied')
    assert.equal(engine.purgeSync({ tombstoneBeforeMs: 2, nowMs: 0, limit: 10 }), 1)
    assert.equal(engine.stats().keyCount, 0)
  })
})

partitionCompliance('MemoryEngine', async (partitionIndex) => {
  const engine = new MemoryEngine({ partitionIndex })
  return { engine, cleanup: () => engine.close() }
})

describe('storage: partitionScanReader', () => {
  it('gives the replication scans the same partition entries while examining one partition', async () => {
    const partitionOf = (key: string) => key.length % 4
    const engine = new MemoryEngine({ partitionIndex: { partitionCount: 4, partitionOf } })
    const version = { wallMs: 5, logical: 0, nodeId: 'n' }
    await engine.writeBatch(
      Array.from({ length: 60 }, (_, i) => ({
        key: 'k'.repeat(1 + (i % 7)) + i,
        record: { version, value: i % 3 === 0 ? null : new Uint8Array([i]) },
      })),
    )
    for (let partition = 0; partition < 4; partition++) {
      const options = { partition, partitionOf, nowMs: 10, tombstoneGraceMs: 100, pageLimit: 3 }
      const viaWalk = scanPartitionEntries({ ...options, store: engine })
      const viaIndex = scanPartitionEntries({
        ...options,
        store: partitionScanReader(engine, partition),
      })
      assert.deepEqual(viaIndex, viaWalk)
      assert.ok(viaIndex.length > 0)
    }
  })
})
