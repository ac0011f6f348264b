// Goal: a node serves hand-off pages only when it knows what it holds. A node that has not
// applied any placement yet (booted, not joined) refuses a `handoff-request`
// (`handoffSourceRefusal`, shared by the runtime's driver and the simulator's node), so a
// receiver never counts its empty or stale store as a full pass of an old replica. Whole-cluster
// sim swarm seed 8093: three leavers rejoined as the new replicas of a partition; one streamed
// it from two of the others, both still unjoined with the partition dropped, reported the
// hand-off done with nothing, and an acknowledged w=all put was lost.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { HandoffRequestMessage, Outgoing } from '../../src/replication/messages.ts'
import { answerHandoffRequest, Rebalance } from '../../src/replication/rebalance.ts'
import { handoffSourceRefusal, type PartitionHolding } from '../../src/replication/replica.ts'
import type { StoredRecord } from '../../src/storage/engine.ts'
import { MemoryEngine } from '../../src/storage/memory-engine.ts'

const holding: PartitionHolding = {
  self: 'n4',
  replicas: ['n1', 'n5', 'n7'],
  handoff: undefined,
  readQuorum: undefined,
}

function record(wallMs: number, nodeId: string, value: string): StoredRecord {
  return {
    version: { wallMs, logical: 0, nodeId },
    value: new TextEncoder().encode(value),
    tombstone: false,
  } as unknown as StoredRecord
}

describe('replication/replica: handoffSourceRefusal', () => {
  it('a node that has not applied any placement refuses to serve pages', () => {
    assert.equal(
      handoffSourceRefusal({ ...holding, replicas: undefined }),
      'no placement applied yet',
    )
  })

  it('a joined node serves pages (an old replica handing off, a replica, or an old holder)', () => {
    assert.equal(handoffSourceRefusal(holding), undefined)
    assert.equal(handoffSourceRefusal({ ...holding, handoff: 'handing-off' }), undefined)
    assert.equal(handoffSourceRefusal({ ...holding, replicas: ['n4', 'n5', 'n7'] }), undefined)
  })
})

/**
 * n7 receives partition 0 from the old replicas [n1, n5, n4] (read quorum: 2). n1 rejoined after
 * leaving: its store holds nothing of the partition and it has not joined yet. n5 and n4 hold
 * the acknowledged put. Every request is delivered as the drivers do: refused when
 * `handoffSourceRefusal` says so (a failure: `onFailure`), else answered.
 */
function stream(isRefusing: boolean) {
  const acked = record(1_700_000_023_041, 'n4', 'c1-282')
  const sources = new Map<string, { engine: MemoryEngine; applied: boolean }>()
  for (const [name, applied, has] of [
    ['n1', false, false],
    ['n5', true, true],
    ['n4', true, true],
  ] as const) {
    const engine = new MemoryEngine()
    if (has) engine.writeBatchSync([{ key: 'k37', record: acked }])
    sources.set(name, { engine, applied })
  }
  const receiver = new Rebalance({ self: 'n7' })
  receiver.applyPlan({
    moves: [{ partition: 0, to: 'n7', sources: ['n1', 'n5', 'n4'] }],
    drops: [{ partition: 0, node: 'n4', awaiting: ['n7'] }],
  })
  const mine = new MemoryEngine()
  const passedFrom: string[] = []
  const done: string[] = []
  let queue: Outgoing[] = [...receiver.tick(0, () => true).send]
  for (let round = 0; round < 20 && done.length === 0; round++) {
    const next: Outgoing[] = []
    for (const out of queue) {
      const source = sources.get(out.to)!
      const view = {
        ...holding,
        self: out.to,
        replicas: source.applied ? holding.replicas : undefined,
      }
      if (isRefusing && handoffSourceRefusal(view) !== undefined) {
        receiver.onFailure(out.to) // the next tick switches source
        continue
      }
      const batch = answerHandoffRequest({
        store: source.engine,
        request: out.message as HandoffRequestMessage,
        partitionOf: () => 0,
        nowMs: 0,
      })!
      const step = receiver.onBatch(out.to, batch, 0)
      if (batch.cursor === undefined && step.persist.length > 0) passedFrom.push(out.to)
      for (const persist of step.persist) {
        mine.writeBatchSync(persist.entries)
        receiver.onPersisted(persist.page)
        for (const then of persist.thenSend) {
          if (then.message.type === 'handoff-done') done.push(then.to)
          else next.push(then)
        }
      }
      next.push(...step.send)
    }
    queue = [...next, ...receiver.tick(0, () => true).send]
  }
  return { passedFrom, done, state: receiver.stateOf(0), version: mine.getRecord('k37')?.version }
}

describe('replication/rebalance: sources that refuse', () => {
  it('an unjoined source with nothing of the partition counted as a full pass (the failure: sim swarm seed 8093)', () => {
    // Without the refusal: n1's empty page is a pass, and n5 makes the quorum here only because
    // it holds the write; with two such sources (8093: both unjoined) the receiver reports done
    // holding nothing, and the old replica n4 drops its copy.
    assert.deepEqual(stream(false).passedFrom, ['n1', 'n5'])
  })

  it('a receiver streams from sources that know what they hold; the unjoined one refuses (sim swarm seed 8093)', () => {
    const result = stream(true)
    assert.deepEqual(
      result.passedFrom,
      ['n5', 'n4'],
      'the passes come from the sources that hold it',
    )
    assert.deepEqual(result.done, ['n4'])
    assert.equal(result.state, 'received')
    assert.deepEqual(result.version, { wallMs: 1_700_000_023_041, logical: 0, nodeId: 'n4' })
  })
})
