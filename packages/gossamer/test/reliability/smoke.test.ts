// Goal (issue 5, the short part that runs in `npm test`): the workload generator, the history
// and the checker fit together against a real node. Method: one in-process node (a cluster of
// one), four clients for two seconds of puts, gets and deletes on eight keys, then the final
// state read from the node's local store; the checker must find zero violations and must have
// looked at real reads and writes. The fault scenarios live in scenarios/ (npm run reliability).
import assert from 'node:assert/strict'
import { performance } from 'node:perf_hooks'
import { test } from 'node:test'
import { startNode } from '../../src/node.ts'
import {
  checkHistory,
  type FinalRecord,
  formatViolations,
} from '../../src/testing/history/checker.ts'
import { History } from '../../src/testing/history/history.ts'
import { keyspace, runWorkload } from './support/workload.ts'

const SEED = Number(process.env.GOSSAMER_TEST_SEED ?? 5)

test('a workload against one node yields a history with zero violations', async () => {
  const node = await startNode({
    name: 'solo',
    inMemory: true,
    httpPort: 0,
    gossipPort: 0,
    rpcPort: 0,
    logLevel: 'silent',
  })
  try {
    const history = new History({ nowMs: () => performance.now() })
    await runWorkload({
      targets: () => [{ name: 'solo', http: node.httpUrl }],
      history,
      clients: 4,
      durationMs: 2000,
      maxOperationsPerClient: 400,
      keyCount: 8,
      seed: SEED,
    })
    const final = new Map<string, FinalRecord | null>()
    for (const key of keyspace(8)) {
      const response = await fetch(`${node.httpUrl}/v1/admin/local/${key}`)
      const body = (await response.json()) as FinalRecord & { value: string | null }
      final.set(
        key,
        response.status === 404
          ? null
          : {
              version: body.version,
              tombstone: body.tombstone,
              value: body.value === null ? null : Buffer.from(body.value, 'base64').toString(),
            },
      )
    }
    const summary = history.summary()
    const result = checkHistory(history.operations, { finalState: final })
    assert.deepEqual(result.violations, [], `seed ${SEED}: ${formatViolations(result.violations)}`)
    assert.equal(summary.failed + summary.unknown, 0, 'a healthy node answers every request')
    assert.ok(result.checked.strongReads > 10, `only ${result.checked.strongReads} reads checked`)
    assert.ok(result.checked.acknowledgedWrites > 10)
    assert.equal(result.checked.finalKeys, 8)
  } finally {
    await node.close()
  }
})
