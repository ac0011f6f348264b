import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import type { Outgoing } from '../../src/replication/messages.ts'
import {
  answerHandoffRequest,
  planRebalance,
  Rebalance,
  readQuorumSize,
} from '../../src/replication/rebalance.ts'
import { computePlacement } from '../../src/ring/partitioner.ts'
import { MemoryEngine } from '../../src/storage/memory-engine.ts'
import { applyPersist, dumpEngine } from './harness.ts'

const PARTITIONS = 64

function plan(before: string[], after: string[], replicaCount = 3) {
  const old = computePlacement(before, { partitionCount: PARTITIONS, replicaCount })
  const next = computePlacement(after, { partitionCount: PARTITIONS, replicaCount })
  return {
    old,
    next,
    plan: planRebalance({
      partitionCount: PARTITIONS,
      oldReplicas: (p) => old.preferenceList(p),
      newReplicas: (p) => next.preferenceList(p),
    }),
  }
}

const namesArb = fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'), {
  minLength: 1,
  maxLength: 8,
})

describe('replication/rebalance: planning', () => {
  it('moves exactly the partitions whose replica set changed, to exactly the new replicas (property)', () => {
    fc.assert(
      fc.property(namesArb, namesArb, (before, after) => {
        const { old, next, plan: result } = plan(before, after)
        for (let p = 0; p < PARTITIONS; p++) {
          const was = old.preferenceList(p)
          const now = next.preferenceList(p)
          const receivers = result.moves.filter((m) => m.partition === p).map((m) => m.to)
          // A shrinking replica set: the staying replicas receive too (sim swarm seed 10024).
          const expected =
            was.length > 0 && now.length < was.length ? now : now.filter((n) => !was.includes(n))
          assert.deepEqual(receivers.sort(), [...expected].sort())
          const dropping = result.drops.filter((d) => d.partition === p).map((d) => d.node)
          assert.deepEqual(dropping.sort(), was.filter((n) => !now.includes(n)).sort())
          for (const move of result.moves.filter((m) => m.partition === p)) {
            assert.deepEqual(move.sources, was)
          }
        }
      }),
      { numRuns: 60 },
    )
  })

  it('a joining node receives every partition it now replicates', () => {
    const { next, plan: result } = plan(['a', 'b', 'c', 'd', 'e'], ['a', 'b', 'c', 'd', 'e', 'f'])
    const joining = result.moves.filter((m) => m.to === 'f').map((m) => m.partition)
    const owned = Array.from({ length: PARTITIONS }, (_, p) => p).filter((p) =>
      next.preferenceList(p).includes('f'),
    )
    assert.deepEqual(joining, owned)
    assert.ok(owned.length > 0)
  })

  it('a replica set that shrinks: the staying replicas receive too, and the leaver waits for them (sim swarm seed 10024)', () => {
    // Three owners, N = 3: every node replicates every partition. A put acknowledged by b and c
    // (a write quorum; a missed it). c leaves: the new replicas {a, b} were old replicas, so the
    // rule "receivers = new minus old" had nobody stream and c dropped at once, leaving the write
    // on b alone; b then left on a view that had not heard of c's leave ({a, c} staying, again
    // nobody to stream), dropped at once too, and the acknowledged write was gone.
    const { old, next, plan: left } = plan(['a', 'b', 'c'], ['a', 'b'])
    const key = 'the-key'
    const p = next.partitionOf(key)
    const stayers = next.preferenceList(p)
    assert.deepEqual([...stayers].sort(), ['a', 'b'])
    assert.deepEqual(
      left.moves.filter((m) => m.partition === p),
      stayers.map((to) => ({ partition: p, to, sources: old.preferenceList(p) })),
    )
    assert.deepEqual(
      left.drops.filter((d) => d.partition === p),
      [{ partition: p, node: 'c', awaiting: stayers }],
    )
    const older = { version: { wallMs: 1000, logical: 0, nodeId: 'a' }, value: new Uint8Array([1]) }
    const acked = { version: { wallMs: 2000, logical: 0, nodeId: 'c' }, value: new Uint8Array([2]) }
    const engines = new Map(['a', 'b', 'c'].map((n) => [n, new MemoryEngine()] as const))
    engines.get('a')!.writeSync({ key, record: older })
    engines.get('b')!.writeSync({ key, record: acked })
    engines.get('c')!.writeSync({ key, record: acked })
    const nodes = new Map(['a', 'b', 'c'].map((n) => [n, new Rebalance({ self: n })] as const))
    const newReplicas = (q: number) => next.preferenceList(q)
    const dropped: string[] = []
    for (const [name, node] of nodes) {
      const step = node.applyPlan(left, { newReplicas })
      if (step.drop.includes(p)) dropped.push(name)
    }
    assert.equal(dropped.length, 0, 'c waits for a and b before dropping')
    assert.equal(nodes.get('c')!.stateOf(p), 'handing-off')
    // Run the transfers: a and b each stream from a read quorum of {a, b, c}, own copy included.
    const queue: Array<{ from: string; out: Outgoing }> = []
    for (const name of ['a', 'b']) {
      for (const out of nodes.get(name)!.tick(0, () => true).send) queue.push({ from: name, out })
    }
    for (let guard = 0; queue.length > 0 && guard < 10_000; guard++) {
      const { from, out } = queue.shift()!
      if (out.message.type === 'handoff-request') {
        const batch = answerHandoffRequest({
          store: engines.get(out.to)!,
          request: out.message,
          partitionOf: (k) => next.partitionOf(k),
          nowMs: 0,
        })
        const step = nodes.get(from)!.onBatch(out.to, batch!, 0)
        for (const o of step.send) queue.push({ from, out: o })
        for (const persist of step.persist) {
          for (const o of applyPersist(engines.get(from)!, persist)) queue.push({ from, out: o })
          nodes.get(from)!.onPersisted(persist.page)
        }
      } else if (out.message.type === 'handoff-done') {
        if (out.message.partition !== p) continue
        assert.equal(out.to, 'c')
        const step = nodes.get('c')!.onHandoffDone(from, out.message)
        if (step.drop.includes(p)) dropped.push(`c after ${from}`)
      }
    }
    assert.equal(dropped.length, 1, 'c drops once, after both receivers are done')
    assert.equal(nodes.get('c')!.stateOf(p), 'dropped')
    for (const name of ['a', 'b']) {
      assert.equal(nodes.get(name)!.stateOf(p), 'received')
      assert.deepEqual(dumpEngine(engines.get(name)!).get(key), acked, `${name} holds the write`)
    }
  })

  it('an unchanged ownership set moves nothing', () => {
    const { plan: result } = plan(['a', 'b', 'c', 'd'], ['d', 'c', 'b', 'a'])
    assert.deepEqual(result, { moves: [], drops: [] })
  })
})

