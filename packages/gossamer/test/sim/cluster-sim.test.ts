// Goal: the whole-cluster simulator is deterministic, a fixed set of seeds (plus one derived
// from the commit) passes with zero violations, and the checks can fail: an injected bug and a
// known past runtime bug (no persisted ownership set) are caught.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { describe, it } from 'node:test'
import {
  resolveSimOptions,
  runSimulation,
  type SimResult,
  swarmOptions,
} from '../../src/sim/index.ts'
import { formatViolations } from '../../src/testing/history/checker.ts'

/** Seeds every CI run checks; small clusters and short phases keep the suite to seconds. */
const FIXED_SEEDS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10']

function explain(result: SimResult): string {
  const failures = result.failures.map((f) => `[${f.kind}] ${f.message}`).join('\n')
  return `seed ${result.options.seed}: ${formatViolations(result.violations)}\n${failures}\nreproduce: npm run sim -- --seed ${result.options.seed} --duration ${result.options.durationMs}ms`
}

function commitSeed(): string {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8', timeout: 5_000 }).trim()
  } catch {
    return 'no-git-fallback-seed'
  }
}

describe('whole-cluster simulation', () => {
  it('two runs of one seed produce identical event transcripts', () => {
    const options = resolveSimOptions({ seed: 'determinism', durationMs: 5_000 })
    const first = runSimulation(options)
    const second = runSimulation(options)
    assert.ok(first.log.length > 100, 'the transcript is not trivially short')
    assert.equal(first.logHash, second.logHash)
    assert.deepEqual(first.log, second.log)
    const other = runSimulation({ ...options, seed: 'determinism-2' })
    assert.notEqual(other.logHash, first.logHash, 'another seed gives another run')
  })

  for (const seed of FIXED_SEEDS) {
    it(`seed ${seed} passes with zero violations and converges after healing`, () => {
      const result = runSimulation(resolveSimOptions({ seed, durationMs: 8_000 }), {
        isLogging: false,
      })
      assert.ok(result.ok, explain(result))
      assert.ok(
        result.convergeMs !== undefined && result.convergeMs <= result.options.convergeBoundMs,
      )
      assert.ok(result.checked.acknowledgedWrites > 0, 'the workload acknowledged writes')
      assert.ok(result.checked.strongReads > 0, 'the checker judged strong reads')
    })
  }

  it('a seed derived from the commit passes in swarm mode', () => {
    const seed = commitSeed()
    // Reconnect on: without it a swarm seed may hit the known membership split (see the
    // regression test below) — a liveness gap of the runtime, reported, not yet fixed there.
    const options = swarmOptions(seed, { durationMs: 10_000 })
    const result = runSimulation(options, { isLogging: false })
    assert.ok(result.ok, `${explain(result)} --swarm`)
  })

  it('replicas that acknowledge before persisting lose acknowledged writes in a power loss', () => {
    const options = (seed: string, ackBeforePersist: boolean) =>
      resolveSimOptions({
        seed,
        durationMs: 10_000,
        ackBeforePersist,
        faults: ['power-loss'],
        diskLatencyMeanMs: 60,
        faultGapMeanMs: 1_500,
      })
    const kinds = new Set<string>()
    for (const seed of ['1', '2', '5']) {
      const result = runSimulation(options(seed, true), { isLogging: false })
      assert.ok(result.violations.length > 0, `seed ${seed}: the bug went unnoticed`)
      for (const v of result.violations) kinds.add(v.kind)
    }
    assert.ok(kinds.has('lost-write'), `a lost write was reported (saw ${[...kinds].join(', ')})`)
    // Control: the same runs with replicas that persist before acknowledging are clean.
    const control = runSimulation(options('1', false), { isLogging: false })
    assert.ok(control.ok, explain(control))
  })

  it('without the persisted ownership set a node restarted in a minority serves stale reads (regression seed)', () => {
    // Found by this simulator: seed 3 restarts every node during a split; a minority node
    // joined only the minority, computed a placement from a partial ownership set, and
    // answered quorum reads from the wrong replicas. The runtime now persists the set.
    const options = resolveSimOptions({ seed: '3', durationMs: 40_000 })
    const broken = runSimulation({ ...options, persistOwnership: false }, { isLogging: false })
    assert.ok(
      broken.violations.some((v) => v.kind === 'stale-read'),
      'stale reads without the persisted set',
    )
    const fixed = runSimulation(options, { isLogging: false })
    assert.ok(fixed.ok, explain(fixed))
  })

  it('a partition in which both sides declare each other dead splits membership for good without reconnects (regression seed)', () => {
    // Found by this simulator: swarm seed 1086 (3 nodes) makes n1 deaf for ~10 s; n2 and n3
    // declare n1 dead, n1 declares them dead, and every dead broadcast is spent before the
    // heal. memberlist gossips and pushes/pulls only with live members, so nobody ever contacts
    // the other side again. Serf solves this by periodically reconnecting to failed members;
    // the runtime now does too (reconnectIntervalMs, on by default in the simulator as well).
    const options = swarmOptions('1086')
    const stuck = runSimulation({ ...options, reconnectIntervalMs: 0 }, { isLogging: false })
    assert.equal(stuck.convergeMs, undefined, 'the membership stays split')
    assert.ok(stuck.failures.some((f) => f.kind === 'not-converged'))
    const healed = runSimulation({ ...options, reconnectIntervalMs: 10_000 }, { isLogging: false })
    assert.ok(healed.ok, explain(healed))
  })
})
