// Goal (issue 5): a node that freezes — SIGSTOP, as a long GC pause or a stalled VM would — for
// longer than the suspicion timeout is declared failed and then comes back without breaking the
// promise. Method: 5 agents, N=3, local gossip preset (suspicion timeout ≈ 3 s for 5 nodes);
// four clients as in every scenario; every 1–3 s one random node is SIGSTOPped for 6–9 s, then
// SIGCONTed. Requests to a frozen node time out (unknown outcomes). Then heal, converge, check.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Cluster } from '../../helpers/cluster-harness.ts'
import { delay } from '../../helpers/cluster-harness.ts'
import { pause, runScenario, scenariosSkipped } from '../support/scenario.ts'

const SEED = Number(process.env.GOSSAMER_TEST_SEED ?? 202)

/** PIDs this test froze and has not thawed yet. */
const frozen = new Set<number>()

function signalNode(cluster: Cluster, name: string, signal: 'SIGSTOP' | 'SIGCONT'): void {
  const pid = cluster.node(name).child.pid
  if (pid === undefined) return
  process.kill(pid, signal)
  if (signal === 'SIGSTOP') frozen.add(pid)
  else frozen.delete(pid)
}

test('SIGSTOP pauses longer than the suspicion timeout lose no acknowledged quorum write', {
  skip: scenariosSkipped(),
  timeout: 600_000,
}, async () => {
  const result = await runScenario({
    name: 'pause',
    fault: 'SIGSTOP one random node for 6–9 s (suspicion ≈ 3 s), SIGCONT, repeat',
    command: `GOSSAMER_TEST_SEED=${SEED} npm run reliability -- pause`,
    seed: SEED,
    faultWindowMs: 40_000,
    nemesis: async ({ cluster, random, signal, log }) => {
      while (!signal.aborted) {
        await pause(1000 + random() * 2000, signal)
        if (signal.aborted) break
        const names = cluster.up.map((n) => n.name)
        const victim = names[Math.floor(random() * names.length)]!
        const holdMs = 6000 + random() * 3000
        signalNode(cluster, victim, 'SIGSTOP')
        log(`froze ${victim} for ${(holdMs / 1000).toFixed(1)} s`)
        await delay(holdMs)
        signalNode(cluster, victim, 'SIGCONT')
        log(`thawed ${victim}`)
      }
    },
    heal: () => {
      for (const pid of frozen) {
        try {
          process.kill(pid, 'SIGCONT')
        } catch {
          // already gone
        }
      }
      frozen.clear()
    },
  })
  assert.equal(result.violations.length, 0, result.report)
  assert.ok(result.row.converged, 'replicas converged after healing')
  assert.ok(result.row.writesAcknowledged > 0)
})
