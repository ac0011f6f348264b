/**
 * The one storage compliance suite (libp2p's interface-compliance-tests pattern): every `Engine`
 * implementation runs exactly these tests, so the in-memory engine the simulator uses and the
 * LMDB engine production uses cannot drift apart. Run it with `engineCompliance(name, factory)`.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import type { Version } from '../../src/hlc/version.ts'
import type { Engine, StoredRecord, WriteOutcome } from '../../src/storage/engine.ts'
import { decideWrite } from '../../src/storage/record-rules.ts'
import { SCAN_EXAMINED_MAX } from '../../src/storage/scan-page.ts'

/** One engine instance under test, with the hooks the suite needs. */
export interface EngineUnderTest {
  readonly engine: Engine
  /** Closes the engine and opens the same store again (durable engines only). */
  readonly reopen?: () => Promise<Engine>
  /** Closes whatever is open and removes any files. */
  readonly cleanup: () => Promise<void>
}

/** Creates a fresh, empty engine for one test. */
export type EngineFactory = () => Promise<EngineUnderTest>

const NOW_MS = 1_000_000

function v(wallMs: number, logical = 0, nodeId = 'n1'): Version {
  return { wallMs, logical, nodeId }
}

function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text)
}

function rec(
  version: Version,
  value: string | null,
  extra: Partial<StoredRecord> = {},
): StoredRecord {
  return { version, value: value === null ? null : bytes(value), ...extra }
}

/** Strips undefined optional fields so records compare by content. */
function plain(record: StoredRecord | undefined): unknown {
  if (record === undefined) return undefined
  const out: Record<string, unknown> = { version: { ...record.version }, value: record.value }
  if (record.value !== null) out['value'] = new Uint8Array(record.value)
  if (record.expiresAtMs !== undefined) out['expiresAtMs'] = record.expiresAtMs
  if (record.contentType !== undefined) out['contentType'] = record.contentType
  return out
}

function assertSameRecord(actual: StoredRecord | undefined, expected: StoredRecord | undefined) {
  assert.deepEqual(plain(actual), plain(expected))
}

function assertOutcome(
  actual: WriteOutcome,
  status: WriteOutcome['status'],
  record?: StoredRecord,
) {
  assert.equal(actual.status, status)
  const reported = actual.status === 'applied' ? actual.previous : actual.current
  assertSameRecord(reported, record)
}

