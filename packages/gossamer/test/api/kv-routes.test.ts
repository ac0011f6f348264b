// Goal: /v1/kv stores any bytes with their content type, exposes versions as ETags, honours
// If-Match / If-None-Match atomically, expires TTLs, and lists keys in order with pagination.
// Method: inject() against an in-memory node with an injected wall clock.
import assert from 'node:assert/strict'
import { beforeEach, describe, test } from 'node:test'
import { errorCode, type Harness, makeHarness } from './harness.ts'

async function put(h: Harness, key: string, body: string | Buffer, headers = {}, query = '') {
  return h.app.inject({ method: 'PUT', url: `/v1/kv/${key}${query}`, payload: body, headers })
}

describe('/v1/kv', () => {
  let h: Harness
  beforeEach(async () => {
    h = await makeHarness()
  })

  test('PUT then GET returns the exact bytes, the content type and the ETag', async () => {
    const bytes = Buffer.from([0, 1, 2, 255, 254, 13, 10])
    const created = await put(h, 'bin', bytes, { 'content-type': 'application/x-thing' })
    assert.equal(created.statusCode, 201)
    assert.equal(created.headers.etag, `"${created.json().version}"`)
    const get = await h.app.inject({ url: '/v1/kv/bin' })
    assert.equal(get.statusCode, 200)
    assert.deepEqual(get.rawPayload, bytes)
    assert.equal(get.headers['content-type'], 'application/x-thing')
    assert.equal(get.headers.etag, created.headers.etag)
  })

  test('PUT over an existing value answers 200 with a larger version', async () => {
    const first = await put(h, 'k', 'one')
    const second = await put(h, 'k', 'two')
    assert.equal(second.statusCode, 200)
    assert.notEqual(second.headers.etag, first.headers.etag)
    assert.equal((await h.app.inject({ url: '/v1/kv/k' })).body, 'two')
  })

  test('a value without content type reads back as application/octet-stream', async () => {
    await h.app.inject({ method: 'PUT', url: '/v1/kv/raw', payload: Buffer.from('x') })
    const get = await h.app.inject({ url: '/v1/kv/raw' })
    assert.equal(get.headers['content-type'], 'application/octet-stream')
  })

  test('the default content type is not stored: it reads back, and lists, as a value without one', async () => {
    const sent = await put(h, 'octets', 'x', { 'content-type': 'application/octet-stream' })
    assert.equal(sent.statusCode, 201)
    assert.equal(h.engine.getRecord('octets')?.contentType, undefined, 'nothing stored for it')
    const get = await h.app.inject({ url: '/v1/kv/octets' })
    assert.equal(get.headers['content-type'], 'application/octet-stream')
    await put(h, 'typed', 'y', { 'content-type': 'text/plain' })
    assert.equal(h.engine.getRecord('typed')?.contentType, 'text/plain')
    const items = (await h.app.inject({ url: '/v1/kv' })).json().items as Array<{
      key: string
      contentType?: string
    }>
    assert.deepEqual(
      items.map((item) => [item.key, item.contentType]),
      [
        ['octets', undefined],
        ['typed', 'text/plain'],
      ],
    )
  })

  test('an empty body stores an empty value', async () => {
    assert.equal((await h.app.inject({ method: 'PUT', url: '/v1/kv/empty' })).statusCode, 201)
    const get = await h.app.inject({ url: '/v1/kv/empty' })
    assert.equal(get.statusCode, 200)
    assert.equal(get.rawPayload.length, 0)
  })

  test('keys may contain "/" literally or as %2F, and any Unicode', async () => {
    await put(h, 'a/b/c', 'slash')
    assert.equal((await h.app.inject({ url: '/v1/kv/a%2Fb%2Fc' })).body, 'slash')
    await put(h, encodeURIComponent('ключ ☃ 🎉'), 'unicode')
    assert.equal((await h.app.inject({ url: '/get?key=ключ ☃ 🎉' })).json().value, 'unicode')
  })

  test('HEAD answers the GET headers without a body', async () => {
    await put(h, 'k', 'value', { 'content-type': 'text/plain' })
    const head = await h.app.inject({ method: 'HEAD', url: '/v1/kv/k' })
    assert.equal(head.statusCode, 200)
    assert.equal(head.body, '')
    assert.equal(head.headers['content-type'], 'text/plain')
    assert.match(String(head.headers.etag), /^"\d+-\d+-n1"$/)
    assert.equal((await h.app.inject({ method: 'HEAD', url: '/v1/kv/none' })).statusCode, 404)
  })

  test('GET with a matching If-None-Match is 304 Not Modified', async () => {
    const etag = (await put(h, 'k', 'v')).headers.etag as string
    const get = await h.app.inject({ url: '/v1/kv/k', headers: { 'if-none-match': etag } })
    assert.equal(get.statusCode, 304)
    const other = await h.app.inject({ url: '/v1/kv/k', headers: { 'if-none-match': '"1-0-x"' } })
    assert.equal(other.statusCode, 200)
  })

  test('DELETE writes a tombstone: 204, then GET and a second DELETE are 404', async () => {
    await put(h, 'k', 'v')
    const del = await h.app.inject({ method: 'DELETE', url: '/v1/kv/k' })
    assert.equal(del.statusCode, 204)
    assert.equal((await h.app.inject({ url: '/v1/kv/k' })).statusCode, 404)
    const again = await h.app.inject({ method: 'DELETE', url: '/v1/kv/k' })
    assert.equal(again.statusCode, 404)
    assert.equal(errorCode(again), 'GOSSAMER_ERR_KEY_NOT_FOUND')
    assert.equal(h.engine.getRecord('k')?.value, null)
  })

  test('If-None-Match: * creates once, then 412 PRECONDITION_FAILED', async () => {
    const headers = { 'if-none-match': '*' }
    assert.equal((await put(h, 'once', 'a', headers)).statusCode, 201)
    const second = await put(h, 'once', 'b', headers)
    assert.equal(second.statusCode, 412)
    assert.equal(errorCode(second), 'GOSSAMER_ERR_PRECONDITION_FAILED')
    assert.equal((await h.app.inject({ url: '/v1/kv/once' })).body, 'a')
  })

  test('If-Match with the current ETag writes; with a stale ETag it is 412', async () => {
    const v1 = (await put(h, 'cas', 'one')).headers.etag as string
    const v2 = await put(h, 'cas', 'two', { 'if-match': v1 })
    assert.equal(v2.statusCode, 200)
    const stale = await put(h, 'cas', 'three', { 'if-match': v1 })
    assert.equal(stale.statusCode, 412)
    assert.equal((await h.app.inject({ url: '/v1/kv/cas' })).body, 'two')
    const list = await put(h, 'cas', 'four', { 'if-match': `"x", ${v2.headers.etag}` })
    assert.equal(list.statusCode, 200)
  })

  test('If-Match on a missing key is 412, If-Match: * needs an existing key', async () => {
    assert.equal((await put(h, 'absent', 'v', { 'if-match': '"1-0-n1"' })).statusCode, 412)
    assert.equal((await put(h, 'absent', 'v', { 'if-match': '*' })).statusCode, 412)
    await put(h, 'present', 'v')
    assert.equal((await put(h, 'present', 'w', { 'if-match': '*' })).statusCode, 200)
  })

  test('a weak ETag never satisfies If-Match (strong comparison)', async () => {
    const etag = (await put(h, 'k', 'v')).headers.etag as string
    assert.equal((await put(h, 'k', 'w', { 'if-match': `W/${etag}` })).statusCode, 412)
  })

  test('DELETE honours If-Match', async () => {
    const etag = (await put(h, 'k', 'v')).headers.etag as string
    const wrong = await h.app.inject({
      method: 'DELETE',
      url: '/v1/kv/k',
      headers: { 'if-match': '"1-0-n1"' },
    })
    assert.equal(wrong.statusCode, 412)
    const right = await h.app.inject({
      method: 'DELETE',
      url: '/v1/kv/k',
      headers: { 'if-match': etag },
    })
    assert.equal(right.statusCode, 204)
  })

  test('a malformed If-Match header is 400 HEADER_INVALID', async () => {
    const bad = await put(h, 'k', 'v', { 'if-match': 'not-quoted' })
    assert.equal(bad.statusCode, 400)
    assert.equal(errorCode(bad), 'GOSSAMER_ERR_HEADER_INVALID')
  })

  test('?ttl= sets an expiry; the key reads as absent once it passes', async () => {
    const created = await put(h, 'session', 's', {}, '?ttl=30s')
    assert.equal(created.statusCode, 201)
    const get = await h.app.inject({ url: '/v1/kv/session' })
    assert.equal(get.headers['gossamer-expires-at'], String(h.wallMs + 30_000))
    h.wallMs += 29_999
    assert.equal((await h.app.inject({ url: '/v1/kv/session' })).statusCode, 200)
    h.wallMs += 1
    assert.equal((await h.app.inject({ url: '/v1/kv/session' })).statusCode, 404)
    assert.equal((await h.app.inject({ url: '/get?key=session' })).statusCode, 404)
    const list = await h.app.inject({ url: '/v1/kv' })
    assert.deepEqual(list.json().items, [])
  })

  test('invalid ttl values are 400 TTL_INVALID', async () => {
    for (const ttl of ['0s', '-1s', '1y', 'abc', '', '99999d']) {
      const bad = await put(h, 'k', 'v', {}, `?ttl=${ttl}`)
      assert.equal(bad.statusCode, 400, ttl)
      assert.equal(errorCode(bad), 'GOSSAMER_ERR_TTL_INVALID', ttl)
    }
  })

  test('GET /v1/kv lists live keys in order, with prefix, limit and cursor', async () => {
    for (const key of ['b', 'a/2', 'a/1', 'c', 'a/3', 'dead']) await put(h, key, `v-${key}`)
    await h.app.inject({ method: 'DELETE', url: '/v1/kv/dead' })
    const all = await h.app.inject({ url: '/v1/kv' })
    assert.deepEqual(
      all.json().items.map((i: { key: string }) => i.key),
      ['a/1', 'a/2', 'a/3', 'b', 'c'],
    )
    assert.equal(all.json().cursor, null)
    const first = (await h.app.inject({ url: '/v1/kv?prefix=a/&limit=2' })).json()
    assert.deepEqual(
      first.items.map((i: { key: string }) => i.key),
      ['a/1', 'a/2'],
    )
    assert.equal(typeof first.cursor, 'string')
    const next = (
      await h.app.inject({ url: `/v1/kv?prefix=a/&limit=2&cursor=${first.cursor}` })
    ).json()
    assert.deepEqual(
      next.items.map((i: { key: string }) => i.key),
      ['a/3'],
    )
  })

  test('listing with values=true includes base64 values and metadata', async () => {
    await put(h, 'k', Buffer.from([1, 2, 3]), { 'content-type': 'x/y' }, '?ttl=1h')
    const item = (await h.app.inject({ url: '/v1/kv?values=true' })).json().items[0]
    assert.equal(item.key, 'k')
    assert.equal(item.value, 'AQID')
    assert.equal(item.contentType, 'x/y')
    assert.equal(item.expiresAtMs, h.wallMs + 3_600_000)
    const bare = (await h.app.inject({ url: '/v1/kv' })).json().items[0]
    assert.equal(bare.value, undefined)
  })

  test('bad list parameters are 400 with their own codes', async () => {
    const cases: Array<[string, string]> = [
      ['limit=0', 'GOSSAMER_ERR_LIMIT_INVALID'],
      ['limit=1001', 'GOSSAMER_ERR_LIMIT_INVALID'],
      ['limit=x', 'GOSSAMER_ERR_LIMIT_INVALID'],
      ['cursor=!!', 'GOSSAMER_ERR_CURSOR_INVALID'],
      ['cursor=A', 'GOSSAMER_ERR_CURSOR_INVALID'],
      ['cursor=_w', 'GOSSAMER_ERR_CURSOR_INVALID'],
      ['values=maybe', 'GOSSAMER_ERR_QUERY_INVALID'],
      ['prefix=a&prefix=b', 'GOSSAMER_ERR_QUERY_INVALID'],
    ]
    for (const [query, code] of cases) {
      const response = await h.app.inject({ url: `/v1/kv?${query}` })
      assert.equal(response.statusCode, 400, query)
      assert.equal(errorCode(response), code, query)
    }
  })
})
