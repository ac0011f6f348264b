// Goal: a write quorum and a read quorum taken under different placement views cannot both
// succeed and miss each other. Every coordinator put and get carries the key's partition's
// replicas in the coordinator's placement (the placement fence), and a replica whose applied
// placement gives the partition other replicas refuses (`placementFenceRefusal`, used by
// `handlePut` and `routeGet`). Whole-cluster sim swarm seed 8093 (docs/simulation.md finding
// 18): n4's leave moved partition 0 from {n6, n7, n1} to {n1, n6, n3}; n2 and n7 had not heard
// of it. A quorum put via n2 was acknowledged by n7 (a replica in its old view) and n1 (a
// replica in both), and a quorum read via n3 answered from n3 and n6, which had missed it.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Version } from '../../src/hlc/version.ts'
import { ReadCoordinator, WriteCoordinator } from '../../src/replication/coordinator.ts'
import { HintedHandoff } from '../../src/replication/hinted-handoff.ts'
import type { GetMessage, PutMessage } from '../../src/replication/messages.ts'
import {
  handleGet,
  handlePut,
  type PartitionHolding,
  placementFenceRefusal,
  routeGet,
} from '../../src/replication/replica.ts'
import type { StoredRecord } from '../../src/storage/engine.ts'

const OLD = ['n6', 'n7', 'n1'] // partition 0 before n4's leave (n2's and n7's view)
const NEW = ['n1', 'n6', 'n3'] // after it (n1's, n3's and n6's view)
const views: Record<string, readonly string[]> = { n1: NEW, n3: NEW, n6: NEW, n7: OLD }

function holding(self: string): PartitionHolding {
  return { self, replicas: views[self], handoff: undefined, readQuorum: undefined }
}

/** Each node's store: k5 at the version acknowledged just before (c1-122 via n3). */
const stores = new Map<string, Map<string, StoredRecord>>()
const older: StoredRecord = {
  version: { wallMs: 6_296, logical: 0, nodeId: 'n3' },
  value: new TextEncoder().encode('c1-122'),
}
for (const node of ['n1', 'n3', 'n6']) stores.set(node, new Map([['k5', older]]))
stores.set('n7', new Map())

function storeOf(node: string) {
  const map = stores.get(node) ?? new Map<string, StoredRecord>()
  return { map, reader: { getRecord: (key: string) => map.get(key) } }
}

/** A replica handles a put: the reply it sends, its write applied at once (durable). */
function deliverPut(to: string, message: PutMessage) {
  const { map, reader } = storeOf(to)
  const step = handlePut({
    store: reader,
    hints: new HintedHandoff(),
    from: 'coord',
    message,
    partition: holding(to),
  })
  for (const after of step.persist) for (const e of after.entries) map.set(e.key, e.record)
  const sent = [...step.send, ...step.persist.flatMap((p) => p.thenSend)]
  const reply = sent.find((out) => out.to === 'coord')?.message
  assert.ok(reply?.type === 'put-reply')
  return reply
}

/** A replica handles a get: its reply, or undefined when it refuses. */
function deliverGet(to: string, message: GetMessage) {
  const route = routeGet({
    ...holding(to),
    forwarded: false,
    coordinatorReplicas: message.replicas,
  })
  if (route.kind === 'refuse') return undefined
  assert.equal(route.kind, 'local')
  const reply = handleGet({ store: storeOf(to).reader, from: 'coord', message }).message
  assert.ok(reply.type === 'get-reply')
  return reply
}

const newVersion: Version = { wallMs: 6_306, logical: 0, nodeId: 'n2' }