function utf8Order(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

async function withEngine(factory: EngineFactory, body: (t: EngineUnderTest) => Promise<void>) {
  const underTest = await factory()
  try {
    await body(underTest)
  } finally {
    await underTest.cleanup()
  }
}

/** Collects every key a paginated scan returns, page by page (bounded). */
function scanAllKeys(
  engine: Engine,
  options: { prefix?: string; limit: number; includeDead?: boolean; nowMs?: number },
): string[] {
  const keys: string[] = []
  let after: string | undefined
  for (let pageIndex = 0; pageIndex < 10_000; pageIndex++) {
    const page = engine.scan({ ...options, after, nowMs: options.nowMs ?? NOW_MS })
    assert.ok(page.entries.length <= options.limit)
    keys.push(...page.entries.map((entry) => entry.key))
    if (page.cursor === undefined) return keys
    after = page.cursor
  }
  throw new Error('scan did not finish within 10000 pages')
}

// Keys that stress ordering: control characters, the U+E000..U+FFFF range that UTF-16 order
// gets wrong against astral characters, astral characters, and long keys.
const TRICKY_KEYS = ['\u0000', '\u0001a', 'a', 'a\u0000', 'ab', '\uE000', '\uFFFF', '😀', '𝄞x', 'é']
const keyArb = fc.oneof(
  fc.constantFrom(...TRICKY_KEYS),
  fc.string({ minLength: 1, maxLength: 6, unit: 'binary' }),
  fc.string({ minLength: 1, maxLength: 80, unit: 'grapheme-ascii' }),
)

/** Runs the compliance suite against the engine `factory` makes. */
export function engineCompliance(name: string, factory: EngineFactory): void {
  describe(`storage compliance: ${name}`, () => {
    registerBasicTests(factory)
    registerConditionTests(factory)
    registerBatchTests(factory)
    registerScanTests(factory)
    registerPurgeAndStatsTests(factory)
    registerValueTests(factory)
    registerKeyTests(factory)
  })
}

function registerBasicTests(factory: EngineFactory): void {
  it('stores a record and reads it back', () =>
    withEngine(factory, async ({ engine }) => {
      const record = rec(v(10), 'hello')
      assertOutcome(await engine.write({ key: 'k', record }), 'applied', undefined)
      assertSameRecord(engine.getRecord('k'), record)
      assert.equal(engine.getRecord('other'), undefined)
    }))

  it('refuses a lower or equal version as stale with the current record, applies a higher one', () =>
    withEngine(factory, async ({ engine }) => {
      const first = rec(v(10, 5), 'one')
      await engine.write({ key: 'k', record: first })
      assertOutcome(
        await engine.write({ key: 'k', record: rec(v(10, 4), 'lower') }),
        'stale',
        first,
      )
      assertOutcome(
        await engine.write({ key: 'k', record: rec(v(9, 99), 'older') }),
        'stale',
        first,
      )
      assertOutcome(await engine.write({ key: 'k', record: rec(v(10, 5), 'same') }), 'stale', first)
      const second = rec(v(10, 5, 'n2'), 'tie-break wins')
      assertOutcome(await engine.write({ key: 'k', record: second }), 'applied', first)
      assertSameRecord(engine.getRecord('k'), second)
    }))

  it('keeps a tombstone that hides the key from scans and blocks older writes', () =>
    withEngine(factory, async ({ engine }) => {
      const live = rec(v(10), 'alive')
      const tombstone = rec(v(20), null)
      await engine.write({ key: 'k', record: live })
      assertOutcome(await engine.write({ key: 'k', record: tombstone }), 'applied', live)
      assertSameRecord(engine.getRecord('k'), tombstone)
      assert.deepEqual(engine.scan({ limit: 10, nowMs: NOW_MS }).entries, [])
      const withDead = engine.scan({ limit: 10, nowMs: NOW_MS, includeDead: true }).entries
      assert.deepEqual(
        withDead.map((e) => e.key),
        ['k'],
      )
      assertOutcome(await engine.write({ key: 'k', record: live }), 'stale', tombstone)
    }))

  it('treats a record as absent in scans at and after its expiry while getRecord returns it raw', () =>
    withEngine(factory, async ({ engine }) => {
      const record = rec(v(10), 'ttl', { expiresAtMs: 5_000 })
      await engine.write({ key: 'k', record })
      assert.equal(engine.scan({ limit: 10, nowMs: 4_999 }).entries.length, 1)
      assert.equal(engine.scan({ limit: 10, nowMs: 5_000 }).entries.length, 0)
      assert.equal(engine.scan({ limit: 10, nowMs: 5_000, includeDead: true }).entries.length, 1)
      assertSameRecord(engine.getRecord('k'), record)
    }))

  it('reopens with every record intact (durable engines)', async (t) => {
    await withEngine(factory, async (underTest) => {
      if (underTest.reopen === undefined) {
        t.skip('engine is not durable')
        return
      }
      const records = [
        rec(v(1), 'a'),
        rec(v(2), null),
        rec(v(3), 'c', { expiresAtMs: 9, contentType: 'text/plain' }),
      ]
      await underTest.engine.writeBatch(records.map((record, i) => ({ key: `k${i}`, record })))
      const reopened = await underTest.reopen()
      for (const [i, record] of records.entries()) {
        assertSameRecord(reopened.getRecord(`k${i}`), record)
      }
      assert.equal(reopened.stats().keyCount, 3)
      assertOutcome(
        await reopened.write({ key: 'k0', record: rec(v(1), 'x') }),
        'stale',
        records[0],
      )
    })
  })
}

function registerConditionTests(factory: EngineFactory): void {
  it('applies a version condition that matches the live record and refuses one that does not', () =>
    withEngine(factory, async ({ engine }) => {
      const first = rec(v(10), 'one')
      await engine.write({ key: 'k', record: first })
      const wrong = { kind: 'version', version: v(9) } as const
      assertOutcome(
        await engine.write({ key: 'k', record: rec(v(11), 'x'), condition: wrong }),
        'condition_failed',
        first,
      )
      assertSameRecord(engine.getRecord('k'), first)
      const right = { kind: 'version', version: v(10) } as const
      assertOutcome(
        await engine.write({ key: 'k', record: rec(v(12), 'two'), condition: right }),
        'applied',
        first,
      )
      const missing = { kind: 'version', version: v(1) } as const
      assertOutcome(
        await engine.write({ key: 'nope', record: rec(v(12), 'x'), condition: missing }),
        'condition_failed',
        undefined,
      )
    }))

  it('applies an absent condition only when no live record exists (tombstones and expired count as absent)', () =>
    withEngine(factory, async ({ engine }) => {
      const absent = { kind: 'absent' } as const
      const created = rec(v(10), 'new')
      assertOutcome(
        await engine.write({ key: 'k', record: created, condition: absent }),
        'applied',
        undefined,
      )
      assertOutcome(
        await engine.write({ key: 'k', record: rec(v(11), 'again'), condition: absent }),
        'condition_failed',
        created,
      )
      const tombstone = rec(v(12), null)
      await engine.write({ key: 'k', record: tombstone })
      assertOutcome(
        await engine.write({ key: 'k', record: rec(v(13), 're'), condition: absent }),
        'applied',
        tombstone,
      )
      // Expiry for conditions is judged at the incoming version's wallMs.
      const expiring = rec(v(20), 'ttl', { expiresAtMs: 30 })
      await engine.write({ key: 'e', record: expiring })
      assertOutcome(
        await engine.write({ key: 'e', record: rec(v(29), 'early'), condition: absent }),
        'condition_failed',
        expiring,
      )
      const atExpiry = rec(v(30, 1), 'late')
      assertOutcome(
        await engine.write({ key: 'e', record: atExpiry, condition: absent }),
        'applied',
        expiring,
      )
    }))

  it('refuses a version condition against a tombstone, reporting no live record', () =>
    withEngine(factory, async ({ engine }) => {
      await engine.write({ key: 'k', record: rec(v(10), null) })
      const condition = { kind: 'version', version: v(10) } as const
      assertOutcome(
        await engine.write({ key: 'k', record: rec(v(11), 'x'), condition }),
        'condition_failed',
        undefined,
      )
    }))

  it('reports a redelivered conditional write as stale, not as a failed condition', () =>
    withEngine(factory, async ({ engine }) => {
      const entry = { key: 'k', record: rec(v(10), 'once'), condition: { kind: 'absent' } } as const
      assertOutcome(await engine.write(entry), 'applied', undefined)
      assertOutcome(await engine.write(entry), 'stale', entry.record)
    }))
}

function registerBatchTests(factory: EngineFactory): void {
  it('applies a batch in order, including two writes to the same key', () =>
    withEngine(factory, async ({ engine }) => {
      const a1 = rec(v(1), 'a1')
      const a2 = rec(v(2), 'a2')
      const b2 = rec(v(2), 'b2')
      const outcomes = await engine.writeBatch([
        { key: 'a', record: a1 },
        { key: 'a', record: a2 },
        { key: 'b', record: b2 },
        { key: 'b', record: rec(v(1), 'b1') },
        { key: 'a', record: rec(v(3), 'a3'), condition: { kind: 'version', version: v(2) } },
      ])
      assert.equal(outcomes.length, 5)
      assertOutcome(outcomes[0]!, 'applied', undefined)
      assertOutcome(outcomes[1]!, 'applied', a1)
      assertOutcome(outcomes[2]!, 'applied', undefined)
      assertOutcome(outcomes[3]!, 'stale', b2)
      assertOutcome(outcomes[4]!, 'applied', a2)
      assertSameRecord(engine.getRecord('a'), rec(v(3), 'a3'))
      assertSameRecord(engine.getRecord('b'), b2)
      assert.deepEqual(await engine.writeBatch([]), [])
    }))

  it('decides writes issued together without waiting in issue order, each seeing the ones before it (property)', async () => {
    const op = fc.record({
      key: fc.constantFrom('a', 'b', 'c'),
      wallMs: fc.integer({ min: 1, max: 12 }),
      condition: fc.constantFrom('none', 'absent', 'previous'),
      tombstone: fc.boolean(),
    })
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 30 }), async (ops) =>
        withEngine(factory, async ({ engine }) => {
          // The model: the same writes decided one after another by the shared rules.
          const model = new Map<string, StoredRecord>()
          const expected: WriteOutcome['status'][] = []
          const entries = ops.map((o, i) => {
            const record = rec(v(o.wallMs, i), o.tombstone ? null : `v${i}`)
            const last = model.get(o.key)
            const condition =
              o.condition === 'absent'
                ? ({ kind: 'absent' } as const)
                : o.condition === 'previous' && last !== undefined
                  ? ({ kind: 'version', version: last.version } as const)
                  : undefined
            const entry = { key: o.key, record, condition }
            const outcome = decideWrite(last, entry)
            if (outcome.status === 'applied') model.set(o.key, record)
            expected.push(outcome.status)
            return entry
          })
          // Every write issued in the same turn, then all awaited: they share commits.
          const outcomes = await Promise.all(entries.map((entry) => engine.write(entry)))
          assert.deepEqual(
            outcomes.map((o) => o.status),
            expected,
          )
          for (const key of ['a', 'b', 'c']) assertSameRecord(engine.getRecord(key), model.get(key))
        }),
      ),
      { numRuns: 40 },
    )
  })

  it('decides writes issued over several turns, single and batched, each against the newest one before it (property)', async () => {
    // Unlike the property above, the writes span several commits: each chunk is issued, then the
    // event loop turns before the next (the earlier chunks still in flight), so a decision may
    // have to see a write of an older, uncommitted transaction, or of a batch.
    const op = fc.record({
      key: fc.constantFrom('a', 'b'),
      wallMs: fc.integer({ min: 1, max: 12 }),
      tombstone: fc.boolean(),
    })
    const chunk = fc.record({
      batched: fc.boolean(),
      ops: fc.array(op, { minLength: 1, maxLength: 4 }),
    })
    await fc.assert(
      fc.asyncProperty(fc.array(chunk, { minLength: 1, maxLength: 8 }), async (chunks) =>
        withEngine(factory, async ({ engine }) => {
          const model = new Map<string, StoredRecord>()
          const expected: WriteOutcome['status'][] = []
          const pending: Array<Promise<WriteOutcome[]>> = []
          let i = 0
          for (const c of chunks) {
            const entries = c.ops.map((o) => {
              const record = rec(v(o.wallMs, i), o.tombstone ? null : `v${i}`)
              i += 1
              const entry = { key: o.key, record }
              const outcome = decideWrite(model.get(o.key), entry)
              if (outcome.status === 'applied') model.set(o.key, record)
              expected.push(outcome.status)
              return entry
            })
            pending.push(
              c.batched
                ? engine.writeBatch(entries)
                : Promise.all(entries.map((entry) => engine.write(entry))),
            )
            await new Promise((resolve) => setImmediate(resolve))
          }
          const outcomes = (await Promise.all(pending)).flat()
          assert.deepEqual(
            outcomes.map((o) => o.status),
            expected,
          )
          for (const key of ['a', 'b']) assertSameRecord(engine.getRecord(key), model.get(key))
        }),
      ),
      { numRuns: 40 },
    )
  })

  it('rejects a batch with an invalid key and writes none of it', () =>
    withEngine(factory, async ({ engine }) => {
      await assert.rejects(
        engine.writeBatch([
          { key: 'good', record: rec(v(1), 'x') },
          { key: '', record: rec(v(1), 'y') },
        ]),
        (error: unknown) => (error as { code?: string }).code === 'GOSSAMER_ERR_KEY_INVALID',
      )
      assert.equal(engine.getRecord('good'), undefined)
      assert.equal(engine.stats().keyCount, 0)
    }))
}

