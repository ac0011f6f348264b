import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { HintedHandoff, MemoryHintStore } from '../../src/replication/hinted-handoff.ts'
import type { HintDeliverMessage } from '../../src/replication/messages.ts'
import type { StoredRecord } from '../../src/storage/engine.ts'

function rec(wallMs: number): StoredRecord {
  return { version: { wallMs, logical: 0, nodeId: 'c' }, value: new Uint8Array([wallMs & 0xff]) }
}

describe('replication/hinted-handoff', () => {
  it('delivers nothing while the replica is unreachable, then delivers when it returns', () => {
    const hints = new HintedHandoff()
    assert.equal(hints.accept({ intendedReplica: 'r', key: 'k', record: rec(1) }).accepted, true)
    assert.deepEqual(hints.tick(0), [])
    hints.setReachable('r', true)
    const sent = hints.tick(1)
    assert.equal(sent.length, 1)
    assert.equal(sent[0]!.to, 'r')
    assert.equal((sent[0]!.message as HintDeliverMessage).key, 'k')
  })

  it('removes a hint only after the replica acked it, and persists the removal', () => {
    const store = new MemoryHintStore()
    const hints = new HintedHandoff()
    store.apply(hints.accept({ intendedReplica: 'r', key: 'k', record: rec(1) }).writes)
    hints.setReachable('r', true)
    const delivery = hints.tick(0)[0]!.message as HintDeliverMessage
    assert.equal(hints.pendingCount('r'), 1)
    hints.onFailure('r', delivery.deliveryId)
    assert.equal(hints.pendingCount('r'), 1, 'a failed delivery keeps the hint')
    assert.deepEqual(hints.tick(1), [], 'no retry before the delivery timeout')
    const retry = hints.tick(5_000)[0]!.message as HintDeliverMessage
    const step = hints.onAck('r', { type: 'hint-ack', deliveryId: retry.deliveryId }, 5_001)
    store.apply(step.writes)
    assert.equal(hints.pendingCount('r'), 0)
    assert.deepEqual(store.list(), [])
  })

  it('ignores an ack from another node than the intended replica', () => {
    const hints = new HintedHandoff()
    hints.accept({ intendedReplica: 'r', key: 'k', record: rec(1) })
    hints.setReachable('r', true)
    const delivery = hints.tick(0)[0]!.message as HintDeliverMessage
    hints.onAck('intruder', { type: 'hint-ack', deliveryId: delivery.deliveryId }, 1)
    assert.equal(hints.pendingCount('r'), 1)
  })

  it('keeps a newer hint that arrived while an older one was being delivered', () => {
    const hints = new HintedHandoff()
    hints.accept({ intendedReplica: 'r', key: 'k', record: rec(1) })
    hints.setReachable('r', true)
    const first = hints.tick(0)[0]!.message as HintDeliverMessage
    hints.accept({ intendedReplica: 'r', key: 'k', record: rec(2) })
    const step = hints.onAck('r', { type: 'hint-ack', deliveryId: first.deliveryId }, 1)
    assert.deepEqual(step.writes, [])
    assert.equal(hints.pendingCount('r'), 1)
    const second = step.send[0]!.message as HintDeliverMessage
    assert.equal(second.record.version.wallMs, 2)
  })

  it('bounds the queue per replica and refuses new keys when full, but not newer versions', () => {
    const hints = new HintedHandoff({ maxHintsPerReplica: 2 })
    assert.equal(hints.accept({ intendedReplica: 'r', key: 'a', record: rec(1) }).accepted, true)
    assert.equal(hints.accept({ intendedReplica: 'r', key: 'b', record: rec(1) }).accepted, true)
    assert.equal(hints.accept({ intendedReplica: 'r', key: 'c', record: rec(1) }).accepted, false)
    assert.equal(hints.accept({ intendedReplica: 'r', key: 'a', record: rec(5) }).accepted, true)
    assert.equal(
      hints.accept({ intendedReplica: 'other', key: 'c', record: rec(1) }).accepted,
      true,
    )
    assert.equal(hints.refusedCount, 1)
  })

  it('bounds deliveries in flight and resends the ones not acked in time', () => {
    const hints = new HintedHandoff({ maxInFlightPerReplica: 3, deliveryTimeoutMs: 100 })
    for (let i = 0; i < 10; i++)
      hints.accept({ intendedReplica: 'r', key: `k${i}`, record: rec(1) })
    hints.setReachable('r', true)
    assert.equal(hints.tick(0).length, 3)
    assert.equal(hints.tick(50).length, 0)
    assert.equal(hints.tick(100).length, 3, 'timed-out deliveries go again')
  })

  it('restores hints from the durable store after a restart', () => {
    const store = new MemoryHintStore()
    const before = new HintedHandoff()
    store.apply(before.accept({ intendedReplica: 'r', key: 'k', record: rec(1) }).writes)
    const after = new HintedHandoff()
    after.restore(store.list())
    after.setReachable('r', true)
    assert.equal(after.tick(0).length, 1)
  })

  describe('hints for a node that left the ownership set', () => {
    const owners = new Set(['a', 'b', 'self'])
    const input = (replicasOf: (key: string) => string[]) => ({
      self: 'self',
      isOwner: (node: string) => owners.has(node),
      replicasOf,
    })

    it('re-targets them to the key’s current replicas, a copy for this node as a local write', () => {
      const store = new MemoryHintStore()
      const hints = new HintedHandoff()
      store.apply(hints.accept({ intendedReplica: 'gone', key: 'k1', record: rec(1) }).writes)
      store.apply(hints.accept({ intendedReplica: 'gone', key: 'k2', record: rec(2) }).writes)
      store.apply(hints.accept({ intendedReplica: 'a', key: 'k3', record: rec(3) }).writes)
      hints.setReachable('gone', true)
      const inFlight = hints.tick(0).filter((out) => out.to === 'gone')
      assert.equal(inFlight.length, 2)
      const step = hints.retarget(input((key) => (key === 'k1' ? ['a', 'b', 'self'] : ['b'])))
      assert.equal(step.retargeted, 2)
      assert.equal(step.dropped, 0)
      assert.deepEqual(step.local, [{ key: 'k1', record: rec(1) }])
      // New hints to store now; the old ones are removed once those (and `local`) are durable.
      assert.deepEqual(
        step.writes.map((w) => w.op),
        ['put', 'put', 'put'],
      )
      assert.deepEqual(
        step.removals.map((w) => w.op === 'remove' && `${w.intendedReplica}/${w.key}`),
        ['gone/k1', 'gone/k2'],
      )
      store.apply(step.writes)
      store.apply(step.removals)
      const held = store
        .list()
        .map((h) => `${h.intendedReplica}/${h.key}@${h.record.version.wallMs}`)
        .sort()
      assert.deepEqual(held, ['a/k1@1', 'a/k3@3', 'b/k1@1', 'b/k2@2'])
      assert.equal(hints.pendingCount('gone'), 0)
      assert.deepEqual(hints.heldFor(), ['a', 'b'])
      assert.equal(hints.retargetedCount, 2)
      // A late ack of a delivery to the departed node changes nothing.
      const late = inFlight[0]!.message as HintDeliverMessage
      const ack = hints.onAck('gone', { type: 'hint-ack', deliveryId: late.deliveryId }, 1)
      assert.deepEqual(ack.writes, [])
      // The re-targeted hints are delivered to the current replicas like any hint.
      hints.setReachable('b', true)
      assert.deepEqual(
        hints
          .tick(2)
          .map((out) => `${out.to}/${(out.message as HintDeliverMessage).key}`)
          .sort(),
        ['b/k1', 'b/k2'],
      )
    })

    it('leaves hints for owners alone and does nothing twice', () => {
      const hints = new HintedHandoff()
      hints.accept({ intendedReplica: 'a', key: 'k', record: rec(1) })
      const none = hints.retarget(input(() => ['a', 'b']))
      assert.deepEqual(none, { writes: [], local: [], removals: [], retargeted: 0, dropped: 0 })
      hints.accept({ intendedReplica: 'gone', key: 'k', record: rec(2) })
      assert.equal(hints.retarget(input(() => ['a', 'b'])).retargeted, 1)
      assert.equal(hints.retarget(input(() => ['a', 'b'])).retargeted, 0)
      assert.equal(hints.pendingCount('a'), 1)
      assert.equal(hints.pendingCount('b'), 1)
    })

    it('drops and counts a copy a full queue refuses, and keeps a hint with no replica to go to', () => {
      const hints = new HintedHandoff({ maxHintsPerReplica: 1 })
      hints.accept({ intendedReplica: 'a', key: 'x', record: rec(1) })
      hints.accept({ intendedReplica: 'gone', key: 'k', record: rec(2) })
      hints.accept({ intendedReplica: 'gone2', key: 'orphan', record: rec(3) })
      const step = hints.retarget(input((key) => (key === 'k' ? ['a', 'b'] : [])))
      assert.equal(step.retargeted, 1)
      assert.equal(step.dropped, 1, "a's queue is full")
      assert.equal(hints.droppedCount, 1)
      assert.equal(hints.pendingCount('b'), 1)
      assert.equal(hints.pendingCount('gone'), 0)
      assert.equal(hints.pendingCount('gone2'), 1, 'no placement replica: the hint stays')
    })
  })
})
