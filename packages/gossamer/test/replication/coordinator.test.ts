import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import type { Version } from '../../src/hlc/version.ts'
import {
  type Consistency,
  parseConsistency,
  requiredCount,
} from '../../src/replication/consistency.ts'
import {
  ReadCoordinator,
  type ReadRequest,
  WriteCoordinator,
  type WriteRequest,
} from '../../src/replication/coordinator.ts'
import type { Outgoing, PutMessage } from '../../src/replication/messages.ts'
import type { StoredRecord } from '../../src/storage/engine.ts'

const T0 = 1_000_000

function fixedHlc(wallMs = T0): { now(): Version } {
  let logical = 0
  return { now: () => ({ wallMs, logical: logical++, nodeId: 'coord' }) }
}

function writeRequest(overrides: Partial<WriteRequest> = {}): WriteRequest {
  return {
    requestId: 7,
    key: 'k',
    value: new Uint8Array([1]),
    w: 'quorum',
    replicas: ['a', 'b', 'c'],
    fallbacks: ['d', 'e'],
    isReachable: () => true,
    hlc: fixedHlc(),
    nowMs: T0,
    deadlineMs: T0 + 100,
    ...overrides,
  }
}

function readRequest(overrides: Partial<ReadRequest> = {}): ReadRequest {
  return {
    requestId: 9,
    key: 'k',
    r: 'quorum',
    replicas: ['a', 'b', 'c'],
    isReachable: () => true,
    nowMs: T0,
    deadlineMs: T0 + 100,
    ...overrides,
  }
}

function record(wallMs: number, value: string | null, nodeId = 'x'): StoredRecord {
  return {
    version: { wallMs, logical: 0, nodeId },
    value: value === null ? null : new TextEncoder().encode(value),
  }
}

const ack = (requestId = 7) => ({ type: 'put-reply', requestId, status: 'applied' }) as const

describe('replication/consistency', () => {
  it('requires 1, a majority, or all of N replicas, and a number as given', () => {
    assert.deepEqual(
      [1, 2, 3, 5].map((n) => [
        requiredCount('one', n),
        requiredCount('quorum', n),
        requiredCount('all', n),
      ]),
      [
        [1, 1, 1],
        [1, 2, 2],
        [1, 2, 3],
        [1, 3, 5],
      ],
    )
    assert.equal(requiredCount(2, 3), 2)
    assert.throws(() => requiredCount(0, 3), RangeError)
    assert.equal(parseConsistency('quorum'), 'quorum')
    assert.equal(parseConsistency('3'), 3)
    assert.equal(parseConsistency('0'), undefined)
    assert.equal(parseConsistency('two'), undefined)
  })

  it('every quorum read overlaps every quorum write for any N', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), (n) => {
        return requiredCount('quorum', n) * 2 > n
      }),
    )
  })
})

