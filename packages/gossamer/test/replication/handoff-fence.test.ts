// Goal: hand-off sources are fenced. A `handoff-request` carries the partition's replicas in the
// receiver's applied placement, and a source whose own applied placement gives the partition
// other replicas refuses (`handoffSourceRefusal`, the comparison of `placementFenceRefusal`).
// Without it, an old replica that had not heard of an ownership change served its pages (the
// pass counted), then went on acknowledging puts of coordinators on its old view together with
// another stale old replica: the finished receivers never saw those writes, a quorum read under
// the new placement returned an older value, and the stale replicas, once they learnt the
// change, dropped the partition on the receivers' handoff-done (docs/simulation.md, "Quorums
// under different placement views" (1)).
//
// Method: the real cores, as the drivers bind them: placements from `computePlacement`, plans
// from `planRebalance` applied to `Rebalance`, pages through `answerHandoffRequest` (refused when
// `handoffSourceRefusal` says so: `driveHandoffs`), puts through `WriteCoordinator` and
// `handlePut`, reads through `ReadCoordinator`, `routeGet` and `handleGet`, MemoryEngine stores.
//
// The change: owners {a, b, c} → {a, b, c, d, e} (two joins at once). Partition 1 (key k17)
// moves from {a, b, c} to {e, d, a}: d and e receive it from a read quorum (2) of {a, b, c}; b
// and c drop it. a has heard of the change; b and c have not.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  ReadCoordinator,
  type ReadResult,
  WriteCoordinator,
  type WriteResult,
} from '../../src/replication/coordinator.ts'
import { HintedHandoff } from '../../src/replication/hinted-handoff.ts'
import type { GetMessage, GetReplyMessage, PutMessage } from '../../src/replication/messages.ts'
import { planRebalance, Rebalance } from '../../src/replication/rebalance.ts'
import {
  handleGet,
  handlePut,
  handoffSourceRefusal,
  type PartitionHolding,
  placementFenceRefusal,
  routeGet,
} from '../../src/replication/replica.ts'
import { computePlacement, type Placement, partitionOf } from '../../src/ring/partitioner.ts'
import type { StoredRecord } from '../../src/storage/engine.ts'
import { MemoryEngine } from '../../src/storage/memory-engine.ts'
import { driveHandoffs, type HandoffSource } from '../helpers/handoff-driver.ts'

const PARTITIONS = 8
const OPTIONS = { partitionCount: PARTITIONS, replicaCount: 3 }
const KEY = 'k17'
const P = partitionOf(KEY, PARTITIONS)
const BEFORE = computePlacement(['a', 'b', 'c'], OPTIONS)
const AFTER = computePlacement(['a', 'b', 'c', 'd', 'e'], OPTIONS)
/** One change in between: d joined, e not yet. */
const MIDDLE = computePlacement(['a', 'b', 'c', 'd'], OPTIONS)

const V1: StoredRecord = {
  version: { wallMs: 1_700_000_001_000, logical: 0, nodeId: 'a' },
  value: Uint8Array.of(1),
}
const V2_MS = 1_700_000_002_000
const V3_MS = 1_700_000_003_000

/** The plan of a change, for partition 1 only (the other partitions move alike). */
function planOf(from: Placement, to: Placement) {
  const plan = planRebalance({
    partitionCount: PARTITIONS,
    oldReplicas: (p) => from.preferenceList(p),
    newReplicas: (p) => to.preferenceList(p),
  })
  return {
    moves: plan.moves.filter((move) => move.partition === P),
    drops: plan.drops.filter((drop) => drop.partition === P),
  }
}

/**
 * A receiver that has applied the change, as the drivers apply it. `fenced: false` leaves out
 * the placement (`newReplicas`), so its requests carry no fence: the behaviour before it.
 */
function receiver(self: string, fenced: boolean): Rebalance {
  const rebalance = new Rebalance({ self })
  rebalance.applyPlan(planOf(BEFORE, AFTER), {
    ...(fenced ? { newReplicas: (p: number) => AFTER.preferenceList(p) } : {}),
    holders: [],
    owners: AFTER.owners,
  })
  return rebalance
}

