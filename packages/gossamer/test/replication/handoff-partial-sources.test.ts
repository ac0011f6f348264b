// Goal: hand-off sources follow where the data is. Whole-cluster sim swarm seed 18135
// (docs/simulation.md finding 20): while n6 was down, n3, n4 and n5 left, so writes and deletes
// of partition 5 were acknowledged by n4 and n5 only, which then held the partition as leavers
// handing it off. n6 restarted as the only member and applied its placement with no plan
// (`ownersBeforeStart`), answering every read alone from the copy it had when it went down;
// nodes that rejoined streamed from "the owners minus itself" only (each other, both still
// receiving, and n6), counted those passes as full ones and completed holding a deleted value.
//
// Method: the shared cores driven through real pages, as the drivers drive them: a source
// refuses when `handoffSourceRefusal` says so, otherwise answers with `answerHandoffRequest`,
// marking its pages `partial` when `handoffSourceIsPartial` says its copy may be incomplete.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ownersBeforeStart, planRebalance, Rebalance } from '../../src/replication/rebalance.ts'
import { handoffSourceIsPartial, type PartitionHolding } from '../../src/replication/replica.ts'
import { computePlacement, partitionOf } from '../../src/ring/partitioner.ts'
import type { StoredRecord } from '../../src/storage/engine.ts'
import { MemoryEngine } from '../../src/storage/memory-engine.ts'
import { driveHandoffs, type HandoffSource } from '../helpers/handoff-driver.ts'

const PARTITIONS = 8
const OPTIONS = { partitionCount: PARTITIONS, replicaCount: 3 }
const KEY = 'k3'
const P = partitionOf(KEY, PARTITIONS)

// The seed's records of k3: a put every node saw, and the acknowledged delete that only the
// leavers n4 and n5 took (n6 was down, the rejoined nodes were out of the cluster).
const PUT: StoredRecord = {
  version: { wallMs: 1_700_000_010_113, logical: 0, nodeId: 'n3' },
  value: Uint8Array.of(1),
}
const DELETE: StoredRecord = {
  version: { wallMs: 1_700_000_010_992, logical: 0, nodeId: 'n4' },
  value: null,
}

type Source = HandoffSource

function engineWith(record: StoredRecord | undefined): MemoryEngine {
  const engine = new MemoryEngine()
  if (record !== undefined) engine.writeBatchSync([{ key: KEY, record }])
  return engine
}

/** A source's view of partition P: a complete holder (a leaver handing it off) or a receiver. */
function view(
  self: string,
  kind: 'handing-off' | 'receiving' | 'dropped',
  // The partition's replicas in the source's applied placement: the receiver's (one view), so
  // that the hand-off fence lets it serve.
  replicas: readonly string[] = ['n2', 'n3', 'n6'],
): PartitionHolding {
  return {
    self,
    replicas,
    handoff: kind,
    readQuorum: kind === 'receiving' ? { sources: ['n2', 'n6'], needed: 2 } : undefined,
  }
}

/**
 * Runs the receiver's transfers to the end (`driveHandoffs`, with this seed's key and
 * partition). Returns to whom it sent `handoff-done`, which sources delivered which kind of
 * pass, and the clock at the end.
 */
function run(
  receiver: Rebalance,
  sources: ReadonlyMap<string, Source>,
  target: MemoryEngine,
  options: { nowMs?: number; tickMs?: number; ticks?: number } = {},
) {
  const result = driveHandoffs({
    receiver,
    sources,
    target,
    key: KEY,
    partition: P,
    partitionCount: PARTITIONS,
    ...options,
  })
  return { ...result, done: result.done.map((d) => d.to) }
}

describe('replication/replica: handoffSourceIsPartial', () => {
  const base: PartitionHolding = {
    self: 'n3',
    replicas: ['n2', 'n3', 'n6'],
    handoff: undefined,
    readQuorum: undefined,
  }
  it('a replica with no transfer under way, or an old replica handing off its copy, is complete', () => {
    assert.equal(handoffSourceIsPartial(base), false)
    assert.equal(handoffSourceIsPartial({ ...base, handoff: 'received' }), false)
    assert.equal(
      handoffSourceIsPartial({ ...base, replicas: ['n2', 'n6', 'n7'], handoff: 'handing-off' }),
      false,
    )
  })
  it('a node still streaming the partition in, or handing off a copy cut short, is partial', () => {
    const readQuorum = { sources: ['n2', 'n6'], needed: 2 }
    assert.equal(handoffSourceIsPartial({ ...base, handoff: 'receiving', readQuorum }), true)
    assert.equal(handoffSourceIsPartial({ ...base, handoff: 'pending', readQuorum }), true)
    assert.equal(handoffSourceIsPartial({ ...base, handoff: 'handing-off', readQuorum }), true)
  })
  it('a node that dropped the partition, or holds leftovers of it, is partial', () => {
    assert.equal(
      handoffSourceIsPartial({ ...base, replicas: ['n2', 'n6', 'n7'], handoff: 'dropped' }),
      true,
    )
    assert.equal(handoffSourceIsPartial({ ...base, replicas: ['n2', 'n6', 'n7'] }), true)
  })
})

