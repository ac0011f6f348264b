// Goal: every parser of client-controlled request text that is not a body — entity-tag lists
// (If-Match / If-None-Match), `?ttl=`, `?limit=`, `?values=`, `?r=` / `?w=`, list cursors,
// percent-encoded keys — and the HTTP fast path that reads raw URLs and headers before Fastify,
// either returns a valid value or throws a 4xx GossamerError, on any input; and the routes that
// use them (conditional and TTL writes, the seed API's JSON body) never answer 5xx.
// fuzz.test.ts covers whole random requests (few of which reach a valid key with a header);
// these properties go straight at each parser with many more inputs, and at the conditional
// write routes with inputs built around the key's real entity tag. Method: fast-check with
// fixed run counts (docs/reliability.md, "Fuzzing", counts them).
import assert from 'node:assert/strict'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { createFastPath } from '../../src/api/fast-path.ts'
import {
  consistencyParam,
  decodeComponent,
  decodeCursor,
  encodeCursor,
  etagConditionMatches,
  etagOf,
  parseEtagCondition,
  parseFlag,
  parseLimit,
  parseTtlMs,
  TTL_MAX_MS,
  validateKey,
} from '../../src/api/http-input.ts'
import type { LiveRecord } from '../../src/api/kv-service.ts'
import { NodeMetrics } from '../../src/api/metrics.ts'
import { isGossamerError } from '../../src/errors.ts'
import { formatVersion, type Version } from '../../src/hlc/version.ts'
import { makeHarness } from './harness.ts'

/** Runs per property (the table in docs/reliability.md quotes these). */
const RUNS = {
  etag: 5_000,
  ttl: 5_000,
  query: 5_000,
  keyAndCursor: 5_000,
  fastPath: 3_000,
  conditionalWrites: 600,
  seedJson: 600,
} as const

const LIMITS = { maxKeyBytes: 16, maxValueBytes: 32 }

/** Runs `parse`; it must return, or throw a GossamerError with a 4xx status. */
function returnsOr4xx<T>(parse: () => T): T | undefined {
  try {
    return parse()
  } catch (error) {
    assert.ok(isGossamerError(error), `threw a non-Gossamer error: ${String(error)}`)
    assert.ok(
      error.httpStatus >= 400 && error.httpStatus < 500,
      `${error.code} is ${error.httpStatus}`,
    )
    return undefined
  }
}

const printable = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  maxLength: 40,
})
/** Any string: ASCII, binary (lone surrogates included) and graphemes. */
const anyText = fc.oneof(
  printable,
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.string({ unit: 'grapheme', maxLength: 10 }),
)
const versionArb: fc.Arbitrary<Version> = fc.record({
  wallMs: fc.maxSafeNat(),
  logical: fc.nat({ max: 0xffffffff }),
  nodeId: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,15}$/),
})
/** Header values built from entity-tag parts, so valid and almost-valid lists are common. */
const etagItem = fc.oneof(
  versionArb.map(etagOf),
  versionArb.map((v) => `W/${etagOf(v)}`),
  fc.constantFrom('*', '""', 'W/""', '"', 'W/', '"a"b"', '"\u0080"', '"\u00ff"', ' ', ''),
  printable,
  printable.map((s) => `"${s}"`),
)
const etagHeader = fc.oneof(
  fc.array(etagItem, { maxLength: 70 }).map((items) => items.join(',')),
  fc.array(etagItem, { maxLength: 5 }).map((items) => items.join(', ')),
  fc.array(
    fc.array(etagItem, { maxLength: 3 }).map((i) => i.join(',')),
    { maxLength: 3 },
  ),
  anyText,
)

