// Goal: the placement fence costs no availability while an ownership change spreads. A request
// that failed after a replica refused it is coordinated again under the placement
// current then, within its original deadline (`refusalRetryDelayMs`), and a write keeps its
// first version. Without it, adding a sixth node to five failed 17 of 1,299 quorum reads
// (test/cluster/multi-process/add-node.test.ts) while the nodes' views differed.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { ReplicaReport } from '../../src/replication/consistency.ts'
import {
  type CoordinatorStep,
  REFUSAL_RETRIES_MAX,
  type ReadResult,
  refusalRetryDelayMs,
  WriteCoordinator,
  type WriteResult,
} from '../../src/replication/coordinator.ts'
import { HintedHandoff } from '../../src/replication/hinted-handoff.ts'
import type { PutMessage } from '../../src/replication/messages.ts'
import { handlePut, type PartitionHolding } from '../../src/replication/replica.ts'

function failedRead(
  statuses: ReadonlyArray<ReplicaReport['status']>,
  options: {
    refused?: number
    code?: 'GOSSAMER_ERR_QUORUM_NOT_REACHED' | 'GOSSAMER_ERR_TIMEOUT'
  } = {},
): ReadResult {
  const refused = options.refused ?? statuses.filter((status) => status === 'failed').length
  return {
    ok: false,
    error: {
      code: options.code ?? 'GOSSAMER_ERR_QUORUM_NOT_REACHED',
      message: 'failed',
      required: 2,
      received: 0,
      replicas: statuses.map((status, i) => ({ node: `n${i + 1}`, status })),
      ...(refused > 0 ? { refused } : {}),
    },
  }
}

describe('replication: refusalRetryDelayMs', () => {
  it('backs off 100, 200, 400, 800 ms, then gives up', () => {
    const result = failedRead(['failed', 'failed', 'replied'])
    const delays = [0, 1, 2, 3, 4].map((retries) =>
      refusalRetryDelayMs({ result, retries, nowMs: 0, deadlineMs: 10_000 }),
    )
    assert.deepEqual(delays, [100, 200, 400, 800, undefined])
    assert.equal(REFUSAL_RETRIES_MAX, 4)
  })

  it('never extends the deadline', () => {
    const result = failedRead(['failed', 'failed', 'replied'])
    assert.equal(
      refusalRetryDelayMs({ result, retries: 0, nowMs: 900, deadlineMs: 1_000 }),
      undefined,
    )
    assert.equal(refusalRetryDelayMs({ result, retries: 2, nowMs: 0, deadlineMs: 400 }), undefined)
  })

  it('does not retry a success, a timeout, a 412, or a request no replica answered', () => {
    const ok: ReadResult = { ok: true, record: undefined, newest: undefined, replies: 2 }
    assert.equal(
      refusalRetryDelayMs({ result: ok, retries: 0, nowMs: 0, deadlineMs: 5_000 }),
      undefined,
    )
    const timeout = failedRead(['failed', 'pending', 'replied'], { code: 'GOSSAMER_ERR_TIMEOUT' })
    assert.equal(
      refusalRetryDelayMs({ result: timeout, retries: 0, nowMs: 0, deadlineMs: 5_000 }),
      undefined,
    )
    const precondition: WriteResult = {
      ok: false,
      version: { wallMs: 1, logical: 0, nodeId: 'n1' },
      error: {
        code: 'GOSSAMER_ERR_PRECONDITION_FAILED',
        message: '412',
        required: 2,
        received: 0,
        replicas: [{ node: 'n1', status: 'rejected' }],
      },
    }
    assert.equal(
      refusalRetryDelayMs({ result: precondition, retries: 0, nowMs: 0, deadlineMs: 5_000 }),
      undefined,
    )
    // Down replicas do not come back in a few hundred ms, and calls that failed or timed out
    // would only hold the client longer: no retry without a refusal.
    const lost = failedRead(['failed', 'failed', 'replied'], { refused: 0 })
    assert.equal(
      refusalRetryDelayMs({ result: lost, retries: 0, nowMs: 0, deadlineMs: 5_000 }),
      undefined,
    )
    const down = failedRead(['unreachable', 'unreachable', 'replied'])
    assert.equal(
      refusalRetryDelayMs({ result: down, retries: 0, nowMs: 0, deadlineMs: 5_000 }),
      undefined,
    )
  })
})

