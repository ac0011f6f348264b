// Goal: the original routes behave exactly as the original README describes them, with the
// documented success bodies and JSON errors. Method: inject() against an in-memory node.
import assert from 'node:assert/strict'
import { beforeEach, describe, test } from 'node:test'
import { errorCode, type Harness, makeHarness } from './harness.ts'

describe('seed routes', () => {
  let h: Harness
  beforeEach(async () => {
    h = await makeHarness()
  })

  test('PUT /put stores a value that GET /get?key= returns as {"key","value","version"}', async () => {
    const put = await h.app.inject({
      method: 'PUT',
      url: '/put',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ key: 'greeting', value: 'hello' }),
    })
    assert.equal(put.statusCode, 200)
    const { key, version } = put.json()
    assert.equal(key, 'greeting')
    assert.match(version, /^\d+-\d+-n1$/)
    const get = await h.app.inject({ url: '/get?key=greeting' })
    assert.equal(get.statusCode, 200)
    assert.deepEqual(get.json(), { key: 'greeting', value: 'hello', version })
  })

  test('PUT /put accepts a JSON body sent without a JSON content type', async () => {
    const put = await h.app.inject({
      method: 'PUT',
      url: '/put',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: '{"key":"k","value":"v"}',
    })
    assert.equal(put.statusCode, 200)
    assert.equal((await h.app.inject({ url: '/get?key=k' })).json().value, 'v')
  })

  test('GET /get/key=K (the path-segment form) reads the same key, "/" included', async () => {
    await h.app.inject({ method: 'PUT', url: '/put', payload: '{"key":"a/b c","value":"v"}' })
    const get = await h.app.inject({ url: '/get/key=a/b%20c' })
    assert.equal(get.statusCode, 200)
    assert.equal(get.json().value, 'v')
  })

  test('a missing key is a 404 JSON error on both GET forms', async () => {
    for (const url of ['/get?key=nope', '/get/key=nope']) {
      const get = await h.app.inject({ url })
      assert.equal(get.statusCode, 404)
      assert.deepEqual(get.json(), {
        error: { code: 'GOSSAMER_ERR_KEY_NOT_FOUND', message: 'key "nope" not found' },
      })
    }
  })

  test('DELETE /delete?key= deletes and answers {"key","deleted":true}; again is 404', async () => {
    await h.app.inject({ method: 'PUT', url: '/put', payload: '{"key":"k","value":"v"}' })
    const del = await h.app.inject({ method: 'DELETE', url: '/delete?key=k' })
    assert.equal(del.statusCode, 200)
    assert.deepEqual(del.json(), { key: 'k', deleted: true })
    assert.equal((await h.app.inject({ url: '/get?key=k' })).statusCode, 404)
    const again = await h.app.inject({ method: 'DELETE', url: '/delete?key=k' })
    assert.equal(again.statusCode, 404)
    assert.equal(errorCode(again), 'GOSSAMER_ERR_KEY_NOT_FOUND')
  })

  test('POST /set/{key}/{value} URL-decodes both parts', async () => {
    const set = await h.app.inject({ method: 'POST', url: '/set/user%2F1/hello%20w%C3%B6rld' })
    assert.equal(set.statusCode, 200)
    assert.equal(set.json().key, 'user/1')
    const get = await h.app.inject({ url: '/get?key=user%2F1' })
    assert.equal(get.json().value, 'hello wörld')
  })

  test('POST /set with an empty value stores the empty string', async () => {
    assert.equal((await h.app.inject({ method: 'POST', url: '/set/k/' })).statusCode, 200)
    assert.equal((await h.app.inject({ url: '/get?key=k' })).json().value, '')
  })

  test('POST /set with an unencoded "/" in key or value is 404 with a hint', async () => {
    const set = await h.app.inject({ method: 'POST', url: '/set/a/b/c' })
    assert.equal(set.statusCode, 404)
    assert.match(set.json().error.message, /%2F/)
  })

  test('a value that is not UTF-8 is returned base64 with "encoding":"base64"', async () => {
    await h.app.inject({ method: 'PUT', url: '/v1/kv/bin', payload: Buffer.from([0xff, 0x00]) })
    const get = await h.app.inject({ url: '/get?key=bin' })
    assert.equal(get.json().value, '/wA=')
    assert.equal(get.json().encoding, 'base64')
  })

  test('bad /put bodies are 400 with precise codes', async () => {
    const cases: Array<[string, string]> = [
      ['{"key":', 'GOSSAMER_ERR_BODY_INVALID_JSON'],
      ['', 'GOSSAMER_ERR_BODY_INVALID'],
      ['[1,2]', 'GOSSAMER_ERR_BODY_INVALID'],
      ['"text"', 'GOSSAMER_ERR_BODY_INVALID'],
      ['{"value":"v"}', 'GOSSAMER_ERR_KEY_INVALID'],
      ['{"key":"","value":"v"}', 'GOSSAMER_ERR_KEY_INVALID'],
      ['{"key":7,"value":"v"}', 'GOSSAMER_ERR_KEY_INVALID'],
      ['{"key":"k"}', 'GOSSAMER_ERR_VALUE_INVALID'],
      ['{"key":"k","value":{"a":1}}', 'GOSSAMER_ERR_VALUE_INVALID'],
      ['{"key":"\\ud800","value":"v"}', 'GOSSAMER_ERR_KEY_INVALID'],
    ]
    for (const [payload, code] of cases) {
      const put = await h.app.inject({
        method: 'PUT',
        url: '/put',
        headers: { 'content-type': 'application/json' },
        payload,
      })
      assert.equal(put.statusCode, 400, payload)
      assert.equal(errorCode(put), code, payload)
    }
  })

  test('GET /get without ?key= or with it twice is 400 KEY_INVALID', async () => {
    for (const url of ['/get', '/get?key=', '/get?key=a&key=b']) {
      const get = await h.app.inject({ url })
      assert.equal(get.statusCode, 400, url)
      assert.equal(errorCode(get), 'GOSSAMER_ERR_KEY_INVALID', url)
    }
  })
})
