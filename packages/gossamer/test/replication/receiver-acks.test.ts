// Goal: a write is not acknowledged on acks from new replicas still streaming the key's
// partition in, unless min(W, N − quorum + 1) acks come from settled replicas. Whole-cluster
// sim swarm seed 8235 (docs/simulation.md finding 22): after a power loss n2 and n4, which had
// been leaving, restarted, rejoined as owners and planned from "the owners minus itself"
// (`ownersBeforeStart`); n5 then left, and both placed partition 8 on {n2, n4, n3} while still
// streaming it in. n1 and n3, cut off by a split until just before, still placed it by
// {n1, n3, n5}: on {n5, n3, n1}. A `w=quorum` put of k2 through n4 was acknowledged by n4 and
// n2 (n3 was unreachable from n4; had it been reached, the fence would have refused it), and a
// `r=quorum` get through n3 was answered by n3 and n1 with an older value. Each quorum was one
// of its own replica set; the fence cannot see that the sets came from different placements.
//
// Method: the seed's views from the real `ownersBeforeStart`, `computePlacement`,
// `planRebalance` and `Rebalance.applyPlan`; the put and the get through the real
// `WriteCoordinator`, `ReadCoordinator`, `handlePut` and `routeGet`, as the drivers bind them.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Version } from '../../src/hlc/version.ts'
import {
  ReadCoordinator,
  refusalRetryDelayMs,
  WriteCoordinator,
  type WriteResult,
} from '../../src/replication/coordinator.ts'
import { HintedHandoff } from '../../src/replication/hinted-handoff.ts'
import type {
  GetMessage,
  Outgoing,
  PutMessage,
  PutReplyMessage,
} from '../../src/replication/messages.ts'
import { ownersBeforeStart, planRebalance, Rebalance } from '../../src/replication/rebalance.ts'
import {
  handleGet,
  handlePut,
  isNewReplicaStreamingIn,
  type PartitionHolding,
  routeGet,
} from '../../src/replication/replica.ts'
import { computePlacement, partitionOf } from '../../src/ring/partitioner.ts'
import type { StoredRecord } from '../../src/storage/engine.ts'

const PARTITIONS = 32
const OPTIONS = { partitionCount: PARTITIONS, replicaCount: 3 }
const KEY = 'k2'
const P = partitionOf(KEY, PARTITIONS)
const ALL = ['n1', 'n2', 'n3', 'n4', 'n5']
/** n2's and n4's view once n5 leaves. */
const AFTER_LEAVE = ['n1', 'n2', 'n3', 'n4']
/** n1's and n3's view: n2 and n4 still leaving, n5 a member. */
const STALE = ['n1', 'n3', 'n5']

const placementOf = (owners: readonly string[]) => computePlacement(owners, OPTIONS)

/**
 * A leaver that restarted and rejoined: its first plan from "the owners minus itself" to every
 * owner, then n5's leave, as the drivers apply them (`#previousFor`, `#applyPlacement`).
 */
function rejoinedReceiver(self: string): Rebalance {
  const rebalance = new Rebalance({ self })
  const before = ownersBeforeStart({
    self,
    owners: ALL,
    storeWasEmpty: false,
    rejoinedAfterRemoval: true,
    persistedOwners: undefined,
  })
  assert.ok(before !== undefined)
  let previous = placementOf(before)
  for (const [owners, leaving] of [
    [ALL, []],
    [AFTER_LEAVE, ['n5']],
  ] as const) {
    const next = placementOf(owners)
    const plan = planRebalance({
      partitionCount: PARTITIONS,
      oldReplicas: (p) => previous.preferenceList(p),
      newReplicas: (p) => next.preferenceList(p),
    })
    rebalance.applyPlan(plan, {
      newReplicas: (p) => next.preferenceList(p),
      holders: leaving,
      owners: next.owners,
    })
    previous = next
  }
  return rebalance
}

const n2 = rejoinedReceiver('n2')
const n4 = rejoinedReceiver('n4')

