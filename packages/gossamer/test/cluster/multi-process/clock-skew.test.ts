// Goal (issue 4, test 7): a node whose clock runs ahead by more than the allowed maximum cannot
// corrupt last-writer-wins ordering. Its versions would beat every honest write for as long as
// the skew lasts, so replicas refuse a version further than maxClockSkewMs ahead of their own
// wall clock (GOSSAMER_ERR_CLOCK_SKEW; docs/cluster.md, "Clock skew"). Method: three agent
// processes, N=3; n3 runs with a fake clock offset of +10 minutes (GOSSAMER_CLOCK_OFFSET_MS,
// a test-only knob of the agent) and the default 60 s maximum skew. Writes coordinated by n3 must
// be refused (or, under a clamping policy, carry a version within the bound); later writes through
// honest nodes must win on every honest node's local replica and in quorum and r=all reads.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { parseVersion } from '../../../src/hlc/version.ts'
import { type Cluster, startCluster } from '../../helpers/cluster-harness.ts'
import { keyNames } from '../../helpers/workload.ts'

const OFFSET_MS = 10 * 60_000
const MAX_SKEW_MS = 60_000
const KEYS = keyNames('skew', 20)

describe('a node whose clock is ten minutes ahead', { timeout: 300_000 }, () => {
  let cluster: Cluster | undefined

  before(async () => {
    cluster = await startCluster({ nodes: 2, replicas: 3 })
    await cluster.addNode({ env: { GOSSAMER_CLOCK_OFFSET_MS: String(OFFSET_MS) } })
    await cluster.waitConverged()
  })
  after(async () => {
    await cluster?.stop()
  })

  test('cannot get a version beyond the skew bound accepted, nor shadow a later honest write', async () => {
    const c = cluster!
    for (const key of KEYS) {
      const first = await c.put('n1', key, 'honest 1')
      assert.ok(first.status < 300, `honest write ${key}: ${first.status}`)

      const skewed = await c.put('n3', key, 'from the future')
      if (skewed.status < 300) {
        // A clamping policy: the version must be within the bound of the real clock.
        const wallMs = parseVersion(skewed.version ?? '')?.wallMs ?? Number.POSITIVE_INFINITY
        assert.ok(
          wallMs <= Date.now() + MAX_SKEW_MS,
          `n3's write ${key} was accepted with version ${skewed.version}, beyond the skew bound`,
        )
      } else {
        const code = (skewed.body as { error?: { code?: string } } | undefined)?.error?.code
        assert.ok(
          code === 'GOSSAMER_ERR_CLOCK_SKEW' || code === 'GOSSAMER_ERR_QUORUM_NOT_REACHED',
          `n3's write ${key} failed with ${skewed.status} ${JSON.stringify(skewed.body)}`,
        )
      }

      const second = await c.put('n2', key, 'honest 2')
      assert.ok(second.status < 300, `later honest write ${key}: ${second.status}`)
      for (const node of ['n1', 'n2']) {
        for (const r of ['quorum', 'all']) {
          const got = await c.get(node, key, { r })
          assert.equal(got.value, 'honest 2', `${key} via ${node} r=${r} returned ${got.version}`)
        }
        const local = await c.local(node, key)
        const wallMs = parseVersion(local?.version ?? '')?.wallMs ?? Number.POSITIVE_INFINITY
        assert.ok(
          wallMs <= Date.now() + MAX_SKEW_MS,
          `${node} stores ${key} at ${local?.version}, beyond the skew bound`,
        )
      }
    }
  })
})
