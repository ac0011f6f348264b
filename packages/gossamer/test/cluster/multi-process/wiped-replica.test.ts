// Goal (issue 4, test 3): active anti-entropy rebuilds a replica whose data directory was lost.
// A crash does not change ownership, so the node returns as the owner of the same partitions
// with nothing in them, and no hint covers data it had already acknowledged; only anti-entropy
// can restore it. Method: four agent processes, N=3; write keys; SIGKILL one node; delete its
// data directory; start it again on the same ports; poll its local records
// (GET /v1/admin/local/{key}) until every key it replicates is back at its acknowledged version,
// within the bound documented in docs/cluster.md ("Anti-entropy").
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import {
  type Cluster,
  replicasOf,
  seededRandom,
  startCluster,
  waitFor,
} from '../../helpers/cluster-harness.ts'
import { checkLocalCopies, countUpToDate, keyNames, writeKeys } from '../../helpers/workload.ts'

const SEED = Number(process.env.GOSSAMER_TEST_SEED ?? 31337)
const KEY_COUNT = 3_000
const PARTITIONS = 256
/** The documented anti-entropy bound for a wiped replica on this cluster size (docs/cluster.md). */
const RESTORE_DEADLINE_MS = Number(process.env.GOSSAMER_TEST_AAE_DEADLINE_MS ?? 180_000)
const VICTIM = 'n2'

describe('a replica restarted with an empty data directory', { timeout: 600_000 }, () => {
  let cluster: Cluster | undefined

  before(async () => {
    // 256 partitions: a wiped node's repair time grows with the partitions it replicates (one
    // session per partition), and placement quality is not what this test is about.
    cluster = await startCluster({ nodes: 4, replicas: 3, partitions: PARTITIONS })
  })
  after(async () => {
    await cluster?.stop()
  })

  test('gets every key it replicates back through anti-entropy within the documented bound', async () => {
    const c = cluster!
    const random = seededRandom(SEED)
    const names = c.nodes.map((n) => n.name)
    const written = await writeKeys(c, keyNames('aae', KEY_COUNT), {
      through: () => names[Math.floor(random() * names.length)]!,
      valueOf: (key) => `value of ${key}`,
    })
    assert.equal(written.failed.size, 0, `writes failed: ${[...written.failed][0]}`)

    await c.kill(VICTIM)
    await c.wipe(VICTIM)
    const restartedAt = Date.now()
    await c.restart(VICTIM)
    await c.waitConverged()

    const placement = await c.partitions(VICTIM)
    const mine = [...written.acked.keys()].filter((k) => replicasOf(placement, k).includes(VICTIM))
    assert.ok(mine.length > KEY_COUNT / 2, `${VICTIM} replicates only ${mine.length} keys`)
    let restored = 0
    try {
      await waitFor(
        `anti-entropy to restore ${mine.length} keys on ${VICTIM}`,
        async () => {
          restored = await countUpToDate(c, VICTIM, written.acked, mine)
          return restored === mine.length
        },
        { deadlineMs: RESTORE_DEADLINE_MS, intervalMs: 2_000 },
      )
    } catch (error) {
      throw new Error(`${(error as Error).message}: ${restored}/${mine.length} restored`)
    }
    const elapsedMs = Date.now() - restartedAt
    const { problems } = await checkLocalCopies(c, VICTIM, written.acked, placement)
    assert.equal(problems.count, 0, problems.summary('wrong local copies after repair'))
    let repaired = 0
    for (const node of c.up) repaired += (await c.stats(node.name)).antiEntropy.repaired
    assert.ok(repaired > 0, 'the keys should have come back through anti-entropy repairs')
    process.stderr.write(
      `# ${VICTIM} restored ${mine.length} keys in ${elapsedMs} ms (anti-entropy repaired ${repaired})\n`,
    )
  })
})