function registerScanTests(factory: EngineFactory): void {
  it('scans in UTF-8 byte order and paginates over every live key exactly once (property)', async () => {
    // Goal: ordering, prefix, limit and cursors agree with a naive model for any key set.
    // Method: random keys (non-ASCII included), some deleted; compare paginated scans with
    // sorting by Buffer.compare of the UTF-8 bytes.
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.record({ key: keyArb, isDead: fc.boolean() }), {
          selector: (e) => e.key,
          minLength: 0,
          maxLength: 40,
        }),
        fc.integer({ min: 1, max: 7 }),
        fc.oneof(fc.constant(''), fc.constantFrom('a', '\uE000', '😀', '\u0000'), keyArb),
        (keySet, limit, prefix) =>
          withEngine(factory, async ({ engine }) => {
            await engine.writeBatch(
              keySet.map(({ key, isDead }) => ({ key, record: rec(v(1), isDead ? null : key) })),
            )
            const all = keySet.map((e) => e.key).sort(utf8Order)
            const live = keySet
              .filter((e) => !e.isDead)
              .map((e) => e.key)
              .sort(utf8Order)
            assert.deepEqual(scanAllKeys(engine, { limit, includeDead: true }), all)
            assert.deepEqual(scanAllKeys(engine, { limit }), live)
            const livePrefixed = live.filter((k) => k.startsWith(prefix))
            assert.deepEqual(scanAllKeys(engine, { limit, prefix }), livePrefixed)
            assert.equal(engine.stats().keyCount, keySet.length)
          }),
      ),
      { numRuns: 25 },
    )
  })

  it('returns scan records with their content, and stops pages at the limit with a cursor', () =>
    withEngine(factory, async ({ engine }) => {
      await engine.writeBatch(
        ['b', 'a', 'c'].map((key) => ({ key, record: rec(v(1), key.toUpperCase()) })),
      )
      const first = engine.scan({ limit: 2, nowMs: NOW_MS })
      assert.deepEqual(
        first.entries.map((e) => e.key),
        ['a', 'b'],
      )
      assertSameRecord(first.entries[0]!.record, rec(v(1), 'A'))
      assert.equal(first.cursor, 'b')
      const second = engine.scan({ limit: 2, nowMs: NOW_MS, after: first.cursor })
      assert.deepEqual(
        second.entries.map((e) => e.key),
        ['c'],
      )
      assert.equal(second.cursor, undefined)
      const exact = engine.scan({ limit: 3, nowMs: NOW_MS })
      assert.equal(exact.cursor, undefined, 'no cursor when nothing follows')
      assert.deepEqual(engine.scan({ limit: 5, nowMs: NOW_MS, after: 'c' }).entries, [])
    }))
  it('bounds the dead entries one page skips and still reaches the live key after them', () =>
    withEngine(factory, async ({ engine }) => {
      const deadCount = SCAN_EXAMINED_MAX + 5
      const key = (i: number) => `d${String(i).padStart(6, '0')}`
      await engine.writeBatch(
        Array.from({ length: deadCount }, (_, i) => ({ key: key(i), record: rec(v(1), null) })),
      )
      await engine.write({ key: 'z-live', record: rec(v(1), 'x') })
      const first = engine.scan({ limit: 10, nowMs: NOW_MS })
      assert.deepEqual(first.entries, [])
      assert.ok(first.cursor !== undefined, 'an early page carries a cursor')
      assert.deepEqual(scanAllKeys(engine, { limit: 10 }), ['z-live'])
    }))
}