describe('replication: the placement fence (swarm seed 8093)', () => {
  it('a quorum put under a stale view is not acknowledged, and the later quorum read is not stale', () => {
    // n2 coordinates under its old view: replicas {n6, n7, n1}.
    const write = new WriteCoordinator({
      requestId: 45,
      key: 'k5',
      value: new TextEncoder().encode('c1-125'),
      w: 'quorum',
      replicas: OLD,
      fallbacks: [],
      isReachable: () => true,
      hlc: { now: () => newVersion },
      nowMs: 6_306,
      deadlineMs: 6_406,
    })
    const puts = write.start().send
    assert.deepEqual(
      puts.map((out) => (out.message as PutMessage).replicas),
      [OLD, OLD, OLD],
      'every replica put carries the fence',
    )
    let writeResult = write.result
    // In the run n6 had not answered when n7's and n1's acks made the quorum.
    for (const to of ['n7', 'n1', 'n6']) {
      const out = puts.find((p) => p.to === to)
      assert.ok(out !== undefined)
      const reply = deliverPut(to, out.message as PutMessage)
      writeResult = write.onReply(to, reply, 6_310).completed ?? writeResult
    }
    // n7 (old view) applied it; n1 and n6 (new view) refused: one ack, W = 2.
    assert.equal(stores.get('n7')?.get('k5')?.version, newVersion)
    assert.equal(stores.get('n1')?.get('k5')?.version, older.version, 'n1 wrote nothing')
    assert.ok(writeResult !== undefined && !writeResult.ok, 'the write is not acknowledged')
    assert.equal(
      writeResult.ok ? undefined : writeResult.error.code,
      'GOSSAMER_ERR_QUORUM_NOT_REACHED',
    )

    // n3 reads under the new view: {n1, n6, n3} all agree with it and answer.
    const read = new ReadCoordinator({
      requestId: 41,
      key: 'k5',
      r: 'quorum',
      replicas: NEW,
      isReachable: () => true,
      nowMs: 6_402,
      deadlineMs: 6_502,
    })
    let readResult = read.result
    for (const out of read.start().send) {
      const reply = deliverGet(out.to, out.message as GetMessage)
      assert.ok(reply !== undefined, `${out.to} answers a coordinator with its own view`)
      readResult = read.onReply(out.to, reply, 6_404).completed ?? readResult
    }
    // The older value, which is no stale read: the newer write was never acknowledged.
    assert.ok(readResult?.ok)
    assert.deepEqual(readResult.record?.version, older.version)
  })

  it('a get from a coordinator with another view is refused; a stale coordinator gets no quorum', () => {
    const message: GetMessage = { type: 'get', requestId: 7, key: 'k5', replicas: OLD }
    assert.equal(deliverGet('n1', message), undefined)
    assert.equal(deliverGet('n6', message), undefined)
    assert.ok(deliverGet('n7', message) !== undefined)
  })

  it('replica sets compare as sets; no fence (read repair, drain, forwarded get) is not checked', () => {
    const view = holding('n1')
    assert.equal(placementFenceRefusal(view, ['n3', 'n1', 'n6']), undefined)
    assert.equal(placementFenceRefusal(view, undefined), undefined)
    assert.notEqual(placementFenceRefusal(view, ['n1', 'n6']), undefined)
    assert.notEqual(placementFenceRefusal(view, OLD), undefined)
    // A receiver forwards gets to the old replicas, which place the partition by the old view.
    const forwarded = { ...holding('n7'), forwarded: true, coordinatorReplicas: NEW }
    assert.deepEqual(routeGet(forwarded), { kind: 'local' })
  })

  it('hinted puts carry no fence: a fallback stores a hint whatever its placement says', () => {
    const write = new WriteCoordinator({
      requestId: 3,
      key: 'k5',
      value: null,
      w: 'quorum',
      replicas: NEW,
      fallbacks: ['n7'],
      isReachable: (node) => node !== 'n3',
      hlc: { now: () => newVersion },
      nowMs: 1,
      deadlineMs: 100,
    })
    const hinted = write
      .start()
      .send.map((out) => out.message as PutMessage)
      .find((m) => m.hintFor !== undefined)
    assert.equal(hinted?.hintFor, 'n3')
    assert.equal(hinted?.replicas, undefined)
  })
})