describe('fuzzing the request parsers', () => {
  it('If-Match / If-None-Match: a list of tags that match exactly their own versions, or 400', () => {
    const seen = { tags: 0, refused: 0 }
    fc.assert(
      fc.property(etagHeader, versionArb, (header, version) => {
        const condition = returnsOr4xx(() => parseEtagCondition(header, 'If-Match'))
        if (condition === undefined) {
          seen.refused += 1
          return
        }
        if (condition.kind === 'any') {
          assert.equal((Array.isArray(header) ? header.join(',') : header).trim(), '*')
          return
        }
        assert.ok(condition.tags.length >= 1 && condition.tags.length <= 64)
        seen.tags += 1
        const listed = condition.tags.some((t) => t.opaque === formatVersion(version))
        const strongListed = condition.tags.some(
          (t) => t.opaque === formatVersion(version) && !t.weak,
        )
        assert.equal(etagConditionMatches(condition, version, { strong: false }), listed)
        assert.equal(etagConditionMatches(condition, version, { strong: true }), strongListed)
        assert.equal(etagConditionMatches(condition, undefined, { strong: false }), false)
      }),
      { numRuns: RUNS.etag },
    )
    assert.ok(seen.tags > 0 && seen.refused > 0, JSON.stringify(seen))
    // A record's own entity tag always parses and matches it.
    fc.assert(
      fc.property(versionArb, (version) => {
        const condition = parseEtagCondition(etagOf(version), 'If-Match')!
        assert.ok(etagConditionMatches(condition, version, { strong: true }))
      }),
      { numRuns: 500 },
    )
  })

  it('?ttl=: a positive number of ms up to ten years, or 400', () => {
    const nearTtl = fc
      .tuple(
        fc.oneof(fc.nat().map(String), fc.stringMatching(/^[0-9]{0,16}$/), printable),
        fc.constantFrom('', 'ms', 's', 'm', 'h', 'd', 'S', 'us', ' s', 'sec', '.5s'),
        fc.constantFrom('', ' ', '\t', '\n', '-', '+', '0x'),
      )
      .map(([n, unit, pad]) => `${pad}${n}${unit}${pad}`)
    let accepted = 0
    fc.assert(
      fc.property(fc.oneof(nearTtl, anyText), (text) => {
        const ttlMs = returnsOr4xx(() => parseTtlMs(text))
        if (ttlMs === undefined) return
        accepted += 1
        assert.ok(Number.isSafeInteger(ttlMs) && ttlMs > 0 && ttlMs <= TTL_MAX_MS, `${ttlMs}`)
      }),
      { numRuns: RUNS.ttl },
    )
    assert.ok(accepted > 0, 'no ttl was accepted')
  })

  it('?limit=, ?values=, ?r= / ?w=: a valid value or 400, repeated parameters refused', () => {
    const paramValue = fc.oneof(
      fc.constantFrom('one', 'quorum', 'all', '0', '1', '3', '1000', '1001', 'true', 'false', ''),
      fc.nat().map(String),
      anyText,
    )
    const queryValue = fc.oneof(
      paramValue,
      fc.array(paramValue, { minLength: 2, maxLength: 3 }),
      fc.constant(undefined),
    )
    fc.assert(
      fc.property(queryValue, queryValue, (value, other) => {
        const text = typeof value === 'string' ? value : undefined
        const limit = returnsOr4xx(() => parseLimit(text))
        if (limit !== undefined) assert.ok(Number.isInteger(limit) && limit >= 1 && limit <= 1000)
        const flag = returnsOr4xx(() => parseFlag(text, 'values'))
        if (flag !== undefined) assert.equal(typeof flag, 'boolean')
        const query = { r: value, w: other }
        for (const name of ['r', 'w'] as const) {
          const given = query[name]
          const consistency = returnsOr4xx(() => consistencyParam(query, name))
          if (Array.isArray(given)) assert.equal(consistency, undefined, 'repeated is refused')
        }
      }),
      { numRuns: RUNS.query },
    )
  })

  it('keys in paths and list cursors: a well-formed key within the limit, or 400', () => {
    const escaped = fc
      .array(
        fc.oneof(
          fc.integer({ min: 0, max: 255 }).map((b) => `%${b.toString(16).padStart(2, '0')}`),
          fc.constantFrom('%', '%G0', '%e', 'a', '/', '~', '%C3%A9', '%ED%A0%80', '%F0%9F%98%80'),
        ),
        { maxLength: 12 },
      )
      .map((parts) => parts.join(''))
    let keys = 0
    fc.assert(
      fc.property(fc.oneof(escaped, anyText), (raw) => {
        const key = returnsOr4xx(() => validateKey(decodeComponent(raw, 'key'), LIMITS))
        if (key !== undefined) {
          keys += 1
          assert.ok(key.length > 0 && Buffer.byteLength(key) <= LIMITS.maxKeyBytes)
          assert.ok(!/\p{Cs}/u.test(key), 'no lone surrogate')
        }
        const cursor = returnsOr4xx(() => decodeCursor(raw, LIMITS))
        if (cursor !== undefined) assert.equal(encodeCursor(cursor), raw)
      }),
      { numRuns: RUNS.keyAndCursor },
    )
    assert.ok(keys > 0, 'no key was accepted')
  })

  it('the HTTP fast path takes only a plain GET of a stored key or a plain PUT, and never throws', () => {
    const value = new TextEncoder().encode('v')
    const stored = new Map<string, LiveRecord>(
      ['a', 'é', 'k%', 'a/b'].map((key) => [
        key,
        { version: { wallMs: 1, logical: 0, nodeId: 'n1' }, value },
      ]),
    )
    const metrics = new NodeMetrics({ defaultMetrics: false })
    const fastPath = createFastPath({
      readLocal: (key) => stored.get(key),
      limits: LIMITS,
      metrics,
      isClosing: () => false,
      defaultContentType: 'application/octet-stream',
      contentTypeMaxLength: 256,
      // No body event ever fires on these fake requests, so no write is ever made.
      put: () => Promise.reject(new Error('no write expected')),
      onError: () => {
        throw new Error('no error expected')
      },
    })
    const urlArb = fc.oneof(
      fc.constantFrom('/v1/kv/a', '/v1/kv/%C3%A9', '/v1/kv/k%25', '/v1/kv/a/b', '/v1/kv/a?'),
      fc
        .tuple(fc.constantFrom('/v1/kv/', '/v1/kv', '/v1/', '', 'http://h/v1/kv/'), anyText)
        .map(([prefix, rest]) => prefix + rest),
    )
    const headersArb = fc.record(
      {
        'if-none-match': etagHeader,
        'if-match': etagHeader,
        'content-length': fc.constantFrom('0', '1', 'x', '33', '-1', ''),
        'transfer-encoding': fc.constantFrom('chunked', 'x'),
      },
      { requiredKeys: [] },
    )
    let served = 0
    fc.assert(
      fc.property(
        fc.constantFrom('GET', 'GET', 'HEAD', 'PUT', 'DELETE', 'get'),
        urlArb,
        headersArb,
        (method, url, headers) => {
          let status: number | undefined
          let body: Uint8Array | undefined
          const response = {
            writeHead: (code: number) => {
              status = code
            },
            end: (bytes: Uint8Array) => {
              body = bytes
            },
          } as unknown as ServerResponse
          const request = {
            method,
            url,
            headers,
            on: () => request,
          } as unknown as IncomingMessage
          const answered = fastPath(request, response)
          const length = headers['content-length']
          let isPlainPut =
            method === 'PUT' &&
            url.startsWith('/v1/kv/') &&
            !url.includes('?') &&
            length !== undefined &&
            /^\d+$/.test(length) &&
            Number(length) <= LIMITS.maxValueBytes &&
            headers['transfer-encoding'] === undefined &&
            headers['if-match'] === undefined &&
            headers['if-none-match'] === undefined
          if (isPlainPut) {
            try {
              validateKey(decodeURIComponent(url.slice('/v1/kv/'.length)), LIMITS)
            } catch {
              isPlainPut = false
            }
          }
          if (method === 'PUT') {
            assert.equal(answered, isPlainPut, `${method} ${url} ${JSON.stringify(headers)}`)
            assert.equal(status, undefined, 'nothing is answered before the body has arrived')
            return
          }
          const plain =
            method === 'GET' &&
            url.startsWith('/v1/kv/') &&
            !url.includes('?') &&
            headers['if-none-match'] === undefined &&
            headers['content-length'] === undefined &&
            headers['transfer-encoding'] === undefined
          let key: string | undefined
          if (plain) {
            try {
              key = decodeURIComponent(url.slice('/v1/kv/'.length))
            } catch {}
          }
          const expected = key !== undefined && stored.has(key)
          assert.equal(answered, expected, `${method} ${url} ${JSON.stringify(headers)}`)
          if (answered) {
            served += 1
            assert.equal(status, 200)
            assert.deepEqual(new Uint8Array(body!), value)
          } else {
            assert.equal(status, undefined, 'a request it leaves alone is not touched')
          }
        },
      ),
      {
        numRuns: RUNS.fastPath,
        // Always tried first, so that `served` does not depend on the random draw (CI once drew
        // no plain GET of a stored key at all).
        examples: [
          ['GET', '/v1/kv/a', {}],
          ['GET', '/v1/kv/%C3%A9', {}],
          ['PUT', '/v1/kv/a', { 'content-length': '1' }],
        ],
      },
    )
    assert.ok(served >= 2, 'the fast path did not answer the plain GETs of stored keys')
  })
})

