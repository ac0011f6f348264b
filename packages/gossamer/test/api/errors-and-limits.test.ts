// Goal: every failure is the JSON error shape with a catalogued code, including Fastify's own
// (unknown route, wrong method, bad URL, body too large), and key/value limits hold on both
// the seed and /v1 routes. Method: inject() with small configured limits.
import assert from 'node:assert/strict'
import { beforeEach, describe, test } from 'node:test'
import { ERROR_CATALOGUE } from '../../src/errors.ts'
import { errorCode, type Harness, makeHarness } from './harness.ts'

function assertErrorShape(response: { statusCode: number; json(): unknown }, code: string) {
  const body = response.json() as { error: { code: string; message: string } }
  assert.deepEqual(Object.keys(body), ['error'])
  assert.equal(body.error.code, code)
  assert.equal(typeof body.error.message, 'string')
  assert.equal(
    response.statusCode,
    ERROR_CATALOGUE[code as keyof typeof ERROR_CATALOGUE].httpStatus,
  )
}

describe('errors and limits', () => {
  let h: Harness
  beforeEach(async () => {
    h = await makeHarness({ maxKeyBytes: 8, maxValueBytes: 16 })
  })

  test('an unknown route is 404 ROUTE_NOT_FOUND as JSON', async () => {
    assertErrorShape(await h.app.inject({ url: '/nope' }), 'GOSSAMER_ERR_ROUTE_NOT_FOUND')
    assertErrorShape(await h.app.inject({ url: '/v2/kv/a' }), 'GOSSAMER_ERR_ROUTE_NOT_FOUND')
  })

  test('a known path with the wrong method is 405 with an Allow header', async () => {
    const response = await h.app.inject({ method: 'POST', url: '/v1/kv/k' })
    assertErrorShape(response, 'GOSSAMER_ERR_METHOD_NOT_ALLOWED')
    assert.equal(response.headers.allow, 'GET, HEAD, PUT, DELETE')
    const get = await h.app.inject({ method: 'GET', url: '/put' })
    assert.equal(get.headers.allow, 'PUT')
  })

  test('a URL with broken percent-encoding is 400 URL_INVALID', async () => {
    assertErrorShape(await h.app.inject({ url: '/v1/kv/%E0%A4' }), 'GOSSAMER_ERR_URL_INVALID')
  })

  test('keys longer than maxKeyBytes (in UTF-8 bytes) are 400 KEY_TOO_LARGE on every route', async () => {
    const long = 'é'.repeat(5) // 10 bytes > 8
    const responses = [
      await h.app.inject({ url: `/v1/kv/${encodeURIComponent(long)}` }),
      await h.app.inject({
        method: 'PUT',
        url: `/v1/kv/${encodeURIComponent(long)}`,
        payload: 'v',
      }),
      await h.app.inject({ url: `/get?key=${encodeURIComponent(long)}` }),
      await h.app.inject({ url: `/get/key=${encodeURIComponent(long)}` }),
      await h.app.inject({ method: 'DELETE', url: `/delete?key=${encodeURIComponent(long)}` }),
      await h.app.inject({ method: 'POST', url: `/set/${encodeURIComponent(long)}/v` }),
      await h.app.inject({
        method: 'PUT',
        url: '/put',
        payload: JSON.stringify({ key: long, value: 'v' }),
      }),
    ]
    for (const response of responses) assertErrorShape(response, 'GOSSAMER_ERR_KEY_TOO_LARGE')
    const exact = await h.app.inject({ method: 'PUT', url: '/v1/kv/12345678', payload: 'v' })
    assert.equal(exact.statusCode, 201)
  })

  test('an empty key is 400 KEY_INVALID', async () => {
    assertErrorShape(await h.app.inject({ url: '/v1/kv/' }), 'GOSSAMER_ERR_KEY_INVALID')
    assertErrorShape(await h.app.inject({ url: '/get/key=' }), 'GOSSAMER_ERR_KEY_INVALID')
  })

  test('the keys "." and ".." (URL dot segments) are 400 KEY_INVALID on every route', async () => {
    for (const key of ['.', '..']) {
      const responses = [
        await h.app.inject({
          method: 'PUT',
          url: '/put',
          payload: JSON.stringify({ key, value: 'v' }),
        }),
        await h.app.inject({ url: `/get?key=${key}` }),
        await h.app.inject({ method: 'DELETE', url: `/delete?key=${key}` }),
      ]
      for (const response of responses) {
        assertErrorShape(response, 'GOSSAMER_ERR_KEY_INVALID')
        assert.match(response.json().error.message, /dot segment/)
      }
    }
    // Keys that merely contain dots are ordinary keys.
    for (const key of ['...', '.a', 'a.', 'a/./b']) {
      const url = `/v1/kv/${encodeURIComponent(key)}`
      const put = await h.app.inject({ method: 'PUT', url, payload: 'v' })
      assert.ok(put.statusCode === 200 || put.statusCode === 201, put.body)
      assert.equal((await h.app.inject({ url })).body, 'v')
    }
  })

  test('values longer than maxValueBytes are 413 VALUE_TOO_LARGE on every write route', async () => {
    const big = 'x'.repeat(17)
    const responses = [
      await h.app.inject({ method: 'PUT', url: '/v1/kv/k', payload: big }),
      await h.app.inject({ method: 'POST', url: `/set/k/${big}` }),
      await h.app.inject({
        method: 'PUT',
        url: '/put',
        payload: JSON.stringify({ key: 'k', value: big }),
      }),
    ]
    for (const response of responses) assertErrorShape(response, 'GOSSAMER_ERR_VALUE_TOO_LARGE')
    const exact = await h.app.inject({ method: 'PUT', url: '/v1/kv/k', payload: 'x'.repeat(16) })
    assert.equal(exact.statusCode, 201)
    assert.equal((await h.app.inject({ url: '/get?key=k' })).json().value.length, 16)
  })

  test('a /put body beyond the body limit is 413 BODY_TOO_LARGE before parsing', async () => {
    const response = await h.app.inject({
      method: 'PUT',
      url: '/put',
      payload: 'x'.repeat(6 * (8 + 16) + 1025),
    })
    assertErrorShape(response, 'GOSSAMER_ERR_BODY_TOO_LARGE')
  })

  test('a failing engine answers 500 STORAGE_FAILED once, then NOT_READY, and /v1/ready is 503', async () => {
    const broken = await makeHarness()
    broken.engine.write = async () => {
      throw new Error('disk on fire')
    }
    const first = await broken.app.inject({ method: 'PUT', url: '/v1/kv/k', payload: 'v' })
    assertErrorShape(first, 'GOSSAMER_ERR_STORAGE_FAILED')
    assert.doesNotMatch(first.body, /disk on fire/)
    assertErrorShape(await broken.app.inject({ url: '/v1/kv/k' }), 'GOSSAMER_ERR_NOT_READY')
    assertErrorShape(await broken.app.inject({ url: '/v1/ready' }), 'GOSSAMER_ERR_NOT_READY')
    assert.equal((await broken.app.inject({ url: '/v1/health' })).statusCode, 200)
  })

  test('errors are counted by code in /metrics', async () => {
    await h.app.inject({ url: '/nope' })
    const metrics = await h.app.inject({ url: '/metrics' })
    assert.match(
      metrics.body,
      /gossamer_http_errors_total\{code="GOSSAMER_ERR_ROUTE_NOT_FOUND"\} 1/,
    )
    assert.equal(
      errorCode(await h.app.inject({ url: '/get?key=zz' })),
      'GOSSAMER_ERR_KEY_NOT_FOUND',
    )
  })
})
