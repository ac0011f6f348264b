// Goal (issue 4, test 6): `--replicas all` reproduces the original design, where every change
// reaches every node. Method: three agent processes with --replicas all; write keys through the
// original routes (PUT /put, POST /set/{key}/{value}) and /v1/kv, round-robin over the nodes;
// read each through the original GET /get on another node; then every node's local replica
// (GET /v1/admin/local/{key}) holds every key, at the acknowledged version. A delete through one
// node leaves a tombstone on every node.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import {
  type Cluster,
  forEachBounded,
  startCluster,
  waitFor,
} from '../../helpers/cluster-harness.ts'
import { keyNames } from '../../helpers/workload.ts'

const KEY_COUNT = 600

describe('a three-node cluster with --replicas all', { timeout: 300_000 }, () => {
  let cluster: Cluster | undefined

  before(async () => {
    cluster = await startCluster({ nodes: 3, replicas: 'all' })
  })
  after(async () => {
    await cluster?.stop()
  })

  test('every node holds every key written through the original routes on any node', async () => {
    const c = cluster!
    const names = c.nodes.map((n) => n.name)
    const placement = await c.partitions('n1')
    assert.ok(
      placement.partitions.every((p) => names.every((n) => p.owners.includes(n))),
      'with --replicas all every node should replicate every partition',
    )
    const keys = keyNames('all', KEY_COUNT)
    const versions = new Map<string, string>()
    await forEachBounded(keys.length, 16, async (i) => {
      const key = keys[i]!
      const node = names[i % names.length]!
      const value = `value-${i}`
      const response =
        i % 3 === 2
          ? await c.fetch(node, 'POST', `/set/${encodeURIComponent(key)}/${value}`)
          : await c.fetch(node, 'PUT', '/put', {
              body: JSON.stringify({ key, value }),
              contentType: 'application/json',
            })
      const body = (await response.json()) as { version?: string }
      assert.ok(
        response.status < 300,
        `write ${key} via ${node}: ${response.status} ${JSON.stringify(body)}`,
      )
      versions.set(key, body.version!)
      const reader = names[(i + 1) % names.length]!
      const got = await c.fetch(reader, 'GET', `/get?key=${encodeURIComponent(key)}`)
      const read = (await got.json()) as { value?: string }
      assert.equal(read.value, value, `GET /get ${key} via ${reader}`)
    })

    // Writes are acknowledged at a quorum (2 of 3); the third copy may land a moment later.
    for (const node of names) {
      await waitFor(
        `${node} to hold all ${KEY_COUNT} keys locally`,
        async () => {
          let missing = 0
          await forEachBounded(keys.length, 16, async (i) => {
            const local = await c.local(node, keys[i]!)
            if (local?.version !== versions.get(keys[i]!)) missing++
          })
          return missing === 0
        },
        { deadlineMs: 30_000, intervalMs: 1_000 },
      )
    }

    const deleted = await c.fetch('n2', 'DELETE', `/delete?key=${keys[0]}`)
    assert.ok(deleted.status < 300, `delete answered ${deleted.status}`)
    for (const node of names) {
      await waitFor(
        `${node} to hold the tombstone`,
        async () => (await c.local(node, keys[0]!))?.tombstone === true,
        {
          deadlineMs: 30_000,
          intervalMs: 500,
        },
      )
      const gone = await c.fetch(node, 'GET', `/get?key=${keys[0]}`)
      assert.equal(gone.status, 404)
    }
  })
})
