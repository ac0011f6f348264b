// The history checker, on hand-written histories: clean ones it must pass, and ones it must
// flag for each rule (stale reads, lost writes, phantoms, version mismatches, deleted keys that
// reappear, coordinator regressions, diverging replicas). A property test runs a correct
// single-copy register and checks that its histories are never flagged, and that making one
// read return an older acknowledged version always is.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import {
  checkHistory,
  checkReplicasAgree,
  type FinalRecord,
  formatViolations,
} from '../../../src/testing/history/checker.ts'
import { History, type Operation } from '../../../src/testing/history/history.ts'

/** Operations built by hand: `[invoke, complete]` times, version text `<wall>-0-<node>`. */
function builder() {
  const ops: Operation[] = []
  const add = (op: Omit<Operation, 'id' | 'client' | 'node'> & { node?: string }) => {
    const full: Operation = { id: ops.length, client: 0, node: 'n1', ...op }
    ops.push(full)
    return full
  }
  return {
    ops,
    put(key: string, value: string, at: [number, number], version: string | undefined, more = {}) {
      return add({
        kind: 'put',
        key,
        value,
        consistency: 'quorum',
        invokeMs: at[0],
        completeMs: at[1],
        outcome: version === undefined ? 'unknown' : 'ok',
        version,
        ...more,
      })
    },
    get(key: string, at: [number, number], seen: [string, string] | null, more = {}) {
      return add({
        kind: 'get',
        key,
        consistency: 'quorum',
        invokeMs: at[0],
        completeMs: at[1],
        outcome: 'ok',
        found: seen !== null,
        readValue: seen?.[0],
        version: seen?.[1],
        ...more,
      })
    },
    del(key: string, at: [number, number], outcome: 'ok' | 'unknown' | 'failed' = 'ok') {
      return add({
        kind: 'delete',
        key,
        consistency: 'quorum',
        invokeMs: at[0],
        completeMs: at[1],
        outcome,
      })
    },
  }
}

const live = (value: string, version: string): FinalRecord => ({
  version,
  tombstone: false,
  value,
})
const kinds = (ops: readonly Operation[], options: Parameters<typeof checkHistory>[1] = {}) =>
  checkHistory(ops, options).violations.map((v) => v.kind)

