// Goal: the client speaks the server's /v1 API correctly: bytes and text round-trip with
// versions and content types, TTLs, conditional writes, deletes, paginated listing, and errors
// arrive as classes carrying the server's codes. Method: a real in-process node on port 0.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { type GossamerNode, startNode } from 'gossamer'
import {
  ConnectionError,
  GossamerClient,
  GossamerClientError,
  InvalidRequestError,
  NotFoundError,
  PayloadTooLargeError,
  PreconditionFailedError,
  TimeoutError,
} from '../src/index.ts'

describe('GossamerClient against a real node', () => {
  let node: GossamerNode
  let client: GossamerClient
  before(async () => {
    node = await startNode({
      inMemory: true,
      httpPort: 0,
      logLevel: 'silent',
      name: 'c1',
      maxValueBytes: 4096,
    })
    client = new GossamerClient({ baseUrl: node.httpUrl, timeoutMs: 5000 })
  })
  after(async () => {
    await node.close()
  })

  test('put then get round-trips text with its version and content type', async () => {
    const put = await client.put('greeting', 'héllo')
    assert.equal(put.created, true)
    assert.match(put.version, /^\d+-\d+-c1$/)
    const got = await client.get('greeting')
    assert.equal(got.text(), 'héllo')
    assert.equal(got.version, put.version)
    assert.equal(got.contentType, 'text/plain; charset=utf-8')
    assert.equal(got.expiresAtMs, undefined)
  })

  test('bytes round-trip exactly, keys with "/" and spaces included', async () => {
    const bytes = new Uint8Array([0, 255, 10, 13, 128])
    await client.put('bin/a b', bytes, { contentType: 'application/x-test' })
    const got = await client.get('bin/a b')
    assert.deepEqual(got.value, bytes)
    assert.equal(got.contentType, 'application/x-test')
  })

  test('a missing key throws NotFoundError with the server code', async () => {
    await assert.rejects(client.get('nope'), (error: unknown) => {
      assert.ok(error instanceof NotFoundError)
      assert.ok(error instanceof GossamerClientError)
      assert.equal(error.code, 'GOSSAMER_ERR_KEY_NOT_FOUND')
      assert.equal(error.status, 404)
      return true
    })
  })

  test('ifMatch does compare-and-set; a stale version throws PreconditionFailedError', async () => {
    const first = await client.put('cas', 'one')
    const second = await client.put('cas', 'two', { ifMatch: first.version })
    assert.equal(second.created, false)
    await assert.rejects(client.put('cas', 'three', { ifMatch: first.version }), (error) => {
      assert.ok(error instanceof PreconditionFailedError)
      assert.equal((error as PreconditionFailedError).code, 'GOSSAMER_ERR_PRECONDITION_FAILED')
      return true
    })
    await assert.rejects(client.put('cas', 'x', { ifNoneMatch: '*' }), PreconditionFailedError)
    assert.equal((await client.get('cas')).text(), 'two')
  })

  test('ttl sets an absolute expiry reported by get', async () => {
    const before = Date.now()
    await client.put('session', 's', { ttl: '1h' })
    const got = await client.get('session')
    assert.ok(got.expiresAtMs !== undefined && got.expiresAtMs >= before + 3_600_000)
    await client.put('short', 's', { ttl: 60_000 })
    assert.ok((await client.get('short')).expiresAtMs! <= Date.now() + 60_000)
  })

  test('delete resolves true when a value was deleted and false when there was none', async () => {
    await client.put('doomed', 'x')
    assert.equal(await client.delete('doomed'), true)
    assert.equal(await client.delete('doomed'), false)
    await assert.rejects(client.get('doomed'), NotFoundError)
  })

  test('list pages through keys in order; listAll iterates them all', async () => {
    for (const key of ['p/3', 'p/1', 'p/2', 'q/1']) await client.put(key, key)
    const page = await client.list({ prefix: 'p/', limit: 2, values: true })
    assert.deepEqual(
      page.items.map((i) => i.key),
      ['p/1', 'p/2'],
    )
    assert.equal(new TextDecoder().decode(page.items[0]!.value), 'p/1')
    assert.ok(page.cursor !== undefined)
    const rest = await client.list({ prefix: 'p/', limit: 2, cursor: page.cursor })
    assert.deepEqual(
      rest.items.map((i) => i.key),
      ['p/3'],
    )
    const keys: string[] = []
    for await (const item of client.listAll({ prefix: 'p/', limit: 1 })) keys.push(item.key)
    assert.deepEqual(keys, ['p/1', 'p/2', 'p/3'])
  })

  test('server-side validation errors map to classes with codes', async () => {
    await assert.rejects(client.put('big', new Uint8Array(4097)), (error) => {
      assert.ok(error instanceof PayloadTooLargeError)
      assert.equal((error as PayloadTooLargeError).code, 'GOSSAMER_ERR_VALUE_TOO_LARGE')
      return true
    })
    await assert.rejects(client.put('k', 'v', { ttl: 'soon' }), (error) => {
      assert.ok(error instanceof InvalidRequestError)
      assert.equal((error as InvalidRequestError).code, 'GOSSAMER_ERR_TTL_INVALID')
      return true
    })
    await assert.rejects(client.get(''), InvalidRequestError)
    for (const key of ['.', '..']) {
      await assert.rejects(client.put(key, 'v'), (error) => {
        assert.ok(error instanceof InvalidRequestError)
        assert.equal((error as InvalidRequestError).code, 'GOSSAMER_ERR_KEY_INVALID')
        return true
      })
    }
    await client.put('..a', 'v')
    assert.equal((await client.get('..a')).text(), 'v')
  })

  test('health and ready report the node state', async () => {
    assert.equal(await client.health(), true)
    assert.equal(await client.ready(), true)
  })

  test('an unreachable server throws ConnectionError', async () => {
    const dead = new GossamerClient({ baseUrl: 'http://127.0.0.1:1', timeoutMs: 2000 })
    await assert.rejects(dead.get('k'), (error) => {
      assert.ok(error instanceof ConnectionError)
      assert.equal((error as ConnectionError).code, 'GOSSAMER_CLIENT_CONNECTION')
      return true
    })
  })

  test('a server slower than timeoutMs throws TimeoutError', async () => {
    // A fetch that never answers stands in for a hung server.
    const hung: typeof fetch = (_input, init) =>
      new Promise((_resolve, reject) => {
        init?.signal?.addEventListener('abort', () => reject(init.signal?.reason))
      })
    const slow = new GossamerClient({ baseUrl: node.httpUrl, timeoutMs: 20, fetch: hung })
    await assert.rejects(slow.get('k'), TimeoutError)
  })
})
