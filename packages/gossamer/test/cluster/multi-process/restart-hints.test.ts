// Goal (issue 4, test 2): hinted handoff brings a crashed replica up to date. Writes taken while
// a node is down go to fallbacks with durable hints; once the node restarts on the same data
// directory and the hints are delivered, its local copy of every key it replicates is the newest
// acknowledged version. Method: five agent processes, N=3; write keys; SIGKILL one node; keep
// writing (overwrites and new keys) while it is down and check that hints accumulate; restart it
// on the same data directory and ports; wait (bounded) until no node has hints pending; then
// compare the node's local records (GET /v1/admin/local/{key}) for every key placed on it
// (placement from /v1/cluster/partitions, key → partition by partitionOf) with the acks.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { type Cluster, seededRandom, startCluster, waitFor } from '../../helpers/cluster-harness.ts'
import {
  type Acked,
  checkLocalCopies,
  keyNames,
  totalHintsPending,
  writeKeys,
} from '../../helpers/workload.ts'

const SEED = Number(process.env.GOSSAMER_TEST_SEED ?? 777)
const KEYS_BEFORE = 3_000
const KEYS_NEW_WHILE_DOWN = 1_000
/** Bound for delivering every hint after the node is back (documented in docs/cluster.md). */
const HINT_DELIVERY_DEADLINE_MS = 90_000
const VICTIM = 'n3'

describe('a crashed replica that restarts on its data directory', { timeout: 600_000 }, () => {
  let cluster: Cluster | undefined

  before(async () => {
    cluster = await startCluster({ nodes: 5, replicas: 3 })
  })
  after(async () => {
    await cluster?.stop()
  })

  test('receives its hints and then holds the newest version of every key it replicates', async () => {
    const c = cluster!
    const random = seededRandom(SEED)
    const pick = (names: string[]) => () => names[Math.floor(random() * names.length)]!
    const all = c.nodes.map((n) => n.name)
    const before = keyNames('hint', KEYS_BEFORE)
    const first = await writeKeys(c, before, {
      through: pick(all),
      valueOf: (key) => `first ${key}`,
    })
    assert.equal(first.failed.size, 0, `writes before the crash failed: ${[...first.failed][0]}`)

    await c.kill(VICTIM)
    const survivors = all.filter((n) => n !== VICTIM)
    // While the victim is down: overwrite every key and add new ones, through the survivors.
    const whileDown = [...before, ...keyNames('hint-new', KEYS_NEW_WHILE_DOWN)]
    const second = await writeKeys(c, whileDown, {
      through: pick(survivors),
      valueOf: (key) => `second ${key}`,
    })
    assert.equal(second.failed.size, 0, `writes while down failed: ${[...second.failed][0]}`)
    const expected = new Map<string, Acked>([...first.acked, ...second.acked])
    const pending = await totalHintsPending(c)
    assert.ok(pending > 0, 'fallbacks should hold hints for the crashed replica')

    const restartedAt = Date.now()
    await c.restart(VICTIM)
    await c.waitConverged()
    await waitFor(
      'every hint delivered (hintsPending 0 on every node)',
      async () => (await totalHintsPending(c)) === 0,
      { deadlineMs: HINT_DELIVERY_DEADLINE_MS, intervalMs: 500 },
    )
    process.stderr.write(
      `# ${pending} hints delivered within ${Date.now() - restartedAt} ms of the restart\n`,
    )

    const placement = await c.partitions(VICTIM)
    const { problems, replicated } = await checkLocalCopies(c, VICTIM, expected, placement)
    assert.ok(replicated > expected.size / 3, `${VICTIM} replicates only ${replicated} keys`)
    assert.equal(problems.count, 0, `seed ${SEED}: ${problems.summary('stale local copies')}`)
  })
})