describe('replication/rebalance: the only member left restarting on its data (sim swarm seed 18135)', () => {
  const PERSISTED = ['n3', 'n4', 'n5', 'n6']
  const before = computePlacement(PERSISTED, OPTIONS)
  const next = computePlacement(['n6'], OPTIONS)

  it('plans from its persisted ownership set and streams the delete in from the leavers', () => {
    const owners = ownersBeforeStart({
      self: 'n6',
      owners: ['n6'],
      storeWasEmpty: false,
      rejoinedAfterRemoval: false,
      persistedOwners: PERSISTED,
    })
    assert.deepEqual(owners, PERSISTED, 'no plan: every read answered from the stale copy alone')
    const plan = planRebalance({
      partitionCount: PARTITIONS,
      oldReplicas: (p) => before.preferenceList(p),
      newReplicas: (p) => next.preferenceList(p),
    })
    const move = plan.moves.find((m) => m.partition === P && m.to === 'n6')
    assert.ok(move !== undefined, 'the partition streams in')
    const receiver = new Rebalance({ self: 'n6' })
    receiver.applyPlan(plan, {
      newReplicas: (p) => next.preferenceList(p),
      holders: ['n3', 'n4', 'n5'],
    })
    assert.equal(receiver.stateOf(P), 'pending', 'not answered as a complete replica')
    // n3 crashed while leaving; n4 and n5 hand the partition off with the delete.
    const replicas = next.preferenceList(P) // ['n6']: the leavers know n6 is the only member
    const sources = new Map<string, Source>([
      [
        'n3',
        { engine: engineWith(PUT), view: view('n3', 'handing-off', replicas), reachable: false },
      ],
      [
        'n4',
        { engine: engineWith(DELETE), view: view('n4', 'handing-off', replicas), reachable: true },
      ],
      [
        'n5',
        { engine: engineWith(DELETE), view: view('n5', 'handing-off', replicas), reachable: true },
      ],
    ])
    const target = engineWith(PUT) // n6's copy from before it went down
    const result = run(receiver, sources, target)
    assert.equal(receiver.stateOf(P), 'received')
    assert.deepEqual(target.getRecord(KEY), DELETE)
    assert.ok(result.done.includes('n4') && result.done.includes('n5'))
  })
})

