/**
 * Compliance suite of the partition additions to `Engine` (deleteKeys, scanPartition,
 * dropPartition), run against every engine like `compliance.ts`. The core property is a model
 * test: after any sequence of writes, purges, key deletions and partition drops, every
 * partition's indexed scan returns exactly the records a whole-store walk finds for it, in the
 * same order and with the same paging contract.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import type { Version } from '../../src/hlc/version.ts'
import type { Engine, PartitionIndexOptions, StoredRecord } from '../../src/storage/engine.ts'
import type { EngineUnderTest } from './compliance.ts'

/** Opens a fresh engine with (or without) a partition index. */
export type IndexedEngineFactory = (
  partitionIndex: PartitionIndexOptions | undefined,
) => Promise<EngineUnderTest>

const NOW_MS = 1_000_000
const PARTITIONS = 8

/** A small deterministic partition function: sum of UTF-16 units modulo the count. */
export const TEST_INDEX: PartitionIndexOptions = {
  partitionCount: PARTITIONS,
  partitionOf: (key) => {
    let sum = 0
    for (let i = 0; i < key.length; i++) sum += key.charCodeAt(i)
    return sum % PARTITIONS
  },
}

function v(wallMs: number): Version {
  return { wallMs, logical: 0, nodeId: 'n1' }
}

function rec(wallMs: number, value: string | null, expiresAtMs?: number): StoredRecord {
  const record: { -readonly [K in keyof StoredRecord]: StoredRecord[K] } = {
    version: v(wallMs),
    value: value === null ? null : new TextEncoder().encode(value),
  }
  if (expiresAtMs !== undefined) record.expiresAtMs = expiresAtMs
  return record
}

/** Every entry of one partition by paging `scanPartition` with `limit`. */
function pagePartition(engine: Engine, partition: number, limit: number, includeDead: boolean) {
  const out: Array<{ key: string; record: StoredRecord }> = []
  let after: string | undefined
  for (let page = 0; page < 10_000; page++) {
    const result = engine.scanPartition({ partition, after, limit, includeDead, nowMs: NOW_MS })
    assert.ok(result.entries.length <= limit)
    out.push(...result.entries)
    if (result.cursor === undefined) return out
    after = result.cursor
  }
  throw new Error('scanPartition did not finish')
}

/** Every entry of one partition by walking the whole store (the reference). */
function walkPartition(engine: Engine, partition: number, includeDead: boolean) {
  const out: Array<{ key: string; record: StoredRecord }> = []
  let after: string | undefined
  for (let page = 0; page < 10_000; page++) {
    const result = engine.scan({ after, limit: 50, includeDead, nowMs: NOW_MS })
    for (const entry of result.entries) {
      if (TEST_INDEX.partitionOf(entry.key) === partition) out.push(entry)
    }
    if (result.cursor === undefined) return out
    after = result.cursor
  }
  throw new Error('scan did not finish')
}

type Op =
  | { op: 'write'; key: string; wallMs: number; value: string | null; expiresAtMs?: number }
  | { op: 'purge' }
  | { op: 'delete'; keys: string[] }
  | { op: 'drop'; partition: number; limit: number }

const keyArb = fc.constantFrom(
  'a',
  'b',
  'c',
  'ab',
  'ba',
  'z\u{1F600}',
  '\u00e9',
  'k/1',
  'k/2',
  'k/3',
  'x',
  'yy',
)
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .tuple(
        keyArb,
        fc.integer({ min: 1, max: 20 }),
        fc.option(fc.constantFrom('v', 'w'), { nil: null }),
        fc.option(fc.constantFrom(10, NOW_MS * 2), { nil: undefined }),
      )
      .map(([key, wallMs, value, expiresAtMs]) => ({
        op: 'write' as const,
        key,
        wallMs,
        value,
        ...(expiresAtMs === undefined ? {} : { expiresAtMs }),
      })),
  },
  { weight: 1, arbitrary: fc.constant({ op: 'purge' as const }) },
  {
    weight: 1,
    arbitrary: fc.array(keyArb, { maxLength: 3 }).map((keys) => ({ op: 'delete' as const, keys })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.nat({ max: PARTITIONS - 1 }), fc.integer({ min: 1, max: 3 }))
      .map(([partition, limit]) => ({ op: 'drop' as const, partition, limit })),
  },
)

