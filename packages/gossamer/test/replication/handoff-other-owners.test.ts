// Goal: a receiver whose plan's sources hold nothing streams from the owners that do hold the
// partition before it settles for the union of partial passes. Whole-cluster sim swarm seed 5442
// (docs/simulation.md finding 21): a power loss struck while n3, n5, n6 and n7 were leaving;
// k18's acknowledged put (partition 7) was durable on n1, n2 and n4, the replicas of {n1, n2,
// n4}. The leavers restarted and rejoined as new owners of {n1..n7}, each planning from "the
// owners minus itself" (`ownersBeforeStart`), so n7 streamed partition 7 from n3, n6 and n5:
// n3 and n6 still receiving it themselves, n5 holding leftovers, all answering partial pages
// without k18. With every candidate answered, n7 settled for the union and said handoff-done;
// n2 (and n1, n4), whose own plan awaits exactly n3, n6 and n7, dropped the partition, and the
// acknowledged write was on no node.
//
// Method: the shared cores driven through real pages, as the drivers drive them (a source
// refuses when `handoffSourceRefusal` says so, otherwise answers with `answerHandoffRequest`,
// marking its pages `partial` by `handoffSourceIsPartial`); the seed's plans come from the real
// `ownersBeforeStart`, `computePlacement` and `planRebalance`.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ownersBeforeStart, planRebalance, Rebalance } from '../../src/replication/rebalance.ts'
import type { PartitionHolding } from '../../src/replication/replica.ts'
import { computePlacement, partitionOf } from '../../src/ring/partitioner.ts'
import type { StoredRecord } from '../../src/storage/engine.ts'
import { MemoryEngine } from '../../src/storage/memory-engine.ts'
import { driveHandoffs, type HandoffSource } from '../helpers/handoff-driver.ts'

const PARTITIONS = 32
const OPTIONS = { partitionCount: PARTITIONS, replicaCount: 3 }
const KEY = 'k18'
const P = partitionOf(KEY, PARTITIONS)
const ALL = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7']
/** The members the holders persisted before the power loss (n3, n5, n6, n7 leaving). */
const STAYERS = ['n1', 'n2', 'n4']

/** The seed's acknowledged put of k18, durable on n1, n2 and n4. */
const PUT: StoredRecord = {
  version: { wallMs: 1_700_000_017_541, logical: 0, nodeId: 'n2' },
  value: Uint8Array.of(85),
}

const next = computePlacement(ALL, OPTIONS)

type Source = HandoffSource

function engineWith(record: StoredRecord | undefined): MemoryEngine {
  const engine = new MemoryEngine()
  if (record !== undefined) engine.writeBatchSync([{ key: KEY, record }])
  return engine
}

/** A source's view of partition P under the placement of every owner. */
function view(
  self: string,
  kind: 'handing-off' | 'receiving' | 'leftovers' | 'unjoined',
  // The partition's replicas in the source's applied placement: the receiver's (one view), so
  // that the hand-off fence lets it serve.
  replicas: readonly string[] = next.preferenceList(P),
) {
  const holding: PartitionHolding = {
    self,
    replicas: kind === 'unjoined' ? undefined : replicas,
    handoff:
      kind === 'handing-off' ? 'handing-off' : kind === 'receiving' ? 'receiving' : undefined,
    readQuorum: kind === 'receiving' ? { sources: ['n5', 'n6', 'n7'], needed: 2 } : undefined,
  }
  return holding
}

/** The plan of partition P a node applies when it joins after the power loss (`#previousFor`). */
function planOf(input: { self: string; rejoined: boolean; persisted: readonly string[] }) {
  const before = ownersBeforeStart({
    self: input.self,
    owners: ALL,
    storeWasEmpty: false,
    rejoinedAfterRemoval: input.rejoined,
    persistedOwners: input.rejoined ? undefined : input.persisted,
  })
  assert.ok(before !== undefined)
  const previous = computePlacement(before, OPTIONS)
  const plan = planRebalance({
    partitionCount: PARTITIONS,
    oldReplicas: (p) => previous.preferenceList(p),
    newReplicas: (p) => next.preferenceList(p),
  })
  // Partition 7 only (the others stream the same way).
  return {
    moves: plan.moves.filter((m) => m.partition === P),
    drops: plan.drops.filter((d) => d.partition === P),
  }
}

