import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { compareVersions } from '../../src/hlc/version.ts'
import { newestRecord, planReadRepair } from '../../src/replication/read-repair.ts'
import type { StoredRecord } from '../../src/storage/engine.ts'

const recordArb: fc.Arbitrary<StoredRecord | undefined> = fc.option(
  fc.record({
    version: fc.record({
      wallMs: fc.integer({ min: 0, max: 20 }),
      logical: fc.integer({ min: 0, max: 2 }),
      nodeId: fc.constantFrom('a', 'b'),
    }),
    value: fc.option(fc.uint8Array({ maxLength: 2 }), { nil: null }),
  }),
  { nil: undefined },
)

const repliesArb = fc
  .array(recordArb, { minLength: 1, maxLength: 5 })
  .map((records) => records.map((record, i) => ({ node: `n${i}`, record })))

describe('replication/read-repair', () => {
  it('sends the newest record to exactly the replicas that answered older or nothing (property)', () => {
    fc.assert(
      fc.property(repliesArb, (replies) => {
        const newest = newestRecord(replies)
        const targets = planReadRepair(replies)
        if (newest === undefined) return targets.length === 0
        for (const reply of replies) {
          assert.ok(
            reply.record === undefined ||
              compareVersions(reply.record.version, newest.version) <= 0,
          )
        }
        const expected = replies
          .filter((r) =>
            r.record === undefined
              ? newest.value !== null
              : compareVersions(r.record.version, newest.version) < 0,
          )
          .map((r) => r.node)
        assert.deepEqual(
          targets.map((t) => t.node),
          expected,
        )
        return targets.every((t) => t.record === newest)
      }),
    )
  })

  it('does not recreate a tombstone on a replica that has no record of the key', () => {
    const tombstone: StoredRecord = { version: { wallMs: 5, logical: 0, nodeId: 'a' }, value: null }
    const live: StoredRecord = {
      version: { wallMs: 1, logical: 0, nodeId: 'a' },
      value: new Uint8Array([1]),
    }
    const targets = planReadRepair([
      { node: 'x', record: tombstone },
      { node: 'y', record: undefined },
      { node: 'z', record: live },
    ])
    assert.deepEqual(
      targets.map((t) => t.node),
      ['z'],
    )
  })
})
