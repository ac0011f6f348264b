// Goal (issue 4, test 5): a graceful leave hands a node's partitions off before it goes, so no
// key is lost and no repair is needed afterwards. Method: five agent processes, N=3; write keys;
// SIGTERM one node (the agent leaves the ownership set, streams its partitions to their new
// owners, then exits 0); wait until the survivors agree on a placement without it; then every
// survivor's local records (GET /v1/admin/local/{key}) must already hold every key placed on it
// — checked at once, long before an anti-entropy pass could have filled a gap — and every key
// reads back with r=quorum.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { type Cluster, seededRandom, startCluster, waitFor } from '../../helpers/cluster-harness.ts'
import { checkLocalCopies, checkReads, keyNames, writeKeys } from '../../helpers/workload.ts'

const SEED = Number(process.env.GOSSAMER_TEST_SEED ?? 2024)
const KEY_COUNT = 3_000
const LEAVER = 'n5'
const LEAVE_DEADLINE_MS = 60_000

describe('a node that leaves gracefully (SIGTERM)', { timeout: 600_000 }, () => {
  let cluster: Cluster | undefined

  before(async () => {
    cluster = await startCluster({ nodes: 5, replicas: 3 })
  })
  after(async () => {
    await cluster?.stop()
  })

  test('hands its partitions off first, so every survivor already holds its keys', async () => {
    const c = cluster!
    const random = seededRandom(SEED)
    const names = c.nodes.map((n) => n.name)
    const written = await writeKeys(c, keyNames('leave', KEY_COUNT), {
      through: () => names[Math.floor(random() * names.length)]!,
      valueOf: (key) => `value of ${key}`,
    })
    assert.equal(written.failed.size, 0, `writes failed: ${[...written.failed][0]}`)

    const leaveStartedAt = Date.now()
    const exit = await c.terminate(LEAVER)
    process.stderr.write(`# ${LEAVER} left in ${Date.now() - leaveStartedAt} ms\n`)
    assert.equal(exit.code, 0, `${LEAVER} exited with ${exit.code ?? exit.signal}`)
    const survivors = c.up.map((n) => n.name)
    const placement = await waitFor(
      `survivors to agree on a placement without ${LEAVER}`,
      async () => {
        const views = await Promise.all(survivors.map((n) => c.partitions(n)))
        const first = views[0]!
        const owners = (v: typeof first) => v.partitions.map((p) => p.owners.join(',')).join(';')
        if (first.partitions.some((p) => p.owners.includes(LEAVER))) return false
        return views.every((v) => owners(v) === owners(first)) ? first : false
      },
      { deadlineMs: LEAVE_DEADLINE_MS, intervalMs: 500 },
    )
    const members = await c.members('n1')
    const left = members.find((m) => m.name === LEAVER)
    assert.ok(
      left === undefined || left.state === 'left' || left.state === 'dead',
      `${LEAVER} is ${left?.state}`,
    )

    for (const node of survivors) {
      const { problems } = await checkLocalCopies(c, node, written.acked, placement)
      assert.equal(problems.count, 0, problems.summary(`keys not handed off to ${node}`))
    }
    const reads = await checkReads(c, 'n1', written.acked, { r: 'quorum' })
    assert.equal(reads.count, 0, reads.summary('bad quorum reads after the leave'))
  })
})
