/**
 * Mixed clusters: two real Go memberlist 0.2.2 nodes and two of ours, each in its own process,
 * on loopback. Every check is the issue's interoperability list, run without and with an
 * encryption key; crash detection must meet the Go nodes' own detection time plus one probe
 * interval (docs/interop.md).
 */

import assert from 'node:assert/strict'
import { afterEach, describe, test } from 'node:test'
import {
  b64,
  eventData,
  goDetectionDeadlineMs,
  goDetectionMs,
  markAll,
  type PeerEvent,
  type PeerOptions,
  PeerRegistry,
  type RunningPeer,
  skipUnlessGo,
  startGoPeer,
  startTsPeer,
  waitForStates,
} from './harness.ts'

const registry = new PeerRegistry()
afterEach(() => registry.killAll())

// Gossip normally converges in well under a second; if the one alive broadcast about a late
// joiner is lost (UDP under a loaded CI box), memberlist's guarantee is the next periodic
// push/pull, 15 s in the local preset (Go's DefaultLocalConfig), so the bound must cover it.
const CONVERGE_MS = 35_000
const NAMES = ['go-a', 'ts-a', 'go-b', 'ts-b'] as const

/**
 * How long a graceful leave may take to be seen everywhere. Usually a few gossip intervals; but
 * gossip is probabilistic with a transmit limit of RetransmitMult * ceil(log10(n + 1)), so a
 * node can miss every copy, and then the next periodic push/pull (which carries the `left`
 * state) is memberlist's guarantee.
 */
function leaveBoundMs(config: { probeIntervalMs: number; pushPullIntervalMs: number }): number {
  return config.pushPullIntervalMs + 2 * config.probeIntervalMs + 2_000
}

interface Mixed {
  readonly goA: RunningPeer
  readonly tsA: RunningPeer
  readonly goB: RunningPeer
  readonly tsB: RunningPeer
  readonly all: readonly RunningPeer[]
}

/**
 * Starts go-a, then ts-a joining go-a, go-b joining ts-a, ts-b joining go-b — so join
 * push/pulls run Go→TS and TS→Go — and waits until every node sees all four alive.
 */
async function startMixed(shared: Omit<PeerOptions, 'name' | 'join'>): Promise<Mixed> {
  const goA = await startGoPeer(registry, { ...shared, name: 'go-a' })
  const tsA = await startTsPeer(registry, { ...shared, name: 'ts-a', join: [goA.addr] })
  const goB = await startGoPeer(registry, { ...shared, name: 'go-b', join: [tsA.addr] })
  const tsB = await startTsPeer(registry, { ...shared, name: 'ts-b', join: [goB.addr] })
  const all = [goA, tsA, goB, tsB]
  await waitForStates(all, NAMES, 'alive', { timeoutMs: CONVERGE_MS })
  return { goA, tsA, goB, tsB, all }
}

/** Waits for each viewer's leave event about `victim` and checks its state. */
async function expectLeave(
  viewers: readonly RunningPeer[],
  victim: string,
  expected: { state: 'dead' | 'left'; timeoutMs: number; marks: ReadonlyMap<RunningPeer, number> },
): Promise<PeerEvent[]> {
  return Promise.all(
    viewers.map(async (viewer) => {
      const event = await viewer.waitFor((e) => e.event === 'leave' && e['node'] === victim, {
        timeoutMs: expected.timeoutMs,
        after: expected.marks.get(viewer)!,
        description: `${viewer.name} to see ${victim} ${expected.state}`,
      })
      assert.equal(event['state'], expected.state, `${viewer.name}'s view of ${victim}`)
      return event
    }),
  )
}

const hasData = (data: Buffer) => (e: PeerEvent) =>
  e.event === 'message' && eventData(e).equals(data)

const modes: readonly { label: string; key?: Uint8Array }[] = [
  { label: 'without encryption' },
  { label: 'with an AES-256-GCM key', key: Buffer.alloc(32, 0x3c) },
]

