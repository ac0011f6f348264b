// Goal: the embedded mode assembles a working node: LMDB data survives a restart, close() is
// idempotent and finishes in-flight requests, bad options fail with CONFIG_INVALID.
// Method: startNode on port 0 with temp dirs; an engine whose write we hold open.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { buildApp } from '../../src/api/app.ts'
import { NodeMetrics } from '../../src/api/metrics.ts'
import { isGossamerError } from '../../src/errors.ts'
import { HybridLogicalClock } from '../../src/hlc/hlc.ts'
import { startNode } from '../../src/index.ts'
import { silentLogger } from '../../src/log.ts'
import { MemoryEngine } from '../../src/storage/memory-engine.ts'

describe('startNode', () => {
  const dirs: string[] = []
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true })
  })
  async function tempDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'gossamer-node-'))
    dirs.push(dir)
    return dir
  }

  test('data written to the LMDB store is there after a restart', async () => {
    const dataDir = await tempDir()
    const first = await startNode({ name: 'n1', httpPort: 0, dataDir, logLevel: 'silent' })
    try {
      const put = await fetch(`${first.httpUrl}/v1/kv/persist%2Fme`, {
        method: 'PUT',
        body: 'kept',
      })
      assert.equal(put.status, 201)
    } finally {
      await first.close()
    }
    const second = await startNode({ name: 'n1', httpPort: 0, dataDir, logLevel: 'silent' })
    try {
      const get = await fetch(`${second.httpUrl}/v1/kv/persist/me`)
      assert.equal(get.status, 200)
      assert.equal(await get.text(), 'kept')
      const next = await fetch(`${second.httpUrl}/v1/kv/persist/me`, { method: 'PUT', body: 'x' })
      assert.equal(next.status, 200, 'a write after restart gets a newer version')
    } finally {
      await second.close()
    }
  })

  test('close() is idempotent and the port stops accepting', async () => {
    const node = await startNode({ inMemory: true, httpPort: 0, logLevel: 'silent' })
    assert.equal((await fetch(`${node.httpUrl}/v1/ready`)).status, 200)
    const closing = node.close()
    assert.equal(node.close(), closing)
    await closing
    await assert.rejects(fetch(`${node.httpUrl}/v1/health`))
  })

  test('invalid options reject with GOSSAMER_ERR_CONFIG_INVALID listing every problem', async () => {
    await assert.rejects(
      startNode({ inMemory: true, httpPort: 70000, maxKeyBytes: 0, logLevel: 'silent' }),
      (error: unknown) => {
        assert.ok(isGossamerError(error))
        assert.equal(error.code, 'GOSSAMER_ERR_CONFIG_INVALID')
        assert.match(error.message, /httpPort/)
        assert.match(error.message, /maxKeyBytes/)
        return true
      },
    )
  })

  test('a port already in use rejects and leaves nothing open', async () => {
    const node = await startNode({ inMemory: true, httpPort: 0, logLevel: 'silent' })
    try {
      const port = Number(new URL(node.httpUrl).port)
      await assert.rejects(
        startNode({ dataDir: await tempDir(), httpPort: port, logLevel: 'silent' }),
        /EADDRINUSE/,
      )
    } finally {
      await node.close()
    }
  })

  test('closing the app waits for an in-flight write to finish and answer', async () => {
    // An engine whose first write is held open until we release it.
    const engine = new MemoryEngine()
    let release: () => void = () => {}
    let writeStarted: () => void = () => {}
    const started = new Promise<void>((resolve) => {
      writeStarted = resolve
    })
    const held = new Promise<void>((resolve) => {
      release = resolve
    })
    const write = engine.write.bind(engine)
    engine.write = async (entry) => {
      writeStarted()
      await held
      return write(entry)
    }
    const app = buildApp({
      engine,
      clock: new HybridLogicalClock({ nodeId: 'n1', wallClockMs: () => 1_000 }),
      config: { name: 'n1', maxKeyBytes: 1024, maxValueBytes: 1024 },
      logger: silentLogger(),
      metrics: new NodeMetrics({ defaultMetrics: false }),
    })
    const url = await app.listen({ host: '127.0.0.1', port: 0 })
    const response = fetch(`${url}/v1/kv/k`, { method: 'PUT', body: 'v' })
    await started
    let isClosed = false
    const closing = app.close().then(() => {
      isClosed = true
    })
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(isClosed, false, 'close waits for the in-flight request')
    release()
    assert.equal((await response).status, 201)
    await closing
    assert.equal(engine.getRecord('k')?.value?.length, 1)
  })
})
