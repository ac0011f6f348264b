// Goal: a replica acknowledges a put only for a partition it holds. `handlePut` answers a replica
// put `refused` (nothing written) when the node does not hold the key's partition in its applied
// placement — the same rule `routeGet` follows for gets (`partitionRefusal`, shared) — and the
// coordinator counts such a refusal as a failed replica, never as an ack. Whole-cluster sim swarm
// seed 2050: a node still under the placement before a leave acknowledged a put from a
// coordinator under the new one, and a read it then coordinated under its old placement missed
// the acknowledged write. Hinted puts (to a fallback) are stored as hints whatever the fallback's
// placement says.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { WriteCoordinator } from '../../src/replication/coordinator.ts'
import { HintedHandoff } from '../../src/replication/hinted-handoff.ts'
import type { PutMessage } from '../../src/replication/messages.ts'
import type { HandoffState } from '../../src/replication/rebalance.ts'
import {
  handlePut,
  type PartitionHolding,
  partitionRefusal,
  routeGet,
} from '../../src/replication/replica.ts'
import type { StoredRecord } from '../../src/storage/engine.ts'

const record: StoredRecord = {
  version: { wallMs: 1_000, logical: 0, nodeId: 'a' },
  value: new TextEncoder().encode('v'),
}
const put: PutMessage = { type: 'put', requestId: 5, key: 'k', record }
const empty = { getRecord: () => undefined }

const holding: PartitionHolding = {
  self: 'd',
  replicas: ['a', 'b', 'd'],
  handoff: undefined,
  readQuorum: undefined,
}
const notReplica: PartitionHolding = { ...holding, replicas: ['a', 'b', 'c'] }

function putAt(partition: PartitionHolding, message: PutMessage = put) {
  const hints = new HintedHandoff()
  const step = handlePut({ store: empty, hints, from: 'coord', message, partition })
  const reply = [...step.send, ...step.persist.flatMap((p) => p.thenSend)].find(
    (out) => out.to === 'coord',
  )?.message
  const hintReply = step.hintPersist.flatMap((h) => h.thenSend)[0]?.message
  return { step, hints, reply: reply ?? hintReply }
}

const status = (reply: unknown) => (reply as { status?: string } | undefined)?.status

