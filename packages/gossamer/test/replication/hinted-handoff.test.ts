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
})
