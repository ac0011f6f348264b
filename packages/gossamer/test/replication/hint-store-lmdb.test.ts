// Goal: the LMDB hint store keeps hints across a reopen (so a restarted fallback still delivers
// them), behaves exactly like the in-memory reference store for any sequence of writes, removes
// a hint only at the acked version, refuses a batch whole at its bound, and skips a corrupt
// entry instead of failing the restore. Method: temp directories, a fast-check model test
// against MemoryHintStore, direct corruption of the environment.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import fc from 'fast-check'
import { open } from 'lmdb'
import { isGossamerError } from '../../src/errors.ts'
import type { Version } from '../../src/hlc/version.ts'
import { LmdbHintStore } from '../../src/replication/hint-store-lmdb.ts'
import {
  type Hint,
  HintedHandoff,
  type HintWrite,
  MemoryHintStore,
} from '../../src/replication/hinted-handoff.ts'

const dirs: string[] = []
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true })
})

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gossamer-hints-'))
  dirs.push(dir)
  return join(dir, 'hints')
}

function v(wallMs: number): Version {
  return { wallMs, logical: 0, nodeId: 'coord' }
}

function hint(replica: string, key: string, wallMs: number): Hint {
  return {
    intendedReplica: replica,
    key,
    record: { version: v(wallMs), value: new TextEncoder().encode(`${key}@${wallMs}`) },
  }
}

function sorted(hints: Hint[]): Hint[] {
  return [...hints].sort((a, b) =>
    `${a.intendedReplica}\u0000${a.key}` < `${b.intendedReplica}\u0000${b.key}` ? -1 : 1,
  )
}

test('hints survive a reopen and restore the hint holder', async () => {
  const path = await tempDir()
  const store = await LmdbHintStore.open({ path })
  const holder = new HintedHandoff()
  for (const h of [hint('n2', 'a', 1), hint('n2', 'b', 2), hint('n3', 'a', 3)]) {
    store.apply(holder.accept(h).writes)
  }
  await store.close()
  const reopened = await LmdbHintStore.open({ path })
  assert.equal(reopened.size, 3)
  const restored = new HintedHandoff()
  restored.restore(reopened.list())
  assert.equal(restored.pendingCount('n2'), 2)
  assert.equal(restored.pendingCount('n3'), 1)
  assert.deepEqual(
    sorted(reopened.list()),
    sorted([hint('n2', 'a', 1), hint('n2', 'b', 2), hint('n3', 'a', 3)]),
  )
  await reopened.close()
})

test('a remove takes effect only at the stored version, so a newer hint is kept', async () => {
  const store = await LmdbHintStore.open({ path: await tempDir() })
  store.apply([{ op: 'put', hint: hint('n2', 'k', 5) }])
  store.apply([{ op: 'remove', intendedReplica: 'n2', key: 'k', version: v(4) }])
  assert.equal(store.size, 1)
  await store.applyAsync([{ op: 'remove', intendedReplica: 'n2', key: 'k', version: v(5) }])
  assert.equal(store.size, 0)
  assert.deepEqual(store.list(), [])
  await store.close()
})

const writeArb: fc.Arbitrary<HintWrite> = fc.oneof(
  fc
    .tuple(
      fc.constantFrom('n1', 'n22', 'é'),
      fc.constantFrom('a', 'b', '1:x', 'ü'),
      fc.nat({ max: 4 }),
    )
    .map(([r, k, t]) => ({ op: 'put' as const, hint: hint(r, k, t) })),
  fc
    .tuple(
      fc.constantFrom('n1', 'n22', 'é'),
      fc.constantFrom('a', 'b', '1:x', 'ü'),
      fc.nat({ max: 4 }),
    )
    .map(([r, k, t]) => ({ op: 'remove' as const, intendedReplica: r, key: k, version: v(t) })),
)

test('any sequence of writes leaves the same hints as the in-memory store, across a reopen', async () => {
  const path = await tempDir()
  let run = 0
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.array(writeArb, { maxLength: 5 }), { maxLength: 8 }),
      async (batches) => {
        const runPath = `${path}-${run++}`
        const model = new MemoryHintStore()
        const store = await LmdbHintStore.open({ path: runPath, durability: 'relaxed' })
        for (const batch of batches) {
          model.apply(batch)
          store.apply(batch)
        }
        await store.close()
        const reopened = await LmdbHintStore.open({ path: runPath, durability: 'relaxed' })
        try {
          assert.deepEqual(sorted(reopened.list()), sorted(model.list()))
          assert.equal(reopened.size, model.list().length)
        } finally {
          await reopened.close()
          await rm(runPath, { recursive: true, force: true })
        }
      },
    ),
    { numRuns: 25 },
  )
})

test('a batch that would exceed maxHints is refused whole; removes still go through', async () => {
  const store = await LmdbHintStore.open({ path: await tempDir(), maxHints: 2 })
  store.apply([{ op: 'put', hint: hint('n2', 'a', 1) }])
  assert.throws(
    () =>
      store.apply([
        { op: 'put', hint: hint('n2', 'b', 1) },
        { op: 'put', hint: hint('n2', 'c', 1) },
      ]),
    (error: unknown) => isGossamerError(error) && error.code === 'GOSSAMER_ERR_HINT_STORE_FULL',
  )
  assert.equal(store.size, 1)
  assert.deepEqual(store.list(), [hint('n2', 'a', 1)])
  store.apply([
    { op: 'put', hint: hint('n2', 'a', 2) },
    { op: 'put', hint: hint('n2', 'b', 1) },
  ])
  assert.equal(store.size, 2)
  store.apply([{ op: 'remove', intendedReplica: 'n2', key: 'a', version: v(2) }])
  assert.equal(store.size, 1)
  await store.close()
})

test('a corrupt entry is skipped and counted on restore, the others are returned', async () => {
  const path = await tempDir()
  const store = await LmdbHintStore.open({ path })
  store.apply([
    { op: 'put', hint: hint('n2', 'a', 1) },
    { op: 'put', hint: hint('n2', 'b', 1) },
  ])
  await store.close()
  const raw = open<Buffer, Buffer>({ path, keyEncoding: 'binary', encoding: 'binary' })
  const value = raw.get(Buffer.from('2:n2b'))!
  const flipped = Buffer.from(value)
  flipped[3] = flipped[3]! ^ 1
  await raw.put(Buffer.from('2:n2b'), flipped)
  await raw.put(Buffer.from('garbage-key'), Buffer.from([1, 2, 3]))
  await raw.close()
  const reopened = await LmdbHintStore.open({ path })
  assert.deepEqual(reopened.list(), [hint('n2', 'a', 1)])
  assert.equal(reopened.corruptCount, 2)
  await reopened.close()
})
