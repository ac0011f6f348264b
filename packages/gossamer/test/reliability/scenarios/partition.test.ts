// Goal (issue 5): network partitions that really drop packets do not break the promise.
// Method: 5 agents, N=3, each bound to its own loopback address 127.0.0.11–15 inside a private
// network namespace; nftables rules on that namespace's loopback drop packets between node
// addresses (support/packet-filter.ts says why this mechanism). Clients (on 127.0.0.1) reach
// every node. Every 2–4 s a new partition is drawn — one node isolated, a 2|3 majority/minority
// split, or a one-way (asymmetric) cut — held 5–9 s, then healed for 2 s. Then heal, converge,
// check. Skipped, loudly, outside a private namespace with nft.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { delay } from '../../helpers/cluster-harness.ts'
import { nodeAddress, perNodeAddress } from '../support/addresses.ts'
import { networkScenarioSkip, PacketFilter } from '../support/packet-filter.ts'
import { pause, runScenario } from '../support/scenario.ts'

const SEED = Number(process.env.GOSSAMER_TEST_SEED ?? 303)
const NODES = 5
const skip = networkScenarioSkip('partition')

test('partitions (isolated node, majority/minority, one-way) lose no acknowledged quorum write', {
  skip,
  timeout: 600_000,
}, async () => {
  const filter = PacketFilter.open()
  const addresses = Array.from({ length: NODES }, (_, i) => nodeAddress(i))
  try {
    const result = await runScenario({
      name: 'partition',
      fault: 'nftables drops: isolate 1, split 2 vs 3, or one-way cut; 5–9 s each',
      command: `GOSSAMER_TEST_SEED=${SEED} npm run reliability -- partition`,
      seed: SEED,
      nodes: NODES,
      nodeStart: perNodeAddress,
      faultWindowMs: 45_000,
      nemesis: async ({ random, signal, log }) => {
        while (!signal.aborted) {
          await pause(2000 + random() * 2000, signal)
          if (signal.aborted) break
          const shuffled = [...addresses].sort(() => random() - 0.5)
          const shape = Math.floor(random() * 3)
          if (shape === 0) {
            filter.partition(shuffled.slice(0, 1), shuffled.slice(1))
            log(`isolated ${shuffled[0]}`)
          } else if (shape === 1) {
            filter.partition(shuffled.slice(0, 2), shuffled.slice(2))
            log(`split ${shuffled.slice(0, 2).join(',')} | ${shuffled.slice(2).join(',')}`)
          } else {
            filter.dropBetween(shuffled.slice(0, 1), shuffled.slice(1))
            log(`one-way: nothing from ${shuffled[0]} arrives`)
          }
          const holdMs = 5000 + random() * 4000
          await delay(holdMs)
          filter.heal()
          log('network healed')
        }
      },
      heal: () => filter.heal(),
    })
    assert.equal(result.violations.length, 0, result.report)
    assert.ok(result.row.converged, 'replicas converged after healing')
    assert.ok(result.row.writesAcknowledged > 0)
  } finally {
    filter.close()
  }
})
