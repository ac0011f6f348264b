import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { StorageCorruptionError } from '../../src/storage/errors.ts'
import { MemoryEngine } from '../../src/storage/memory-engine.ts'
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
