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
  it('moves an index of the old layout (root [0xFF] keys) into its own database', async () => {
    const path = await tempDir()
    // The layout before: records and `[0xFF][u16 partition][key]` entries in the root database,
    // settings `[0xFE]partition-index` = u32 partitionCount, u32 hashVersion (no layout byte).
    const raw = open<Buffer, Buffer>({ path, keyEncoding: 'binary', encoding: 'binary' })
    const partitionOf = TEST_INDEX_OF(7)
    await raw.transaction(() => {
      for (const key of keys) {
        const keyBytes = Buffer.from(key)
        raw.putSync(keyBytes, Buffer.from(encodeRecord({ version, value: new Uint8Array([1]) })))
        const p = partitionOf(key)
        raw.putSync(
          Buffer.concat([Buffer.from([0xff, p >>> 8, p & 0xff]), keyBytes]),
          Buffer.alloc(0),
        )
      }
      const meta = Buffer.alloc(8)
      meta.writeUInt32BE(7, 0)
      meta.writeUInt32BE(1, 4)
      raw.putSync(Buffer.concat([Buffer.from([0xfe]), Buffer.from('partition-index')]), meta)
    })
    await raw.close()
    let engine = await LmdbEngine.open({
      path,
      durability: 'relaxed',
      partitionIndex: { partitionCount: 7, partitionOf },
    })
    assert.deepEqual(byPartition(engine, 7), expected(7))
    assert.equal(engine.stats().keyCount, keys.length)
    assert.equal(engine.scan({ limit: 1000, includeDead: true, nowMs }).entries.length, keys.length)
    await engine.close()
    const check = open<Buffer, Buffer>({ path, keyEncoding: 'binary', encoding: 'binary' })
    assert.equal([...check.getKeys({ start: Buffer.from([0xff]) })].length, 0, 'old entries gone')
    await check.close()
    // Reopened with the same settings: the index is kept as it is.
    engine = await LmdbEngine.open({
      path,
      durability: 'relaxed',
      partitionIndex: { partitionCount: 7, partitionOf },
    })
    assert.deepEqual(byPartition(engine, 7), expected(7))
    await engine.close()
  })

  it("keeps the records' tree the shape it has without an index", async () => {
    // Keys written in order (a preload, time-ordered ids) are appended at the end of the
    // records; with the index in the root database right after them, LMDB split the branch pages
    // above them in the middle, about doubling the branch pages every commit copies.
    const shape = async (
      partitionIndex: { partitionCount: number; partitionOf: (key: string) => number } | undefined,
    ) => {
      const path = await tempDir()
      const engine = await LmdbEngine.open({ path, durability: 'relaxed', partitionIndex })
      const ordered = Array.from({ length: 20_000 }, (_, i) => `key-${String(i).padStart(6, '0')}`)
      for (let i = 0; i < ordered.length; i += 25) {
        await engine.writeBatch(
          ordered
            .slice(i, i + 25)
            .map((key) => ({ key, record: { version, value: new Uint8Array(100) } })),
        )
      }
      await engine.close()
      const root = open<Buffer, Buffer>({ path, keyEncoding: 'binary', encoding: 'binary' })
      const stats = root.getStats() as { treeBranchPageCount: number; treeLeafPageCount: number }
      await root.close()
      return { branches: stats.treeBranchPageCount, leaves: stats.treeLeafPageCount }
    }
    const without = await shape(undefined)
    const withIndex = await shape({
      partitionCount: 64,
      partitionOf: (key) => Number(key.slice(4)) % 64,
    })
    assert.deepEqual(withIndex, without)
  })
})