/** Each node's view of partition 8 when the put and the read were coordinated. */
function holding(self: string): PartitionHolding {
  if (self === 'n2' || self === 'n4') {
    const rebalance = self === 'n2' ? n2 : n4
    return {
      self,
      replicas: placementOf(AFTER_LEAVE).preferenceList(P),
      handoff: rebalance.stateOf(P),
      readQuorum: rebalance.readQuorumOf(P),
      newReplica: rebalance.isNewReplicaOf(P),
    }
  }
  if (self === 'n5') {
    // n5 left: it hands the partition off to n4 and n3 under {n1, n2, n3, n4}.
    return {
      self,
      replicas: placementOf(AFTER_LEAVE).preferenceList(P),
      handoff: 'handing-off',
      readQuorum: undefined,
    }
  }
  // n1 and n3: no change heard of, a plain replica of {n5, n3, n1}.
  return {
    self,
    replicas: placementOf(STALE).preferenceList(P),
    handoff: undefined,
    readQuorum: undefined,
  }
}

/** The version n3 wrote (`…21757-0-n3`: on n3; n1 held an older one) and the put's. */
const OLDER: StoredRecord = {
  version: { wallMs: 1_700_000_021_757, logical: 0, nodeId: 'n3' },
  value: new TextEncoder().encode('c2-53'),
}
const PUT_VERSION: Version = { wallMs: 1_700_000_023_160, logical: 0, nodeId: 'n4' }

function stores() {
  const map = new Map<string, Map<string, StoredRecord>>()
  for (const node of ALL) map.set(node, new Map(node === 'n3' ? [[KEY, OLDER]] : []))
  return map
}

/** A replica handles a put, its write durable at once: the reply it sends. */
function deliverPut(
  data: Map<string, Map<string, StoredRecord>>,
  to: string,
  message: PutMessage,
  view: (self: string) => PartitionHolding = holding,
): PutReplyMessage {
  const store = data.get(to)!
  const step = handlePut({
    store: { getRecord: (key) => store.get(key) },
    hints: new HintedHandoff(),
    from: 'coordinator',
    message,
    partition: view(to),
  })
  for (const after of step.persist) for (const e of after.entries) store.set(e.key, e.record)
  const sent: Outgoing[] = [...step.send, ...step.persist.flatMap((p) => p.thenSend)]
  const reply = sent.find((out) => out.to === 'coordinator')?.message
  assert.ok(reply?.type === 'put-reply')
  return reply
}

/** Coordinates a put on `replicas`, every put delivered in order; the result at the end. */
function coordinatePut(input: {
  data: Map<string, Map<string, StoredRecord>>
  replicas: readonly string[]
  reachable: (node: string) => boolean
  w?: 'quorum' | 'all' | 'one'
  view?: (self: string) => PartitionHolding
}): WriteResult | undefined {
  const write = new WriteCoordinator({
    requestId: 31,
    key: KEY,
    value: new TextEncoder().encode('c2-57'),
    w: input.w ?? 'quorum',
    replicas: input.replicas,
    fallbacks: [],
    isReachable: input.reachable,
    hlc: { now: () => PUT_VERSION },
    nowMs: 23_146,
    deadlineMs: 24_146,
  })
  let result = write.start().completed
  for (const to of input.replicas) {
    if (!input.reachable(to)) continue
    const reply = deliverPut(
      input.data,
      to,
      { type: 'put', requestId: 31, key: KEY, record: write.record, replicas: input.replicas },
      input.view,
    )
    result = write.onReply(to, reply, 23_150).completed ?? result
  }
  return result
}

