// The HTTP fast path (src/api/fast-path.ts): a plain GET /v1/kv/{key} that this node answers
// alone is served before Fastify, with the same response bytes as the Fastify route; anything
// else falls through to the route. Method: a real node on 127.0.0.1:0 (in memory), raw HTTP
// requests (node:http keeps the header order in rawHeaders), the fast path's own counter in
// /metrics to tell which path answered, and the route forced by a query string (`?r=quorum`,
// the default, changes nothing but is not a plain request).
import assert from 'node:assert/strict'
import http from 'node:http'
import { after, before, describe, it } from 'node:test'
import { buildApp } from '../../src/api/app.ts'
import type { KvApi } from '../../src/api/kv-api.ts'
import { KvService } from '../../src/api/kv-service.ts'
import { NodeMetrics } from '../../src/api/metrics.ts'
import { GossamerError } from '../../src/errors.ts'
import { HybridLogicalClock } from '../../src/hlc/hlc.ts'
import { silentLogger } from '../../src/log.ts'
import { type GossamerNode, startNode } from '../../src/node.ts'
import { MemoryEngine } from '../../src/storage/memory-engine.ts'

interface RawResponse {
  status: number
  headers: string[]
  body: Buffer
}

function request(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: Buffer | string,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${path}`, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.rawHeaders,
          body: Buffer.concat(chunks),
        }),
      )
      res.on('error', reject)
    })
    req.on('error', reject)
    req.setTimeout(10_000, () => req.destroy(new Error('request timed out')))
    req.end(body)
  })
}

/** Raw headers without Date (which differs between two responses) and Connection details. */
function comparable(headers: string[]): string[][] {
  const pairs: string[][] = []
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!.toLowerCase()
    if (name === 'date') continue
    pairs.push([headers[i]!, headers[i + 1]!])
  }
  return pairs
}

async function fastPathCount(base: string): Promise<number> {
  const text = (await request(base, 'GET', '/metrics')).body.toString()
  const line = text.split('\n').find((l) => l.startsWith('gossamer_http_fast_path_total '))
  assert.ok(line, 'gossamer_http_fast_path_total is exported')
  return Number(line.split(' ')[1])
}

async function getCount(base: string): Promise<number> {
  const text = (await request(base, 'GET', '/metrics')).body.toString()
  const line = text
    .split('\n')
    .find((l) =>
      l.startsWith('gossamer_http_requests_total{route="/v1/kv/*",method="GET",status="200"}'),
    )
  return line === undefined ? 0 : Number(line.split(' ')[1])
}

describe('HTTP fast path', () => {
  let node: GossamerNode
  let base: string

  before(async () => {
    node = await startNode({ inMemory: true, httpPort: 0, logLevel: 'silent', name: 'fast' })
    base = node.httpUrl
  })
  after(async () => {
    await node.close()
  })

  const cases: Array<{
    what: string
    path: string
    body: Buffer
    headers?: Record<string, string>
  }> = [
    { what: 'default content type', path: '/v1/kv/plain', body: Buffer.from('hello') },
    {
      what: 'stored content type',
      path: '/v1/kv/typed',
      body: Buffer.from('{"a":1}'),
      headers: { 'content-type': 'application/json' },
    },
    { what: 'TTL (expiry header)', path: '/v1/kv/ttl?ttl=1h', body: Buffer.from('t') },
    { what: 'binary value', path: '/v1/kv/bin', body: Buffer.from([0, 255, 1, 254, 10, 13]) },
    { what: 'empty value', path: '/v1/kv/empty', body: Buffer.alloc(0) },
    {
      what: 'percent-encoded key with a slash',
      path: '/v1/kv/a%2Fb%20%C3%A9',
      body: Buffer.from('x'),
    },
    { what: 'key with a literal slash', path: '/v1/kv/dir/sub/key', body: Buffer.from('y') },
  ]

  for (const c of cases) {
    it(`answers with the route's exact response: ${c.what}`, async () => {
      const put = await request(base, 'PUT', c.path, c.headers ?? {}, c.body)
      assert.ok(put.status === 201 || put.status === 200, `put answered ${put.status}`)
      const path = c.path.split('?')[0]!
      const fastBefore = await fastPathCount(base)
      const getsBefore = await getCount(base)
      const fast = await request(base, 'GET', path)
      assert.equal(await fastPathCount(base), fastBefore + 1, 'the fast path answered')
      const routed = await request(base, 'GET', `${path}?r=quorum`)
      assert.equal(await fastPathCount(base), fastBefore + 1, 'the query string went to the route')
      assert.equal(fast.status, 200)
      assert.equal(routed.status, 200)
      assert.deepEqual(comparable(fast.headers), comparable(routed.headers))
      assert.deepEqual(fast.body, c.body)
      assert.deepEqual(routed.body, c.body)
      assert.equal(await getCount(base), getsBefore + 2, 'both requests counted in the metrics')
    })
  }

  it('answers a plain PUT as the route does (status, header order, JSON body), counted', async () => {
    const normalize = (r: RawResponse) => ({
      status: r.status,
      headers: comparable(r.headers).map(([name, value]) =>
        name === 'etag' ? [name, '<version>'] : [name!, value!],
      ),
      body: JSON.parse(r.body.toString()) as { key: string; version: string },
    })
    for (const [what, headers] of [
      ['no content type', {}],
      ['a content type', { 'content-type': 'text/plain; charset=utf-8' }],
    ] as const) {
      for (const key of [`put-${what.replaceAll(' ', '-')}`, `dir/%C3%A9-${what.length}`]) {
        const before = await fastPathCount(base)
        const createdFast = normalize(await request(base, 'PUT', `/v1/kv/${key}`, headers, 'one'))
        assert.equal(await fastPathCount(base), before + 1, `${what}: the fast path answered`)
        const replacedFast = normalize(await request(base, 'PUT', `/v1/kv/${key}`, headers, 'two'))
        const replacedRoute = normalize(
          await request(base, 'PUT', `/v1/kv/${key}?w=quorum`, headers, 'three'),
        )
        assert.equal(await fastPathCount(base), before + 2, `${what}: the query went to the route`)
        assert.equal(createdFast.status, 201)
        assert.equal(replacedFast.status, 200)
        assert.deepEqual(replacedFast.headers, replacedRoute.headers)
        assert.equal(replacedFast.body.key, decodeURIComponent(key))
        assert.equal(replacedRoute.body.key, decodeURIComponent(key))
        assert.notEqual(replacedFast.body.version, replacedRoute.body.version)
        const got = await request(base, 'GET', `/v1/kv/${key}`)
        assert.equal(got.body.toString(), 'three')
        const type =
          got.headers[got.headers.findIndex((h) => h.toLowerCase() === 'content-type') + 1]
        assert.equal(
          type,
          'content-type' in headers ? headers['content-type'] : 'application/octet-stream',
        )
      }
    }
  })

  it('leaves PUTs it cannot answer from the headers alone to the route', async () => {
    const before = await fastPathCount(base)
    const tooLarge = await request(base, 'PUT', '/v1/kv/big', {}, Buffer.alloc(1024 * 1024 + 1))
    assert.equal(tooLarge.status, 413)
    assert.equal(JSON.parse(tooLarge.body.toString()).error.code, 'GOSSAMER_ERR_VALUE_TOO_LARGE')
    const longType = await request(
      base,
      'PUT',
      '/v1/kv/t',
      { 'content-type': `x/${'y'.repeat(300)}` },
      'v',
    )
    assert.equal(longType.status, 400)
    const conditional = await request(base, 'PUT', '/v1/kv/never', { 'if-match': '"1-0-x"' }, 'v')
    assert.equal(conditional.status, 412)
    const created = await request(base, 'PUT', '/v1/kv/new-only', { 'if-none-match': '*' }, 'v')
    assert.equal(created.status, 201)
    const withTtl = await request(base, 'PUT', '/v1/kv/ttl2?ttl=1h', {}, 'v')
    assert.equal(withTtl.status, 201)
    const badKey = await request(base, 'PUT', `/v1/kv/${'k'.repeat(1025)}`, {}, 'v')
    assert.equal(badKey.status, 400)
    assert.equal(await fastPathCount(base), before, 'none of these took the fast path')
  })

  it('leaves every other request to the route', async () => {
    await request(base, 'PUT', '/v1/kv/other', {}, 'v')
    const before = await fastPathCount(base)
    const missing = await request(base, 'GET', '/v1/kv/never-written')
    assert.equal(missing.status, 404)
    assert.equal(JSON.parse(missing.body.toString()).error.code, 'GOSSAMER_ERR_KEY_NOT_FOUND')
    const etag = (await request(base, 'GET', '/v1/kv/other?r=one')).headers
    const tag = etag[etag.findIndex((h) => h.toLowerCase() === 'etag') + 1]!
    const notModified = await request(base, 'GET', '/v1/kv/other', { 'if-none-match': tag })
    assert.equal(notModified.status, 304)
    const head = await request(base, 'HEAD', '/v1/kv/other')
    assert.equal(head.status, 200)
    const emptyKey = await request(base, 'GET', '/v1/kv/')
    assert.equal(emptyKey.status, 400)
    const badEscape = await request(base, 'GET', '/v1/kv/%E0%A4%A')
    assert.equal(badEscape.status, 400)
    const tooLong = await request(base, 'GET', `/v1/kv/${'k'.repeat(1025)}`)
    assert.equal(JSON.parse(tooLong.body.toString()).error.code, 'GOSSAMER_ERR_KEY_TOO_LARGE')
    await request(base, 'DELETE', '/v1/kv/other')
    const deleted = await request(base, 'GET', '/v1/kv/other')
    assert.equal(deleted.status, 404)
    assert.equal(await fastPathCount(base), before, 'none of these took the fast path')
  })

  it('reads an expired record as absent (the route answers 404)', async () => {
    await request(base, 'PUT', '/v1/kv/short?ttl=1s', {}, 'gone soon')
    assert.equal((await request(base, 'GET', '/v1/kv/short')).status, 200)
    const deadline = Date.now() + 5_000
    let status = 200
    while (status === 200 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200))
      status = (await request(base, 'GET', '/v1/kv/short')).status
    }
    assert.equal(status, 404)
  })
})