describe('replication/rebalance: sources that do not hold the data (sim swarm seed 18135)', () => {
  // n2 rejoined after removal: its old replicas are the owners minus itself, {n3, n6}, both
  // still receiving the partition themselves with the put only. The delete is on the leavers.
  function rejoined(holders: readonly string[]) {
    const receiver = new Rebalance({ self: 'n2' })
    receiver.applyPlan(
      { moves: [{ partition: P, to: 'n2', sources: ['n3', 'n6'] }], drops: [] },
      { newReplicas: () => ['n2', 'n3', 'n6'], holders },
    )
    return receiver
  }

  it('a pass from a source still receiving the partition is merged but does not count; the holders give the passes', () => {
    const receiver = rejoined(['n4', 'n5'])
    const sources = new Map<string, Source>([
      ['n3', { engine: engineWith(PUT), view: view('n3', 'receiving'), reachable: true }],
      ['n6', { engine: engineWith(PUT), view: view('n6', 'receiving'), reachable: true }],
      ['n4', { engine: engineWith(DELETE), view: view('n4', 'handing-off'), reachable: true }],
      ['n5', { engine: engineWith(DELETE), view: view('n5', 'handing-off'), reachable: true }],
    ])
    const target = new MemoryEngine()
    const result = run(receiver, sources, target)
    assert.deepEqual(result.passes, [
      { from: 'n3', partial: true },
      { from: 'n6', partial: true },
      { from: 'n4', partial: false },
      { from: 'n5', partial: false },
    ])
    assert.equal(receiver.stateOf(P), 'received')
    assert.deepEqual(target.getRecord(KEY), DELETE, 'the deleted value must not come back')
    assert.deepEqual(result.done.sort(), ['n4', 'n5'], 'the holders learn it is done')
  })

  it('stops at the needed complete passes: holders are asked only when the old replicas fall short', () => {
    const receiver = rejoined(['n4', 'n5'])
    const sources = new Map<string, Source>([
      ['n3', { engine: engineWith(DELETE), view: view('n3', 'handing-off'), reachable: true }],
      ['n6', { engine: engineWith(DELETE), view: view('n6', 'handing-off'), reachable: true }],
      ['n4', { engine: engineWith(DELETE), view: view('n4', 'handing-off'), reachable: true }],
    ])
    const result = run(receiver, sources, new MemoryEngine())
    assert.deepEqual(
      result.passes.map((p) => p.from),
      ['n3', 'n6'],
    )
  })

  it('with no complete holder left, completes with the union of every pass once every candidate answered', () => {
    // The leaver n4 drained its copy to the new replicas and dropped it; n3 and n6 are still
    // receiving. Refusing partial sources outright deadlocked here; the union completes.
    const receiver = rejoined(['n4'])
    const sources = new Map<string, Source>([
      ['n3', { engine: engineWith(DELETE), view: view('n3', 'receiving'), reachable: true }],
      ['n6', { engine: engineWith(PUT), view: view('n6', 'receiving'), reachable: true }],
      ['n4', { engine: new MemoryEngine(), view: view('n4', 'dropped'), reachable: true }],
    ])
    const target = new MemoryEngine()
    const result = run(receiver, sources, target)
    assert.deepEqual(
      result.passes.map((p) => p.partial),
      [true, true, true],
    )
    assert.equal(receiver.stateOf(P), 'received')
    assert.deepEqual(target.getRecord(KEY), DELETE, 'the newest record any source held')
    assert.deepEqual(result.done, ['n4'])
  })

  it('waits requestTimeoutMs for an unreachable candidate before settling for the union', () => {
    const receiver = rejoined(['n4'])
    const sources = new Map<string, Source>([
      ['n3', { engine: engineWith(PUT), view: view('n3', 'receiving'), reachable: true }],
      ['n6', { engine: engineWith(PUT), view: view('n6', 'receiving'), reachable: true }],
      ['n4', { engine: engineWith(DELETE), view: view('n4', 'handing-off'), reachable: false }],
    ])
    const target = new MemoryEngine()
    // 1 s per tick, 10 s request timeout: not received within the first few seconds.
    run(receiver, sources, target, { tickMs: 1_000, ticks: 5 })
    assert.equal(receiver.stateOf(P), 'receiving', 'the holder may come back')
    // It comes back in time: its complete pass is taken.
    sources.get('n4')!.reachable = true
    const back = run(receiver, sources, target, { nowMs: 5_000, tickMs: 1_000, ticks: 30 })
    assert.equal(receiver.stateOf(P), 'received')
    assert.deepEqual(target.getRecord(KEY), DELETE)
    assert.deepEqual(back.passes, [{ from: 'n4', partial: false }])

    // It does not: after the wait the transfer completes with what it merged.
    const other = rejoined(['n4'])
    sources.get('n4')!.reachable = false
    const alone = new MemoryEngine()
    const result = run(other, sources, alone, { tickMs: 1_000, ticks: 40 })
    assert.equal(other.stateOf(P), 'received')
    assert.ok(result.nowMs >= 10_000, `completed at ${result.nowMs} ms`)
    assert.deepEqual(alone.getRecord(KEY), PUT)
  })

  it('never settles for the union while an old replica of the plan has not answered', () => {
    // n6 (an old replica) is unreachable; n3 answered partially and the holder n4 has dropped
    // its copy. The delete may be on n6 alone among the old replicas, and n6 drops its copy
    // once this node says done: the transfer waits for it however long it takes.
    const receiver = rejoined(['n4'])
    const sources = new Map<string, Source>([
      ['n3', { engine: engineWith(PUT), view: view('n3', 'receiving'), reachable: true }],
      ['n6', { engine: engineWith(DELETE), view: view('n6', 'handing-off'), reachable: false }],
      ['n4', { engine: new MemoryEngine(), view: view('n4', 'dropped'), reachable: true }],
    ])
    const target = new MemoryEngine()
    const waited = run(receiver, sources, target, { tickMs: 1_000, ticks: 120 })
    assert.equal(receiver.stateOf(P), 'receiving', `settled at ${waited.nowMs} ms without n6`)
    assert.deepEqual(waited.done, [], 'nobody is told to drop')
    sources.get('n6')!.reachable = true
    const back = run(receiver, sources, target, { nowMs: waited.nowMs, tickMs: 1_000, ticks: 30 })
    assert.equal(receiver.stateOf(P), 'received')
    assert.deepEqual(target.getRecord(KEY), DELETE, 'the old replica gave the delete')
    assert.deepEqual(back.passes, [{ from: 'n6', partial: false }])
  })
})
