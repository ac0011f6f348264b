// Goal: `GET /v1/kv?prefix=` (and so `gossamer ls`) lists the whole cluster, not the local
// store of the node asked: with N=3 on 5 nodes no node holds every key. Method: five agent
// processes, N=3; write keys under two prefixes, delete some; page through the listing on every
// node with a small limit, following the cursor, and expect exactly the live keys under the
// prefix, in order, with their newest values; SIGKILL one node and expect the same through the
// survivors (every partition still has a quorum of its replicas).
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { compareKeys } from '../../../src/storage/keys.ts'
import { type Cluster, startCluster } from '../../helpers/cluster-harness.ts'

const KEYS = 400
const DELETED_EVERY = 7
const PAGE_LIMIT = 37

interface ListBody {
  readonly items: ReadonlyArray<{ key: string; value?: string }>
  readonly cursor: string | null
}

async function listAll(
  c: Cluster,
  name: string,
  prefix: string,
): Promise<{ keys: string[]; values: Map<string, string>; pages: number }> {
  const keys: string[] = []
  const values = new Map<string, string>()
  let cursor: string | null = null
  for (let pages = 1; pages <= 1_000; pages++) {
    const query = new URLSearchParams({ prefix, limit: String(PAGE_LIMIT), values: 'true' })
    if (cursor !== null) query.set('cursor', cursor)
    const response = await c.fetch(name, 'GET', `/v1/kv?${query}`)
    const text = await response.text()
    assert.equal(response.status, 200, `list on ${name}: ${text.slice(0, 300)}`)
    const body = JSON.parse(text) as ListBody
    assert.ok(body.items.length <= PAGE_LIMIT)
    for (const item of body.items) {
      keys.push(item.key)
      values.set(item.key, Buffer.from(item.value ?? '', 'base64').toString('utf8'))
    }
    if (body.cursor === null) return { keys, values, pages }
    cursor = body.cursor
  }
  throw new Error('listing did not end')
}

describe('listing keys on a 5-node cluster with N=3', { timeout: 600_000 }, () => {
  let cluster: Cluster | undefined

  before(async () => {
    cluster = await startCluster({ nodes: 5, replicas: 3 })
  })
  after(async () => {
    await cluster?.stop()
  })

  test('every node lists every live key under the prefix, in order, across pages — also with one node down', async () => {
    const c = cluster!
    const names = c.nodes.map((n) => n.name)
    const expected: string[] = []
    for (let i = 0; i < KEYS; i++) {
      const key = `list/${String(i).padStart(4, '0')}`
      const through = names[i % names.length]!
      const put = await c.put(through, key, `first ${key}`, { w: 'quorum' })
      assert.ok([200, 201].includes(put.status), `put ${key}: ${put.status}`)
      const again = await c.put(names[(i + 1) % names.length]!, key, `newest ${key}`)
      assert.ok([200, 201].includes(again.status), `overwrite ${key}: ${again.status}`)
      if (i % DELETED_EVERY === 0) {
        const deleted = await c.fetch(through, 'DELETE', `/v1/kv/${encodeURIComponent(key)}`)
        assert.equal(deleted.status, 204, `delete ${key}`)
      } else {
        expected.push(key)
      }
      if (i % 4 === 0) await c.put(through, `other/${i}`, 'not listed')
    }
    expected.sort(compareKeys)
    // Each node stores only its partitions: the local store alone would miss keys.
    const localKeys = (await c.stats('n1')).keys
    assert.ok(localKeys < KEYS, `n1 holds ${localKeys} of ${KEYS} listed keys locally`)

    for (const name of names) {
      const listed = await listAll(c, name, 'list/')
      assert.deepEqual(listed.keys, expected, `listing through ${name}`)
      for (const key of expected) assert.equal(listed.values.get(key), `newest ${key}`)
      assert.ok(listed.pages >= Math.ceil(expected.length / PAGE_LIMIT))
    }
    const whole = await listAll(c, 'n2', '')
    assert.equal(whole.keys.length, expected.length + Math.ceil(KEYS / 4))

    await c.kill('n4')
    for (const name of names.filter((n) => n !== 'n4')) {
      assert.deepEqual((await listAll(c, name, 'list/')).keys, expected, `through ${name}, n4 down`)
    }
  })
})
