/**
 * Real sockets, real processes: five TS memberlist nodes, each in its own Node process
 * (test/interop/ts-peer.ts), on loopback with the Local preset. They join into one cluster,
 * detect a SIGKILLed member within the detection bound that docs/interop.md derives, and see a
 * graceful leave as `left`. Needs no Go toolchain.
 */

import assert from 'node:assert/strict'
import { afterEach, describe, test } from 'node:test'
import {
  goDetectionDeadlineMs,
  markAll,
  PeerRegistry,
  type RunningPeer,
  startTsPeer,
  waitForStates,
} from '../interop/harness.ts'

const registry = new PeerRegistry()
afterEach(() => registry.killAll())

const NAMES = ['ts-1', 'ts-2', 'ts-3', 'ts-4', 'ts-5'] as const

async function startFive(): Promise<RunningPeer[]> {
  const seed = await startTsPeer(registry, { name: NAMES[0] })
  // Later nodes join different members, so the cluster forms through gossip and push/pull.
  const rest = await Promise.all(
    NAMES.slice(1).map((name) => startTsPeer(registry, { name, join: [seed.addr] })),
  )
  const peers = [seed, ...rest]
  await waitForStates(peers, NAMES, 'alive', { timeoutMs: 20_000 })
  return peers
}

describe('five TS memberlist nodes in separate processes on loopback', () => {
  test('join into one cluster, detect a SIGKILLed node as dead, and see a graceful leave as left', async (t) => {
    const peers = await startFive()
    for (const peer of peers) {
      const reply = await peer.request({ cmd: 'members' })
      assert.deepEqual((reply['alive'] as string[]).sort(), [...NAMES], `${peer.name}'s members`)
    }

    const [p1, p2, p3, p4, victim] = peers as [
      RunningPeer,
      RunningPeer,
      RunningPeer,
      RunningPeer,
      RunningPeer,
    ]
    const survivors = [p1, p2, p3, p4]
    const n = await p1.estNumNodes()
    const deadlineMs = goDetectionDeadlineMs(p1.config, n)
    let marks = markAll(survivors)
    const killedAtMs = performance.now()
    victim.kill('SIGKILL')
    await Promise.all(
      survivors.map(async (viewer) => {
        const event = await viewer.waitFor(
          (e) => e.event === 'leave' && e['node'] === victim.name,
          { timeoutMs: deadlineMs, after: marks.get(viewer)!, description: 'the crash' },
        )
        assert.equal(event['state'], 'dead')
      }),
    )
    t.diagnostic(
      `crash of ${victim.name} detected by all survivors within ${Math.round(performance.now() - killedAtMs)} ms (bound ${deadlineMs} ms, n=${n})`,
    )

    marks = markAll([p1, p2, p3])
    await p4.request({ cmd: 'leave', timeoutMs: 2_000 }, 5_000)
    await Promise.all(
      [p1, p2, p3].map(async (viewer) => {
        const event = await viewer.waitFor((e) => e.event === 'leave' && e['node'] === p4.name, {
          // Gossip usually delivers the leave within a few 100 ms gossip intervals, but it is
          // probabilistic (transmit-limited, and targets include the recently dead ts-5); the
          // guarantee is the next periodic push/pull, 15 s in the local preset.
          timeoutMs: 20_000,
          after: marks.get(viewer)!,
          description: 'the graceful leave',
        })
        assert.equal(event['state'], 'left')
      }),
    )
    await waitForStates([p1, p2, p3], [p4.name], 'left', { timeoutMs: 1_000 })
  })
})