/** Runs n7's transfers (`driveHandoffs`), with this seed's key and partition. */
function run(
  receiver: Rebalance,
  sources: ReadonlyMap<string, Source>,
  target: MemoryEngine,
  options: {
    nowMs?: number
    tickMs?: number
    ticks?: number
    isOwner?: (node: string) => boolean
  } = {},
) {
  return driveHandoffs({
    receiver,
    sources,
    target,
    key: KEY,
    partition: P,
    partitionCount: PARTITIONS,
    ...options,
  })
}

/** The seed's sources of partition 7 after the power loss, as n7 finds them. */
function seedSources(options: { n2Reachable?: boolean; n4Reachable?: boolean } = {}) {
  return new Map<string, Source>([
    // The other rejoined leavers: n3 and n6 stream the partition in themselves, n5 is no
    // replica of it (it dropped it before the power loss).
    ['n3', { engine: engineWith(undefined), view: view('n3', 'receiving'), reachable: true }],
    ['n6', { engine: engineWith(undefined), view: view('n6', 'receiving'), reachable: true }],
    ['n5', { engine: engineWith(undefined), view: view('n5', 'leftovers'), reachable: true }],
    // The members that hold it: n2 and n4 hand it off to n3, n6, n7; n1 has not joined yet.
    [
      'n2',
      {
        engine: engineWith(PUT),
        view: view('n2', 'handing-off'),
        reachable: options.n2Reachable ?? true,
      },
    ],
    ['n1', { engine: engineWith(PUT), view: view('n1', 'unjoined'), reachable: true }],
    [
      'n4',
      {
        engine: engineWith(PUT),
        view: view('n4', 'handing-off'),
        reachable: options.n4Reachable ?? true,
      },
    ],
  ])
}

describe('replication/rebalance: receivers ask the other owners before settling (sim swarm seed 5442)', () => {
  it("the seed's plans: n7 guesses n3, n6, n5 as sources; n2 awaits n3, n6, n7", () => {
    assert.equal(P, 7)
    const received = planOf({ self: 'n7', rejoined: true, persisted: [] })
    const move = received.moves.find((m) => m.partition === P && m.to === 'n7')
    assert.deepEqual(move?.sources, ['n3', 'n6', 'n5'])
    const handed = planOf({ self: 'n2', rejoined: false, persisted: STAYERS })
    const drop = handed.drops.find((d) => d.partition === P && d.node === 'n2')
    assert.deepEqual([...(drop?.awaiting ?? [])].sort(), ['n3', 'n6', 'n7'])
  })

  it('n7 takes its passes from the owners handing the partition off, and n2 drops only then', () => {
    const receiver = new Rebalance({ self: 'n7', config: { requestTimeoutMs: 1_000 } })
    receiver.applyPlan(planOf({ self: 'n7', rejoined: true, persisted: [] }), {
      newReplicas: (p) => next.preferenceList(p),
      holders: [],
      owners: next.owners,
    })
    const target = new MemoryEngine()
    const result = run(receiver, seedSources(), target)
    assert.equal(receiver.stateOf(P), 'received')
    assert.deepEqual(
      result.passes.filter((p) => !p.partial).map((p) => p.from),
      ['n2', 'n4'],
      'complete passes from the owners that hold the partition',
    )
    assert.deepEqual(target.getRecord(KEY), PUT, 'the acknowledged put was streamed in')

    // n2's side: its plan awaits n3, n6 and n7; n7's handoff-done (widened by the drivers to
    // every owner that is not a replica) counts, and it may drop once all three said so.
    const holder = new Rebalance({ self: 'n2' })
    holder.applyPlan(planOf({ self: 'n2', rejoined: false, persisted: STAYERS }), {
      newReplicas: (p) => next.preferenceList(p),
      owners: next.owners,
    })
    assert.equal(holder.stateOf(P), 'handing-off')
    assert.ok(result.done.length > 0, 'n7 said done')
    for (const d of result.done) {
      assert.deepEqual(d.held, PUT, `handoff-done to ${d.to} sent before n7 held the put`)
    }
    const step = holder.onHandoffDone('n7', { type: 'handoff-done', partition: P })
    assert.deepEqual(step.drop, [], 'n3 and n6 are still awaited')
    holder.onHandoffDone('n3', { type: 'handoff-done', partition: P })
    const last = holder.onHandoffDone('n6', { type: 'handoff-done', partition: P })
    assert.deepEqual(last.drop, [P])
  })

  it('the other owners are asked only when the old replicas fall short', () => {
    const receiver = new Rebalance({ self: 'n7', config: { requestTimeoutMs: 1_000 } })
    receiver.applyPlan(planOf({ self: 'n7', rejoined: true, persisted: [] }), {
      newReplicas: (p) => next.preferenceList(p),
      owners: next.owners,
    })
    const sources = seedSources()
    // Here n3 and n6 hold complete copies (replicas with no transfer under way).
    for (const name of ['n3', 'n6']) {
      sources.set(name, {
        engine: engineWith(PUT),
        view: {
          self: name,
          replicas: next.preferenceList(P),
          handoff: undefined,
          readQuorum: undefined,
        },
        reachable: true,
      })
    }
    const result = run(receiver, sources, new MemoryEngine())
    assert.equal(receiver.stateOf(P), 'received')
    assert.deepEqual(
      result.passes.map((p) => p.from),
      ['n3', 'n6'],
    )
  })

  it('waits requestTimeoutMs for unreachable owners, then settles for the union', () => {
    const receiver = new Rebalance({ self: 'n7', config: { requestTimeoutMs: 1_000 } })
    receiver.applyPlan(planOf({ self: 'n7', rejoined: true, persisted: [] }), {
      newReplicas: (p) => next.preferenceList(p),
      owners: next.owners,
    })
    const sources = seedSources({ n2Reachable: false, n4Reachable: false })
    // n1 is up and joined here, with nothing of the partition (it is no replica of it).
    sources.set('n1', {
      engine: engineWith(undefined),
      view: view('n1', 'leftovers'),
      reachable: true,
    })
    const target = new MemoryEngine()
    const early = run(receiver, sources, target, { tickMs: 100, ticks: 5 })
    assert.equal(receiver.stateOf(P), 'receiving', 'the owners that hold it may come back')
    assert.deepEqual(early.done, [])
    const later = run(receiver, sources, target, { nowMs: early.nowMs, tickMs: 100, ticks: 40 })
    assert.equal(receiver.stateOf(P), 'received', 'no deadlock: the union after the wait')
    assert.ok(later.nowMs - early.nowMs >= 500, `settled at ${later.nowMs} ms`)
  })
})

