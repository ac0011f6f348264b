/**
 * How many writes share one LMDB commit (one fsync) under concurrent durable writers: the
 * storage engine's `write` (last-writer-wins and the condition decided inside the commit)
 * against plain lmdb-js `put`s, the way the bare handler of `bench:single` writes.
 *
 *   node --import tsx bench/engine-commits.ts
 *   COMMITS_WRITERS=50 COMMITS_DURATION_S=3 COMMITS_BUSY_US=60 node --import tsx bench/engine-commits.ts
 *
 * `COMMITS_WRITERS` loops each await one write after another (like 50 HTTP connections), for
 * `COMMITS_DURATION_S` per mode, on 20,000 preloaded keys with 100-byte values, `sync`
 * durability, in a temp dir. `COMMITS_BUSY_US` spins the main thread that long before each write, standing in
 * for the HTTP work of a request: writes whose decision runs on the main thread inside the
 * commit wait for that thread. Commits are counted from LMDB's last transaction id.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { open } from 'lmdb'
import { LmdbEngine } from '../packages/gossamer/src/storage/lmdb-engine.ts'

const writers = Number(process.env.COMMITS_WRITERS ?? 50)
const durationMs = Number(process.env.COMMITS_DURATION_S ?? 3) * 1000
const busyUs = Number(process.env.COMMITS_BUSY_US ?? 0)
const keyCount = 20_000
const value = new Uint8Array(100).fill(118)
const keyName = (i: number) => `bench-${String(i).padStart(6, '0')}`

function spin(us: number): void {
  if (us <= 0) return
  const until = process.hrtime.bigint() + BigInt(Math.round(us * 1000))
  while (process.hrtime.bigint() < until) {
    // busy: stands in for request processing
  }
}

interface ModeResult {
  readonly mode: string
  readonly writesPerSec: number
  readonly commitsPerSec: number
  readonly writesPerCommit: number
}

async function run(
  mode: string,
  write: (key: string, n: number) => Promise<unknown>,
  lastTxnId: () => number,
): Promise<ModeResult> {
  let n = 0
  const txnBefore = lastTxnId()
  const started = performance.now()
  const loop = async () => {
    while (performance.now() - started < durationMs) {
      const i = n++
      spin(busyUs)
      await write(keyName((i * 7919) % keyCount), i)
    }
  }
  await Promise.all(Array.from({ length: writers }, loop))
  const seconds = (performance.now() - started) / 1000
  const commits = lastTxnId() - txnBefore
  return {
    mode,
    writesPerSec: n / seconds,
    commitsPerSec: commits / seconds,
    writesPerCommit: n / Math.max(1, commits),
  }
}

const tmp = mkdtempSync(join(os.tmpdir(), 'gossamer-commits-'))
try {
  const results: ModeResult[] = []
  const engine = await LmdbEngine.open({
    path: join(tmp, 'engine'),
    partitionIndex: { partitionCount: 4096, partitionOf: (key) => key.length % 4096 },
  })
  const engineStats = open({ path: join(tmp, 'engine') })
  let wallMs = Date.now()
  // Preloaded, as the HTTP benchmark is: the timed writes update existing keys.
  for (let from = 0; from < keyCount; from += 1000) {
    await engine.writeBatch(
      Array.from({ length: 1000 }, (_, j) => ({
        key: keyName(from + j),
        record: { version: { wallMs: ++wallMs, logical: 0, nodeId: 'bench' }, value },
      })),
    )
  }
  results.push(
    await run(
      'engine.write (LWW + condition in the commit)',
      (key, i) =>
        engine.write({
          key,
          record: { version: { wallMs: ++wallMs, logical: i % 1000, nodeId: 'bench' }, value },
        }),
      () => (engineStats.getStats() as { lastTxnId: number }).lastTxnId,
    ),
  )
  await engine.close()
  // The bare handler's settings: fsync inside the commit, as the engine's `sync` durability.
  const db = open<Buffer, string>({
    path: join(tmp, 'bare'),
    encoding: 'binary',
    noSync: false,
    overlappingSync: false,
  })
  const bareValue = Buffer.from(value)
  for (let from = 0; from < keyCount; from += 1000) {
    await db.batch(() => {
      for (let j = 0; j < 1000; j++) void db.put(keyName(from + j), bareValue)
    })
  }
  results.push(
    await run(
      'lmdb put (bare handler)',
      (key) => db.put(key, bareValue),
      () => (db.getStats() as { lastTxnId: number }).lastTxnId,
    ),
  )
  await db.close()
  console.log(
    `${writers} writers, ${durationMs / 1000} s per mode, ${busyUs} µs of main-thread work per write`,
  )
  console.log('| mode | writes/s | commits/s | writes per commit |')
  console.log('|---|---|---|---|')
  for (const r of results) {
    console.log(
      `| ${r.mode} | ${r.writesPerSec.toFixed(0)} | ${r.commitsPerSec.toFixed(0)} | ${r.writesPerCommit.toFixed(1)} |`,
    )
  }
} finally {
  rmSync(tmp, { recursive: true, force: true })
}