describe('replication/coordinator: writes', () => {
  it('stamps the record with the coordinator clock and sends it to every replica', () => {
    const coordinator = new WriteCoordinator(writeRequest())
    const step = coordinator.start()
    assert.deepEqual(
      step.send.map((o) => o.to),
      ['a', 'b', 'c'],
    )
    const message = step.send[0]!.message as PutMessage
    assert.equal(message.record.version.nodeId, 'coord')
    assert.equal(message.hintFor, undefined)
    assert.equal(step.completed, undefined)
  })

  for (const [w, needed] of [
    ['one', 1],
    ['quorum', 2],
    ['all', 3],
    [2, 2],
  ] as Array<[Consistency, number]>) {
    it(`w=${w} succeeds exactly at the ${needed}th ack`, () => {
      const coordinator = new WriteCoordinator(writeRequest({ w }))
      coordinator.start()
      const replicas = ['a', 'b', 'c']
      for (let i = 0; i < needed; i++) {
        const step = coordinator.onReply(replicas[i]!, ack(), T0 + 1)
        assert.equal(step.completed !== undefined, i === needed - 1)
      }
      assert.equal(coordinator.result?.ok, true)
    })
  }

  it('a stale ack counts: the replica already holds this or a newer version', () => {
    const coordinator = new WriteCoordinator(writeRequest({ w: 'one' }))
    coordinator.start()
    const step = coordinator.onReply('a', { type: 'put-reply', requestId: 7, status: 'stale' }, T0)
    assert.equal(step.completed?.ok, true)
  })

  it('fails with QUORUM_NOT_REACHED as soon as too many replicas failed and no fallback is left', () => {
    const coordinator = new WriteCoordinator(writeRequest({ fallbacks: [] }))
    coordinator.start()
    assert.equal(coordinator.onFailure('a', T0 + 1).completed, undefined)
    const step = coordinator.onFailure('b', T0 + 2)
    assert.equal(step.completed?.ok, false)
    assert.equal(
      step.completed?.ok === false && step.completed.error.code,
      'GOSSAMER_ERR_QUORUM_NOT_REACHED',
    )
  })

  it('fails with TIMEOUT at the deadline when acks are missing, with per-replica details', () => {
    const coordinator = new WriteCoordinator(writeRequest())
    coordinator.start()
    coordinator.onReply('a', ack(), T0 + 1)
    assert.equal(coordinator.tick(T0 + 99).completed, undefined)
    const done = coordinator.tick(T0 + 100).completed
    assert.ok(done !== undefined && !done.ok)
    assert.equal(done.error.code, 'GOSSAMER_ERR_TIMEOUT')
    assert.equal(done.error.received, 1)
    assert.equal(done.error.required, 2)
    assert.deepEqual(
      done.error.replicas.map((r) => r.status),
      ['acked', 'failed', 'failed'],
    )
  })

  it('sends an unreachable replica’s copy to the first reachable fallback with a hint', () => {
    const coordinator = new WriteCoordinator(
      writeRequest({ isReachable: (node) => node !== 'b' && node !== 'd' }),
    )
    const sent = coordinator.start().send
    assert.deepEqual(
      sent.map((o) => [o.to, (o.message as PutMessage).hintFor]),
      [
        ['a', undefined],
        ['e', 'b'],
        ['c', undefined],
      ],
    )
  })

  it('moves a failing replica to a fallback, even after the write completed', () => {
    const coordinator = new WriteCoordinator(writeRequest())
    coordinator.start()
    coordinator.onReply('a', ack(), T0 + 1)
    coordinator.onReply('b', ack(), T0 + 1)
    assert.equal(coordinator.result?.ok, true)
    assert.equal(coordinator.isSettled, false)
    const retry = coordinator.onFailure('c', T0 + 2).send
    assert.deepEqual(
      retry.map((o) => [o.to, (o.message as PutMessage).hintFor]),
      [['d', 'c']],
    )
    coordinator.onReply('d', ack(), T0 + 3)
    assert.equal(coordinator.isSettled, true)
  })

  it('does not count hinted acks towards W unless countHintedAcks is set', () => {
    const isReachable = (node: string) => node === 'a' || node === 'd' || node === 'e'
    const strict = new WriteCoordinator(writeRequest({ isReachable }))
    // a plus two hinted fallbacks can never give 2 acks from true replicas: fails at once.
    assert.equal(strict.start().completed?.ok, false)

    const sloppy = new WriteCoordinator(writeRequest({ isReachable, countHintedAcks: true }))
    assert.equal(sloppy.start().completed, undefined)
    sloppy.onReply('d', ack(), T0 + 1)
    assert.equal(sloppy.onReply('e', ack(), T0 + 1).completed?.ok, true)
  })

  it('a refused hint moves on to the next fallback', () => {
    const coordinator = new WriteCoordinator(writeRequest({ isReachable: (n) => n !== 'c' }))
    coordinator.start()
    const step = coordinator.onReply(
      'd',
      { type: 'put-reply', requestId: 7, status: 'refused' },
      T0,
    )
    assert.deepEqual(
      step.send.map((o) => o.to),
      ['e'],
    )
  })

  it('rejections of a conditional write fail it with PRECONDITION_FAILED', () => {
    const coordinator = new WriteCoordinator(writeRequest())
    coordinator.start()
    const rejected = { type: 'put-reply', requestId: 7, status: 'condition_failed' } as const
    coordinator.onReply('a', rejected, T0)
    const done = coordinator.onReply('b', rejected, T0).completed
    assert.equal(done?.ok === false && done.error.code, 'GOSSAMER_ERR_PRECONDITION_FAILED')
  })

  it('completes exactly when W acks count or can no longer count, for any reply order (property)', () => {
    const event = fc.record({
      replica: fc.integer({ min: 0, max: 4 }),
      outcome: fc.constantFrom('ack', 'fail', 'reject'),
    })
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.constantFrom<Consistency>('one', 'quorum', 'all', 2),
        fc.array(event, { maxLength: 12 }),
        (n, w, events) => {
          const replicas = ['r0', 'r1', 'r2', 'r3', 'r4'].slice(0, n)
          const coordinator = new WriteCoordinator(writeRequest({ replicas, fallbacks: [], w }))
          const required = requiredCount(w, n)
          let completions = coordinator.start().completed === undefined ? 0 : 1
          const status = new Map<string, string>()
          for (const { replica, outcome } of events) {
            const node = replicas[replica % n]!
            const step =
              outcome === 'fail'
                ? coordinator.onFailure(node, T0 + 1)
                : coordinator.onReply(
                    node,
                    {
                      type: 'put-reply',
                      requestId: 7,
                      status: outcome === 'ack' ? 'applied' : 'condition_failed',
                    },
                    T0 + 1,
                  )
            if (!status.has(node)) status.set(node, outcome)
            if (step.completed !== undefined) completions += 1
          }
          const acks = [...status.values()].filter((s) => s === 'ack').length
          const pending = n - status.size
          assert.ok(completions <= 1)
          const result = coordinator.result
          if (acks >= required) return result?.ok === true
          if (acks + pending < required) return result !== undefined
          return result === undefined
        },
      ),
    )
  })
})

