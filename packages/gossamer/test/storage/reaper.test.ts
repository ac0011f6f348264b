import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Engine } from '../../src/storage/engine.ts'
import { MemoryEngine } from '../../src/storage/memory-engine.ts'
import { Reaper, TOMBSTONE_GRACE_MS_DEFAULT } from '../../src/storage/reaper.ts'

const HOUR_MS = 60 * 60 * 1000

function version(wallMs: number) {
  return { wallMs, logical: 0, nodeId: 'n1' }
}

async function seed(
  engine: Engine,
  count: number,
  record: (i: number) => { wallMs: number; expiresAtMs?: number; isTombstone?: boolean },
) {
  await engine.writeBatch(
    Array.from({ length: count }, (_, i) => {
      const spec = record(i)
      return {
        key: `k${i}`,
        record: {
          version: version(spec.wallMs),
          value: spec.isTombstone === true ? null : new Uint8Array([i & 0xff]),
          expiresAtMs: spec.expiresAtMs,
        },
      }
    }),
  )
}

describe('storage: Reaper', () => {
  it('purges tombstones only after the grace period, judged by the injected clock', async () => {
    const engine = new MemoryEngine()
    let nowMs = 10 * HOUR_MS
    const reaper = new Reaper({
      engine,
      nowMs: () => nowMs,
      tombstoneGraceMs: HOUR_MS,
      batchLimit: 100,
    })
    await seed(engine, 3, (i) => ({ wallMs: 9 * HOUR_MS + i, isTombstone: true }))
    assert.equal(await reaper.runOnce(), 0, 'tombstones younger than the grace period stay')
    nowMs = 10 * HOUR_MS + 1
    assert.equal(await reaper.runOnce(), 1, 'the oldest tombstone is now past the grace period')
    nowMs = 11 * HOUR_MS
    assert.equal(await reaper.runOnce(), 2)
    assert.equal(engine.stats().keyCount, 0)
    assert.deepEqual(reaper.counters, { removedCount: 3, errorCount: 0 })
  })

  it('purges expired records in bounded batches until none are left', async () => {
    const engine = new MemoryEngine()
    // Expired records are kept for the grace period after their expiry (next test).
    const nowMs = 5_000 + TOMBSTONE_GRACE_MS_DEFAULT
    const reaper = new Reaper({ engine, nowMs: () => nowMs, batchLimit: 4 })
    await seed(engine, 10, (i) => ({ wallMs: 1_000, expiresAtMs: i < 9 ? 5_000 : 5_001 }))
    const removedPerRun: number[] = []
    for (let run = 0; run < 10; run++) {
      const removed = await reaper.runOnce()
      removedPerRun.push(removed)
      if (removed === 0) break
    }
    assert.deepEqual(removedPerRun, [4, 4, 1, 0])
    assert.deepEqual(
      engine.scan({ limit: 10, nowMs: 0, includeDead: true }).entries.map((e) => e.key),
      ['k9'],
    )
  })

  it('keeps an expired record for the grace period after its expiry, as a tombstone', async () => {
    // An expired record is a delete at its expiry time: it must go on shadowing older versions
    // of its key on replicas that missed the TTL put until repair has reached them. Purged at
    // expiry, the older value elsewhere became the newest record and came back.
    const engine = new MemoryEngine()
    const expiresAtMs = 10 * HOUR_MS
    let nowMs = expiresAtMs
    const reaper = new Reaper({
      engine,
      nowMs: () => nowMs,
      tombstoneGraceMs: HOUR_MS,
      batchLimit: 100,
    })
    await seed(engine, 1, () => ({ wallMs: 9 * HOUR_MS, expiresAtMs }))
    assert.equal(await reaper.runOnce(), 0, 'expired at the clock: kept')
    nowMs = expiresAtMs + HOUR_MS - 1
    assert.equal(await reaper.runOnce(), 0, 'expired less than the grace period ago: kept')
    assert.ok(engine.getRecord('k0') !== undefined)
    nowMs = expiresAtMs + HOUR_MS
    assert.equal(await reaper.runOnce(), 1, 'expired the grace period ago: purged')
    assert.equal(engine.getRecord('k0'), undefined)
  })

  it('uses a 7-day tombstone grace period by default', () => {
    const reaper = new Reaper({ engine: new MemoryEngine(), nowMs: () => 0 })
    assert.equal(reaper.tombstoneGraceMs, TOMBSTONE_GRACE_MS_DEFAULT)
    assert.equal(TOMBSTONE_GRACE_MS_DEFAULT, 7 * 24 * HOUR_MS)
  })

  it('rejects non-positive settings', () => {
    assert.throws(
      () => new Reaper({ engine: new MemoryEngine(), nowMs: () => 0, batchLimit: 0 }),
      RangeError,
    )
    assert.throws(
      () => new Reaper({ engine: new MemoryEngine(), nowMs: () => 0, intervalMs: -1 }),
      RangeError,
    )
  })

  it('starts and stops its schedule idempotently without running early', async () => {
    // No sleeping: the first run is intervalMs away, so stopping at once means none ran.
    const engine = new MemoryEngine()
    const reaper = new Reaper({ engine, nowMs: () => 0, intervalMs: 60_000 })
    reaper.start()
    reaper.start()
    reaper.stop()
    reaper.stop()
    assert.deepEqual(reaper.counters, { removedCount: 0, errorCount: 0 })
  })
})
