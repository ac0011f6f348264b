import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  ListingMerge,
  needsPrefixKey,
  type SourcePage,
  startAfter,
} from '../../src/replication/listing.ts'
import type { StoredRecord } from '../../src/storage/engine.ts'
import { compareKeys } from '../../src/storage/keys.ts'

type Store = Map<string, StoredRecord>

function record(wallMs: number, value: string | null, expiresAtMs?: number): StoredRecord {
  return {
    version: { wallMs, logical: 0, nodeId: 'n' },
    value: value === null ? null : new TextEncoder().encode(value),
    ...(expiresAtMs === undefined ? {} : { expiresAtMs }),
  }
}

/** A source's ordered page after `after`, at most `limit` records, cursor = last examined. */
function pageOf(store: Store, after: string | undefined, limit: number): SourcePage {
  const keys = [...store.keys()]
    .sort(compareKeys)
    .filter((key) => after === undefined || compareKeys(key, after) > 0)
  const taken = keys.slice(0, limit)
  const entries = taken.map((key) => ({ key, record: store.get(key)! }))
  return keys.length > limit ? { entries, cursor: taken.at(-1)! } : { entries }
}

/** Lists every page through the merge, as the cluster runtime drives it. */
function listAll(
  stores: Map<string, Store>,
  options: { prefix: string; limit: number; pageLimit: number; nowMs: number },
): { keys: string[]; pages: number } {
  const out: string[] = []
  let after: string | undefined
  let pages = 0
  for (; pages < 10_000; pages++) {
    const merge = new ListingMerge({
      sources: [...stores.keys()],
      prefix: options.prefix,
      after,
      limit: options.limit,
      nowMs: options.nowMs,
    })
    if (needsPrefixKey(options.prefix, after)) {
      for (const store of stores.values()) {
        const own = store.get(options.prefix)
        if (own !== undefined) merge.offer(options.prefix, own)
      }
    }
    for (let round = 0; !merge.isDone && round < 10_000; round++) {
      for (const { node, after: from } of merge.wanted()) {
        merge.onPage(node, pageOf(stores.get(node)!, from, options.pageLimit))
      }
      merge.advance()
    }
    const page = merge.result()
    assert.ok(page.entries.length <= options.limit)
    out.push(...page.entries.map((e) => e.key))
    if (page.cursor === undefined) return { keys: out, pages: pages + 1 }
    after = page.cursor
  }
  throw new Error('listing did not finish')
}

const keyArb = fc.stringMatching(/^[ab]{1,4}$/)
const entryArb = fc.record({
  key: keyArb,
  wallMs: fc.integer({ min: 1, max: 50 }),
  tombstone: fc.boolean(),
  expired: fc.boolean(),
})

describe('replication/listing: merging nodes’ ordered pages', () => {
  it('lists exactly the live keys under the prefix, newest version per key, over any page sizes (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(entryArb, { maxLength: 20 }), { minLength: 1, maxLength: 4 }),
        fc.stringMatching(/^[ab]{0,2}$/),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 5 }),
        (sources, prefix, limit, pageLimit) => {
          const stores = new Map<string, Store>()
          const newest = new Map<string, StoredRecord>()
          sources.forEach((entries, i) => {
            const store: Store = new Map()
            for (const e of entries) {
              const rec = record(e.wallMs, e.tombstone ? null : `v${i}`, e.expired ? 10 : undefined)
              const mine = store.get(e.key)
              if (mine === undefined || rec.version.wallMs > mine.version.wallMs) {
                store.set(e.key, rec)
              }
              const seen = newest.get(e.key)
              if (seen === undefined || rec.version.wallMs > seen.version.wallMs) {
                newest.set(e.key, rec)
              }
            }
            stores.set(`s${i}`, store)
          })
          // Versions tie only when equal in wallMs; make ties impossible to judge by giving
          // each key one record per wallMs across stores (the newest is unique or identical).
          for (const [key, rec] of newest) {
            for (const store of stores.values()) {
              const own = store.get(key)
              if (own !== undefined && own.version.wallMs === rec.version.wallMs)
                store.set(key, rec)
            }
          }
          const expected = [...newest]
            .filter(
              ([key, rec]) =>
                key.startsWith(prefix) && rec.value !== null && rec.expiresAtMs === undefined,
            )
            .map(([key]) => key)
            .sort(compareKeys)
          const { keys } = listAll(stores, { prefix, limit, pageLimit, nowMs: 100 })
          assert.deepEqual(keys, expected)
        },
      ),
      { numRuns: 300 },
    )
  })

  it('a newer tombstone on one node hides an older value on another', () => {
    const stores = new Map<string, Store>([
      ['a', new Map([['k', record(1, 'old')]])],
      ['b', new Map([['k', record(2, null)]])],
    ])
    assert.deepEqual(listAll(stores, { prefix: '', limit: 10, pageLimit: 10, nowMs: 0 }).keys, [])
  })

  it('a failed source stops holding the frontier back', () => {
    const merge = new ListingMerge({
      sources: ['a', 'b'],
      prefix: '',
      after: undefined,
      limit: 5,
      nowMs: 0,
    })
    merge.onPage('a', { entries: [{ key: 'x', record: record(1, 'v') }] })
    merge.advance()
    assert.equal(merge.isDone, false, 'b has not answered: x may not be the first key')
    merge.onFailure('b')
    merge.advance()
    assert.deepEqual(merge.result(), { entries: [{ key: 'x', record: record(1, 'v') }] })
  })

  it('scans start after the cursor, or after the prefix whose own key is read separately', () => {
    assert.equal(startAfter('', undefined), undefined)
    assert.equal(startAfter('user/', undefined), 'user/')
    assert.equal(startAfter('user/', 'user/7'), 'user/7')
    assert.equal(startAfter('user/', 'a'), 'user/')
    assert.equal(needsPrefixKey('user/', undefined), true)
    assert.equal(needsPrefixKey('user/', 'user/7'), false)
    assert.equal(needsPrefixKey('', undefined), false)
  })
})
