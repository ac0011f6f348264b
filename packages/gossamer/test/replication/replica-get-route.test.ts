// Goal: a replica answers a get only with data it holds. `routeGet` (the rule the runtime's
// driver and the simulator share): local when it holds the partition (a replica), merged with
// a read quorum of the old replicas while it streams the partition in, and refused when it does
// not hold it (no placement applied yet, not a replica, dropped) — whole-cluster sim seeds 61
// and 80. An old replica still handing the partition off answers only the gets forwarded by a
// receiver streaming it in, never a coordinator's — swarm seeds 4149 and 4183.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { routeGet } from '../../src/replication/replica.ts'

const base = {
  self: 'd',
  forwarded: false,
  replicas: ['a', 'b', 'd'] as readonly string[] | undefined,
  handoff: undefined,
  readQuorum: undefined,
} as const

describe('replication/replica: routeGet', () => {
  it('a replica holding the partition answers from its own store', () => {
    assert.deepEqual(routeGet(base), { kind: 'local' })
    assert.deepEqual(routeGet({ ...base, handoff: 'received' }), { kind: 'local' })
    assert.deepEqual(routeGet({ ...base, forwarded: true }), { kind: 'local' })
  })

  it('a node that has not applied any placement refuses (it cannot know it is a replica)', () => {
    // Seed 61: such a node answered 'no record' and formed a read quorum with a replica that
    // had missed an acknowledged write.
    assert.equal(routeGet({ ...base, replicas: undefined }).kind, 'refuse')
  })

  it('a node that is not a replica of the partition refuses', () => {
    const notReplica = { ...base, replicas: ['a', 'b', 'c'] }
    assert.equal(routeGet(notReplica).kind, 'refuse')
    assert.equal(routeGet({ ...notReplica, forwarded: true }).kind, 'refuse')
    assert.equal(routeGet({ ...notReplica, handoff: 'dropped' }).kind, 'refuse')
    assert.equal(routeGet({ ...notReplica, handoff: 'dropped', forwarded: true }).kind, 'refuse')
  })

  it("an old replica still handing the partition off answers a receiver's forwarded get, never a coordinator's", () => {
    // Swarm seeds 4149 and 4183: coordinators under the new placement write to the new
    // replicas only, so the old copy misses their writes. A coordinator that had not heard of
    // a leave read from the leaving node (handing off) and from a replica that had missed the
    // write, and returned an older value than a put the new replicas had acknowledged.
    const handingOff = { ...base, replicas: ['a', 'b', 'c'], handoff: 'handing-off' } as const
    assert.equal(routeGet(handingOff).kind, 'refuse')
    // A receiver merges this answer with its own copy, which takes the new placement's writes.
    assert.deepEqual(routeGet({ ...handingOff, forwarded: true }), { kind: 'local' })
    // A copy whose transfer in was cut short (swarm seed 2084) is no complete answer either.
    const incomplete = { ...handingOff, readQuorum: { sources: ['a', 'b', 'c'], needed: 2 } }
    assert.equal(routeGet(incomplete).kind, 'refuse')
    assert.equal(routeGet({ ...incomplete, forwarded: true }).kind, 'refuse')
  })

  it('a replica still streaming the partition in merges a read quorum of the old replicas', () => {
    const readQuorum = { sources: ['a', 'b', 'c'], needed: 2 }
    for (const handoff of ['pending', 'receiving'] as const) {
      assert.deepEqual(routeGet({ ...base, handoff, readQuorum }), {
        kind: 'merge',
        sources: ['a', 'b', 'c'],
        needed: 2,
      })
      // A forwarded get is never forwarded again: refused rather than answered from a
      // partial copy.
      assert.equal(routeGet({ ...base, handoff, readQuorum, forwarded: true }).kind, 'refuse')
    }
    assert.deepEqual(
      routeGet({ ...base, handoff: 'receiving', readQuorum: { sources: [], needed: 0 } }),
      { kind: 'local' },
      'nothing to merge with: its own copy is all there is',
    )
  })
})