describe('replication: a write retried after fence refusals', () => {
  const OLD = ['a', 'b', 'c']
  const NEW = ['a', 'b', 'd']
  const hlc = { now: () => ({ wallMs: 1_000, logical: 0, nodeId: 'a' }) }
  const fresh = { now: () => ({ wallMs: 2_000, logical: 0, nodeId: 'a' }) }

  function putThrough(
    coordinator: WriteCoordinator,
    views: Record<string, readonly string[]>,
  ): WriteResult | undefined {
    let step = coordinator.start()
    const queue = [...step.send]
    let result = step.completed
    for (let guard = 0; queue.length > 0 && guard < 100; guard++) {
      const out = queue.shift()!
      const holding: PartitionHolding = {
        self: out.to,
        replicas: views[out.to],
        handoff: undefined,
        readQuorum: undefined,
      }
      const replica = handlePut({
        store: { getRecord: () => undefined },
        hints: new HintedHandoff(),
        from: 'a',
        message: out.message as PutMessage,
        partition: holding,
      })
      const sent = [
        ...replica.send,
        ...replica.persist.flatMap((p) => p.thenSend),
        ...(replica.hintPersist ?? []).flatMap((p) => p.thenSend),
      ]
      const reply = sent.find((o) => o.to === 'a')?.message
      assert.ok(reply?.type === 'put-reply')
      step = coordinator.onReply(out.to, reply, 0)
      queue.push(...step.send)
      result ??= step.completed
    }
    return result
  }

  it('the coordinator behind the others is refused, and its retry under the new placement keeps the version', () => {
    // The coordinator still places the partition on OLD; a and b already apply NEW.
    const first = new WriteCoordinator({
      requestId: 1,
      key: 'k',
      value: new Uint8Array([1]),
      w: 'quorum',
      replicas: OLD,
      isReachable: () => true,
      hlc,
      nowMs: 0,
      deadlineMs: 5_000,
    })
    const firstResult = putThrough(first, { a: NEW, b: NEW, c: OLD, d: NEW })
    assert.ok(firstResult !== undefined && !firstResult.ok, 'refused by a and b')
    const delayMs = refusalRetryDelayMs({
      result: firstResult,
      retries: 0,
      nowMs: 10,
      deadlineMs: 5_000,
    })
    assert.equal(delayMs, 100)
    // By then it has learnt the change: the retry goes to NEW with the first version.
    const retry = new WriteCoordinator({
      requestId: 2,
      key: 'k',
      value: new Uint8Array([1]),
      w: 'quorum',
      replicas: NEW,
      isReachable: () => true,
      hlc: fresh,
      version: firstResult.version,
      nowMs: 110,
      deadlineMs: 5_000,
    })
    assert.deepEqual(retry.record.version, firstResult.version)
    const retried = putThrough(retry, { a: NEW, b: NEW, c: OLD, d: NEW })
    assert.ok(retried?.ok, 'acknowledged by the new replicas')
  })
})

/**
 * Whole-cluster sim swarm seed 5096: two If-None-Match puts of k12 through n4, the replicas
 * {n4, n1, n3}. The second one's first attempt found n4 holding the first (condition failed),
 * n1 refused it, and its put to n3 timed out (it may have been applied): an unknown outcome, so
 * the copy for n1 went to the fallback n2 as a hint, delivered later without the condition. Its
 * retry found n4 and n3 rejecting the condition and n1 refusing again, and answered 412; the
 * hint reached n1 and won by last-writer-wins, and the "definitely failed" put became the
 * key's value (a phantom).
 */
describe('replication: a conditional write retried after an unknown outcome (sim swarm seed 5096)', () => {
  const replicas = ['n4', 'n1', 'n3']
  const version = { wallMs: 1_700_000_030_019, logical: 0, nodeId: 'n4' }
  function attempt(input: { retry: boolean; earlierAttemptMayHaveApplied?: boolean }) {
    const write = new WriteCoordinator({
      requestId: 115,
      key: 'k12',
      value: new Uint8Array([57]),
      condition: { kind: 'absent' },
      w: 'quorum',
      replicas,
      fallbacks: ['n2'],
      isReachable: () => true,
      hlc: { now: () => version },
      version,
      ...(input.earlierAttemptMayHaveApplied === undefined
        ? {}
        : { earlierAttemptMayHaveApplied: input.earlierAttemptMayHaveApplied }),
      nowMs: 30_019,
      deadlineMs: 31_019,
    })
    const sent: PutMessage[] = []
    let result: WriteResult | undefined
    const take = (step: CoordinatorStep<WriteResult>) => {
      for (const out of step.send) sent.push(out.message as PutMessage)
      result = step.completed ?? result
    }
    const reply = (from: string, status: 'condition_failed' | 'refused') =>
      take(write.onReply(from, { type: 'put-reply', requestId: 115, status }, 30_100))
    take(write.start())
    reply('n4', 'condition_failed')
    reply('n1', 'refused')
    if (input.retry) reply('n3', 'condition_failed')
    else take(write.onFailure('n3', 30_500)) // timed out: it may have been applied
    return { result, hints: sent.filter((put) => put.hintFor !== undefined) }
  }

  it('the first attempt is an unknown outcome, and its copy for n1 goes to a fallback as a hint', () => {
    const first = attempt({ retry: false })
    assert.ok(first.result !== undefined && !first.result.ok)
    assert.equal(first.result.error.code, 'GOSSAMER_ERR_QUORUM_NOT_REACHED')
    assert.deepEqual(
      first.hints.map((put) => put.hintFor),
      ['n1'],
      'a hint for n1, delivered later without the condition',
    )
    assert.equal(
      refusalRetryDelayMs({ result: first.result, retries: 0, nowMs: 30_500, deadlineMs: 31_019 }),
      100,
    )
  })

  it('without the earlier attempt counted, the retry answers 412 (the failure)', () => {
    const retry = attempt({ retry: true })
    assert.ok(retry.result !== undefined && !retry.result.ok)
    assert.equal(retry.result.error.code, 'GOSSAMER_ERR_PRECONDITION_FAILED')
    assert.deepEqual(retry.hints, [], 'no hint of its own: nothing seems applied')
  })

  it('the retry answers an unknown outcome, never 412', () => {
    const retry = attempt({ retry: true, earlierAttemptMayHaveApplied: true })
    assert.ok(retry.result !== undefined && !retry.result.ok)
    assert.equal(retry.result.error.code, 'GOSSAMER_ERR_QUORUM_NOT_REACHED')
  })
})
