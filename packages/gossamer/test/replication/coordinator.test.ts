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
  type WriteResult,
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

  const rejected = { type: 'put-reply', requestId: 7, status: 'condition_failed' } as const
  const conditional = (overrides: Partial<WriteRequest> = {}) =>
    new WriteCoordinator(writeRequest({ condition: { kind: 'absent' }, ...overrides }))
  const codeOf = (result: WriteResult | undefined) =>
    result?.ok === false ? result.error.code : result?.ok

  it('a conditional write is a 412 only once every replica it was sent to rejected it', () => {
    const coordinator = conditional()
    coordinator.start()
    assert.equal(coordinator.onReply('a', rejected, T0).completed, undefined)
    // W is out of reach, but c may still apply the put: no answer yet (the old behaviour
    // answered 412 here, and c's copy then spread by last-writer-wins).
    assert.equal(coordinator.onReply('b', rejected, T0).completed, undefined)
    const done = coordinator.onReply('c', rejected, T0 + 1).completed
    assert.equal(codeOf(done), 'GOSSAMER_ERR_PRECONDITION_FAILED')
    assert.equal(coordinator.isSettled, true)
  })

  it('a conditional write that some replica applied below W has an unknown outcome (503), not a 412', () => {
    const coordinator = conditional()
    coordinator.start()
    coordinator.onReply('a', rejected, T0)
    coordinator.onReply('b', rejected, T0)
    const done = coordinator.onReply('c', ack(), T0 + 1).completed
    assert.equal(codeOf(done), 'GOSSAMER_ERR_QUORUM_NOT_REACHED')
    // In any order: the ack first, then the rejections.
    const other = conditional()
    other.start()
    assert.equal(other.onReply('c', ack(), T0).completed, undefined)
    other.onReply('a', rejected, T0)
    assert.equal(
      codeOf(other.onReply('b', rejected, T0).completed),
      'GOSSAMER_ERR_QUORUM_NOT_REACHED',
    )
  })

  it('a conditional write whose put failed in transport or timed out is never a 412', () => {
    // b's call failed: b may have applied the put. W is out of reach at once: unknown outcome.
    const failed = conditional({ fallbacks: [] })
    failed.start()
    failed.onReply('a', rejected, T0)
    assert.equal(codeOf(failed.onFailure('b', T0 + 1).completed), 'GOSSAMER_ERR_QUORUM_NOT_REACHED')
    // c never answers: at the deadline the request times out, it is no 412 either.
    const silent = conditional()
    silent.start()
    silent.onReply('a', rejected, T0)
    silent.onReply('b', rejected, T0)
    assert.equal(silent.tick(T0 + 99).completed, undefined)
    assert.equal(codeOf(silent.tick(T0 + 100).completed), 'GOSSAMER_ERR_TIMEOUT')
  })

  it('a conditional write with every reachable replica rejecting and the rest unreachable is a 412 with no hint', () => {
    const coordinator = conditional({ isReachable: (node) => node !== 'c' })
    const start = coordinator.start()
    // No hinted copy before the outcome is known: a fallback cannot check the condition.
    assert.deepEqual(
      start.send.map((o) => o.to),
      ['a', 'b'],
    )
    coordinator.onReply('a', rejected, T0)
    const step = coordinator.onReply('b', rejected, T0)
    assert.equal(codeOf(step.completed), 'GOSSAMER_ERR_PRECONDITION_FAILED')
    assert.deepEqual(step.send, [], 'no hint is stored for a write that certainly failed')
    assert.equal(coordinator.isSettled, true)
  })

  it('a conditional write sends its deferred hinted copies once it succeeded or its outcome is unknown', () => {
    const ok = conditional({ isReachable: (node) => node !== 'c' })
    ok.start()
    ok.onReply('a', ack(), T0)
    const step = ok.onReply('b', ack(), T0)
    assert.equal(step.completed?.ok, true)
    assert.deepEqual(
      step.send.map((o) => [o.to, (o.message as PutMessage).hintFor]),
      [['d', 'c']],
    )
    assert.equal(ok.isSettled, false)
    ok.onReply('d', ack(), T0 + 1)
    assert.equal(ok.isSettled, true)

    // b fails mid-request (it may have applied the put): unknown outcome, and b's copy still
    // goes to a fallback, as for any write that may have happened.
    const unknown = conditional({ isReachable: (node) => node !== 'c' })
    unknown.start()
    unknown.onReply('a', rejected, T0)
    const failed = unknown.onFailure('b', T0 + 1)
    assert.equal(codeOf(failed.completed), 'GOSSAMER_ERR_QUORUM_NOT_REACHED')
    assert.deepEqual(
      failed.send.map((o) => [o.to, (o.message as PutMessage).hintFor]),
      [
        ['d', 'b'],
        ['e', 'c'],
      ],
    )
  })

  it('hinted acks never count towards W for a conditional write, even with countHintedAcks', () => {
    const isReachable = (node: string) => node === 'a' || node === 'd' || node === 'e'
    const applied = conditional({ isReachable, countHintedAcks: true })
    const start = applied.start()
    assert.deepEqual(
      start.send.map((o) => o.to),
      ['a'],
    )
    // Only a can count towards W = 2; the request waits for a, whose answer decides.
    assert.equal(start.completed, undefined)
    const step = applied.onReply('a', ack(), T0)
    assert.equal(codeOf(step.completed), 'GOSSAMER_ERR_QUORUM_NOT_REACHED')
    // a applied it: the write may have happened, so b's and c's copies go out as hints.
    assert.deepEqual(
      step.send.map((o) => [o.to, (o.message as PutMessage).hintFor]),
      [
        ['d', 'b'],
        ['e', 'c'],
      ],
    )
    const refused = conditional({ isReachable, countHintedAcks: true })
    refused.start()
    const rejectedStep = refused.onReply('a', rejected, T0)
    assert.equal(codeOf(rejectedStep.completed), 'GOSSAMER_ERR_PRECONDITION_FAILED')
    assert.deepEqual(rejectedStep.send, [])
  })

  it('a conditional write that reached no replica fails without storing a hint', () => {
    const coordinator = conditional({ isReachable: (node) => node === 'd' || node === 'e' })
    const start = coordinator.start()
    assert.equal(codeOf(start.completed), 'GOSSAMER_ERR_QUORUM_NOT_REACHED')
    assert.deepEqual(start.send, [])
  })

  it('completes exactly when W acks count or can no longer count, and answers 412 only when nothing may have been applied (property)', () => {
    const event = fc.record({
      replica: fc.integer({ min: 0, max: 4 }),
      outcome: fc.constantFrom('ack', 'fail', 'reject'),
    })
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.constantFrom<Consistency>('one', 'quorum', 'all', 2),
        fc.boolean(),
        fc.array(event, { maxLength: 12 }),
        (n, w, isConditional, events) => {
          const replicas = ['r0', 'r1', 'r2', 'r3', 'r4'].slice(0, n)
          const condition = isConditional ? ({ kind: 'absent' } as const) : undefined
          const coordinator = new WriteCoordinator(
            writeRequest({ replicas, fallbacks: [], w, condition }),
          )
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
          const outcomes = [...status.values()]
          const acks = outcomes.filter((s) => s === 'ack').length
          const maybeApplied = outcomes.some((s) => s === 'ack' || s === 'fail')
          const rejected = outcomes.includes('reject')
          const pending = n - status.size
          assert.ok(completions <= 1)
          const result = coordinator.result
          if (acks >= required) return result?.ok === true
          if (acks + pending >= required) return result === undefined
          // W is out of reach: the request waits only while puts it could still answer 412
          // for (nothing applied yet) are awaited.
          const waits = !maybeApplied && pending > 0 && (rejected || isConditional)
          if (waits) return result === undefined
          if (result === undefined || result.ok) return false
          const is412 = result.error.code === 'GOSSAMER_ERR_PRECONDITION_FAILED'
          const certain = rejected && !maybeApplied && pending === 0
          // A 412 only when certain; a conditional write (it waited for every answer) always
          // says 412 when it is. (An unconditional one may have completed before rejections.)
          return isConditional ? is412 === certain : !is412 || certain
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

  describe('an unusable answer (a record beyond the clock-skew bound)', () => {
    const outcomeOf = (done: ReturnType<typeof replyTo>['completed']) =>
      done?.ok ? new TextDecoder().decode(done.record!.value!) : done?.error.code

    it('r=quorum: does not make up a quorum with a replica that missed the write', () => {
      const coordinator = new ReadCoordinator(readRequest())
      coordinator.start()
      assert.equal(replyTo(coordinator, 'a', record(5, 'old')).completed, undefined)
      assert.equal(coordinator.onUnusableReply('c', T0 + 1).completed, undefined)
      assert.equal(outcomeOf(replyTo(coordinator, 'b', record(9, 'new')).completed), 'new')
    })

    it('r=quorum: fails when the other replicas cannot answer', () => {
      const coordinator = new ReadCoordinator(readRequest())
      coordinator.start()
      replyTo(coordinator, 'a', record(5, 'old'))
      coordinator.onUnusableReply('c', T0 + 1)
      const done = coordinator.onFailure('b', T0 + 2).completed
      assert.equal(outcomeOf(done), 'GOSSAMER_ERR_QUORUM_NOT_REACHED')
    })

    it('r=all: answers when every replica answered and a quorum of them usably', () => {
      const coordinator = new ReadCoordinator(readRequest({ r: 'all' }))
      coordinator.start()
      coordinator.onUnusableReply('c', T0 + 1)
      replyTo(coordinator, 'a', record(5, 'old'))
      const step = replyTo(coordinator, 'b', record(9, 'new'))
      assert.equal(outcomeOf(step.completed), 'new')
      assert.ok(step.completed?.ok && step.completed.replies === 3)
      // Read repair goes to the usable stale replica only, never to the unusable one.
      assert.deepEqual(
        step.send.map((o: Outgoing) => o.to),
        ['a'],
      )
    })

    it('r=all: fails when fewer than a quorum of the answers are usable', () => {
      const coordinator = new ReadCoordinator(readRequest({ r: 'all' }))
      coordinator.start()
      coordinator.onUnusableReply('b', T0 + 1)
      replyTo(coordinator, 'a', record(5, 'old'))
      const done = coordinator.onUnusableReply('c', T0 + 2).completed
      assert.equal(outcomeOf(done), 'GOSSAMER_ERR_QUORUM_NOT_REACHED')
    })

    it('r=one: waits for a usable answer', () => {
      const coordinator = new ReadCoordinator(readRequest({ r: 'one' }))
      coordinator.start()
      assert.equal(coordinator.onUnusableReply('c', T0 + 1).completed, undefined)
      assert.equal(outcomeOf(replyTo(coordinator, 'a', record(5, 'old')).completed), 'old')
    })
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