describe('fuzzing the routes that use them', () => {
  it('conditional and TTL writes and deletes never answer 5xx, and 2xx only when the condition held', async () => {
    const h = await makeHarness(LIMITS)
    const keys = ['a', 'b', 'é']
    // A header built around the key's current entity tag (fetched before the request).
    const headerPlan = fc.oneof(
      fc.constant({ kind: 'current' as const }),
      fc.constant({ kind: 'weak-current' as const }),
      fc.constant({ kind: 'star' as const }),
      fc.constant({ kind: 'list-with-current' as const }),
      etagHeader.map((text) => ({ kind: 'raw' as const, text })),
    )
    const ttlArb = fc.oneof(
      fc.constant(undefined),
      fc.constantFrom('1s', '500ms', '0', '-1s', '99999999999999d', 'abc', '1h'),
      printable,
    )
    const outcomes = { conditional2xx: 0, precondition412: 0, invalid400: 0 }
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...keys),
        fc.constantFrom('PUT', 'PUT', 'DELETE'),
        fc.option(headerPlan, { nil: undefined }),
        fc.option(headerPlan, { nil: undefined }),
        ttlArb,
        fc.uint8Array({ maxLength: 40 }),
        async (key, method, ifMatchPlan, ifNoneMatchPlan, ttl, body) => {
          const url = `/v1/kv/${encodeURIComponent(key)}`
          const before = await h.app.inject({ url })
          const currentTag = before.statusCode === 200 ? String(before.headers.etag) : undefined
          const render = (plan: typeof ifMatchPlan): string | string[] | undefined => {
            if (plan === undefined) return undefined
            const tag = currentTag ?? '"0-0-none"'
            if (plan.kind === 'current') return tag
            if (plan.kind === 'weak-current') return `W/${tag}`
            if (plan.kind === 'star') return '*'
            if (plan.kind === 'list-with-current') return `"x", ${tag}, W/"y"`
            return plan.text
          }
          const headers: Record<string, string | string[]> = {}
          const ifMatch = render(ifMatchPlan)
          const ifNoneMatch = render(ifNoneMatchPlan)
          if (ifMatch !== undefined) headers['if-match'] = ifMatch
          if (ifNoneMatch !== undefined) headers['if-none-match'] = ifNoneMatch
          const search = ttl === undefined ? '' : `?ttl=${encodeURIComponent(ttl)}`
          const response = await h.app.inject({
            method,
            url: url + search,
            headers,
            ...(method === 'PUT' && { payload: Buffer.from(body) }),
          })
          const status = response.statusCode
          const what = `${method} ${url}${search} ${JSON.stringify(headers)} (current ${currentTag}) -> ${status} ${response.body}`
          assert.ok(status < 500, what)
          if (status >= 400) {
            assert.match(
              (response.json() as { error: { code: string } }).error.code,
              /^GOSSAMER_ERR_/,
              what,
            )
          }
          if (status === 412) {
            outcomes.precondition412 += 1
            assert.ok(ifMatch !== undefined || ifNoneMatch !== undefined, what)
          }
          if (status === 400) outcomes.invalid400 += 1
          if (status < 300 && (ifMatch !== undefined || ifNoneMatch !== undefined)) {
            outcomes.conditional2xx += 1
          }
          if (status < 300) {
            // The conditions held against the record as it was (RFC 9110 §13.1.1–13.1.2).
            if (ifMatch !== undefined) {
              const c = parseEtagCondition(ifMatch, 'If-Match')!
              assert.ok(currentTag !== undefined, `If-Match on an absent key succeeded: ${what}`)
              if (c.kind === 'tags')
                assert.ok(
                  c.tags.some((t) => !t.weak && `"${t.opaque}"` === currentTag),
                  what,
                )
            }
            if (ifNoneMatch !== undefined) {
              const c = parseEtagCondition(ifNoneMatch, 'If-None-Match')!
              if (c.kind === 'any') assert.equal(currentTag, undefined, what)
              else assert.ok(!c.tags.some((t) => `"${t.opaque}"` === currentTag), what)
            }
          }
        },
      ),
      { numRuns: RUNS.conditionalWrites },
    )
    for (const [outcome, count] of Object.entries(outcomes)) {
      assert.ok(count > 0, `no ${outcome}: ${JSON.stringify(outcomes)}`)
    }
  })

  it('the seed API reads any JSON body: 2xx for a valid {key, value}, else a 4xx JSON error', async () => {
    const h = await makeHarness(LIMITS)
    const keyish = fc.oneof(
      fc.string({ maxLength: 20 }),
      fc.string({ unit: 'binary', maxLength: 8 }),
      fc.jsonValue(),
    )
    const bodyArb = fc.oneof(
      fc.record({ key: keyish, value: keyish }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
      fc
        .record({ key: keyish, value: keyish, extra: fc.jsonValue() }, { requiredKeys: [] })
        .map((v) => JSON.stringify(v)),
      fc.jsonValue().map((v) => JSON.stringify(v) ?? ''),
      printable,
      fc.string({ unit: 'binary', maxLength: 40 }),
    )
    let written = 0
    await fc.assert(
      fc.asyncProperty(
        bodyArb,
        fc.constantFrom(
          'application/json',
          'application/json; charset=utf-8',
          'text/plain',
          undefined,
        ),
        async (payload, contentType) => {
          const response = await h.app.inject({
            method: 'PUT',
            url: '/put',
            payload,
            headers: contentType === undefined ? {} : { 'content-type': contentType },
          })
          const what = `PUT /put ${contentType} ${JSON.stringify(payload)} -> ${response.statusCode} ${response.body}`
          assert.ok(response.statusCode < 500, what)
          if (response.statusCode >= 400) {
            assert.match(
              (response.json() as { error: { code: string } }).error.code,
              /^GOSSAMER_ERR_/,
              what,
            )
          } else {
            const { key } = response.json() as { key: string }
            const read = await h.app.inject({ url: `/get?key=${encodeURIComponent(key)}` })
            assert.equal(read.statusCode, 200, what)
            written += 1
          }
        },
      ),
      { numRuns: RUNS.seedJson },
    )
    assert.ok(written > 0, 'no JSON body was accepted')
  })
})
