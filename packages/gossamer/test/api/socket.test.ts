// Goal: the API works over a real socket, not only through inject(): the seed and /v1 routes,
// errors, a malformed HTTP request, and a large body. Method: startNode on 127.0.0.1 port 0
// (in memory) and global fetch / a raw TCP socket.
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { type GossamerNode, startNode } from '../../src/node.ts'

type ErrorJson = { error: { code: string } }

describe('API over a real socket', () => {
  let node: GossamerNode
  before(async () => {
    node = await startNode({ inMemory: true, httpPort: 0, logLevel: 'silent', name: 'sock' })
  })
  after(async () => {
    await node.close()
  })

  test('the node reports the actual port it listens on', () => {
    assert.match(node.httpUrl, /^http:\/\/127\.0\.0\.1:\d+$/)
    assert.notEqual(node.httpUrl, 'http://127.0.0.1:0')
  })

  test('seed routes round-trip over HTTP', async () => {
    const put = await fetch(`${node.httpUrl}/put`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ key: 'k', value: 'v' }),
    })
    assert.equal(put.status, 200)
    const get = await fetch(`${node.httpUrl}/get?key=k`)
    assert.equal(((await get.json()) as { value: string }).value, 'v')
    const set = await fetch(`${node.httpUrl}/set/k2/v%202`, { method: 'POST' })
    assert.equal(set.status, 200)
    assert.equal(
      ((await (await fetch(`${node.httpUrl}/get/key=k2`)).json()) as { value: string }).value,
      'v 2',
    )
    const del = await fetch(`${node.httpUrl}/delete?key=k`, { method: 'DELETE' })
    assert.deepEqual(await del.json(), { key: 'k', deleted: true })
  })

  test('/v1/kv stores a 1 MiB binary value and returns it byte for byte', async () => {
    const bytes = new Uint8Array(1024 * 1024).map((_, i) => (i * 7) % 256)
    const put = await fetch(`${node.httpUrl}/v1/kv/big%2Fone`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
    })
    assert.equal(put.status, 201)
    const get = await fetch(`${node.httpUrl}/v1/kv/big/one`)
    assert.equal(get.headers.get('etag'), put.headers.get('etag'))
    assert.deepEqual(new Uint8Array(await get.arrayBuffer()), bytes)
  })

  test('a value one byte over the limit is 413 VALUE_TOO_LARGE as JSON', async () => {
    const put = await fetch(`${node.httpUrl}/v1/kv/too-big`, {
      method: 'PUT',
      body: new Uint8Array(1024 * 1024 + 1),
    })
    assert.equal(put.status, 413)
    assert.equal(((await put.json()) as ErrorJson).error.code, 'GOSSAMER_ERR_VALUE_TOO_LARGE')
  })

  test('malformed JSON and unknown routes are JSON errors', async () => {
    const bad = await fetch(`${node.httpUrl}/put`, { method: 'PUT', body: '{"key"' })
    assert.equal(bad.status, 400)
    assert.equal(((await bad.json()) as ErrorJson).error.code, 'GOSSAMER_ERR_BODY_INVALID_JSON')
    const missing = await fetch(`${node.httpUrl}/no/such/route`)
    assert.equal(missing.status, 404)
    assert.equal(((await missing.json()) as ErrorJson).error.code, 'GOSSAMER_ERR_ROUTE_NOT_FOUND')
  })

  function rawRequest(request: string): Promise<string> {
    const url = new URL(node.httpUrl)
    return new Promise<string>((resolve, reject) => {
      const socket = connect({ host: url.hostname, port: Number(url.port) })
      let data = ''
      socket.setTimeout(5000, () => socket.destroy(new Error('timeout')))
      socket.on('data', (chunk) => {
        data += chunk.toString()
      })
      socket.on('end', () => resolve(data))
      socket.on('error', reject)
      socket.write(request)
    })
  }

  test('a request Node cannot parse gets a JSON 400 and the connection closes', async () => {
    const reply = await rawRequest('GARBAGE / HTTP/1.1\r\nHost: x\r\n\r\n')
    assert.match(reply, /^HTTP\/1\.1 400/)
    assert.match(reply, /"code":"GOSSAMER_ERR_REQUEST_INVALID"/)
  })

  test('an absolute-form request target reaches the same routes', async () => {
    await fetch(`${node.httpUrl}/v1/kv/abs%2Fkey`, { method: 'PUT', body: 'abs' })
    const url = new URL(node.httpUrl)
    for (const path of ['/v1/kv/abs/key', '/get/key=abs/key']) {
      const reply = await rawRequest(
        `GET http://${url.host}${path} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: close\r\n\r\n`,
      )
      assert.match(reply, /^HTTP\/1\.1 200/, path)
    }
  })
})
