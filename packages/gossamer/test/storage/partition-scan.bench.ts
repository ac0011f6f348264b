// Benchmark (not a test): scanning one partition of 100,000 keys in 4,096 partitions by walking
// the whole store (what hash-tree.ts / rebalance.ts do with `Engine.scan`) versus the partition
// index (`Engine.scanPartition`), on both engines; and the cost of the index on inserts.
// Run: node --import tsx packages/gossamer/test/storage/partition-scan.bench.ts
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DEFAULT_PARTITION_COUNT, partitionOf } from '../../src/ring/partitioner.ts'
import type { Engine, PartitionIndexOptions, WriteEntry } from '../../src/storage/engine.ts'
import { LmdbEngine } from '../../src/storage/lmdb-engine.ts'
import { MemoryEngine } from '../../src/storage/memory-engine.ts'

const KEY_COUNT = 100_000
const BATCH = 1000
const index: PartitionIndexOptions = {
  partitionCount: DEFAULT_PARTITION_COUNT,
  partitionOf: (key) => partitionOf(key, DEFAULT_PARTITION_COUNT),
}
const value = new Uint8Array(100).fill(7)

async function fill(engine: Engine): Promise<number> {
  const started = performance.now()
  for (let at = 0; at < KEY_COUNT; at += BATCH) {
    const entries: WriteEntry[] = []
    for (let i = at; i < at + BATCH; i++) {
      entries.push({
        key: `user/${i.toString(36)}/profile`,
        record: { version: { wallMs: 1, logical: 0, nodeId: 'n' }, value },
      })
    }
    await engine.writeBatch(entries)
  }
  return performance.now() - started
}

function walk(engine: Engine, partition: number): number {
  let count = 0
  let after: string | undefined
  for (let page = 0; page < 1_000_000; page++) {
    const result = engine.scan({ after, limit: 1000, includeDead: true, nowMs: 0 })
    for (const entry of result.entries) if (index.partitionOf(entry.key) === partition) count++
    if (result.cursor === undefined) return count
    after = result.cursor
  }
  return count
}

function indexed(engine: Engine, partition: number): number {
  let count = 0
  let after: string | undefined
  for (let page = 0; page < 1_000_000; page++) {
    const result = engine.scanPartition({
      partition,
      after,
      limit: 1000,
      includeDead: true,
      nowMs: 0,
    })
    count += result.entries.length
    if (result.cursor === undefined) return count
    after = result.cursor
  }
  return count
}

function time(label: string, runs: number, work: (run: number) => number): void {
  const started = performance.now()
  let found = 0
  for (let run = 0; run < runs; run++) found += work(run)
  const perRunMs = (performance.now() - started) / runs
  console.log(
    `${label.padEnd(44)} ${perRunMs.toFixed(3).padStart(10)} ms/partition (${(found / runs).toFixed(1)} keys)`,
  )
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'gossamer-bench-'))
  try {
    const engines: Array<[string, Engine, Engine]> = [
      ['MemoryEngine', new MemoryEngine(), new MemoryEngine({ partitionIndex: index })],
      [
        'LmdbEngine (relaxed)',
        await LmdbEngine.open({ path: join(dir, 'plain'), durability: 'relaxed' }),
        await LmdbEngine.open({
          path: join(dir, 'indexed'),
          durability: 'relaxed',
          partitionIndex: index,
        }),
      ],
    ]
    console.log(`${KEY_COUNT} keys, ${DEFAULT_PARTITION_COUNT} partitions, 100-byte values`)
    for (const [name, plain, withIndex] of engines) {
      const plainMs = await fill(plain)
      const indexedMs = await fill(withIndex)
      console.log(
        `${name}: insert ${KEY_COUNT} keys without index ${plainMs.toFixed(0)} ms, with index ${indexedMs.toFixed(0)} ms`,
      )
      time(`${name}: whole-store walk`, 5, (run) => walk(plain, run * 997))
      time(`${name}: partition index`, 500, (run) =>
        indexed(withIndex, (run * 997) % DEFAULT_PARTITION_COUNT),
      )
      await plain.close()
      await withIndex.close()
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

await main()