describe('replication/rebalance: streaming', () => {
  it('streams a partition in batches from a read quorum of the old owners, then the old owner drops it', () => {
    // Three old replicas, one unreachable: the receiver needs full passes from two of them. The
    // two reachable ones hold different writes (each missed some), as after a write acknowledged
    // by a quorum that did not include one of them: the receiver ends up with the newest of both.
    const sources = new Map([
      ['old', new MemoryEngine()],
      ['old2', new MemoryEngine()],
    ])
    const target = new MemoryEngine()
    const partitionOf = (key: string) => Number(key.split('-')[1]) % 4
    for (let i = 0; i < 200; i++) {
      const record = {
        version: { wallMs: 1000 + i, logical: 0, nodeId: 's' },
        value: i % 9 === 0 ? null : new Uint8Array([i]),
      }
      if (i % 5 !== 1) sources.get('old')!.writeSync({ key: `key-${i}`, record })
      if (i % 5 !== 2) sources.get('old2')!.writeSync({ key: `key-${i}`, record })
      if (i % 5 === 3) {
        // An older version on 'old2' only: the newer one from 'old' must win.
        const older = { ...record, version: { ...record.version, wallMs: 500 } }
        sources.get('old2')!.writeSync({ key: `key-${i}`, record: older })
      }
    }
    const receiver = new Rebalance({
      self: 'new',
      config: { batchLimit: 7, maxConcurrentTransfers: 1 },
    })
    const holder = new Rebalance({ self: 'old' })
    const thePlan = {
      moves: [{ partition: 2, to: 'new', sources: ['gone', 'old', 'old2'] }],
      drops: [{ partition: 2, node: 'old', awaiting: ['new'] }],
    }
    assert.deepEqual(receiver.applyPlan(thePlan).drop, [])
    assert.deepEqual(holder.applyPlan(thePlan).drop, [])
    assert.equal(receiver.isReady, false)
    assert.deepEqual(receiver.readQuorumOf(2), { sources: ['gone', 'old', 'old2'], needed: 2 })
    const queue: Outgoing[] = [...receiver.tick(0, (node) => node !== 'gone').send]
    assert.equal(queue[0]?.to, 'old', 'an unreachable source is skipped')
    const dropped: number[] = []
    const asked = new Set<string>()
    let batches = 0
    for (let guard = 0; queue.length > 0 && guard < 1_000; guard++) {
      const out = queue.shift()!
      if (out.message.type === 'handoff-request') {
        asked.add(out.to)
        const batch = answerHandoffRequest({
          store: sources.get(out.to)!,
          request: out.message,
          partitionOf,
          nowMs: 0,
        })
        batches += 1
        const step = receiver.onBatch(out.to, batch!, 0)
        assert.equal(dropped.length, 0, 'nothing is dropped before the last pass')
        for (const persist of step.persist) {
          queue.push(...applyPersist(target, persist))
          receiver.onPersisted(persist.page)
        }
      } else if (out.message.type === 'handoff-done') {
        dropped.push(...holder.onHandoffDone('new', out.message).drop)
      }
    }
    assert.deepEqual([...asked].sort(), ['old', 'old2'])
    const merged = new MemoryEngine()
    for (const engine of sources.values()) {
      for (const [key, record] of dumpEngine(engine)) merged.writeSync({ key, record })
    }
    const expected = [...dumpEngine(merged)].filter(([key]) => partitionOf(key) === 2)
    assert.deepEqual([...dumpEngine(target)], expected)
    assert.ok(batches >= (2 * expected.length * 0.75) / 7, 'two full passes')
    assert.equal(receiver.readQuorumOf(2), undefined, 'no longer streaming')
    assert.equal(receiver.isReady, true)
    assert.equal(receiver.stateOf(2), 'received')
    assert.deepEqual(dropped, [2])
    assert.equal(holder.stateOf(2), 'dropped')
  })

  it('a finished transfer starts the next pending one at once, so empty partitions stream without waiting for ticks', () => {
    const receiver = new Rebalance({ self: 'new', config: { maxConcurrentTransfers: 2 } })
    const partitions = [0, 1, 2, 3, 4, 5]
    receiver.applyPlan({
      moves: partitions.map((partition) => ({ partition, to: 'new', sources: ['old'] })),
      drops: [],
    })
    const empty = new MemoryEngine()
    const queue: Outgoing[] = [...receiver.tick(0, () => true).send]
    assert.equal(queue.length, 2, 'the tick starts transfers up to the bound')
    let inFlightMax = 0
    for (let guard = 0; queue.length > 0 && guard < 100; guard++) {
      inFlightMax = Math.max(inFlightMax, queue.length)
      const out = queue.shift()!
      assert.equal(out.message.type, 'handoff-request')
      const request = out.message
      if (request.type !== 'handoff-request') break
      const batch = answerHandoffRequest({
        store: empty,
        request,
        partitionOf: () => request.partition,
        nowMs: 0,
      })
      const step = receiver.onBatch('old', batch!, 0)
      queue.push(...step.send)
      for (const persist of step.persist) receiver.onPersisted(persist.page)
    }
    assert.ok(inFlightMax <= 2, 'never more transfers than the bound')
    assert.equal(receiver.isReady, true, 'every partition arrived with a single tick')
    for (const partition of partitions) assert.equal(receiver.stateOf(partition), 'received')
  })

  it('switches to the next source when one stays silent; the pass starts over there', () => {
    const receiver = new Rebalance({ self: 'new', config: { requestTimeoutMs: 100 } })
    receiver.applyPlan({ moves: [{ partition: 0, to: 'new', sources: ['s1', 's2'] }], drops: [] })
    const first = receiver.tick(0, () => true).send
    assert.equal(first[0]?.to, 's1')
    const firstId = first[0]?.message.type === 'handoff-request' ? first[0].message.transferId : 0
    // One page from s1, then silence.
    const page = receiver.onBatch(
      's1',
      { type: 'handoff-batch', transferId: firstId, partition: 0, entries: [], cursor: 'k5' },
      10,
    )
    const next = page.persist[0]?.thenSend[0]?.message
    assert.equal(next?.type === 'handoff-request' ? next.after : undefined, 'k5')
    assert.deepEqual(receiver.tick(50, () => true).send, [])
    const second = receiver.tick(110, () => true).send
    assert.equal(second[0]?.to, 's2')
    const request = second[0]?.message
    assert.equal(request?.type, 'handoff-request')
    assert.equal(request?.type === 'handoff-request' ? request.after : 'x', undefined)
  })

  it('a pass from one old replica is not enough: the receiver reports done after a quorum of them', () => {
    const receiver = new Rebalance({ self: 'd' })
    receiver.applyPlan({
      moves: [{ partition: 0, to: 'd', sources: ['a', 'b', 'c'] }],
      drops: [{ partition: 0, node: 'c', awaiting: ['d'] }],
    })
    const first = receiver.tick(0, () => true).send[0]!
    assert.equal(first.to, 'a')
    const id = (out: Outgoing) =>
      out.message.type === 'handoff-request' ? out.message.transferId : 0
    const end = (out: Outgoing) =>
      receiver.onBatch(
        out.to,
        {
          type: 'handoff-batch',
          transferId: id(out),
          partition: 0,
          entries: [],
          cursor: undefined,
        },
        0,
      )
    const afterFirst = end(first)
    assert.equal(receiver.stateOf(0), 'receiving')
    assert.deepEqual(receiver.readQuorumOf(0), { sources: ['a', 'b', 'c'], needed: 2 })
    const second = afterFirst.persist[0]!.thenSend
    assert.equal(second.length, 1)
    assert.equal(second[0]!.to, 'b', 'the next pass comes from another old replica')
    assert.equal(second[0]!.message.type, 'handoff-request')
    // A late duplicate end-of-stream from 'a' does not count twice.
    assert.deepEqual(end(first).persist, [])
    const afterSecond = end(second[0]!)
    receiver.onPersisted(afterFirst.persist[0]!.page)
    receiver.onPersisted(afterSecond.persist[0]!.page)
    assert.equal(receiver.stateOf(0), 'received')
    assert.deepEqual(
      afterSecond.persist[0]!.thenSend.map((out) => [out.to, out.message.type]),
      [['c', 'handoff-done']],
    )
  })

  it('a transfer counts as received only once every page is durable (sim swarm seed 5054)', () => {
    // d streams partition 0 from a read quorum of {a, b, c} on a slow disk: the page of the
    // first pass is still committing when the source deadline passes and the tick moves on to
    // the next source; the last pass arrives before either page is durable.
    const receiver = new Rebalance({ self: 'd', config: { requestTimeoutMs: 100 } })
    receiver.applyPlan({
      moves: [{ partition: 0, to: 'd', sources: ['a', 'b', 'c'] }],
      drops: [{ partition: 0, node: 'c', awaiting: ['d'] }],
    })
    const end = (out: Outgoing, key: string) =>
      receiver.onBatch(
        out.to,
        {
          type: 'handoff-batch',
          transferId: out.message.type === 'handoff-request' ? out.message.transferId : 0,
          partition: 0,
          entries: [
            { key, record: { value: null, version: { wallMs: 1, logical: 0, nodeId: out.to } } },
          ],
          cursor: undefined,
        },
        0,
      )
    const first = receiver.tick(0, () => true).send[0]!
    const pass1 = end(first, 'k1').persist[0]!
    const second = receiver.tick(200, () => true).send[0]!
    assert.notEqual(second.to, 'a', 'a slow commit lets the deadline switch the source')
    const pass2 = end(second, 'k2').persist[0]!
    assert.deepEqual(
      pass2.thenSend.map((out) => [out.to, out.message.type]),
      [['c', 'handoff-done']],
    )
    const stillStreaming = () => {
      assert.equal(receiver.stateOf(0), 'receiving')
      assert.equal(receiver.isReady, false)
      assert.deepEqual(receiver.readQuorumOf(0), { sources: ['a', 'b', 'c'], needed: 2 })
    }
    stillStreaming() // neither page is in the engine yet: reads must keep merging the old copies
    assert.deepEqual(receiver.tick(1_000, () => true).send, [], 'no third pass is started')
    receiver.onPersisted(pass2.page)
    stillStreaming() // the first pass's page is still committing
    receiver.onPersisted(pass1.page)
    assert.equal(receiver.stateOf(0), 'received')
    assert.equal(receiver.readQuorumOf(0), undefined)
    assert.equal(receiver.isReady, true)
  })

  it('a page whose write failed starts the transfer over', () => {
    const receiver = new Rebalance({ self: 'd' })
    receiver.applyPlan({ moves: [{ partition: 0, to: 'd', sources: ['a', 'b'] }], drops: [] })
    const request = receiver.tick(0, () => true).send[0]!
    const transferId = request.message.type === 'handoff-request' ? request.message.transferId : 0
    const step = receiver.onBatch(
      'a',
      { type: 'handoff-batch', transferId, partition: 0, entries: [], cursor: undefined },
      0,
    )
    receiver.onPersisted(step.persist[0]!.page, false)
    assert.equal(receiver.stateOf(0), 'receiving')
    const again = receiver.tick(1, () => true).send[0]!
    assert.equal(again.message.type, 'handoff-request')
    assert.equal(again.message.type === 'handoff-request' ? again.message.after : 'x', undefined)
  })

  it('the read quorum of the old replicas', () => {
    assert.equal(readQuorumSize(['a', 'b', 'c'], 'd'), 2)
    assert.equal(readQuorumSize(['a', 'b', 'c', 'e', 'f'], 'd'), 3)
    assert.equal(readQuorumSize(['a'], 'd'), 1)
    assert.equal(readQuorumSize(['a', 'b'], 'd'), 2)
    assert.equal(readQuorumSize(['a', 'b', 'd'], 'd'), 1, 'its own copy counts')
    assert.equal(readQuorumSize(['d'], 'd'), 0)
  })

  it('a partition received under one plan and handed off under the next reports handing-off (sim seed 21)', () => {
    // d joins (receives its partitions), then leaves: `stateOf` must say 'handing-off' until
    // the receivers are done, or the runtime's leave (outboundPending) stops at once.
    const joined = plan(['a', 'b', 'c'], ['a', 'b', 'c', 'd'])
    const d = new Rebalance({ self: 'd' })
    d.applyPlan(joined.plan)
    const mine = joined.plan.moves.filter((m) => m.to === 'd').map((m) => m.partition)
    const p = mine[0]!
    const request = d
      .tick(0, () => true)
      .send.find((o) => o.message.type === 'handoff-request' && o.message.partition === p)!
    // Empty passes from a read quorum of the old replicas.
    let next: Outgoing | undefined = request
    for (let pass = 0; next !== undefined && pass < 3; pass++) {
      const transferId = next.message.type === 'handoff-request' ? next.message.transferId : 0
      const step = d.onBatch(
        next.to,
        { type: 'handoff-batch', transferId, partition: p, entries: [], cursor: undefined },
        0,
      )
      d.onPersisted(step.persist[0]?.page)
      next = step.persist[0]?.thenSend.find((o) => o.message.type === 'handoff-request')
    }
    assert.equal(d.stateOf(p), 'received')
    const left = plan(['a', 'b', 'c', 'd'], ['a', 'b', 'c'])
    const step = d.applyPlan(left.plan, { newReplicas: (q) => left.next.preferenceList(q) })
    assert.ok(!step.drop.includes(p), 'not dropped before its receiver is done')
    assert.equal(d.stateOf(p), 'handing-off')
  })

  // e receives partition 0 from {a, b, c} (one pass of two done), then another plan arrives.
  function streamingReceiver(): Rebalance {
    const e = new Rebalance({ self: 'e' })
    e.applyPlan({
      moves: [{ partition: 0, to: 'e', sources: ['a', 'b', 'c'] }],
      drops: [{ partition: 0, node: 'c', awaiting: ['e'] }],
    })
    const request = e.tick(0, () => true).send[0]!
    const transferId = request.message.type === 'handoff-request' ? request.message.transferId : 0
    e.onBatch(
      request.to,
      { type: 'handoff-batch', transferId, partition: 0, entries: [], cursor: undefined },
      0,
    )
    assert.equal(e.stateOf(0), 'receiving')
    return e
  }

  it('a transfer cut short by a plan that makes the receiver an old replica keeps reads merging (sim swarm seed 2084)', () => {
    const e = streamingReceiver()
    e.applyPlan(
      {
        moves: [{ partition: 0, to: 'f', sources: ['a', 'b', 'e'] }],
        drops: [{ partition: 0, node: 'e', awaiting: ['f'] }],
      },
      { newReplicas: () => ['a', 'b', 'f'] },
    )
    assert.equal(e.stateOf(0), 'handing-off')
    assert.deepEqual(e.readQuorumOf(0), { sources: ['a', 'b', 'c'], needed: 2 })
    assert.deepEqual(e.onHandoffDone('f', { type: 'handoff-done', partition: 0 }).drop, [0])
    assert.equal(e.readQuorumOf(0), undefined)
  })

  it('a transfer in progress keeps going when the next plan keeps the receiver a replica (sim swarm seed 2086)', () => {
    const e = streamingReceiver()
    e.applyPlan(
      {
        moves: [{ partition: 0, to: 'f', sources: ['a', 'b', 'e'] }],
        drops: [{ partition: 0, node: 'b', awaiting: ['f'] }],
      },
      { newReplicas: () => ['a', 'e', 'f'] },
    )
    assert.equal(e.stateOf(0), 'receiving')
    assert.deepEqual(e.readQuorumOf(0), { sources: ['a', 'b', 'c'], needed: 2 })
  })

  it('drops a partition at once when nobody needs to receive it', () => {
    const holder = new Rebalance({ self: 'old' })
    const step = holder.applyPlan({
      moves: [],
      drops: [{ partition: 3, node: 'old', awaiting: [] }],
    })
    assert.deepEqual(step.drop, [3])
  })

  it('drops malformed handoff requests', () => {
    const answer = answerHandoffRequest({
      store: new MemoryEngine(),
      request: { type: 'handoff-request', transferId: 1, partition: 0, limit: 0 },
      partitionOf: () => 0,
      nowMs: 0,
    })
    assert.equal(answer, undefined)
  })
})