describe('replication: acks from replicas still receiving the partition (sim swarm seed 8235)', () => {
  it("the seed's views: n2 and n4 stream partition 8 in for {n2, n4, n3}; n1 and n3 place it on {n5, n3, n1}", () => {
    assert.equal(P, 8)
    assert.deepEqual(placementOf(AFTER_LEAVE).preferenceList(P), ['n2', 'n4', 'n3'])
    assert.deepEqual(placementOf(STALE).preferenceList(P), ['n5', 'n3', 'n1'])
    // n4's plan: {n5, n2, n1} (of every owner) to {n2, n4, n3}.
    assert.deepEqual(n4.readQuorumOf(P), { sources: ['n5', 'n2', 'n1'], needed: 2 })
    // n2's own plan (from its guess {n1, n3, n4, n5}) made it a receiver already, and it stays
    // a replica: its transfer goes on, from {n5, n1, n3}.
    assert.deepEqual(n2.readQuorumOf(P), { sources: ['n5', 'n1', 'n3'], needed: 2 })
    assert.equal(isNewReplicaStreamingIn(holding('n2')), true)
    assert.equal(isNewReplicaStreamingIn(holding('n4')), true)
    assert.equal(isNewReplicaStreamingIn(holding('n3')), false)
  })

  for (const n3Reachable of [false, true]) {
    it(`the put through n4 is not acknowledged on n4's and n2's acks, and the read through n3 is not stale (n3 ${n3Reachable ? 'reached: fence' : 'unreachable, as in the run'})`, () => {
      const data = stores()
      const result = coordinatePut({
        data,
        replicas: placementOf(AFTER_LEAVE).preferenceList(P),
        reachable: (node) => node !== 'n1' && (n3Reachable || node !== 'n3'),
      })
      // Durable on the two receivers, which said they stream the partition in; n3 wrote nothing.
      assert.deepEqual(data.get('n4')?.get(KEY)?.version, PUT_VERSION)
      assert.deepEqual(data.get('n2')?.get(KEY)?.version, PUT_VERSION)
      assert.deepEqual(data.get('n3')?.get(KEY)?.version, OLDER.version)
      assert.ok(result !== undefined && !result.ok, 'the write is not acknowledged')
      assert.equal(result.error.code, 'GOSSAMER_ERR_QUORUM_NOT_REACHED')
      // It fails as soon as two settled acks are out of reach (before n3's answer, if any).
      assert.ok((result.error.streamingIn ?? 0) >= 1)
      // An unknown outcome, tried again a moment later (the transfers may have ended by then).
      assert.equal(
        refusalRetryDelayMs({ result, retries: 0, nowMs: 23_150, deadlineMs: 24_146 }),
        100,
      )

      // n3 reads under its view: n5 (handing off) refuses, n3 and n1 answer.
      const read = new ReadCoordinator({
        requestId: 33,
        key: KEY,
        r: 'quorum',
        replicas: placementOf(STALE).preferenceList(P),
        isReachable: () => true,
        nowMs: 23_260,
        deadlineMs: 24_260,
      })
      const started = read.start()
      let readResult = started.completed
      for (const out of started.send) {
        const message = out.message as GetMessage
        const route = routeGet({
          ...holding(out.to),
          forwarded: false,
          coordinatorReplicas: message.replicas,
        })
        const step =
          route.kind === 'refuse'
            ? read.onRefusal(out.to, 23_270)
            : read.onReply(
                out.to,
                handleGet({
                  store: { getRecord: (key) => data.get(out.to)?.get(key) },
                  from: 'n3',
                  message,
                }).message as Extract<Outgoing['message'], { type: 'get-reply' }>,
                23_270,
              )
        readResult = step.completed ?? readResult
      }
      // The older value, and no stale read: the newer write was never acknowledged.
      assert.ok(readResult?.ok)
      assert.deepEqual(readResult.newest?.version, OLDER.version)
    })
  }

  describe('the rule', () => {
    // A join under one view: {a, b} stay replicas of the partition, j streams it in.
    const view = (self: string): PartitionHolding => ({
      self,
      replicas: ['a', 'b', 'j'],
      handoff: self === 'j' ? 'receiving' : undefined,
      readQuorum: self === 'j' ? { sources: ['a', 'b', 'c'], needed: 2 } : undefined,
      newReplica: self === 'j',
    })
    const empty = () => new Map(['a', 'b', 'c', 'j'].map((n) => [n, new Map()]))

    it('a quorum of the new replicas with one receiver is acknowledged by the two that stay', () => {
      const result = coordinatePut({
        data: empty(),
        replicas: ['j', 'a', 'b'],
        reachable: () => true,
        view,
      })
      assert.ok(result?.ok)
    })

    it("a receiver's ack counts towards W once two settled replicas acked (w=all)", () => {
      const result = coordinatePut({
        data: empty(),
        replicas: ['j', 'a', 'b'],
        reachable: () => true,
        view,
        w: 'all',
      })
      assert.ok(result?.ok)
      assert.equal(result.acks, 3)
    })

    it('a receiver and one stayer are no quorum: the write waits for the other, and fails without it', () => {
      const data = empty()
      const write = new WriteCoordinator({
        requestId: 31,
        key: KEY,
        value: Uint8Array.of(1),
        w: 'quorum',
        replicas: ['j', 'a', 'b'],
        isReachable: () => true,
        hlc: { now: () => PUT_VERSION },
        nowMs: 0,
        deadlineMs: 1_000,
      })
      const puts = write.start().send
      const put = (to: string) => puts.find((out) => out.to === to)?.message as PutMessage
      const ackJ = deliverPut(data, 'j', put('j'), view)
      assert.equal(ackJ.streamingIn, true)
      assert.equal(write.onReply('j', ackJ, 10).completed, undefined)
      const ackA = deliverPut(data, 'a', put('a'), view)
      assert.equal(ackA.streamingIn, undefined)
      assert.equal(write.onReply('a', ackA, 11).completed, undefined, 'two acks, one settled')
      // b's call fails: the write may have been applied on j and a, an unknown outcome.
      const failed = write.onFailure('b', 12).completed
      assert.ok(failed !== undefined && !failed.ok)
      assert.equal(failed.error.code, 'GOSSAMER_ERR_QUORUM_NOT_REACHED')
      assert.equal(failed.error.received, 2)
      assert.equal(failed.error.streamingIn, 1)
      assert.match(failed.error.message, /1 from new replicas still streaming the partition in/)
    })

    it('new replicas are the receivers that were not old replicas: a shrinking set receives on its staying ones', () => {
      const join = planRebalance({
        partitionCount: 1,
        oldReplicas: () => ['a', 'b', 'c'],
        newReplicas: () => ['a', 'b', 'j'],
      })
      const j = new Rebalance({ self: 'j' })
      j.applyPlan(join)
      assert.equal(j.isNewReplicaOf(0), true)
      // A removal that leaves two owners: every new replica receives, both were replicas before
      // (finding 16), and a quorum read of {a, b, c} meets both.
      const shrink = planRebalance({
        partitionCount: 1,
        oldReplicas: () => ['a', 'b', 'c'],
        newReplicas: () => ['a', 'b'],
      })
      const a = new Rebalance({ self: 'a' })
      a.applyPlan(shrink)
      assert.ok(a.readQuorumOf(0) !== undefined, 'a streams the partition in')
      assert.equal(a.isNewReplicaOf(0), false)
      const shrinking = (self: string): PartitionHolding => ({
        self,
        replicas: ['a', 'b'],
        handoff: 'receiving',
        readQuorum: { sources: ['a', 'b', 'c'].filter((n) => n !== self), needed: 1 },
        newReplica: false,
      })
      const result = coordinatePut({
        data: empty(),
        replicas: ['a', 'b'],
        reachable: () => true,
        view: shrinking,
      })
      assert.ok(result?.ok)
    })

    it('with N = 2 one settled ack meets every read quorum', () => {
      const two = (self: string): PartitionHolding => ({
        self,
        replicas: ['a', 'j'],
        handoff: self === 'j' ? 'receiving' : undefined,
        readQuorum: self === 'j' ? { sources: ['a', 'c'], needed: 1 } : undefined,
        newReplica: self === 'j',
      })
      const result = coordinatePut({
        data: empty(),
        replicas: ['j', 'a'],
        reachable: () => true,
        view: two,
      })
      assert.ok(result?.ok)
      assert.equal(result.acks, 2)
    })

    it('a receiver whose transfer has finished acks as a settled replica', () => {
      const finished = (self: string): PartitionHolding => ({
        ...view(self),
        readQuorum: undefined,
      })
      const result = coordinatePut({
        data: empty(),
        replicas: ['j', 'a', 'b'],
        reachable: (node) => node !== 'b',
        view: finished,
      })
      assert.ok(result?.ok)
    })
  })
})
