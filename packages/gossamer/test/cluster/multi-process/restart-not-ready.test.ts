// Goal (docs/reliability.md, "Finding"): a node restarted on its data directory must not
// coordinate quorum reads before it has rejoined and merged the cluster's ownership set — it
// would act as a cluster of one and answer from its own stale copy. Method: three agent
// processes, N=3; SIGKILL n3; write keys with w=quorum through n1 (n1 and n2 ack); freeze n1 and
// n2 (SIGSTOP) so that n3's join cannot complete; restart n3 and read every key through it at
// once: each answer must be 503 NOT_READY (or the acknowledged value), never a 404, and
// /v1/ready must be 503; thaw n1 and n2 (SIGCONT); once n3 is ready every key reads back through
// it with r=quorum.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { type Cluster, startCluster } from '../../helpers/cluster-harness.ts'

const KEYS = 40

describe('a node restarting while its peers cannot answer its join', { timeout: 300_000 }, () => {
  let cluster: Cluster | undefined
  const frozen = new Set<number>()
  const thaw = () => {
    for (const pid of frozen) {
      try {
        process.kill(pid, 'SIGCONT')
      } catch {
        // already gone
      }
    }
    frozen.clear()
  }

  before(async () => {
    cluster = await startCluster({ nodes: 3, replicas: 3 })
  })
  after(async () => {
    thaw()
    await cluster?.stop()
  })

  test('answers 503 NOT_READY until it has rejoined, never a stale read, then reads every acknowledged write', async () => {
    const c = cluster!
    await c.kill('n3')
    const keys = Array.from({ length: KEYS }, (_, i) => `missed-${i}`)
    for (const key of keys) {
      const put = await c.put('n1', key, `value of ${key}`, { w: 'quorum' })
      assert.ok([200, 201].includes(put.status), `put ${key}: ${JSON.stringify(put.body)}`)
    }
    for (const name of ['n1', 'n2']) {
      const pid = c.node(name).child.pid!
      process.kill(pid, 'SIGSTOP')
      frozen.add(pid)
    }
    try {
      await c.restart('n3')
      const answers = new Map<number, number>()
      for (const key of keys) {
        const read = await c.get('n3', key, { r: 'quorum' })
        answers.set(read.status, (answers.get(read.status) ?? 0) + 1)
        if (read.status === 200) {
          assert.equal(read.value, `value of ${key}`)
          continue
        }
        assert.equal(read.status, 503, `read of ${key} through n3: ${JSON.stringify(read)}`)
        const code = (read.body as { error?: { code?: string } }).error?.code
        assert.equal(code, 'GOSSAMER_ERR_NOT_READY', `read of ${key}: ${JSON.stringify(read)}`)
      }
      console.log(`reads through n3 while its peers were frozen: ${JSON.stringify([...answers])}`)
      assert.equal((await c.fetch('n3', 'GET', '/v1/ready')).status, 503)
    } finally {
      thaw()
    }
    await c.waitConverged({ deadlineMs: 120_000 })
    for (const key of keys) {
      const read = await c.get('n3', key, { r: 'quorum' })
      assert.equal(read.status, 200, `read of ${key} after the rejoin: ${JSON.stringify(read)}`)
      assert.equal(read.value, `value of ${key}`)
    }
  })
})