describe('replication/coordinator: reads', () => {
  function replyTo(
    coordinator: ReadCoordinator,
    node: string,
    value: StoredRecord | undefined,
    nowMs = T0 + 1,
  ) {
    return coordinator.onReply(node, { type: 'get-reply', requestId: 9, record: value }, nowMs)
  }

  it('answers after R replies with the newest version', () => {
    const coordinator = new ReadCoordinator(readRequest())
    assert.equal(coordinator.start().send.length, 3)
    assert.equal(replyTo(coordinator, 'a', record(5, 'old')).completed, undefined)
    const done = replyTo(coordinator, 'b', record(9, 'new')).completed
    assert.ok(done?.ok)
    assert.equal(new TextDecoder().decode(done.record!.value!), 'new')
  })

  it('reads a tombstone or an expired record as not found', () => {
    const deleted = new ReadCoordinator(readRequest({ r: 'one' }))
    deleted.start()
    const done = replyTo(deleted, 'a', record(9, null)).completed
    assert.ok(done?.ok)
    assert.equal(done.record, undefined)
    assert.equal(done.newest?.value, null)

    const expired = new ReadCoordinator(readRequest({ r: 'one' }))
    expired.start()
    const old = { ...record(9, 'v'), expiresAtMs: T0 }
    const result = replyTo(expired, 'a', old, T0 + 1).completed
    assert.ok(result?.ok && result.record === undefined)
  })

  it('repairs stale replicas, including ones that answer after the read completed', () => {
    const coordinator = new ReadCoordinator(readRequest())
    coordinator.start()
    replyTo(coordinator, 'a', record(9, 'new'))
    const completing = replyTo(coordinator, 'b', record(5, 'old'))
    assert.ok(completing.completed?.ok)
    assert.deepEqual(
      completing.send.map((o: Outgoing) => o.to),
      ['b'],
    )
    const late = replyTo(coordinator, 'c', undefined, T0 + 50)
    assert.deepEqual(
      late.send.map((o: Outgoing) => o.to),
      ['c'],
    )
    assert.equal((late.send[0]!.message as PutMessage).record.version.wallMs, 9)
    assert.equal(coordinator.isSettled, true)
  })

  it('a late reply newer than the answer makes the earlier replicas stale too', () => {
    const coordinator = new ReadCoordinator(readRequest())
    coordinator.start()
    replyTo(coordinator, 'a', record(5, 'x'))
    replyTo(coordinator, 'b', record(5, 'x'))
    const late = replyTo(coordinator, 'c', record(7, 'y'))
    assert.deepEqual(late.send.map((o: Outgoing) => o.to).sort(), ['a', 'b'])
  })

  it('fails with QUORUM_NOT_REACHED when too few replicas are reachable', () => {
    const coordinator = new ReadCoordinator(readRequest({ isReachable: (n) => n === 'a' }))
    const done = coordinator.start().completed
    assert.equal(done?.ok === false && done.error.code, 'GOSSAMER_ERR_QUORUM_NOT_REACHED')
  })

  it('fails with TIMEOUT at the deadline and still repairs with what arrived', () => {
    const coordinator = new ReadCoordinator(readRequest({ r: 'all' }))
    coordinator.start()
    replyTo(coordinator, 'a', record(9, 'new'))
    replyTo(coordinator, 'b', record(1, 'old'))
    const step = coordinator.tick(T0 + 100)
    assert.equal(step.completed?.ok === false && step.completed.error.code, 'GOSSAMER_ERR_TIMEOUT')
    assert.deepEqual(
      step.send.map((o: Outgoing) => o.to),
      ['b'],
    )
  })
})
