// Goal (issue 4, test 1): a write acknowledged with w=quorum survives the crash of one of its N=3
// replicas and is returned by r=quorum reads through every surviving node (architecture §4).
// Method: five real agent processes on loopback, N=3; 10,000 keys written with w=quorum through
// nodes picked by a seeded PRNG; SIGKILL one node; read every key with r=quorum through each of
// the four survivors and compare value and version with what the write was acknowledged with.
// The same cluster also serves the original routes (PUT /put, GET /get) across nodes.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { type Cluster, seededRandom, startCluster } from '../../helpers/cluster-harness.ts'
import { checkReads, keyNames, writeKeys } from '../../helpers/workload.ts'

const KEY_COUNT = 10_000
const SEED = Number(process.env.GOSSAMER_TEST_SEED ?? 4242)

describe('a five-node cluster with N=3 and one crashed node', { timeout: 600_000 }, () => {
  let cluster: Cluster | undefined

  before(async () => {
    cluster = await startCluster({ nodes: 5, replicas: 3 })
  })
  after(async () => {
    await cluster?.stop()
  })

  test('the original routes work across nodes: PUT /put on one node, GET /get on the others', async () => {
    const c = cluster!
    const put = await c.fetch('n1', 'PUT', '/put', {
      body: JSON.stringify({ key: 'greeting', value: 'hello' }),
      contentType: 'application/json',
    })
    assert.equal(put.status, 200, await put.text())
    for (const node of ['n2', 'n3', 'n4', 'n5']) {
      const got = await c.fetch(node, 'GET', '/get?key=greeting')
      assert.equal(got.status, 200)
      assert.equal(((await got.json()) as { value: string }).value, 'hello')
    }
    const pathForm = await c.fetch('n4', 'GET', '/get/key=greeting')
    assert.equal(((await pathForm.json()) as { value: string }).value, 'hello')
    const deleted = await c.fetch('n2', 'DELETE', '/delete?key=greeting')
    assert.ok(deleted.status < 300, `delete answered ${deleted.status}`)
    const gone = await c.fetch('n5', 'GET', '/get?key=greeting')
    assert.equal(gone.status, 404)
  })

  test('10,000 keys written with w=quorum read back with r=quorum through every survivor of a SIGKILL', async () => {
    const c = cluster!
    const random = seededRandom(SEED)
    const names = c.nodes.map((n) => n.name)
    const keys = keyNames('crash', KEY_COUNT)
    const written = await writeKeys(c, keys, {
      through: () => names[Math.floor(random() * names.length)]!,
      valueOf: (key) => `value of ${key}`,
    })
    assert.equal(
      written.failed.size,
      0,
      `writes never acknowledged (seed ${SEED}): ${[...written.failed].slice(0, 5).join('; ')}`,
    )
    assert.equal(written.acked.size, KEY_COUNT)

    const victim = names[Math.floor(random() * names.length)]!
    await c.kill(victim)
    for (const survivor of c.up) {
      const problems = await checkReads(c, survivor.name, written.acked, { r: 'quorum' })
      assert.equal(
        problems.count,
        0,
        `seed ${SEED}, ${victim} killed: ${problems.summary(`bad reads through ${survivor.name}`)}`,
      )
    }
  })
})
