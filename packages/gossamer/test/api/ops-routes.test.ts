// Goal: health, readiness and Prometheus metrics answer as documented. Method: inject().
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { errorCode, makeHarness } from './harness.ts'

describe('operational routes', () => {
  test('/v1/health is 200 while the process answers', async () => {
    const h = await makeHarness()
    const response = await h.app.inject({ url: '/v1/health' })
    assert.equal(response.statusCode, 200)
    assert.deepEqual(response.json(), { status: 'ok', name: 'n1' })
  })

  test('/v1/ready follows readiness: 200 when ready, 503 NOT_READY otherwise', async () => {
    const h = await makeHarness()
    assert.equal((await h.app.inject({ url: '/v1/ready' })).statusCode, 200)
    h.ready = false
    const response = await h.app.inject({ url: '/v1/ready' })
    assert.equal(response.statusCode, 503)
    assert.equal(errorCode(response), 'GOSSAMER_ERR_NOT_READY')
  })

  test('/metrics counts requests by route, method and status and reports storage gauges', async () => {
    const h = await makeHarness()
    await h.app.inject({ method: 'PUT', url: '/v1/kv/a', payload: 'v' })
    await h.app.inject({ url: '/v1/kv/a' })
    await h.app.inject({ url: '/v1/kv/missing' })
    const response = await h.app.inject({ url: '/metrics' })
    assert.equal(response.statusCode, 200)
    assert.match(String(response.headers['content-type']), /^text\/plain/)
    const text = response.body
    assert.match(
      text,
      /gossamer_http_requests_total\{route="\/v1\/kv\/\*",method="PUT",status="201"\} 1/,
    )
    assert.match(
      text,
      /gossamer_http_requests_total\{route="\/v1\/kv\/\*",method="GET",status="404"\} 1/,
    )
    assert.match(
      text,
      /gossamer_http_request_duration_seconds_bucket\{le="0.005",route="\/v1\/kv\/\*",method="GET"\}/,
    )
    assert.match(text, /gossamer_storage_keys 1/)
    assert.match(text, /gossamer_storage_size_bytes \d+/)
  })

  test('two nodes in one process keep separate metrics registries', async () => {
    const a = await makeHarness()
    const b = await makeHarness()
    await a.app.inject({ url: '/v1/health' })
    const textB = (await b.app.inject({ url: '/metrics' })).body
    assert.doesNotMatch(textB, /route="\/v1\/health"/)
  })
})
