// Regression for what the kill-restart scenario found (seed 101, docs/reliability.md): right
// after a SIGKILLed node restarts, quorum reads through it answered 404 for keys the others had
// acknowledged moments before. Method: 5 agents, N=3; SIGKILL n3 and wait until the others see
// it down; write 40 keys with w=quorum through n1 (acknowledged by the other replicas); restart n3 and,
// from the moment it listens, read every key through it with r=quorum, recording a history; the
// checker must find no stale read.
import assert from 'node:assert/strict'
import { performance } from 'node:perf_hooks'
import { test } from 'node:test'
import { checkHistory, formatViolations } from '../../../src/testing/history/checker.ts'
import { History } from '../../../src/testing/history/history.ts'
import { type Cluster, startCluster } from '../../helpers/cluster-harness.ts'
import { SCENARIO_NODE_ENV, scenariosSkipped } from '../support/scenario.ts'

const KEYS = Array.from({ length: 40 }, (_, i) => `restart-${i}`)

test('quorum reads through a node that has just restarted return the acknowledged writes', {
  skip: scenariosSkipped(),
  timeout: 300_000,
}, async () => {
  let cluster: Cluster | undefined
  try {
    cluster = await startCluster({ nodes: 5, replicas: 3, env: SCENARIO_NODE_ENV })
    const c = cluster
    const history = new History({ nowMs: () => performance.now() })
    // As in the scenario: the writes are acknowledged while n3 is down, so its own store lacks
    // them and only the other replicas can answer for them.
    await c.kill('n3')
    await c.waitNotAlive('n3')
    for (const key of KEYS) {
      const value = `before-restart-${key}`
      const id = history.invoke({
        client: 0,
        node: 'n1',
        kind: 'put',
        key,
        value,
        consistency: 'quorum',
      })
      const put = await c.put('n1', key, value, { w: 'quorum' })
      assert.ok(put.status === 200 || put.status === 201, `put ${key}: ${put.status}`)
      history.complete(id, { outcome: 'ok', version: put.version })
    }
    await c.restart('n3')
    for (const key of KEYS) {
      const id = history.invoke({ client: 1, node: 'n3', kind: 'get', key, consistency: 'quorum' })
      const read = await c.get('n3', key, { r: 'quorum' })
      history.complete(
        id,
        read.status === 200
          ? { outcome: 'ok', found: true, readValue: read.value, version: read.version }
          : read.status === 404
            ? { outcome: 'ok', found: false }
            : { outcome: 'unknown', error: String(read.status) },
      )
    }
    const { violations } = checkHistory(history.operations)
    assert.deepEqual(violations, [], formatViolations(violations))
  } finally {
    await cluster?.stop()
  }
})