describe('HTTP fast path switched off', () => {
  it('serves the same GET through the route and counts nothing on the fast path', async () => {
    const node = await startNode({
      inMemory: true,
      httpPort: 0,
      logLevel: 'silent',
      name: 'nofast',
      httpFastPath: false,
    })
    try {
      await request(node.httpUrl, 'PUT', '/v1/kv/k', {}, 'v')
      const got = await request(node.httpUrl, 'GET', '/v1/kv/k')
      assert.equal(got.status, 200)
      assert.equal(got.body.toString(), 'v')
      assert.equal(await fastPathCount(node.httpUrl), 0)
    } finally {
      await node.close()
    }
  })
})

/** An app (fast path included) over `kv`, with no fast read, at a fixed wall clock. */
function appOver(engine: MemoryEngine, metrics: NodeMetrics, kv: KvApi) {
  return buildApp({
    engine,
    clock: new HybridLogicalClock({ nodeId: 'n1', wallClockMs: () => 1_764_000_000_000 }),
    metrics,
    logger: silentLogger(),
    config: { name: 'n1', maxKeyBytes: 1024, maxValueBytes: 1024 * 1024 },
    kv,
    fastRead: () => undefined,
  })
}

describe('HTTP fast path: content types', () => {
  it('stores no content type for the default one, as the route does', async () => {
    const engine = new MemoryEngine()
    const clock = new HybridLogicalClock({ nodeId: 'n1', wallClockMs: () => 1_764_000_000_000 })
    const metrics = new NodeMetrics({ engine, defaultMetrics: false })
    const kv = new KvService({ engine, clock, nowMs: () => 1_764_000_000_000 })
    const app = appOver(engine, metrics, kv)
    const base = await app.listen({ host: '127.0.0.1', port: 0 })
    try {
      const octets = { 'content-type': 'application/octet-stream' }
      assert.equal((await request(base, 'PUT', '/v1/kv/a', octets, 'v')).status, 201)
      assert.equal(metrics.fastPathRequests, 1, 'the fast path answered')
      assert.equal(engine.getRecord('a')?.contentType, undefined)
      const typed = { 'content-type': 'text/plain' }
      assert.equal((await request(base, 'PUT', '/v1/kv/b', typed, 'v')).status, 201)
      assert.equal(metrics.fastPathRequests, 2)
      assert.equal(engine.getRecord('b')?.contentType, 'text/plain')
    } finally {
      await app.close()
    }
  })
})