/** The cluster's nodes: stores, and each node's view of partition 1. */
function cluster(fenced = true) {
  const engines = new Map<string, MemoryEngine>()
  for (const node of ['a', 'b', 'c', 'd', 'e']) {
    const engine = new MemoryEngine()
    if (['a', 'b', 'c'].includes(node)) engine.writeBatchSync([{ key: KEY, record: V1 }])
    engines.set(node, engine)
  }
  const d = receiver('d', fenced)
  const e = receiver('e', fenced)
  const learnt = new Set(['a', 'd', 'e'])
  const view = (self: string): PartitionHolding => {
    if (!learnt.has(self)) {
      // Not heard of the joins: a plain replica of {a, b, c}.
      return { self, replicas: BEFORE.preferenceList(P), handoff: undefined, readQuorum: undefined }
    }
    const rebalance = self === 'd' ? d : self === 'e' ? e : undefined
    const dropping = planOf(BEFORE, AFTER).drops.some((x) => x.partition === P && x.node === self)
    return {
      self,
      replicas: AFTER.preferenceList(P),
      handoff: rebalance?.stateOf(P) ?? (dropping ? 'handing-off' : undefined),
      readQuorum: rebalance?.readQuorumOf(P),
      newReplica: rebalance?.isNewReplicaOf(P) ?? false,
    }
  }
  const sources = (): Map<string, HandoffSource> =>
    new Map(
      ['a', 'b', 'c'].map((node) => [
        node,
        {
          engine: engines.get(node)!,
          get view() {
            return view(node)
          },
          reachable: true,
        },
      ]),
    )
  return { engines, d, e, learnt, view, sources }
}

type Cluster = ReturnType<typeof cluster>

/** A `w=quorum` put of `KEY` coordinated under `placement`, each put delivered and durable. */
function put(c: Cluster, placement: Placement, wallMs: number): WriteResult | undefined {
  const replicas = placement.preferenceList(P)
  const version = { wallMs, logical: 0, nodeId: 'c' }
  const write = new WriteCoordinator({
    requestId: wallMs,
    key: KEY,
    value: Uint8Array.of(2),
    w: 'quorum',
    replicas,
    fallbacks: [],
    isReachable: () => true,
    hlc: { now: () => version },
    nowMs: 0,
    deadlineMs: 1_000,
  })
  let result = write.start().completed
  for (const to of replicas) {
    const engine = c.engines.get(to)!
    const message: PutMessage = {
      type: 'put',
      requestId: write.requestId,
      key: KEY,
      record: write.record,
      replicas,
    }
    const step = handlePut({
      store: engine,
      hints: new HintedHandoff(),
      from: 'coordinator',
      message,
      partition: c.view(to),
    })
    for (const after of step.persist) engine.writeBatchSync(after.entries)
    const reply = [...step.send, ...step.persist.flatMap((x) => x.thenSend)][0]?.message
    assert.ok(reply?.type === 'put-reply')
    result = write.onReply(to, reply, 1).completed ?? result
  }
  return result
}

/** A `r=quorum` get of `KEY` coordinated under `placement`. */
function read(c: Cluster, placement: Placement): ReadResult | undefined {
  const coordinator = new ReadCoordinator({
    requestId: 7,
    key: KEY,
    r: 'quorum',
    replicas: placement.preferenceList(P),
    isReachable: () => true,
    nowMs: 0,
    deadlineMs: 1_000,
  })
  const started = coordinator.start()
  let result = started.completed
  for (const out of started.send) {
    const message = out.message as GetMessage
    const route = routeGet({
      ...c.view(out.to),
      forwarded: false,
      coordinatorReplicas: message.replicas,
    })
    // A receiver still streaming would merge the old replicas' records; none is here.
    assert.notEqual(route.kind, 'merge')
    const step =
      route.kind === 'refuse'
        ? coordinator.onRefusal(out.to, 1)
        : coordinator.onReply(
            out.to,
            handleGet({ store: c.engines.get(out.to)!, from: 'coordinator', message })
              .message as GetReplyMessage,
            1,
          )
    result = step.completed ?? result
  }
  return result
}

function stream(
  c: Cluster,
  self: 'd' | 'e',
  input: { ticks: number; onRefusal?: (source: string) => void },
) {
  return driveHandoffs({
    receiver: self === 'd' ? c.d : c.e,
    sources: c.sources(),
    target: c.engines.get(self)!,
    key: KEY,
    partition: P,
    partitionCount: PARTITIONS,
    ticks: input.ticks,
    onRefusal: input.onRefusal,
  })
}

