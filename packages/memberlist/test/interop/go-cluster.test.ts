/**
 * Go-only clusters: real hashicorp/memberlist 0.2.2 peers driven through the harness. These
 * prove the harness and pin down the Go behaviour (timings, states, delegate calls) that the
 * mixed Go + TS tests then hold our implementation to. See docs/interop.md.
 */

import assert from 'node:assert/strict'
import { afterEach, describe, test } from 'node:test'
import {
  b64,
  eventData,
  goDetectionDeadlineMs,
  goDetectionMs,
  markAll,
  type PeerOptions,
  PeerRegistry,
  type RunningPeer,
  skipUnlessGo,
  startGoPeer,
  waitForStates,
} from './harness.ts'

const registry = new PeerRegistry()
afterEach(() => registry.killAll())

const CONVERGE_MS = 10_000

/** Starts `names.length` Go peers, all joining the first, and waits until all see all alive. */
async function startGoCluster(
  names: readonly string[],
  options: Omit<PeerOptions, 'name' | 'join'> = {},
): Promise<RunningPeer[]> {
  const [first, ...rest] = names
  const seed = await startGoPeer(registry, { ...options, name: first! })
  const others = await Promise.all(
    rest.map((name) => startGoPeer(registry, { ...options, name, join: [seed.addr] })),
  )
  const peers = [seed, ...others]
  await waitForStates(peers, names, 'alive', { timeoutMs: CONVERGE_MS })
  return peers
}

const modes: readonly { label: string; key?: Uint8Array }[] = [
  { label: 'without encryption' },
  { label: 'with an AES-256-GCM key', key: Buffer.alloc(32, 0x5a) },
]

