// Goal: no client input can make the server answer 5xx or crash: random methods, paths, query
// strings, headers and bodies (bytes and JSON) always get a 2xx/3xx/4xx, and every 4xx is the
// JSON error shape. Method: fast-check properties over inject(), with small limits so size
// edges are hit often.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { makeHarness } from './harness.ts'

const METHODS = ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'PATCH', 'OPTIONS'] as const
const PREFIXES = [
  '/put',
  '/get',
  '/get/key=',
  '/delete',
  '/set/',
  '/v1/kv',
  '/v1/kv/',
  '/metrics',
  '/v1/ready',
  '/',
]

// Printable ASCII without space and '#' (which would end the URL), plus '%XX' escapes of any byte.
const urlChar = fc.oneof(
  fc.constantFrom(..."abcAZ09-._~/?&=+:;,!$()*@'[]%".split('')),
  fc.integer({ min: 0, max: 255 }).map((b) => '%' + b.toString(16).padStart(2, '0').toUpperCase()),
  fc.string({ unit: 'grapheme', maxLength: 2 }).map(encodeURIComponent),
)
const path = fc
  .tuple(fc.constantFrom(...PREFIXES), fc.array(urlChar, { maxLength: 24 }))
  .map(([prefix, chars]) => prefix + chars.join(''))
const query = fc
  .array(
    fc.tuple(
      fc.constantFrom('key', 'ttl', 'limit', 'cursor', 'prefix', 'values', 'x'),
      fc.array(urlChar, { maxLength: 8 }).map((c) => c.join('')),
    ),
    { maxLength: 3 },
  )
  .map((pairs) => (pairs.length === 0 ? '' : '?' + pairs.map(([k, v]) => `${k}=${v}`).join('&')))
const headerValue = fc.oneof(
  fc.string({
    unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
    maxLength: 30,
  }),
  fc.constantFrom('*', '"1-0-n1"', 'W/"x"', '"a", "b"', ', ,', '""'),
)
const headers = fc.record(
  {
    'if-match': headerValue,
    'if-none-match': headerValue,
    'content-type': fc.oneof(headerValue, fc.constant('application/json')),
  },
  { requiredKeys: [] },
)
const jsonBody = fc
  .oneof(
    fc.record(
      {
        key: fc.oneof(fc.string({ maxLength: 12 }), fc.jsonValue()),
        value: fc.oneof(fc.string({ maxLength: 24 }), fc.jsonValue()),
      },
      { requiredKeys: [] },
    ),
    fc.jsonValue(),
  )
  .map((v) => Buffer.from(JSON.stringify(v) ?? ''))
const body = fc.oneof(
  fc.constant(undefined),
  fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
  jsonBody,
  fc.string({ maxLength: 40 }).map((s) => Buffer.from(s)),
)

test('random requests never produce a 5xx, and every 4xx is a JSON error', async () => {
  const h = await makeHarness({ maxKeyBytes: 16, maxValueBytes: 32 })
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...METHODS),
      path,
      query,
      headers,
      body,
      async (method, url, search, hdrs, payload) => {
        const response = await h.app.inject({
          method,
          url: url + search,
          headers: hdrs,
          ...(payload && { payload }),
        })
        assert.ok(
          response.statusCode < 500,
          `${method} ${url}${search} -> ${response.statusCode} ${response.body}`,
        )
        if (response.statusCode >= 400 && method !== 'HEAD') {
          const parsed = response.json() as { error?: { code?: string } }
          assert.match(parsed.error?.code ?? '', /^GOSSAMER_ERR_/)
        }
      },
    ),
    { numRuns: 400 },
  )
})

test('any written key and bytes read back identically through /v1/kv', async () => {
  const h = await makeHarness({ maxKeyBytes: 64, maxValueBytes: 256 })
  const key = fc
    .string({ unit: 'grapheme', minLength: 1, maxLength: 12 })
    .filter((k) => Buffer.byteLength(k) <= 64)
  await fc.assert(
    fc.asyncProperty(key, fc.uint8Array({ maxLength: 256 }), async (k, bytes) => {
      if (k === '.' || k === '..') {
        // Dot segments cannot round-trip through a URL path; the JSON route refuses them.
        const put = await h.app.inject({
          method: 'PUT',
          url: '/put',
          payload: JSON.stringify({ key: k, value: 'v' }),
        })
        assert.equal(put.statusCode, 400, put.body)
        return
      }
      const url = `/v1/kv/${encodeURIComponent(k)}`
      const put = await h.app.inject({ method: 'PUT', url, payload: Buffer.from(bytes) })
      assert.ok(put.statusCode === 200 || put.statusCode === 201, put.body)
      const get = await h.app.inject({ url })
      assert.deepEqual(new Uint8Array(get.rawPayload), bytes)
      assert.equal(get.headers.etag, put.headers.etag)
    }),
    {
      numRuns: 200,
      examples: [
        ['.', new Uint8Array()],
        ['..', new Uint8Array([1])],
        ['...', new Uint8Array([2])],
      ],
    },
  )
})