describe('replication/replica: handlePut refuses partitions it does not hold', () => {
  it('a replica in its applied placement writes the record and acks once durable', () => {
    const { step, reply } = putAt(holding)
    assert.equal(step.persist.length, 1)
    assert.deepEqual(
      step.persist[0]?.entries.map((e) => e.key),
      ['k'],
    )
    assert.equal(step.send.length, 0, 'no reply before the write is durable')
    assert.equal(status(reply), 'applied')
  })

  it('a node not a replica of the partition in its applied placement refuses and writes nothing', () => {
    const { step, reply } = putAt(notReplica)
    assert.equal(step.persist.length, 0)
    assert.equal(step.hintPersist.length, 0)
    assert.equal(status(reply), 'refused')
    assert.equal((reply as { requestId?: number }).requestId, 5)
  })

  it('a node with no placement applied yet refuses', () => {
    const { step, reply } = putAt({ ...holding, replicas: undefined })
    assert.equal(step.persist.length, 0)
    assert.equal(status(reply), 'refused')
  })

  it('an old replica still handing the partition off refuses, as once it dropped it', () => {
    // Its copy is about to be dropped and its receivers may have streamed past the key: an ack
    // from it is no copy under the new placement. A coordinator that still sends it puts has
    // not heard of the change (swarm seed 4183: a write=all counted a leaving node's ack).
    for (const handoff of ['handing-off', 'dropped'] as const) {
      const { step, reply } = putAt({ ...notReplica, handoff })
      assert.equal(status(reply), 'refused', handoff)
      assert.equal(step.persist.length, 0, handoff)
    }
    const incomplete = { sources: ['a', 'b', 'c'], needed: 2 }
    const cutShort = putAt({ ...notReplica, handoff: 'handing-off', readQuorum: incomplete })
    assert.equal(status(cutShort.reply), 'refused')
  })

  it('a joining node accepts puts for the partitions it is receiving (pending, receiving, received)', () => {
    const readQuorum = { sources: ['a', 'b', 'c'], needed: 2 }
    for (const handoff of ['pending', 'receiving'] as const) {
      const { step, reply } = putAt({ ...holding, handoff, readQuorum })
      assert.equal(status(reply), 'applied', handoff)
      assert.equal(step.persist.length, 1, handoff)
    }
    assert.equal(status(putAt({ ...holding, handoff: 'received' }).reply), 'applied')
  })

  it('a hinted put to a fallback (not a replica, or no placement) is stored as a hint, not refused', () => {
    for (const partition of [notReplica, { ...holding, replicas: undefined }]) {
      const { step, hints, reply } = putAt(partition, { ...put, hintFor: 'c' })
      assert.equal(step.persist.length, 0, 'no record in the data store')
      assert.equal(step.hintPersist.length, 1)
      assert.equal(hints.pendingCount('c'), 1)
      assert.equal(status(reply), 'applied')
    }
  })

  it('puts and gets share one rule: a put is refused exactly when a get is refused', () => {
    const handoffs: Array<HandoffState | undefined> = [
      undefined,
      'pending',
      'receiving',
      'received',
      'handing-off',
      'dropped',
    ]
    const replicaSets = [undefined, ['a', 'b', 'd'], ['a', 'b', 'c']]
    const quorums = [undefined, { sources: ['a', 'b'], needed: 1 }]
    let cases = 0
    for (const replicas of replicaSets) {
      for (const handoff of handoffs) {
        for (const readQuorum of quorums) {
          const view: PartitionHolding = { self: 'd', replicas, handoff, readQuorum }
          const getRefused = routeGet({ ...view, forwarded: false }).kind === 'refuse'
          const putRefused = status(putAt(view).reply) === 'refused'
          assert.equal(putRefused, getRefused, JSON.stringify(view))
          assert.equal(partitionRefusal(view) !== undefined, putRefused, JSON.stringify(view))
          cases += 1
        }
      }
    }
    assert.equal(cases, 36)
  })
})

describe('replication/coordinator: a replica refusal is a failed replica', () => {
  const request = (fallbacks: string[]) =>
    new WriteCoordinator({
      requestId: 5,
      key: 'k',
      value: new Uint8Array([1]),
      w: 'quorum',
      replicas: ['a', 'b', 'c'],
      fallbacks,
      isReachable: () => true,
      hlc: { now: () => ({ wallMs: 1_000, logical: 0, nodeId: 'coord' }) },
      nowMs: 1_000,
      deadlineMs: 2_000,
    })
  const reply = (s: 'applied' | 'refused') =>
    ({ type: 'put-reply', requestId: 5, status: s }) as const

  it('one ack and two refusals miss W: QUORUM_NOT_REACHED (an unknown outcome), not an ack', () => {
    const coordinator = request([])
    coordinator.start()
    assert.equal(coordinator.onReply('a', reply('applied'), 1_001).completed, undefined)
    assert.equal(coordinator.onReply('b', reply('refused'), 1_002).completed, undefined)
    const done = coordinator.onReply('c', reply('refused'), 1_003).completed
    assert.ok(done !== undefined && !done.ok)
    assert.equal(done.ok ? undefined : done.error.code, 'GOSSAMER_ERR_QUORUM_NOT_REACHED')
  })

  it("a refusing replica's copy goes to a fallback as a hint for it, which does not count as an ack", () => {
    const coordinator = request(['e'])
    coordinator.start()
    const step = coordinator.onReply('b', reply('refused'), 1_001)
    const hinted = step.send.map((out) => ({
      to: out.to,
      hintFor: (out.message as PutMessage).hintFor,
    }))
    assert.deepEqual(hinted, [{ to: 'e', hintFor: 'b' }])
    assert.equal(coordinator.onReply('e', reply('applied'), 1_002).completed, undefined)
    assert.equal(coordinator.onReply('a', reply('applied'), 1_003).completed, undefined)
    const done = coordinator.onReply('c', reply('applied'), 1_004).completed
    assert.ok(done?.ok, 'W reached by the true replicas a and c')
  })
})
