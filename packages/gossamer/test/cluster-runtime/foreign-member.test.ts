// Goal: a plain memberlist node (the real Go library, 0.2.2) can join a Gossamer cluster's gossip
// ring: /v1/cluster/members lists it with its state and no role, it owns nothing, and the
// cluster keeps serving quorum reads and writes (issue 4: "members without the Gossamer role own
// nothing"; "every memberlist member, Go nodes included").
// Method: two in-process Gossamer nodes plus one Go peer from the memberlist interop harness;
// skipped loudly without Go (and failed instead when GOSSAMER_REQUIRE_GO=1, as in CI).
import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import {
  PeerRegistry,
  skipUnlessGo,
  startGoPeer,
} from '../../../memberlist/test/interop/harness.ts'
import { put, read, TestCluster, waitFor } from './helpers.ts'

describe('cluster runtime: a plain memberlist member', { timeout: 120_000 }, () => {
  const registry = new PeerRegistry()
  const clusters: TestCluster[] = []
  after(async () => {
    registry.killAll()
    for (const cluster of clusters) await cluster.stop()
  })

  test('a Go memberlist node joins the gossip ring, is listed without a role, and owns nothing', async (t) => {
    if (!(await skipUnlessGo(t))) return
    const cluster = new TestCluster()
    clusters.push(cluster)
    const a = await cluster.start('a')
    await cluster.start('b')
    await cluster.waitMembers(['a', 'b'])
    await cluster.waitReady()
    await startGoPeer(registry, { name: 'go-plain', join: [a.gossipAddress], preset: 'local' })

    for (const node of cluster.nodes.values()) {
      await waitFor('the Go node listed as alive', async () => {
        const response = await fetch(`${node.httpUrl}/v1/cluster/members`)
        const body = (await response.json()) as { members: Array<Record<string, unknown>> }
        const go = body.members.find((m) => m['name'] === 'go-plain')
        return go !== undefined && go['state'] === 'alive'
      })
      const response = await fetch(`${node.httpUrl}/v1/cluster/members`)
      const body = (await response.json()) as { members: Array<Record<string, unknown>> }
      const go = body.members.find((m) => m['name'] === 'go-plain')!
      assert.equal(go['role'], null)
      assert.equal(go['owner'], false)
      assert.equal(go['http'], null)
      assert.match(String(go['address']), /^127\.0\.0\.1:\d+$/)
      const partitions = (await (await fetch(`${node.httpUrl}/v1/cluster/partitions`)).json()) as {
        partitions: Array<{ owners: string[]; fallbacks: string[] }>
      }
      for (const p of partitions.partitions) {
        assert.ok(!p.owners.includes('go-plain') && !p.fallbacks.includes('go-plain'))
      }
    }
    const nodes = [...cluster.nodes.values()]
    for (let i = 0; i < 20; i++) {
      const result = await put(nodes[i % 2]!, `k-${i}`, `v-${i}`)
      assert.equal(result.status, 200, JSON.stringify(result.body))
    }
    for (let i = 0; i < 20; i++) {
      for (const node of nodes) assert.equal(await read(node, `k-${i}`), `v-${i}`)
    }
  })
})