describe('replication/replica: handoffSourceRefusal (the hand-off fence)', () => {
  const holding: PartitionHolding = {
    self: 'b',
    replicas: ['a', 'b', 'c'],
    handoff: undefined,
    readQuorum: undefined,
  }

  it('a source on another replica set for the partition refuses; the same set in any order, or no fence, is served', () => {
    assert.equal(
      handoffSourceRefusal(holding, ['e', 'd', 'a']),
      'the receiver places the partition on other replicas',
    )
    assert.equal(
      handoffSourceRefusal(holding, ['a', 'b']),
      'the receiver places the partition on other replicas',
    )
    assert.equal(handoffSourceRefusal(holding, ['c', 'a', 'b']), undefined)
    assert.equal(handoffSourceRefusal(holding, undefined), undefined)
    assert.equal(
      handoffSourceRefusal({ ...holding, handoff: 'handing-off' }, ['b', 'c', 'a']),
      undefined,
    )
    assert.equal(
      handoffSourceRefusal({ ...holding, replicas: undefined }, ['a', 'b', 'c']),
      'no placement applied yet',
    )
  })

  it('the same comparison as the coordinators’ placement fence', () => {
    for (const fence of [
      ['e', 'd', 'a'],
      ['a', 'b'],
      ['c', 'a', 'b'],
      ['a', 'b', 'c', 'd'],
    ]) {
      assert.equal(
        handoffSourceRefusal(holding, fence) === undefined,
        placementFenceRefusal(holding, fence) === undefined,
        `fence ${fence.join(',')}`,
      )
    }
  })
})

describe('replication/rebalance: the request carries the placement the receiver applies now', () => {
  it("partition 1's move: {a, b, c} to {e, d, a}", () => {
    assert.equal(P, 1)
    assert.deepEqual(BEFORE.preferenceList(P), ['a', 'b', 'c'])
    assert.deepEqual(AFTER.preferenceList(P), ['e', 'd', 'a'])
    assert.deepEqual(MIDDLE.preferenceList(P), ['d', 'a', 'b'])
  })

  it('a receiver one change behind its source is refused, and is served once it applied the later change', () => {
    // d applied {a, b, c, d} only: partition 1 streams in for {d, a, b}. a has applied
    // {a, b, c, d, e}: it places the partition on {e, d, a} and refuses.
    const d = new Rebalance({ self: 'd' })
    d.applyPlan(planOf(BEFORE, MIDDLE), { newReplicas: (p) => MIDDLE.preferenceList(p) })
    const first = d
      .tick(0, () => true)
      .send.find((out) => out.message.type === 'handoff-request' && out.message.partition === P)
    assert.ok(first?.message.type === 'handoff-request')
    assert.deepEqual(first.message.replicas, ['d', 'a', 'b'])
    const a: PartitionHolding = {
      self: 'a',
      replicas: AFTER.preferenceList(P),
      handoff: undefined,
      readQuorum: undefined,
    }
    assert.equal(
      handoffSourceRefusal(a, first.message.replicas),
      'the receiver places the partition on other replicas',
    )
    d.onFailure(first.to)
    // The ownership sync teaches d the second join: it applies {a, b, c, d, e}, where it stays a
    // replica of partition 1, so its transfer goes on, and asks with the placement applied now.
    d.applyPlan(planOf(MIDDLE, AFTER), { newReplicas: (p) => AFTER.preferenceList(p) })
    assert.equal(d.stateOf(P), 'receiving')
    const again = d
      .tick(10, () => true)
      .send.find((out) => out.message.type === 'handoff-request' && out.message.partition === P)
    assert.ok(again?.message.type === 'handoff-request')
    assert.deepEqual(again.message.replicas, ['e', 'd', 'a'])
    assert.equal(handoffSourceRefusal(a, again.message.replicas), undefined)
  })

  it('without newReplicas (no placement named) the request carries no fence', () => {
    const d = new Rebalance({ self: 'd' })
    d.applyPlan(planOf(BEFORE, AFTER))
    const out = d.tick(0, () => true).send[0]
    assert.ok(out?.message.type === 'handoff-request')
    assert.equal(out.message.replicas, undefined)
  })
})