describe('history checker', () => {
  test('a clean history with overlapping reads, a delete and a matching final state passes', () => {
    const h = builder()
    h.put('k', 'a', [0, 10], '100-0-n1')
    h.get('k', [5, 12], null) // concurrent with the put: may miss it
    h.get('k', [11, 15], ['a', '100-0-n1'])
    h.put('k', 'b', [20, 30], '130-0-n2', { node: 'n2' })
    h.get('k', [25, 40], ['a', '100-0-n1']) // concurrent with put b
    h.del('k', [50, 60])
    h.get('k', [61, 70], null)
    h.put('k', 'c', [80, 90], undefined) // unknown
    h.get('k', [95, 99], ['c', '185-0-n3'])
    const result = checkHistory(h.ops, {
      finalState: new Map([['k', live('c', '185-0-n3')]]),
    })
    assert.deepEqual(result.violations, [], formatViolations(result.violations))
    assert.deepEqual(result.checked, { strongReads: 5, acknowledgedWrites: 3, finalKeys: 1 })
  })

  test('a quorum read older than a write acknowledged before it began is a stale read', () => {
    const h = builder()
    const first = h.put('k', 'a', [0, 10], '100-0-n1')
    const second = h.put('k', 'b', [20, 30], '130-0-n1')
    const read = h.get('k', [40, 50], ['a', '100-0-n1'])
    const { violations } = checkHistory(h.ops)
    assert.deepEqual(
      violations.map((v) => v.kind),
      ['stale-read'],
    )
    assert.deepEqual(violations[0]!.operations, [second, read])
    assert.ok(!violations[0]!.operations.includes(first))
  })

  test('the stale-read rule compares with the highest acknowledged version, not the last to finish', () => {
    const h = builder()
    h.put('k', 'high', [0, 30], '120-0-n2', { node: 'n2' })
    h.put('k', 'low', [1, 20], '110-0-n1')
    h.get('k', [40, 50], ['low', '110-0-n1'])
    assert.deepEqual(kinds(h.ops), ['stale-read'])
  })

  test('reads and writes below quorum carry no promise', () => {
    const h = builder()
    h.put('k', 'a', [0, 10], '100-0-n1')
    h.put('k', 'b', [20, 30], '130-0-n1', { consistency: 'one' })
    h.get('k', [40, 50], ['a', '100-0-n1'])
    h.put('k', 'c', [60, 70], '170-0-n1')
    h.get('k', [80, 90], ['a', '100-0-n1'], { consistency: 'one' })
    assert.deepEqual(kinds(h.ops), [])
  })

  test('a read that finds nothing after an acknowledged write is stale unless a delete may follow the write', () => {
    const bare = builder()
    bare.put('k', 'a', [0, 10], '100-0-n1')
    bare.get('k', [20, 30], null)
    assert.deepEqual(kinds(bare.ops), ['stale-read'])

    const earlierDelete = builder()
    earlierDelete.del('k', [0, 5])
    earlierDelete.put('k', 'a', [10, 20], '110-0-n1')
    earlierDelete.get('k', [30, 40], null)
    assert.deepEqual(kinds(earlierDelete.ops), ['stale-read'])

    const unknownDelete = builder()
    unknownDelete.put('k', 'a', [0, 10], '100-0-n1')
    unknownDelete.del('k', [12, 100], 'unknown')
    unknownDelete.get('k', [20, 30], null)
    assert.deepEqual(kinds(unknownDelete.ops), [])

    const failedDelete = builder()
    failedDelete.put('k', 'a', [0, 10], '100-0-n1')
    failedDelete.del('k', [12, 13], 'failed')
    failedDelete.get('k', [20, 30], null)
    assert.deepEqual(kinds(failedDelete.ops), ['stale-read'])
  })

  test('without real-time delete ordering any delete before the read explains a miss', () => {
    const h = builder()
    h.del('k', [0, 5])
    h.put('k', 'a', [10, 20], '110-0-n1')
    h.get('k', [30, 40], null)
    assert.deepEqual(kinds(h.ops, { realTimeDeletes: false }), [])
  })

  test('an acknowledged write missing from the final state is a lost write', () => {
    const h = builder()
    const acked = h.put('k', 'a', [0, 10], '100-0-n1')
    h.put('j', 'x', [0, 10], '100-0-n2')
    const older = checkHistory(h.ops, {
      finalState: new Map([
        ['k', live('z', '90-0-n3')],
        ['j', null],
      ]),
    })
    assert.deepEqual(
      older.violations.map((v) => [v.kind, v.key]),
      [
        ['phantom', 'k'],
        ['lost-write', 'k'],
        ['lost-write', 'j'],
      ],
    )
    assert.deepEqual(older.violations[1]!.operations, [acked])
  })

  test('a final state superseded by an unknown put or a delete is not a lost write', () => {
    const h = builder()
    h.put('k', 'a', [0, 10], '100-0-n1')
    h.put('k', 'b', [20, 30], undefined)
    h.put('t', 'a2', [0, 10], '100-0-n1')
    h.del('t', [20, 30], 'unknown')
    const final = new Map<string, FinalRecord | null>([
      ['k', live('b', '125-0-n2')],
      ['t', { version: '125-0-n1', tombstone: true, value: null }],
    ])
    assert.deepEqual(kinds(h.ops, { finalState: final }), [])
  })

  test('values no put wrote, values of failed puts and values from the future are phantoms', () => {
    const never = builder()
    never.put('k', 'a', [0, 10], '100-0-n1')
    never.get('k', [20, 30], ['ghost', '200-0-n1'])
    assert.deepEqual(kinds(never.ops), ['phantom'])

    const failed = builder()
    failed.put('k', 'a', [0, 10], undefined, { outcome: 'failed' })
    failed.get('k', [20, 30], ['a', '105-0-n1'])
    assert.deepEqual(kinds(failed.ops), ['phantom'])

    const future = builder()
    future.get('k', [0, 10], ['a', '115-0-n1'])
    future.put('k', 'a', [12, 20], '115-0-n1')
    assert.deepEqual(kinds(future.ops), ['phantom'])

    const tombstone = builder()
    tombstone.put('k', 'a', [0, 10], '100-0-n1')
    const final = new Map([['k', { version: '120-0-n1', tombstone: true, value: null }]])
    assert.deepEqual(kinds(tombstone.ops, { finalState: final }), ['phantom'])
  })

  test('one value seen at a version other than its acknowledged one is a mismatch', () => {
    const h = builder()
    h.put('k', 'a', [0, 10], '100-0-n1')
    h.get('k', [20, 30], ['a', '101-0-n1'])
    assert.deepEqual(kinds(h.ops), ['version-mismatch'])
  })

  test('a value deleted before a read began must not come back, in reads or the final state', () => {
    const h = builder()
    const put = h.put('k', 'a', [0, 10], '100-0-n1')
    const del = h.del('k', [20, 30])
    const read = h.get('k', [40, 50], ['a', '100-0-n1'])
    const result = checkHistory(h.ops, { finalState: new Map([['k', live('a', '100-0-n1')]]) })
    assert.deepEqual(
      result.violations.map((v) => v.kind),
      ['deleted-reappeared', 'deleted-reappeared'],
    )
    assert.deepEqual(result.violations[0]!.operations, [put, del, read])
    // A read concurrent with the delete may still see the value.
    const concurrent = builder()
    concurrent.put('k', 'a', [0, 10], '100-0-n1')
    concurrent.del('k', [20, 30])
    concurrent.get('k', [25, 50], ['a', '100-0-n1'])
    assert.deepEqual(kinds(concurrent.ops), [])
  })

  test('a coordinator issuing a version not above one it issued earlier is a regression', () => {
    const h = builder()
    const first = h.put('a', 'x', [0, 10], '200-0-n1')
    const second = h.put('b', 'y', [20, 30], '150-0-n1')
    h.put('c', 'z', [5, 8], '100-0-n2', { node: 'n2' }) // another node: its own sequence
    h.put('d', 'w', [9, 40], '199-0-n1') // concurrent with the first: no order
    const { violations } = checkHistory(h.ops)
    assert.deepEqual(
      violations.map((v) => v.kind),
      ['coordinator-regression'],
    )
    assert.deepEqual(violations[0]!.operations, [first, second])
  })

  test('replicas that disagree after healing are reported, agreeing ones are not', () => {
    const agree = new Map([['n1', live('a', '1-0-n1')] as const, ['n2', live('a', '1-0-n1')]])
    const disagree = new Map<string, FinalRecord | null>([
      ['n1', live('a', '1-0-n1')],
      ['n3', null],
    ])
    const violations = checkReplicasAgree(
      new Map([
        ['k', agree],
        ['j', disagree],
      ]),
    )
    assert.deepEqual(
      violations.map((v) => [v.kind, v.key]),
      [['replicas-diverge', 'j']],
    )
    assert.match(formatViolations(violations), /n3: absent/)
  })

  test('a recorded history keeps invocation order, stamps times and refuses a second completion', () => {
    let now = 0
    const history = new History({ nowMs: () => now })
    const id = history.invoke({
      client: 1,
      node: 'n1',
      kind: 'put',
      key: 'k',
      value: 'v',
      consistency: 'quorum',
    })
    now = 5
    history.complete(id, { outcome: 'ok', version: '5-0-n1' })
    assert.equal(history.operations[0]!.completeMs, 5)
    assert.throws(() => history.complete(id, { outcome: 'ok' }), /twice/)
    history.invoke({ client: 2, node: 'n2', kind: 'get', key: 'k', consistency: 'quorum' })
    assert.deepEqual(history.summary(), {
      attempted: 2,
      acknowledged: 1,
      failed: 0,
      unknown: 1,
      writesAcknowledged: 1,
    })
  })
})