describe('replication/rebalance: an old replica that left for good is not waited for (sim swarm seed 2139)', () => {
  // n2 streams partition 1 from its old replicas n1, n5 and n4 (a read quorum: 2). n1 answers
  // partial pages, n4 a complete pass; n5, the third, drained its copy to the new replicas with
  // plain puts (n2 among them), dropped it and left, so it never answers. Waiting for it "as
  // long as it takes" never ended once it was out of the ownership set.
  const replicas = ['n2', 'n3', 'n4']
  function receiverOf() {
    const receiver = new Rebalance({ self: 'n2', config: { requestTimeoutMs: 1_000 } })
    receiver.applyPlan(
      { moves: [{ partition: P, to: 'n2', sources: ['n1', 'n5', 'n4'] }], drops: [] },
      { newReplicas: () => replicas, holders: [], owners: replicas },
    )
    return receiver
  }
  const sources = () =>
    new Map<string, Source>([
      [
        'n1',
        { engine: engineWith(undefined), view: view('n1', 'leftovers', replicas), reachable: true },
      ],
      [
        'n5',
        { engine: engineWith(PUT), view: view('n5', 'handing-off', replicas), reachable: false },
      ],
      [
        'n4',
        { engine: engineWith(PUT), view: view('n4', 'handing-off', replicas), reachable: true },
      ],
      [
        'n3',
        { engine: engineWith(undefined), view: view('n3', 'receiving', replicas), reachable: true },
      ],
    ])

  it('waits for an unreachable old replica while it is an owner', () => {
    const receiver = receiverOf()
    run(receiver, sources(), new MemoryEngine(), { tickMs: 1_000, ticks: 60 })
    assert.equal(receiver.stateOf(P), 'receiving')
  })

  it('settles once it is no owner any more (left or removed)', () => {
    const receiver = receiverOf()
    const target = new MemoryEngine()
    const result = run(receiver, sources(), target, {
      tickMs: 1_000,
      ticks: 60,
      isOwner: (node) => node !== 'n5',
    })
    assert.equal(receiver.stateOf(P), 'received', `still receiving at ${result.nowMs} ms`)
    assert.deepEqual(target.getRecord(KEY), PUT, "n4's complete pass was merged")
  })
})
