import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Outgoing } from '../../src/replication/messages.ts'
import {
  answerHandoffRequest,
  ownersBeforeStart,
  planRebalance,
  Rebalance,
} from '../../src/replication/rebalance.ts'
import { computePlacement, type Placement, partitionOf } from '../../src/ring/partitioner.ts'
import { MemoryEngine } from '../../src/storage/memory-engine.ts'
import { applyPersist } from './harness.ts'

// Swarm seed 8025 (docs/simulation.md finding 19): n1 crashed as a member of {n1, n2, n3, n4}
// (n5 leaving). While it was down n3 left too, and the placement {n1, n2, n4} made n1 a replica
// of k14's partition, whose acknowledged (expired) TTL record only the leavers n3 and n5 held.
// n1 restarted on its data (other partitions) and applied {n1, n2, n4} with no plan.
const PARTITIONS = 16
const OPTIONS = { partitionCount: PARTITIONS, replicaCount: 3 }
const PERSISTED = ['n1', 'n2', 'n3', 'n4']
const CURRENT = ['n1', 'n2', 'n4']
const KEY = 'k14'

function previousOf(
  input: Partial<Parameters<typeof ownersBeforeStart>[0]>,
): Placement | undefined {
  const owners = ownersBeforeStart({
    self: 'n1',
    owners: CURRENT,
    storeWasEmpty: false,
    rejoinedAfterRemoval: false,
    persistedOwners: PERSISTED,
    ...input,
  })
  return owners === undefined ? undefined : computePlacement(owners, OPTIONS)
}

describe('replication/rebalance: the plan of a member restarting on its data', () => {
  const partition = partitionOf(KEY, PARTITIONS)
  const next = computePlacement(CURRENT, OPTIONS)

  it('is laid out by its persisted ownership set: the partition it gained while down moves to it', () => {
    const before = computePlacement(PERSISTED, OPTIONS)
    assert.deepEqual([...before.preferenceList(partition)].sort(), ['n2', 'n3', 'n4'])
    assert.deepEqual([...next.preferenceList(partition)].sort(), ['n1', 'n2', 'n4'])
    const previous = previousOf({})
    assert.ok(previous !== undefined, 'a member restarting on its data has a plan')
    assert.deepEqual(previous.owners, before.owners)
    const plan = planRebalance({
      partitionCount: PARTITIONS,
      oldReplicas: (p) => previous.preferenceList(p),
      newReplicas: (p) => next.preferenceList(p),
    })
    assert.deepEqual(
      plan.moves.filter((m) => m.partition === partition).map((m) => m.to),
      ['n1'],
    )
    assert.deepEqual(
      plan.drops.filter((d) => d.partition === partition),
      [{ partition, node: 'n3', awaiting: ['n1'] }],
      'the leaver awaits the restarted node, as the leaver planned it',
    )
  })

  it('streams the acknowledged expired record in, which shadows the older copy of a stayer', () => {
    const previous = previousOf({})
    assert.ok(previous !== undefined)
    const plan = planRebalance({
      partitionCount: PARTITIONS,
      oldReplicas: (p) => previous.preferenceList(p),
      newReplicas: (p) => next.preferenceList(p),
    })
    // n2 (down for the put) holds c1-100; n3 acknowledged c1-127, expired by now; n4 is down.
    const older = { version: { wallMs: 6_816, logical: 1, nodeId: 'n4' }, value: Uint8Array.of(1) }
    const acked = {
      version: { wallMs: 13_380, logical: 1, nodeId: 'n3' },
      value: Uint8Array.of(2),
      expiresAtMs: 15_761,
    }
    const sources = new Map([
      ['n2', new MemoryEngine()],
      ['n3', new MemoryEngine()],
    ])
    sources.get('n2')!.writeSync({ key: KEY, record: older })
    sources.get('n3')!.writeSync({ key: KEY, record: acked })
    const nowMs = 18_485
    const receiver = new Rebalance({ self: 'n1' })
    receiver.applyPlan(plan, { newReplicas: (p) => next.preferenceList(p) })
    assert.equal(receiver.stateOf(partition), 'pending', 'not answered as a complete replica')
    const target = new MemoryEngine()
    const queue: Outgoing[] = [...receiver.tick(nowMs, (node) => node !== 'n4').send]
    for (let guard = 0; queue.length > 0 && guard < 1_000; guard++) {
      const out = queue.shift()!
      if (out.message.type !== 'handoff-request') continue
      const source = sources.get(out.to)
      assert.ok(source !== undefined, `asked ${out.to}`)
      const batch = answerHandoffRequest({
        store: source,
        request: out.message,
        partitionOf: (key) => partitionOf(key, PARTITIONS),
        nowMs,
      })
      const step = receiver.onBatch(out.to, batch!, nowMs)
      queue.push(...step.send)
      for (const persist of step.persist) {
        queue.push(...applyPersist(target, persist))
        receiver.onPersisted(persist.page)
      }
      if (queue.length === 0) queue.push(...receiver.tick(nowMs, (node) => node !== 'n4').send)
    }
    assert.equal(receiver.stateOf(partition), 'received')
    assert.deepEqual(target.getRecord(KEY)?.version, acked.version)
  })

  it('has an empty plan when the ownership set did not change while it was down', () => {
    const previous = previousOf({ persistedOwners: CURRENT })
    assert.ok(previous !== undefined)
    const plan = planRebalance({
      partitionCount: PARTITIONS,
      oldReplicas: (p) => previous.preferenceList(p),
      newReplicas: (p) => next.preferenceList(p),
    })
    assert.deepEqual(plan, { moves: [], drops: [] })
  })

  it('keeps the other start rules', () => {
    // An empty store, or a node the cluster had removed: stream in from the others.
    assert.deepEqual(previousOf({ storeWasEmpty: true })?.owners, ['n2', 'n4'])
    assert.deepEqual(previousOf({ rejoinedAfterRemoval: true })?.owners, ['n2', 'n4'])
    // No persisted set, or not a member in it: no plan (as before).
    assert.equal(previousOf({ persistedOwners: undefined }), undefined)
    assert.equal(previousOf({ persistedOwners: ['n2', 'n3', 'n4'] }), undefined)
    // Not an owner of the placement applied, or the only owner with nothing to stream from (an
    // empty store, a rejoin, or no other persisted owner): no plan.
    assert.equal(previousOf({ owners: ['n2', 'n4'] }), undefined)
    assert.equal(previousOf({ owners: ['n1'], storeWasEmpty: true }), undefined)
    assert.equal(previousOf({ owners: ['n1'], rejoinedAfterRemoval: true }), undefined)
    assert.equal(previousOf({ owners: ['n1'], persistedOwners: ['n1'] }), undefined)
    // The only owner left restarting on its data plans from its persisted set like any member
    // (swarm seed 18135; test/replication/handoff-partial-sources.test.ts).
    assert.deepEqual(previousOf({ owners: ['n1'] })?.owners, PERSISTED)
  })
})