// TTLs and conditional puts. History time t maps to wall clock t + 1000 ± 10 here.
const clock = { offsetMs: 1000, uncertaintyMs: 10 }

describe('history checker: TTLs', () => {
  test('a read after the TTL ran out may find nothing; an expired key is not a lost write', () => {
    const h = builder()
    h.put('k', 'a', [0, 10], '1005-0-n1', { expiresAtMs: 1100 })
    h.get('k', [50, 60], ['a', '1005-0-n1']) // live: expires at wall 1100
    h.get('k', [95, 105], null) // possibly expired by its completion (wall 1095..1115)
    h.get('k', [200, 210], null)
    const final = new Map([['k', { ...live('a', '1005-0-n1'), expiresAtMs: 1100 }]])
    assert.deepEqual(kinds(h.ops, { wallClock: clock, finalState: final, finalAtMs: 300 }), [])
    // Absent from the final state: no loss either, once the TTL may have run out.
    const gone = new Map([['k', null]])
    assert.deepEqual(kinds(h.ops, { wallClock: clock, finalState: gone, finalAtMs: 300 }), [])
    // ...but before that, the key missing is a lost write, and a miss is a stale read.
    assert.deepEqual(kinds(h.ops, { wallClock: clock, finalState: gone, finalAtMs: 20 }), [
      'lost-write',
    ])
    const early = builder()
    early.put('k', 'a', [0, 10], '1005-0-n1', { expiresAtMs: 1100 })
    early.get('k', [20, 30], null) // wall at most 1040: certainly live
    assert.deepEqual(kinds(early.ops, { wallClock: clock }), ['stale-read'])
  })

  test('a read that began after the value certainly expired must not return it', () => {
    const h = builder()
    const put = h.put('k', 'a', [0, 10], '1005-0-n1', { expiresAtMs: 1100 })
    const read = h.get('k', [120, 130], ['a', '1005-0-n1']) // every clock >= 1110 at invoke
    const { violations } = checkHistory(h.ops, { wallClock: clock })
    assert.deepEqual(
      violations.map((v) => v.kind),
      ['expired-read'],
    )
    assert.deepEqual(violations[0]!.operations, [put, read])
    // Within the clock uncertainty it is allowed: some node's clock may still read < 1100.
    const edge = builder()
    edge.put('k', 'a', [0, 10], '1005-0-n1', { expiresAtMs: 1100 })
    edge.get('k', [105, 130], ['a', '1005-0-n1'])
    assert.deepEqual(kinds(edge.ops, { wallClock: clock }), [])
    // Without a clock bound nothing is certainly expired.
    assert.deepEqual(kinds(h.ops), [])
  })

  test('expiry never brings an older value back, in reads or the final state', () => {
    const h = builder()
    h.put('k', 'old', [0, 10], '1005-0-n1')
    h.put('k', 'new', [20, 30], '1025-0-n1', { expiresAtMs: 1100 })
    h.get('k', [200, 210], ['old', '1005-0-n1'])
    const final = new Map([['k', live('old', '1005-0-n1')]])
    assert.deepEqual(kinds(h.ops, { wallClock: clock, finalState: final, finalAtMs: 300 }), [
      'stale-read',
      'lost-write',
    ])
  })

  test('a weak put with a TTL explains a miss after a strong put', () => {
    const h = builder()
    h.put('k', 'a', [0, 10], '1005-0-n1')
    h.put('k', 'b', [20, 30], undefined, { consistency: 'one', expiresAtMs: 1060 })
    h.get('k', [100, 110], null)
    assert.deepEqual(kinds(h.ops, { wallClock: clock }), [])
    // A TTL put known to be OLDER than the acknowledged one explains nothing.
    const older = builder()
    older.put('k', 'b', [0, 10], '1001-0-n1', { consistency: 'one', expiresAtMs: 1060 })
    older.put('k', 'a', [20, 30], '1025-0-n1')
    older.get('k', [100, 110], null)
    assert.deepEqual(kinds(older.ops, { wallClock: clock }), ['stale-read'])
  })

  test('replicas agree when the only difference is a record every clock saw expire', () => {
    const expired = { ...live('a', '1005-0-n1'), expiresAtMs: 1100 }
    const byNode = new Map<string, FinalRecord | null>([
      ['n1', expired],
      ['n2', null],
    ])
    assert.deepEqual(checkReplicasAgree(new Map([['k', byNode]]), { expiredBeforeMs: 1200 }), [])
    assert.equal(checkReplicasAgree(new Map([['k', byNode]])).length, 1)
    // An older live value next to the expired one is a divergence.
    const resurrect = new Map<string, FinalRecord | null>([
      ['n1', expired],
      ['n2', live('old', '1001-0-n2')],
    ])
    assert.equal(
      checkReplicasAgree(new Map([['k', resurrect]]), { expiredBeforeMs: 1200 }).length,
      1,
    )
  })
})

