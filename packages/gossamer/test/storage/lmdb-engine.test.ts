import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { open } from 'lmdb'
import type { Engine } from '../../src/storage/engine.ts'
import { LmdbEngine } from '../../src/storage/lmdb-engine.ts'
import { encodeRecord } from '../../src/storage/record-codec.ts'
import { engineCompliance } from './compliance.ts'
import { partitionCompliance } from './partition-compliance.ts'

const tempDirs: string[] = []
after(async () => {
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })))
})

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gossamer-lmdb-'))
  tempDirs.push(dir)
  return dir
}

engineCompliance('LmdbEngine', async () => {
  const path = await tempDir()
  let current: Engine = await LmdbEngine.open({ path })
  return {
    get engine() {
      return current
    },
    reopen: async () => {
      await current.close()
      current = await LmdbEngine.open({ path })
      return current
    },
    cleanup: async () => {
      await current.close()
      await rm(path, { recursive: true, force: true })
    },
  }
})

describe('storage: LmdbEngine', () => {
  it('stores keys as raw UTF-8 bytes, so LMDB order is UTF-8 byte order', async () => {
    // Goal: the on-disk key is exactly the UTF-8 encoding (no ordered-binary escaping).
    const path = await tempDir()
    const engine = await LmdbEngine.open({ path })
    const keys = ['\u0001' + 'x'.repeat(70), '\uFFFF', '😀', 'a\u0000b']
    await engine.writeBatch(
      keys.map((key) => ({
        key,
        record: { version: { wallMs: 1, logical: 0, nodeId: 'n' }, value: null },
      })),
    )
    await engine.close()
    const raw = open<Buffer, Buffer>({ path, keyEncoding: 'binary', encoding: 'binary' })
    try {
      const stored = [...raw.getKeys()].map((key) => Buffer.from(key))
      const expected = keys.map((key) => Buffer.from(key, 'utf8')).sort(Buffer.compare)
      assert.deepEqual(stored, expected)
    } finally {
      await raw.close()
    }
  })

  it('detects a corrupted stored record with GOSSAMER_ERR_STORAGE_CORRUPT', async () => {
    const path = await tempDir()
    const good = encodeRecord({
      version: { wallMs: 1, logical: 0, nodeId: 'n' },
      value: new Uint8Array([9, 9]),
    })
    const bad = Buffer.from(good)
    bad[bad.length - 6] = bad[bad.length - 6]! ^ 0x40
    const raw = open<Buffer, Buffer>({ path, keyEncoding: 'binary', encoding: 'binary' })
    await raw.put(Buffer.from('k'), bad)
    await raw.close()
    const engine = await LmdbEngine.open({ path })
    try {
      assert.throws(() => engine.getRecord('k'), { code: 'GOSSAMER_ERR_STORAGE_CORRUPT' })
      await assert.rejects(
        engine.write({
          key: 'k',
          record: { version: { wallMs: 2, logical: 0, nodeId: 'n' }, value: null },
        }),
        { code: 'GOSSAMER_ERR_STORAGE_CORRUPT' },
      )
    } finally {
      await engine.close()
    }
  })

  it('fails to open a path that is a file with GOSSAMER_ERR_STORAGE_FAILED naming the path', async () => {
    const file = join(await tempDir(), 'not-a-dir')
    await writeFile(file, 'x')
    await assert.rejects(LmdbEngine.open({ path: file }), (error: unknown) => {
      const { code, message } = error as { code?: string; message: string }
      return code === 'GOSSAMER_ERR_STORAGE_FAILED' && message.includes(file)
    })
  })

  it('opens in relaxed durability and still reads its own writes', async () => {
    const path = await tempDir()
    const engine = await LmdbEngine.open({ path, durability: 'relaxed', mapSizeBytes: 1 << 20 })
    try {
      assert.equal(engine.durability, 'relaxed')
      const record = { version: { wallMs: 1, logical: 0, nodeId: 'n' }, value: new Uint8Array([1]) }
      assert.equal((await engine.write({ key: 'k', record })).status, 'applied')
      assert.deepEqual(engine.getRecord('k')?.value, new Uint8Array([1]))
    } finally {
      await engine.close()
    }
  })
})

partitionCompliance('LmdbEngine', async (partitionIndex) => {
  const path = await tempDir()
  const engine = await LmdbEngine.open({ path, durability: 'relaxed', partitionIndex })
  return {
    engine,
    cleanup: async () => {
      await engine.close()
      await rm(path, { recursive: true, force: true })
    },
  }
})

describe('storage: LmdbEngine partition index across reopens', () => {
  const nowMs = 1_000_000
  const keys = Array.from({ length: 300 }, (_, i) => `k${i}`)
  const version = { wallMs: 1, logical: 0, nodeId: 'n' }
  const byPartition = (engine: Engine, count: number) =>
    Array.from({ length: count }, (_, partition) =>
      engine
        .scanPartition({ partition, limit: 1000, includeDead: true, nowMs })
        .entries.map((e) => e.key),
    )
  const expected = (count: number) =>
    Array.from({ length: count }, (_, p) =>
      keys.filter((k) => TEST_INDEX_OF(count)(k) === p).sort((a, b) => (a < b ? -1 : 1)),
    )
  const TEST_INDEX_OF = (count: number) => (key: string) => Number(key.slice(1)) % count

  it('builds the index for an existing store, rebuilds it for a new count, drops it without one', async () => {
    const path = await tempDir()
    let engine = await LmdbEngine.open({ path, durability: 'relaxed' })
    await engine.writeBatch(keys.map((key) => ({ key, record: { version, value: null } })))
    await engine.close()
    engine = await LmdbEngine.open({
      path,
      durability: 'relaxed',
      partitionIndex: { partitionCount: 7, partitionOf: TEST_INDEX_OF(7) },
    })
    assert.deepEqual(byPartition(engine, 7), expected(7))
    assert.equal(engine.stats().keyCount, keys.length)
    await engine.close()
    engine = await LmdbEngine.open({
      path,
      durability: 'relaxed',
      partitionIndex: { partitionCount: 5, partitionOf: TEST_INDEX_OF(5) },
    })
    assert.deepEqual(byPartition(engine, 5), expected(5))
    assert.equal(engine.stats().keyCount, keys.length)
    await engine.close()
    engine = await LmdbEngine.open({ path, durability: 'relaxed' })
    assert.equal(engine.stats().keyCount, keys.length)
    assert.equal(engine.scan({ limit: 1000, includeDead: true, nowMs }).entries.length, keys.length)
    await engine.close()
  })
})
