/**
 * `LmdbEngine.write` against the same storage steps written inline, in one process, without
 * HTTP (docs/performance.md, "Seventh session"). Both sides preload the same keys; then each
 * round issues BATCH writes at once (they share lmdb-js commits) and awaits them, ROUNDS times,
 * and the process CPU per write is reported (main thread plus lmdb-js's write thread).
 *
 *   node --import tsx bench/engine-write.ts              # durability sync (fsync per commit)
 *   BENCH_DURABILITY=relaxed node --import tsx bench/engine-write.ts
 *
 * The inline side does what a blind single write needs from storage: the decision read
 * (`getBinaryFast` + `decodeRecord`), `encodeRecord` and `put`. What `LmdbEngine.write` adds is
 * its bookkeeping: key checks, the in-flight map, the outcome and one more promise.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { open } from 'lmdb'
import type { Version } from '../packages/gossamer/src/hlc/version.ts'
import { partitionOf } from '../packages/gossamer/src/ring/partitioner.ts'
import { LmdbEngine } from '../packages/gossamer/src/storage/lmdb-engine.ts'
import { decodeRecord, encodeRecord } from '../packages/gossamer/src/storage/record-codec.ts'

const KEYS = 100_000
const BATCH = 24
const ROUNDS = 2_000
const REPEATS = 3
const durability = process.env.BENCH_DURABILITY === 'relaxed' ? 'relaxed' : 'sync'

const tmp = mkdtempSync(join(os.tmpdir(), 'gossamer-engine-write-'))
const engine = await LmdbEngine.open({
  path: join(tmp, 'engine'),
  durability,
  partitionIndex: {
    partitionCount: 1024,
    partitionOf: (key: string) => partitionOf(key, 1024),
    hashVersion: 1,
  },
})
const db = open<Buffer, Buffer>({
  path: join(tmp, 'inline'),
  keyEncoding: 'binary',
  encoding: 'binary',
  overlappingSync: false,
  noSync: durability === 'relaxed',
})
try {
  const keys = Array.from({ length: KEYS }, (_, i) => `bench-${String(i).padStart(6, '0')}`)
  const value = Buffer.alloc(100, 'v')
  let logical = 0
  const version = (): Version => ({
    wallMs: Date.now(),
    logical: logical++ % 1_000_000,
    nodeId: 'bench',
  })
  const inlineWrite = (key: string): Promise<unknown> => {
    const keyBytes = Buffer.from(key)
    const current = db.getBinaryFast(keyBytes)
    if (current !== undefined) decodeRecord(current, key)
    return db.put(keyBytes, Buffer.from(encodeRecord({ version: version(), value })))
  }
  for (let i = 0; i < KEYS; i += 1000) {
    const slice = keys.slice(i, i + 1000)
    await Promise.all(
      slice.map((key) => engine.write({ key, record: { version: version(), value } })),
    )
    await Promise.all(slice.map(inlineWrite))
  }
  const run = async (name: string, one: (key: string) => Promise<unknown>) => {
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    for (let r = 0; r < ROUNDS; r++) {
      const writes: Array<Promise<unknown>> = []
      for (let b = 0; b < BATCH; b++) writes.push(one(keys[((r * BATCH + b) * 7919) % KEYS]!))
      await Promise.all(writes)
    }
    const cpu = process.cpuUsage(cpu0)
    const n = ROUNDS * BATCH
    const perSec = n / ((performance.now() - t0) / 1000)
    const cpuUs = (cpu.user + cpu.system) / n
    process.stdout.write(
      `${name}: ${perSec.toFixed(0)} writes/s, ${cpuUs.toFixed(1)} µs CPU per write\n`,
    )
  }
  process.stdout.write(`durability ${durability}, ${KEYS} keys, ${ROUNDS} rounds of ${BATCH}\n`)
  for (let i = 0; i < REPEATS; i++) {
    await run('LmdbEngine.write', (key) =>
      engine.write({ key, record: { version: version(), value } }),
    )
    await run('inline steps    ', inlineWrite)
  }
} finally {
  await engine.close()
  await db.close()
  rmSync(tmp, { recursive: true, force: true })
}
