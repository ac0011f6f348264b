// Goal: one forged alive cannot stop anti-entropy across the cluster. An alive for a node whose
// versions could never talk to ours (here protocol [1, 1] at version 0, for a node named "") is
// refused, so it cannot narrow the cluster's protocol range below what every real member speaks.
// Admitted, it made every push/pull fail verifyProtocol, and a forged leave of a healthy member
// sent with it was never refuted (the hostile-input property test, fast-check seed 989972054).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { SimCluster } from '../../src/sim/sim-cluster.ts'
import type { PacketMessage } from '../../src/wire/messages.ts'

const HEALTHY = ['n0', 'n1', 'n2', 'n3']

function converged(sim: SimCluster): boolean {
  return HEALTHY.every((o) => HEALTHY.every((s) => sim.view(o, s) === 'alive'))
}

function joined(): SimCluster {
  const sim = new SimCluster({ seed: 1, isLogging: false })
  for (const name of HEALTHY) sim.addNode(name)
  for (const name of HEALTHY.slice(1)) sim.join(name, ['n0'])
  assert.ok(
    sim.runUntil(() => converged(sim), 60_000),
    'initial join',
  )
  return sim
}

function forgedAlive(vsn: Uint8Array): PacketMessage {
  return {
    type: 'alive',
    incarnation: 1,
    node: '',
    addr: Uint8Array.of(10, 0, 0, 1),
    port: 0,
    meta: new Uint8Array(0),
    vsn,
  } as PacketMessage
}

describe('memberlist core: alive messages from nodes we could never talk to', () => {
  test('the counterexample: a forged incompatible alive and a forged leave; the leave is refuted and the cluster converges', () => {
    const sim = joined()
    const vsn = new Uint8Array(256)
    vsn[0] = 1
    vsn[1] = 1
    sim.inject('n0', (core) =>
      core.handlePacket({ ip: Uint8Array.of(10, 0, 0, 1), port: 0 }, [
        forgedAlive(vsn),
        { type: 'dead', incarnation: 1, node: 'n2', from: 'n2' } as PacketMessage,
        { type: 'ping', node: 'n1', seqNo: 0 } as PacketMessage,
      ]),
    )
    assert.equal(
      sim
        .node('n0')
        .core.allNodes()
        .some((n) => n.name === ''),
      false,
      'the incompatible node is not in the table',
    )
    assert.ok(
      sim.runUntil(() => converged(sim), 600_000),
      'healthy nodes converge',
    )
    assert.ok(sim.node('n2').core.localNode().incarnation > 1, 'n2 refuted the forged leave')
  })

  test('refused: a current version outside our range, or our current version outside its range', () => {
    for (const vsn of [
      Uint8Array.of(1, 1, 1, 0, 0, 0), // it cannot speak our protocol 2
      Uint8Array.of(3, 5, 3, 0, 0, 0), // it needs at least 3; we speak 2
      Uint8Array.of(1, 9, 7, 0, 0, 0), // it speaks 7; we understand up to 5
      Uint8Array.of(1, 5, 2, 1, 1, 1), // delegate protocol 1; ours is 0
    ]) {
      const sim = joined()
      sim.inject('n0', (core) =>
        core.handlePacket({ ip: Uint8Array.of(10, 0, 0, 9), port: 7946 }, [forgedAlive(vsn)]),
      )
      assert.equal(sim.node('n0').core.allNodes().length, 4, `vsn ${vsn.join(',')} refused`)
    }
  })

  test('accepted: a node speaking our protocol within a wider range', () => {
    const sim = joined()
    sim.inject('n0', (core) =>
      core.handlePacket({ ip: Uint8Array.of(10, 0, 0, 9), port: 7946 }, [
        forgedAlive(Uint8Array.of(1, 5, 3, 0, 0, 0)),
      ]),
    )
    assert.equal(sim.node('n0').core.allNodes().length, 5)
  })
})