describe('history checker: conditional puts', () => {
  test('a put that got 412 (failed) must never be seen', () => {
    const h = builder()
    h.put('k', 'a', [0, 10], '1005-0-n1')
    h.put('k', 'b', [20, 30], undefined, { outcome: 'failed', ifNoneMatch: true })
    h.get('k', [40, 50], ['b', '1025-0-n1'])
    assert.deepEqual(kinds(h.ops), ['phantom'])
  })

  test('If-None-Match acknowledged after a live put completed is a violated condition', () => {
    const h = builder()
    const first = h.put('k', 'a', [0, 10], '1005-0-n1')
    const conditional = h.put('k', 'b', [20, 30], '1025-0-n2', { ifNoneMatch: true })
    const { violations } = checkHistory(h.ops, { wallClock: clock })
    assert.deepEqual(
      violations.map((v) => v.kind),
      ['condition-violated'],
    )
    assert.deepEqual(violations[0]!.operations, [first, conditional])
    // A delete before it, an expiry, or a concurrent write of unknown version explains it.
    const deleted = builder()
    deleted.put('k', 'a', [0, 10], '1005-0-n1')
    deleted.del('k', [12, 15], 'unknown')
    deleted.put('k', 'b', [20, 30], '1025-0-n2', { ifNoneMatch: true })
    assert.deepEqual(kinds(deleted.ops, { wallClock: clock }), [])
    const expiring = builder()
    expiring.put('k', 'a', [0, 10], '1005-0-n1', { expiresAtMs: 1018 })
    expiring.put('k', 'b', [20, 30], '1025-0-n2', { ifNoneMatch: true })
    assert.deepEqual(kinds(expiring.ops, { wallClock: clock }), [])
    const concurrent = builder()
    concurrent.put('k', 'a', [0, 10], '1005-0-n1')
    concurrent.put('k', 'x', [15, 40], undefined)
    concurrent.put('k', 'b', [20, 30], '1025-0-n2', { ifNoneMatch: true })
    assert.deepEqual(kinds(concurrent.ops, { wallClock: clock }), [])
    // A put with a higher version than the conditional one makes it a superseded ("stale") ack.
    const higher = builder()
    higher.put('k', 'a', [0, 10], '1030-0-n1')
    higher.put('k', 'b', [20, 30], '1025-0-n2', { ifNoneMatch: true })
    assert.deepEqual(kinds(higher.ops, { wallClock: clock }), [])
  })

  test('If-Match acknowledged after a newer version completed is a violated condition', () => {
    const h = builder()
    h.put('k', 'a', [0, 10], '1005-0-n1')
    const newer = h.put('k', 'b', [20, 30], '1025-0-n1')
    const conditional = h.put('k', 'c', [40, 50], '1045-0-n2', { ifMatch: '1005-0-n1' })
    const { violations } = checkHistory(h.ops)
    assert.deepEqual(
      violations.map((v) => v.kind),
      ['condition-violated'],
    )
    assert.deepEqual(violations[0]!.operations, [newer, conditional])
    // Matching the newest version is fine; so is a write overlapping the conditional put.
    const ok = builder()
    ok.put('k', 'a', [0, 10], '1005-0-n1')
    ok.put('k', 'b', [20, 30], '1025-0-n1')
    ok.put('k', 'c', [40, 50], '1045-0-n2', { ifMatch: '1025-0-n1' })
    assert.deepEqual(kinds(ok.ops), [])
    const overlapping = builder()
    overlapping.put('k', 'a', [0, 10], '1005-0-n1')
    overlapping.put('k', 'b', [20, 45], '1025-0-n1')
    overlapping.put('k', 'c', [40, 50], '1045-0-n2', { ifMatch: '1005-0-n1' })
    assert.deepEqual(kinds(overlapping.ops), [])
  })
})