describe('HTTP fast path: a failed write', () => {
  it('answers the JSON error the route answers, and counts it', async () => {
    const engine = new MemoryEngine()
    const metrics = new NodeMetrics({ engine, defaultMetrics: false })
    const failure = () =>
      Promise.reject(new GossamerError('GOSSAMER_ERR_QUORUM_NOT_REACHED', 'only 1 of 2 replicas'))
    const local = new KvService({
      engine,
      clock: new HybridLogicalClock({ nodeId: 'n1', wallClockMs: () => 1_764_000_000_000 }),
      nowMs: () => 1_764_000_000_000,
    })
    const kv: KvApi = {
      get isHealthy() {
        return true
      },
      nowMs: () => 1_764_000_000_000,
      get: (key) => local.get(key),
      put: failure,
      delete: failure,
      list: (options) => local.list(options),
    }
    const app = appOver(engine, metrics, kv)
    const base = await app.listen({ host: '127.0.0.1', port: 0 })
    try {
      const fast = await request(base, 'PUT', '/v1/kv/k', {}, 'v')
      assert.equal(metrics.fastPathRequests, 1, 'the fast path answered')
      const routed = await request(base, 'PUT', '/v1/kv/k?w=quorum', {}, 'v')
      assert.equal(metrics.fastPathRequests, 1)
      assert.equal(fast.status, 503)
      assert.deepEqual(comparable(fast.headers), comparable(routed.headers))
      assert.deepEqual(JSON.parse(fast.body.toString()), JSON.parse(routed.body.toString()))
      assert.equal(JSON.parse(fast.body.toString()).error.code, 'GOSSAMER_ERR_QUORUM_NOT_REACHED')
      const text = await metrics.registry.metrics()
      assert.match(text, /gossamer_http_errors_total\{code="GOSSAMER_ERR_QUORUM_NOT_REACHED"\} 2/)
      assert.match(
        text,
        /gossamer_http_requests_total\{route="\/v1\/kv\/\*",method="PUT",status="503"\} 2/,
      )
    } finally {
      await app.close()
    }
  })
})
