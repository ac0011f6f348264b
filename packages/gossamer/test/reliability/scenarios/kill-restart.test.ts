// Goal (issue 5): acknowledged quorum writes survive crashes. Method: 5 agents, N=3; four
// clients run puts/gets/deletes with w=quorum and r=quorum on twelve keys while, every 2–5 s, one
// or two random nodes are SIGKILLed and restarted 1–4 s later on the same data directory and
// ports. Then heal (restart anything down), wait for convergence and check the history.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { delay } from '../../helpers/cluster-harness.ts'
import { pause, runScenario, scenariosSkipped } from '../support/scenario.ts'

const SEED = Number(process.env.GOSSAMER_TEST_SEED ?? 101)

test('SIGKILL and restart of random nodes loses no acknowledged quorum write', {
  skip: scenariosSkipped(),
  timeout: 600_000,
}, async () => {
  const result = await runScenario({
    name: 'kill-restart',
    fault: 'SIGKILL 1–2 random nodes every 2–5 s, restart after 1–4 s',
    command: `GOSSAMER_TEST_SEED=${SEED} npm run reliability -- kill-restart`,
    seed: SEED,
    faultWindowMs: 40_000,
    nemesis: async ({ cluster, random, signal, log }) => {
      while (!signal.aborted) {
        await pause(2000 + random() * 3000, signal)
        if (signal.aborted) break
        const count = random() < 0.3 ? 2 : 1
        const names = cluster.up.map((n) => n.name)
        const victims = names.sort(() => random() - 0.5).slice(0, count)
        for (const name of victims) await cluster.kill(name)
        log(`killed ${victims.join(', ')}`)
        await delay(1000 + random() * 3000)
        for (const name of victims) await cluster.restart(name)
        log(`restarted ${victims.join(', ')}`)
      }
    },
    heal: async (cluster) => {
      for (const node of cluster?.nodes ?? []) {
        if (node.down) await cluster!.restart(node.name)
      }
    },
  })
  assert.equal(result.violations.length, 0, result.report)
  assert.ok(result.row.converged, 'replicas converged after healing')
  assert.ok(result.row.writesAcknowledged > 0)
})