function registerPurgeAndStatsTests(factory: EngineFactory): void {
  it('purges old tombstones and expired records up to the limit and keeps the rest', () =>
    withEngine(factory, async ({ engine }) => {
      await engine.writeBatch([
        { key: 'old-tomb', record: rec(v(100), null) },
        { key: 'new-tomb', record: rec(v(500), null) },
        { key: 'expired', record: rec(v(100), 'x', { expiresAtMs: 300 }) },
        { key: 'expiring-later', record: rec(v(100), 'x', { expiresAtMs: 301 }) },
        { key: 'live', record: rec(v(100), 'x') },
      ])
      assert.equal(engine.stats().keyCount, 5)
      const options = { tombstoneBeforeMs: 500, nowMs: 300 }
      assert.equal(await engine.purge({ ...options, limit: 1 }), 1)
      assert.equal(engine.stats().keyCount, 4)
      assert.equal(await engine.purge({ ...options, limit: 10 }), 1)
      assert.equal(await engine.purge({ ...options, limit: 10 }), 0)
      assert.equal(engine.getRecord('old-tomb'), undefined)
      assert.equal(engine.getRecord('expired'), undefined)
      for (const key of ['new-tomb', 'expiring-later', 'live'])
        assert.ok(engine.getRecord(key), key)
      assert.equal(engine.stats().keyCount, 3)
    }))

  it('reports key count (tombstones included) and a growing size', () =>
    withEngine(factory, async ({ engine }) => {
      const empty = engine.stats()
      assert.equal(empty.keyCount, 0)
      const big = new Uint8Array(256 * 1024).fill(7)
      await engine.writeBatch([
        { key: 'a', record: { version: v(1), value: big } },
        { key: 'b', record: rec(v(1), null) },
      ])
      const after = engine.stats()
      assert.equal(after.keyCount, 2)
      assert.ok(after.sizeBytes > empty.sizeBytes, `${after.sizeBytes} > ${empty.sizeBytes}`)
      assert.ok(after.sizeBytes >= big.length)
    }))
}