/** A correct single-copy register: each op takes effect at one instant inside its interval. */
function registerHistory(
  steps: readonly { kind: 'put' | 'get' | 'delete'; span: number; gap: number }[],
) {
  const ops: Operation[] = []
  let now = 0
  let clock = 1000
  let state: { value: string; version: string } | null = null
  steps.forEach((step, i) => {
    const invokeMs = now
    const effectMs = now + step.span / 2
    const completeMs = now + step.span
    clock = Math.max(clock + 1, 1000 + Math.ceil(effectMs))
    const base = { id: i, client: i % 3, node: `n${(i % 3) + 1}`, key: 'k', consistency: 'quorum' }
    if (step.kind === 'put') {
      const version = `${clock}-0-n${(i % 3) + 1}`
      state = { value: `v${i}`, version }
      ops.push({
        ...base,
        kind: 'put',
        value: `v${i}`,
        invokeMs,
        completeMs,
        outcome: 'ok',
        version,
      })
    } else if (step.kind === 'delete') {
      state = null
      ops.push({ ...base, kind: 'delete', invokeMs, completeMs, outcome: 'ok' })
    } else {
      const s = state as { value: string; version: string } | null
      ops.push({
        ...base,
        kind: 'get',
        invokeMs,
        completeMs,
        outcome: 'ok',
        found: s !== null,
        readValue: s?.value,
        version: s?.version,
      })
    }
    now = completeMs + step.gap
  })
  return ops
}