for (const mode of modes) {
  const keyed: Omit<PeerOptions, 'name' | 'join'> = mode.key === undefined ? {} : { key: mode.key }

  describe(`a cluster of 2 Go and 2 TS memberlist nodes ${mode.label}`, () => {
    test('all four nodes see four alive members', async (t) => {
      if (!(await skipUnlessGo(t))) return
      const { all } = await startMixed(keyed)
      for (const peer of all) {
        const rows = await peer.members()
        assert.deepEqual(
          rows.map((r) => `${r.name}:${r.state}`).sort(),
          ['go-a:alive', 'go-b:alive', 'ts-a:alive', 'ts-b:alive'],
          `${peer.name}'s member list`,
        )
      }
    })

    test('a SIGKILLed Go node is declared dead by the TS nodes within the Go detection time plus one probe interval', async (t) => {
      if (!(await skipUnlessGo(t))) return
      const { goA, tsA, goB, tsB } = await startMixed(keyed)
      const n = await goA.estNumNodes()
      const deadlineMs = goDetectionDeadlineMs(goA.config, n)
      const marks = markAll([goA, tsA, tsB])
      const killedAtMs = performance.now()
      goB.kill('SIGKILL')
      const events = await expectLeave([tsA, tsB, goA], 'go-b', {
        state: 'dead',
        timeoutMs: deadlineMs,
        marks,
      })
      t.diagnostic(
        `dead after ${events.map((e) => Math.round(e.receivedAtMs - killedAtMs)).join(' / ')} ms ` +
          `(ts-a / ts-b / go-a; Go detection ${goDetectionMs(goA.config, n)} ms, deadline ${deadlineMs} ms, n=${n})`,
      )
    })

    test('a SIGKILLed TS node is declared dead by the Go nodes within the Go detection time plus one probe interval', async (t) => {
      if (!(await skipUnlessGo(t))) return
      const { goA, tsA, goB, tsB } = await startMixed(keyed)
      const n = await goA.estNumNodes()
      const deadlineMs = goDetectionDeadlineMs(goA.config, n)
      const marks = markAll([goA, goB, tsA])
      const killedAtMs = performance.now()
      tsB.kill('SIGKILL')
      const events = await expectLeave([goA, goB, tsA], 'ts-b', {
        state: 'dead',
        timeoutMs: deadlineMs,
        marks,
      })
      t.diagnostic(
        `dead after ${events.map((e) => Math.round(e.receivedAtMs - killedAtMs)).join(' / ')} ms ` +
          `(go-a / go-b / ts-a; Go detection ${goDetectionMs(goA.config, n)} ms, deadline ${deadlineMs} ms, n=${n})`,
      )
    })

    test('a graceful leave of a TS node is seen as left by the Go nodes', async (t) => {
      if (!(await skipUnlessGo(t))) return
      const { goA, goB, tsA, tsB } = await startMixed(keyed)
      const marks = markAll([goA, goB, tsA])
      await tsB.request({ cmd: 'leave', timeoutMs: 2_000 }, 5_000)
      await expectLeave([goA, goB, tsA], 'ts-b', {
        state: 'left',
        timeoutMs: leaveBoundMs(goA.config),
        marks,
      })
      const reply = await goA.request({ cmd: 'members' })
      assert.deepEqual((reply['alive'] as string[]).sort(), ['go-a', 'go-b', 'ts-a'])
    })

    test('a graceful leave of a Go node is seen as left by the TS nodes', async (t) => {
      if (!(await skipUnlessGo(t))) return
      const { goA, goB, tsA, tsB } = await startMixed(keyed)
      const marks = markAll([tsA, tsB, goA])
      await goB.request({ cmd: 'leave', timeoutMs: 2_000 }, 5_000)
      await expectLeave([tsA, tsB, goA], 'go-b', {
        state: 'left',
        timeoutMs: leaveBoundMs(goA.config),
        marks,
      })
      const reply = await tsA.request({ cmd: 'members' })
      assert.deepEqual((reply['alive'] as string[]).sort(), ['go-a', 'ts-a', 'ts-b'])
    })

    test('user messages cross in both directions over TCP and UDP', async (t) => {
      if (!(await skipUnlessGo(t))) return
      const { goA, tsA, goB, tsB } = await startMixed(keyed)
      const cases: [RunningPeer, RunningPeer, boolean, string][] = [
        [goA, tsA, true, 'Go→TS over TCP'],
        [tsA, goB, true, 'TS→Go over TCP'],
        [goB, tsB, false, 'Go→TS over UDP'],
        [tsB, goA, false, 'TS→Go over UDP'],
      ]
      for (const [from, to, reliable, label] of cases) {
        const data = Buffer.concat([Buffer.from(`${label}:`), Buffer.from([0, 1, 254, 255])])
        await from.request({ cmd: 'send', node: to.name, reliable, data: b64(data) })
        await to.waitFor(hasData(data), { timeoutMs: 5_000, description: label })
      }
    })

    // A user broadcast is sent retransmitMult × ceil(log10(n + 1)) times and receivers do not
    // re-gossip it (memberlist leaves that to the application), so with Local's multiplier of
    // 2 it reliably reaches every node only in a cluster of up to 3; a pair makes it certain.
    test('user broadcasts piggy-backed on gossip cross in both directions', async (t) => {
      if (!(await skipUnlessGo(t))) return
      const go = await startGoPeer(registry, { ...keyed, name: 'go-a' })
      const ts = await startTsPeer(registry, { ...keyed, name: 'ts-a', join: [go.addr] })
      await waitForStates([go, ts], ['go-a', 'ts-a'], 'alive', { timeoutMs: CONVERGE_MS })
      const fromGo = Buffer.from('broadcast from go-a')
      const fromTs = Buffer.from('broadcast from ts-a')
      await go.request({ cmd: 'broadcast', data: b64(fromGo) })
      await ts.request({ cmd: 'broadcast', data: b64(fromTs) })
      await ts.waitFor(hasData(fromGo), { timeoutMs: 5_000, description: 'the Go broadcast' })
      await go.waitFor(hasData(fromTs), { timeoutMs: 5_000, description: 'the TS broadcast' })
    })

    test('push/pull delegate state crosses in both directions, whichever side joins', async (t) => {
      if (!(await skipUnlessGo(t))) return
      for (const joinerIsTs of [true, false]) {
        const suffix = joinerIsTs ? '1' : '2'
        const go = await startGoPeer(registry, { ...keyed, name: `go-${suffix}` })
        const ts = await startTsPeer(registry, { ...keyed, name: `ts-${suffix}` })
        await go.request({ cmd: 'setLocalState', data: b64(`state of ${go.name}`) })
        await ts.request({ cmd: 'setLocalState', data: b64(`state of ${ts.name}`) })
        const [joiner, seed] = joinerIsTs ? [ts, go] : [go, ts]
        await joiner.request({ cmd: 'join', addrs: [seed.addr] })
        const atGo = await go.waitFor((e) => e.event === 'remoteState', { timeoutMs: 5_000 })
        const atTs = await ts.waitFor((e) => e.event === 'remoteState', { timeoutMs: 5_000 })
        assert.equal(eventData(atGo).toString(), `state of ${ts.name}`)
        assert.equal(eventData(atTs).toString(), `state of ${go.name}`)
        assert.equal(atGo['join'], true)
        assert.equal(atTs['join'], true)
      }
    })
  })
}

describe('a mixed cluster with mismatched encryption', () => {
  test('a TS node without the key cannot join an encrypted Go node, nor a Go node without it an encrypted TS node', async (t) => {
    if (!(await skipUnlessGo(t))) return
    const key = Buffer.alloc(16, 9)
    const goKeyed = await startGoPeer(registry, { name: 'go-keyed', key })
    const tsPlain = await startTsPeer(registry, { name: 'ts-plain' })
    await assert.rejects(tsPlain.request({ cmd: 'join', addrs: [goKeyed.addr] }))
    const tsKeyed = await startTsPeer(registry, { name: 'ts-keyed', key })
    const goPlain = await startGoPeer(registry, { name: 'go-plain' })
    await assert.rejects(goPlain.request({ cmd: 'join', addrs: [tsKeyed.addr] }))
    assert.deepEqual((await goKeyed.request({ cmd: 'members' }))['alive'], ['go-keyed'])
    assert.deepEqual((await tsKeyed.request({ cmd: 'members' }))['alive'], ['ts-keyed'])
  })
})
