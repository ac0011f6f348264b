// Goal: the placement fence costs no availability while an ownership change spreads. A request
// that failed after a replica refused it is coordinated again under the placement
// current then, within its original deadline (`refusalRetryDelayMs`), and a write keeps its
// first version. Without it, adding a sixth node to five failed 17 of 1,299 quorum reads
// (test/cluster/multi-process/add-node.test.ts) while the nodes' views differed.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { ReplicaReport } from '../../src/replication/consistency.ts'
import {
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
