/**
 * The original ("seed") routes, exactly as the original README describes them, answering JSON:
 *
 * - `PUT /put` with body `{"key":"k","value":"v"}` → 200 `{"key":"k","version":"..."}`
 * - `GET /get?key=k` and `GET /get/key=k` → 200 `{"key":"k","value":"v","version":"..."}`
 * - `DELETE /delete?key=k` → 200 `{"key":"k","deleted":true}`
 * - `POST /set/{key}/{value}` (each URL-decoded) → 200 `{"key":"k","version":"..."}`
 *
 * A missing key is 404 `GOSSAMER_ERR_KEY_NOT_FOUND`. Values are text here; a value written
 * through `/v1/kv` that is not valid UTF-8 is returned base64-encoded with `"encoding":"base64"`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { GossamerError } from '../../errors.ts'
import { formatVersion } from '../../hlc/version.ts'
import type { Consistency } from '../../replication/consistency.ts'
import {
  checkValueSize,
  consistencyParam,
  decodeComponent,
  type InputLimits,
  queryParam,
  rawPathAfter,
  validateKey,
} from '../http-input.ts'
import type { KvApi } from '../kv-api.ts'
import type { LiveRecord } from '../kv-service.ts'

/** Content type recorded for values written through the seed routes. */
export const SEED_CONTENT_TYPE = 'text/plain; charset=utf-8'

interface SeedDeps {
  readonly kv: KvApi
  readonly limits: InputLimits
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** Registers `/put`, `/get`, `/get/key=...`, `/delete` and `/set/...`. */
export function registerSeedRoutes(app: FastifyInstance, deps: SeedDeps): void {
  const { kv, limits } = deps
  app.put('/put', async (request) => {
    const { key, value } = parsePutBody(request.body, limits)
    const result = await kv.put({
      key,
      value: Buffer.from(value),
      contentType: SEED_CONTENT_TYPE,
      w: consistencyParam(request.query, 'w'),
    })
    return { key, version: formatVersion(result.version) }
  })
  app.get('/get', async (request) => {
    return getBody(kv, validateKey(queryKey(request), limits), consistencyParam(request.query, 'r'))
  })
  app.get('/get/*', async (request) => {
    const raw = rawPathAfter(request.url, '/get/')
    if (!raw.startsWith('key=')) {
      throw new GossamerError('GOSSAMER_ERR_ROUTE_NOT_FOUND', 'use /get/key=<key> or /get?key=')
    }
    const key = validateKey(decodeComponent(raw.slice(4), 'key'), limits)
    return getBody(kv, key, consistencyParam(request.query, 'r'))
  })
  app.delete('/delete', async (request) => {
    const key = validateKey(queryKey(request), limits)
    const result = await kv.delete({
      key,
      w: consistencyParam(request.query, 'w'),
      r: consistencyParam(request.query, 'r'),
    })
    if (result.previous === undefined) throw notFound(key)
    return { key, deleted: true }
  })
  app.post('/set/*', async (request) => {
    const { key, value } = parseSetPath(request.url, limits)
    const result = await kv.put({
      key,
      value: Buffer.from(value),
      contentType: SEED_CONTENT_TYPE,
      w: consistencyParam(request.query, 'w'),
    })
    return { key, version: formatVersion(result.version) }
  })
}

function queryKey(request: FastifyRequest): string {
  const key = queryParam(request.query, 'key', 'GOSSAMER_ERR_KEY_INVALID')
  if (key === undefined) throw new GossamerError('GOSSAMER_ERR_KEY_INVALID', 'missing ?key=')
  return key
}

async function getBody(kv: KvApi, key: string, r: Consistency | undefined) {
  const record = await kv.get(key, { r })
  if (record === undefined) throw notFound(key)
  return { key, ...seedValue(record), version: formatVersion(record.version) }
}

/** The value as text, or base64 with `encoding` when the bytes are not UTF-8. */
function seedValue(record: LiveRecord): { value: string; encoding?: 'base64' } {
  try {
    return { value: utf8.decode(record.value) }
  } catch {
    return { value: Buffer.from(record.value).toString('base64'), encoding: 'base64' }
  }
}

/** A KEY_NOT_FOUND error naming the key (shortened for the message). */
export function notFound(key: string): GossamerError {
  const shown = key.length > 100 ? key.slice(0, 100) + '...' : key
  return new GossamerError('GOSSAMER_ERR_KEY_NOT_FOUND', `key ${JSON.stringify(shown)} not found`)
}

function parsePutBody(body: unknown, limits: InputLimits): { key: string; value: string } {
  if (!Buffer.isBuffer(body) || body.length === 0) {
    throw new GossamerError(
      'GOSSAMER_ERR_BODY_INVALID',
      'body must be JSON {"key":"...","value":"..."}',
    )
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(body.toString('utf8'))
  } catch (error) {
    throw new GossamerError(
      'GOSSAMER_ERR_BODY_INVALID_JSON',
      `body is not valid JSON: ${(error as Error).message}`,
    )
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new GossamerError('GOSSAMER_ERR_BODY_INVALID', 'body must be a JSON object')
  }
  const { key, value } = parsed as { key?: unknown; value?: unknown }
  return { key: validateKey(key, limits), value: validateValueText(value, limits) }
}

function validateValueText(value: unknown, limits: InputLimits): string {
  if (typeof value !== 'string') {
    throw new GossamerError('GOSSAMER_ERR_VALUE_INVALID', 'value must be a string')
  }
  if (/\p{Cs}/u.test(value)) {
    throw new GossamerError('GOSSAMER_ERR_VALUE_INVALID', 'value is not well-formed UTF-8')
  }
  checkValueSize(Buffer.byteLength(value, 'utf8'), limits)
  return value
}

function parseSetPath(url: string, limits: InputLimits): { key: string; value: string } {
  const segments = rawPathAfter(url, '/set/').split('/')
  if (segments.length !== 2) {
    throw new GossamerError(
      'GOSSAMER_ERR_ROUTE_NOT_FOUND',
      'use POST /set/{key}/{value}, with any "/" inside the key or value encoded as %2F',
    )
  }
  const key = validateKey(decodeComponent(segments[0]!, 'key'), limits)
  let value: string
  try {
    value = decodeURIComponent(segments[1]!)
  } catch {
    throw new GossamerError(
      'GOSSAMER_ERR_VALUE_INVALID',
      'value is not valid percent-encoded UTF-8',
    )
  }
  return { key, value: validateValueText(value, limits) }
}