describe('replication: hand-off sources that have not heard of the change', () => {
  it('the failure without the fence: stale sources serve, the receivers finish, and a stale quorum then acknowledges a write a new-view quorum read misses', () => {
    // Unfenced requests, as before: the receivers apply their plan without naming the placement.
    const c = cluster(false)
    for (const self of ['d', 'e'] as const) {
      const result = stream(c, self, { ticks: 20 })
      assert.deepEqual(
        result.passes.map((x) => x.from),
        ['a', 'b'],
        'b served although it places the partition on {a, b, c}',
      )
      assert.equal((self === 'd' ? c.d : c.e).stateOf(P), 'received')
    }
    // A coordinator on the old view: b and c acknowledge, a (on the new one) refuses.
    const written = put(c, BEFORE, V2_MS)
    assert.ok(written?.ok, 'acknowledged by the stale quorum {b, c}')
    // A quorum read under the new placement: d, e and a all miss it.
    const result = read(c, AFTER)
    assert.ok(result?.ok)
    assert.deepEqual(
      result.newest?.version,
      V1.version,
      'an older value than the acknowledged write',
    )
  })

  it('stale sources refuse: the receivers do not complete on their passes, however long it takes', () => {
    const c = cluster()
    for (const self of ['d', 'e'] as const) {
      const result = stream(c, self, { ticks: 300 }) // 30 s of 100 ms ticks
      assert.deepEqual(
        result.passes.map((x) => x.from),
        ['a'],
        'a pass from the source that knows the change only',
      )
      assert.ok(result.refusals.includes('b') && result.refusals.includes('c'))
      assert.deepEqual(result.done, [], 'no handoff-done')
      assert.equal((self === 'd' ? c.d : c.e).stateOf(P), 'receiving')
    }
    // Meanwhile the old view's quorum takes writes (the receivers are not done: no loss).
    assert.ok(put(c, BEFORE, V2_MS)?.ok)
    // And a new-view read quorum is not there yet: b's and c's answers are refused by the fence.
  })

  it('a receiver completes once a read quorum of the old replicas has learnt the change, with every write the old view acknowledged', () => {
    const c = cluster()
    for (const self of ['d', 'e'] as const) stream(c, self, { ticks: 30 })
    const acknowledged = put(c, BEFORE, V2_MS) // by b and c, still stale
    assert.ok(acknowledged?.ok)
    // The receivers' ownership sync with the refusing b: b learns the joins (and now hands the
    // partition off). c has not heard yet.
    for (const self of ['d', 'e'] as const) {
      const result = stream(c, self, {
        ticks: 30,
        onRefusal: (source) => {
          if (source === 'b') c.learnt.add('b')
        },
      })
      assert.deepEqual(
        result.passes.map((x) => x.from),
        ['b'],
        'the second complete pass, from b once it knows',
      )
      assert.deepEqual(
        result.done.map((x) => x.to),
        ['b', 'c'],
        'handoff-done to the dropping old replicas',
      )
      for (const done of result.done) {
        assert.equal(done.held?.version.wallMs, V2_MS, 'holding the write before saying done')
      }
      assert.equal((self === 'd' ? c.d : c.e).stateOf(P), 'received')
    }
    // The old view has no write quorum left: a and b refuse, c alone is not enough.
    const late = put(c, BEFORE, V3_MS)
    assert.ok(late !== undefined && !late.ok, 'not acknowledged')
    // A quorum read under the new placement returns the acknowledged write.
    const result = read(c, AFTER)
    assert.ok(result?.ok)
    assert.equal(result.newest?.version.wallMs, V2_MS)
  })

  it('a refusing old replica is not given up on after requestTimeoutMs, and its refusal is no pass', () => {
    const c = cluster()
    // Only c stale now: a and b know. d's needed 2 come from a and b; e's likewise. Then make
    // b unreachable and c the only one left to ask: c refuses, and the receiver waits.
    c.learnt.add('b')
    const d = new Rebalance({ self: 'd', config: { requestTimeoutMs: 500 } })
    d.applyPlan(planOf(BEFORE, AFTER), {
      newReplicas: (p) => AFTER.preferenceList(p),
      holders: [],
      owners: AFTER.owners,
    })
    const sources = c.sources()
    sources.get('b')!.reachable = false
    const result = driveHandoffs({
      receiver: d,
      sources,
      target: c.engines.get('d')!,
      key: KEY,
      partition: P,
      partitionCount: PARTITIONS,
      ticks: 200, // 20 s: forty request timeouts
    })
    assert.deepEqual(
      result.passes.map((x) => x.from),
      ['a'],
    )
    assert.ok(result.refusals.includes('c'))
    assert.deepEqual(result.done, [])
    assert.equal(d.stateOf(P), 'receiving', 'not settled for the union')
  })
})