async function applyOp(engine: Engine, op: Op): Promise<void> {
  if (op.op === 'write') {
    await engine.write({ key: op.key, record: rec(op.wallMs, op.value, op.expiresAtMs) })
  } else if (op.op === 'purge') {
    await engine.purge({ tombstoneBeforeMs: 10, nowMs: NOW_MS, limit: 100 })
  } else if (op.op === 'delete') {
    await engine.deleteKeys(op.keys)
  } else {
    await engine.dropPartition({ partition: op.partition, limit: op.limit })
  }
}

/** Runs the partition compliance suite against `factory`. */
export function partitionCompliance(name: string, factory: IndexedEngineFactory): void {
  describe(`storage partition compliance: ${name}`, () => {
    it('an indexed partition scan returns what a whole-store walk finds, after any operations', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(opArb, { maxLength: 30 }),
          fc.integer({ min: 1, max: 4 }),
          async (ops, limit) => {
            const under = await factory(TEST_INDEX)
            try {
              for (const op of ops) await applyOp(under.engine, op)
              let total = 0
              for (let p = 0; p < PARTITIONS; p++) {
                for (const includeDead of [true, false]) {
                  assert.deepEqual(
                    pagePartition(under.engine, p, limit, includeDead),
                    walkPartition(under.engine, p, includeDead),
                  )
                }
                total += walkPartition(under.engine, p, true).length
              }
              assert.equal(under.engine.stats().keyCount, total)
            } finally {
              await under.cleanup()
            }
          },
        ),
        { numRuns: 30 },
      )
    })

    it('deleteKeys removes records physically, tombstones included, and ignores missing keys', async () => {
      for (const index of [TEST_INDEX, undefined]) {
        const under = await factory(index)
        try {
          const { engine } = under
          await engine.writeBatch([
            { key: 'a', record: rec(1, 'v') },
            { key: 'b', record: rec(1, null) },
            { key: 'c', record: rec(1, 'v') },
          ])
          assert.equal(await engine.deleteKeys(['a', 'b', 'missing']), 2)
          assert.equal(engine.getRecord('a'), undefined)
          assert.equal(engine.getRecord('b'), undefined)
          assert.equal(engine.stats().keyCount, 1)
          // No tombstone was left: an older version is accepted again.
          assert.equal((await engine.write({ key: 'a', record: rec(0, 'old') })).status, 'applied')
        } finally {
          await under.cleanup()
        }
      }
    })

    it('dropPartition empties one partition in bounded steps and leaves the others alone', async () => {
      const under = await factory(TEST_INDEX)
      try {
        const { engine } = under
        const keys = Array.from({ length: 40 }, (_, i) => `key-${i}`)
        await engine.writeBatch(
          keys.map((key, i) => ({ key, record: rec(1, i % 5 === 0 ? null : 'v') })),
        )
        const target = TEST_INDEX.partitionOf('key-0')
        const inTarget = keys.filter((k) => TEST_INDEX.partitionOf(k) === target)
        let removed = 0
        for (let step = 0; step < 100; step++) {
          const result = await engine.dropPartition({ partition: target, limit: 2 })
          assert.ok(result.removedCount <= 2)
          removed += result.removedCount
          if (result.done) break
        }
        assert.equal(removed, inTarget.length)
        assert.deepEqual(
          engine.scanPartition({ partition: target, limit: 10, includeDead: true, nowMs: NOW_MS })
            .entries,
          [],
        )
        for (const key of keys) {
          assert.equal(engine.getRecord(key) === undefined, TEST_INDEX.partitionOf(key) === target)
        }
        assert.equal(engine.stats().keyCount, keys.length - inTarget.length)
      } finally {
        await under.cleanup()
      }
    })

    it('partition operations without an index, or with a partition out of range, throw', async () => {
      const plain = await factory(undefined)
      try {
        assert.throws(() => plain.engine.scanPartition({ partition: 0, limit: 1, nowMs: NOW_MS }))
        await assert.rejects(async () => plain.engine.dropPartition({ partition: 0, limit: 1 }))
      } finally {
        await plain.cleanup()
      }
      const indexed = await factory(TEST_INDEX)
      try {
        assert.throws(
          () => indexed.engine.scanPartition({ partition: PARTITIONS, limit: 1, nowMs: NOW_MS }),
          RangeError,
        )
        assert.equal(indexed.engine.partitionIndex?.partitionCount, PARTITIONS)
      } finally {
        await indexed.cleanup()
      }
    })
  })
}