for (const mode of modes) {
  const keyed: Omit<PeerOptions, 'name' | 'join'> = mode.key === undefined ? {} : { key: mode.key }

  describe(`Go memberlist peers ${mode.label}`, () => {
    test('three Go peers form one cluster and each lists all three as alive', async (t) => {
      if (!(await skipUnlessGo(t))) return
      const peers = await startGoCluster(['go-a', 'go-b', 'go-c'], keyed)
      for (const peer of peers) {
        const rows = await peer.members()
        assert.deepEqual(rows.map((r) => `${r.name}:${r.state}`).sort(), [
          'go-a:alive',
          'go-b:alive',
          'go-c:alive',
        ])
      }
    })

    test('a SIGKILLed Go peer is declared dead by the others within the Go detection bound', async (t) => {
      if (!(await skipUnlessGo(t))) return
      const peers = await startGoCluster(['go-a', 'go-b', 'go-c'], keyed)
      const [a, b, victim] = peers as [RunningPeer, RunningPeer, RunningPeer]
      const n = await a.estNumNodes()
      const deadlineMs = goDetectionDeadlineMs(a.config, n)
      const marks = markAll([a, b])
      const killedAtMs = performance.now()
      victim.kill('SIGKILL')
      for (const viewer of [a, b]) {
        const dead = await viewer.waitFor((e) => e.event === 'leave' && e['node'] === victim.name, {
          timeoutMs: deadlineMs,
          after: marks.get(viewer)!,
          description: 'leave of go-c',
        })
        assert.equal(dead['state'], 'dead', 'a crashed node is dead, not left')
        t.diagnostic(
          `${viewer.name} declared ${victim.name} dead after ${Math.round(dead.receivedAtMs - killedAtMs)} ms ` +
            `(Go detection time ${goDetectionMs(a.config, n)} ms, deadline ${deadlineMs} ms, n=${n})`,
        )
      }
      // Suspicion came first: the Go nodes went through the Lifeguard suspect state.
      await a.waitForState(victim.name, 'suspect', { timeoutMs: 1, after: marks.get(a)! })
    })

    test('a graceful leave is seen as left, not dead, and the node drops out of Members()', async (t) => {
      if (!(await skipUnlessGo(t))) return
      const [a, b, leaver] = (await startGoCluster(['go-a', 'go-b', 'go-c'], keyed)) as [
        RunningPeer,
        RunningPeer,
        RunningPeer,
      ]
      const marks = markAll([a, b])
      await leaver.request({ cmd: 'leave', timeoutMs: 2_000 }, 5_000)
      const bound = { timeoutMs: 2 * a.config.probeIntervalMs + 1_000 }
      for (const viewer of [a, b]) {
        const left = await viewer.waitFor((e) => e.event === 'leave' && e['node'] === leaver.name, {
          ...bound,
          after: marks.get(viewer)!,
          description: 'leave of go-c',
        })
        assert.equal(left['state'], 'left')
        const reply = await viewer.request({ cmd: 'members' })
        assert.deepEqual((reply['alive'] as string[]).sort(), ['go-a', 'go-b'])
      }
    })

    test('user messages (reliable over TCP, best-effort over UDP) cross between Go peers', async (t) => {
      if (!(await skipUnlessGo(t))) return
      const [a, b, c] = (await startGoCluster(['go-a', 'go-b', 'go-c'], keyed)) as [
        RunningPeer,
        RunningPeer,
        RunningPeer,
      ]
      const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
      const hasData = (data: Buffer) => (e: { event: string; [k: string]: unknown }) =>
        e.event === 'message' && Buffer.from(String(e['data']), 'base64').equals(data)
      const limits = { timeoutMs: 5_000 }

      await a.request({ cmd: 'send', node: 'go-b', reliable: true, data: b64(binary) })
      await b.waitFor(hasData(binary), { ...limits, description: 'the reliable message' })

      const datagram = Buffer.from('best effort over UDP')
      await a.request({ cmd: 'send', node: 'go-c', reliable: false, data: b64(datagram) })
      await c.waitFor(hasData(datagram), { ...limits, description: 'the best-effort message' })
    })

    // Local's retransmit limit is 2 × ceil(log10(n + 1)) and receivers do not re-gossip user
    // broadcasts, so only a pair guarantees delivery to every other node.
    test('a user broadcast piggy-backed on gossip reaches the other Go peer', async (t) => {
      if (!(await skipUnlessGo(t))) return
      const [a, b] = (await startGoCluster(['go-a', 'go-b'], keyed)) as [RunningPeer, RunningPeer]
      const gossip = Buffer.from('piggy-backed user broadcast')
      await b.request({ cmd: 'broadcast', data: b64(gossip) })
      await a.waitFor((e) => e.event === 'message' && eventData(e).equals(gossip), {
        timeoutMs: 5_000,
        description: 'the broadcast at go-a',
      })
    })

    test('push/pull delegate state crosses in both directions when a Go peer joins', async (t) => {
      if (!(await skipUnlessGo(t))) return
      const a = await startGoPeer(registry, { ...keyed, name: 'go-a' })
      const b = await startGoPeer(registry, { ...keyed, name: 'go-b' })
      await a.request({ cmd: 'setLocalState', data: b64('state of go-a') })
      await b.request({ cmd: 'setLocalState', data: b64('state of go-b') })
      await b.request({ cmd: 'join', addrs: [a.addr] })
      const atA = await a.waitFor((e) => e.event === 'remoteState', { timeoutMs: 5_000 })
      const atB = await b.waitFor((e) => e.event === 'remoteState', { timeoutMs: 5_000 })
      assert.equal(eventData(atA).toString(), 'state of go-b')
      assert.equal(eventData(atB).toString(), 'state of go-a')
      assert.equal(atA['join'], true)
      assert.equal(atB['join'], true)
    })

    test('a metadata update reaches the other Go peer as an update event', async (t) => {
      if (!(await skipUnlessGo(t))) return
      const [a, b] = (await startGoCluster(['go-a', 'go-b'], { ...keyed, meta: 'v1' })) as [
        RunningPeer,
        RunningPeer,
      ]
      const after = a.line.mark()
      await b.request({ cmd: 'updateMeta', meta: 'v2', timeoutMs: 2_000 })
      const update = await a.waitFor((e) => e.event === 'update' && e['node'] === 'go-b', {
        timeoutMs: 5_000,
        after,
      })
      assert.equal(update['meta'], 'v2')
    })
  })
}

describe('Go memberlist peers with mismatched encryption', () => {
  test('a peer without the key cannot join an encrypted cluster', async (t) => {
    if (!(await skipUnlessGo(t))) return
    const keyed = await startGoPeer(registry, { name: 'go-keyed', key: Buffer.alloc(16, 1) })
    const plain = await startGoPeer(registry, { name: 'go-plain' })
    await assert.rejects(plain.request({ cmd: 'join', addrs: [keyed.addr] }), /join failed/)
    const reply = await keyed.request({ cmd: 'members' })
    assert.deepEqual(reply['alive'], ['go-keyed'])
  })
})
