// Goal: whole-cluster behaviour in the deterministic simulator (virtual time, seeded, no
// sleeps): convergence, crash detection within the formula's bound, refutation, leave,
// partition healing, and no false deaths under 10% packet loss. Failing runs print the seed.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { simPreset } from '../../src/core/config.ts'
import { suspicionTimeoutMs } from '../../src/core/formulas.ts'
import { SimCluster } from '../../src/sim/sim-cluster.ts'

function cluster(seed: number, n: number, options: { isLogging?: boolean } = {}): SimCluster {
  const sim = new SimCluster({ seed, isLogging: options.isLogging ?? false })
  for (let i = 0; i < n; i++) sim.addNode(`n${i}`)
  for (let i = 1; i < n; i++) sim.join(`n${i}`, ['n0'])
  return sim
}

function allSee(sim: SimCluster, count: number, except: readonly string[] = []): boolean {
  return sim.nodes().every((x) => except.includes(x.name) || x.core.numMembers() === count)
}

test('sim: 100 nodes joining through one seed converge: every node sees 100 alive (seed 1)', () => {
  const sim = cluster(1, 100)
  const ok = sim.runUntil(() => allSee(sim, 100), 60_000)
  assert.ok(ok, 'reproduce with seed 1')
  for (const node of sim.nodes()) {
    assert.ok(node.core.members().every((m) => m.state === 'alive'))
  }
})

test('sim: the same seed yields the identical event log', () => {
  const run = (): string[] => {
    const sim = cluster(7, 12, { isLogging: true })
    sim.runFor(5_000)
    sim.crash('n3')
    sim.runFor(30_000)
    return sim.log
  }
  const first = run()
  assert.ok(first.length > 20)
  assert.deepEqual(run(), first)
  const other = new SimCluster({ seed: 8 })
  assert.notDeepEqual(other.random.u32(), new SimCluster({ seed: 7 }).random.u32())
})

test('sim: a crashed node is declared dead by every member within the formula bound (n=30)', () => {
  const n = 30
  const sim = cluster(3, n)
  assert.ok(
    sim.runUntil(() => allSee(sim, n), 60_000),
    'converged (seed 3)',
  )
  sim.runFor(5_000)
  sim.crash('n7')
  const crashedMs = sim.nowMs
  const everyoneSeesDead = (): boolean =>
    sim.nodes().every((x) => x.name === 'n7' || sim.view(x.name, 'n7') === 'dead')
  const c = simPreset
  const minMs = suspicionTimeoutMs({
    suspicionMult: c.suspicionMult,
    nodeCount: n,
    probeIntervalMs: c.probeIntervalMs,
  })
  const maxMs = c.suspicionMaxTimeoutMult * minMs
  // Someone probes n7 within ~2 intervals (n−1 probers round-robin), the probe fails by its
  // deadline (1 interval at health 0), suspicion lasts at most max, and the dead broadcast
  // spreads within a few gossip rounds.
  const boundMs = 2 * c.probeIntervalMs + c.probeIntervalMs + maxMs + 10 * c.gossipIntervalMs
  assert.ok(
    sim.runUntil(everyoneSeesDead, boundMs),
    `dead everywhere within ${boundMs} ms (seed 3)`,
  )
  const detectedMs = sim.nowMs - crashedMs
  assert.ok(detectedMs >= minMs, `not before the minimum suspicion timeout (${detectedMs} ms)`)
  const falseDeaths = sim
    .nodes()
    .flatMap((x) => x.core.allNodes())
    .filter((m) => m.name !== 'n7' && m.state === 'dead')
  assert.equal(falseDeaths.length, 0)
})

test('sim: a falsely suspected node refutes with a higher incarnation and stays alive', () => {
  const sim = cluster(4, 10)
  assert.ok(sim.runUntil(() => allSee(sim, 10), 60_000))
  // Cut n2 off from n0 only (both directions): n0's probes fail, indirect probes succeed or
  // n0 suspects n2, which hears of it through gossip and refutes.
  sim.setLink('n0', 'n2', { lossRate: 1 })
  sim.setLink('n2', 'n0', { lossRate: 1 })
  sim.partition([['n0', 'n1', 'n3', 'n4', 'n5', 'n6', 'n7', 'n8', 'n9'], ['n2']])
  const before = sim.node('n2').core.localNode().incarnation
  const suspected = sim.runUntil(() => sim.view('n1', 'n2') === 'suspect', 30_000)
  assert.ok(suspected, 'n2 became suspect (seed 4)')
  sim.heal()
  sim.setLink('n0', 'n2', { lossRate: 0 })
  sim.setLink('n2', 'n0', { lossRate: 0 })
  sim.runFor(20_000)
  assert.ok(sim.node('n2').core.localNode().incarnation > before, 'n2 refuted')
  assert.ok(sim.node('n2').core.metrics.refutations >= 1)
  for (const node of sim.nodes()) assert.equal(sim.view(node.name, 'n2'), 'alive')
})

test('sim: a graceful leave is seen as left by every member', () => {
  const sim = cluster(5, 20)
  assert.ok(sim.runUntil(() => allSee(sim, 20), 60_000))
  sim.leave('n4')
  const ok = sim.runUntil(
    () => sim.nodes().every((x) => x.name === 'n4' || sim.view(x.name, 'n4') === 'left'),
    10_000,
  )
  assert.ok(ok, 'left everywhere (seed 5)')
  assert.equal(
    sim.nodes().reduce((sum, x) => sum + x.core.metrics.deaths, 0),
    0,
    'nobody declared it dead',
  )
})

test('sim: a partition longer than the suspicion timeout heals when nodes re-join', () => {
  const sim = cluster(6, 10)
  assert.ok(sim.runUntil(() => allSee(sim, 10), 60_000))
  const left = ['n0', 'n1', 'n2', 'n3', 'n4']
  const right = ['n5', 'n6', 'n7', 'n8', 'n9']
  sim.partition([left, right])
  assert.ok(
    sim.runUntil(() => allSee(sim, 5), 120_000),
    'each side declares the other dead',
  )
  sim.heal()
  // memberlist does not heal a long partition by itself (§9): the application re-joins.
  for (const name of right) sim.join(name, ['n0'])
  assert.ok(
    sim.runUntil(() => allSee(sim, 10), 60_000),
    'healed after re-join (seed 6)',
  )
})

test('sim: with 10% packet loss no healthy node is declared dead over 10 minutes (n=20)', () => {
  const sim = cluster(9, 20)
  assert.ok(sim.runUntil(() => allSee(sim, 20), 60_000))
  sim.setNetwork({ lossRate: 0.1 })
  sim.runFor(600_000)
  const deaths = sim.nodes().reduce((sum, x) => sum + x.core.metrics.deaths, 0)
  assert.equal(deaths, 0, 'false deaths (seed 9)')
  assert.ok(allSee(sim, 20))
})

test('sim: a crashed node that restarts with incarnation 1 rejoins and is alive everywhere', () => {
  const sim = cluster(10, 10)
  assert.ok(sim.runUntil(() => allSee(sim, 10), 60_000))
  sim.crash('n3')
  assert.ok(sim.runUntil(() => allSee(sim, 9, ['n3']), 120_000))
  sim.restart('n3')
  sim.join('n3', ['n0'])
  assert.ok(
    sim.runUntil(() => allSee(sim, 10), 60_000),
    'rejoined (seed 10)',
  )
})