const stepsArb = fc.array(
  fc.record({
    kind: fc.constantFrom('put' as const, 'put' as const, 'get' as const, 'delete' as const),
    span: fc.integer({ min: 1, max: 20 }),
    gap: fc.integer({ min: 1, max: 5 }),
  }),
  { minLength: 1, maxLength: 40 },
)

describe('history checker properties', () => {
  test('histories of a correct sequential register are never flagged', () => {
    fc.assert(
      fc.property(stepsArb, (steps) => {
        const { violations } = checkHistory(registerHistory(steps))
        assert.deepEqual(violations, [], formatViolations(violations))
      }),
    )
  })

  test('a read moved back to an older acknowledged version is always flagged', () => {
    fc.assert(
      fc.property(stepsArb, fc.nat(), (steps, pick) => {
        const ops = registerHistory(steps)
        const puts = ops.filter((op) => op.kind === 'put')
        // Find a read after at least two puts, and make it return the first one's value.
        const reads = ops.filter(
          (op) => op.kind === 'get' && puts.filter((p) => p.completeMs! < op.invokeMs).length >= 2,
        )
        fc.pre(reads.length > 0)
        const read = reads[pick % reads.length]!
        const before = puts.filter((p) => p.completeMs! < read.invokeMs)
        const old = before[0]!
        Object.assign(read, { found: true, readValue: old.value, version: old.version })
        const flagged = checkHistory(ops).violations.map((v) => v.kind)
        assert.ok(
          flagged.includes('stale-read') || flagged.includes('deleted-reappeared'),
          `not flagged: ${flagged.join(',')}`,
        )
      }),
    )
  })
})