function registerValueTests(factory: EngineFactory): void {
  it('keeps binary values with every byte value, empty values and the content type exactly', () =>
    withEngine(factory, async ({ engine }) => {
      const allBytes = Uint8Array.from({ length: 512 }, (_, i) => i % 256)
      const records: Array<[string, StoredRecord]> = [
        ['all', { version: v(1), value: allBytes, contentType: 'application/octet-stream' }],
        ['empty', { version: v(1), value: new Uint8Array(0) }],
        [
          'typed',
          { version: v(1), value: bytes('{}'), contentType: 'application/json; charset=utf-8' },
        ],
        ['unicode-node', { version: v(1, 0, 'nœud-😀'), value: bytes('x') }],
      ]
      await engine.writeBatch(records.map(([key, record]) => ({ key, record })))
      for (const [key, record] of records) assertSameRecord(engine.getRecord(key), record)
      const empty = engine.getRecord('empty')!
      assert.ok(empty.value !== null && empty.value.length === 0, 'empty value is not a tombstone')
      assert.ok(engine.scan({ limit: 10, nowMs: NOW_MS }).entries.some((e) => e.key === 'empty'))
    }))

  it('copies values in and out so callers cannot change stored bytes', () =>
    withEngine(factory, async ({ engine }) => {
      const value = bytes('abc')
      await engine.write({ key: 'k', record: { version: v(1), value } })
      value[0] = 0
      const read = engine.getRecord('k')!
      assert.deepEqual(new Uint8Array(read.value!), bytes('abc'))
      read.value![0] = 0
      assert.deepEqual(new Uint8Array(engine.getRecord('k')!.value!), bytes('abc'))
    }))
}

function registerKeyTests(factory: EngineFactory): void {
  it('rejects empty, malformed and oversized keys with stable codes', () =>
    withEngine(factory, async ({ engine }) => {
      const record = rec(v(1), 'x')
      const codeOf = async (key: string) => {
        try {
          await engine.write({ key, record })
          return 'applied'
        } catch (error) {
          return (error as { code?: string }).code
        }
      }
      assert.equal(await codeOf(''), 'GOSSAMER_ERR_KEY_INVALID')
      assert.equal(await codeOf('a\uD800b'), 'GOSSAMER_ERR_KEY_INVALID')
      assert.equal(await codeOf('k'.repeat(1978)), 'applied')
      assert.equal(await codeOf('k'.repeat(1979)), 'GOSSAMER_ERR_KEY_TOO_LARGE')
      assert.equal(await codeOf('é'.repeat(990)), 'GOSSAMER_ERR_KEY_TOO_LARGE')
    }))
}
