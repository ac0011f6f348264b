/**
 * `/v1/kv`: binary-safe key-value routes with versions as entity tags.
 *
 * - `GET /v1/kv/{key}` → 200 raw bytes, `Content-Type` as stored (default
 *   `application/octet-stream`), `ETag: "<version>"`, `Gossamer-Expires-At` (Unix ms) when a TTL
 *   is set; 304 when `If-None-Match` matches; `HEAD` answers the same headers without a body.
 * - `PUT /v1/kv/{key}[?ttl=30s]` raw body of any type → 201 (created) or 200 (replaced)
 *   `{"key":"k","version":"..."}` and `ETag`; `If-Match` / `If-None-Match` → 412 on mismatch.
 * - `DELETE /v1/kv/{key}` → 204, or 404 when there was no live value; honours `If-Match`.
 * - `GET /v1/kv?prefix=&limit=&cursor=&values=true` → 200
 *   `{"items":[{"key","version","contentType"?,"expiresAtMs"?,"value"? (base64)}],"cursor":...}`.
 *
 * The key is everything after `/v1/kv/` in the raw URL path, percent-decoded once, so keys may
 * contain `/` (literally or as `%2F`).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { GossamerError } from '../../errors.ts'
import { formatVersion } from '../../hlc/version.ts'
import type { RouteErrorConfig } from '../error-mapper.ts'
import { putResponseBody } from '../fast-path.ts'
import {
  checkValueSize,
  consistencyParam,
  DEFAULT_CONTENT_TYPE,
  decodeComponent,
  decodeCursor,
  encodeCursor,
  etagConditionMatches,
  etagOf,
  type InputLimits,
  parseEtagCondition,
  parseFlag,
  parseLimit,
  parseTtlMs,
  queryParam,
  rawPathAfter,
  storedContentType,
  validateKey,
} from '../http-input.ts'
import type { KvApi } from '../kv-api.ts'
import type { LiveRecord, WritePreconditions } from '../kv-service.ts'
import { notFound } from './seed-routes.ts'

export { DEFAULT_CONTENT_TYPE }

/** Content type returned for values stored without one. */

/** Longest Content-Type stored with a value; longer is 400 GOSSAMER_ERR_HEADER_INVALID. */
export const CONTENT_TYPE_MAX_LENGTH = 256
/** Error mapping of `PUT /v1/kv/{key}`: a too-large body is a too-large value. */
export const PUT_ROUTE_CONFIG: RouteErrorConfig = {
  bodyTooLargeCode: 'GOSSAMER_ERR_VALUE_TOO_LARGE',
}
const JSON_CONTENT_TYPE = 'application/json; charset=utf-8'

interface KvDeps {
  readonly kv: KvApi
  readonly limits: InputLimits
}

/** Registers the `/v1/kv` routes. */
export function registerKvRoutes(app: FastifyInstance, deps: KvDeps): void {
  const { kv, limits } = deps
  // Not `async`: when the record is read from this node alone (a lone node, or `r=one` on a sole
  // replica) the reply is sent in the same turn, without a promise per request; a coordinated
  // read returns its promise to Fastify.
  app.get('/v1/kv/*', (request, reply) => {
    const key = keyFromUrl(request.url, limits)
    const record = kv.get(key, { r: consistencyParam(request.query, 'r') })
    if (record instanceof Promise) {
      return record.then((settled) => sendRecord(request, reply, key, settled))
    }
    sendRecord(request, reply, key, record)
    return undefined
  })
  app.put(
    '/v1/kv/*',
    { bodyLimit: limits.maxValueBytes, config: PUT_ROUTE_CONFIG },
    async (req, reply) => {
      const key = keyFromUrl(req.url, limits)
      const value = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0)
      checkValueSize(value.length, limits)
      const result = await kv.put({
        key,
        value,
        contentType: contentTypeOf(req),
        expiresAtMs: expiresAtMs(req, kv),
        preconditions: preconditionsOf(req),
        w: consistencyParam(req.query, 'w'),
        r: consistencyParam(req.query, 'r'),
      })
      const version = formatVersion(result.version)
      // The body is built here rather than serialized from an object: same JSON, less work.
      return reply
        .header('etag', `"${version}"`)
        .code(result.previous === undefined ? 201 : 200)
        .type(JSON_CONTENT_TYPE)
        .send(putResponseBody(key, version))
    },
  )
  app.delete('/v1/kv/*', async (request, reply) => {
    const key = keyFromUrl(request.url, limits)
    const result = await kv.delete({
      key,
      preconditions: preconditionsOf(request),
      w: consistencyParam(request.query, 'w'),
      r: consistencyParam(request.query, 'r'),
    })
    if (result.previous === undefined) throw notFound(key)
    return reply.code(204).send()
  })
  app.get('/v1/kv', async (request) => listPage(request, deps))
}

function sendRecord(
  request: FastifyRequest,
  reply: FastifyReply,
  key: string,
  record: LiveRecord | undefined,
): void {
  if (record === undefined) throw notFound(key)
  setRecordHeaders(reply, record)
  const ifNoneMatch = parseEtagCondition(request.headers['if-none-match'], 'If-None-Match')
  if (ifNoneMatch && etagConditionMatches(ifNoneMatch, record.version, { strong: false })) {
    reply.code(304).send()
    return
  }
  reply.send(Buffer.from(record.value.buffer, record.value.byteOffset, record.value.length))
}

function keyFromUrl(url: string, limits: InputLimits): string {
  return validateKey(decodeComponent(rawPathAfter(url, '/v1/kv/'), 'key'), limits)
}

function setRecordHeaders(reply: FastifyReply, record: LiveRecord): void {
  reply.header('content-type', record.contentType ?? DEFAULT_CONTENT_TYPE)
  reply.header('etag', etagOf(record.version))
  if (record.expiresAtMs !== undefined) reply.header('gossamer-expires-at', record.expiresAtMs)
}

function contentTypeOf(request: FastifyRequest): string | undefined {
  const contentType = request.headers['content-type']
  if (contentType !== undefined && contentType.length > CONTENT_TYPE_MAX_LENGTH) {
    throw new GossamerError(
      'GOSSAMER_ERR_HEADER_INVALID',
      `Content-Type is longer than ${CONTENT_TYPE_MAX_LENGTH} characters`,
    )
  }
  return storedContentType(contentType)
}

function expiresAtMs(request: FastifyRequest, kv: KvApi): number | undefined {
  const ttl = queryParam(request.query, 'ttl')
  return ttl === undefined ? undefined : kv.nowMs() + parseTtlMs(ttl)
}

function preconditionsOf(request: FastifyRequest): WritePreconditions | undefined {
  const ifMatch = parseEtagCondition(request.headers['if-match'], 'If-Match')
  const ifNoneMatch = parseEtagCondition(request.headers['if-none-match'], 'If-None-Match')
  if (ifMatch === undefined && ifNoneMatch === undefined) return undefined
  return { ifMatch, ifNoneMatch }
}

async function listPage(request: FastifyRequest, deps: KvDeps) {
  const { kv, limits } = deps
  const prefix = queryParam(request.query, 'prefix') ?? ''
  if (Buffer.byteLength(prefix, 'utf8') > limits.maxKeyBytes || /\p{Cs}/u.test(prefix)) {
    throw new GossamerError('GOSSAMER_ERR_QUERY_INVALID', 'prefix is not a possible key prefix')
  }
  const limit = parseLimit(queryParam(request.query, 'limit'))
  const cursorText = queryParam(request.query, 'cursor')
  const after = cursorText ? decodeCursor(cursorText, limits) : undefined
  const withValues = parseFlag(queryParam(request.query, 'values'), 'values')
  const page = await kv.list({ prefix: prefix === '' ? undefined : prefix, after, limit })
  const items = page.entries.map(({ key, record }) => ({
    key,
    version: formatVersion(record.version),
    // Listed when not the default (records written before the default was left out may
    // still store it).
    ...(record.contentType !== undefined &&
      record.contentType !== DEFAULT_CONTENT_TYPE && { contentType: record.contentType }),
    ...(record.expiresAtMs !== undefined && { expiresAtMs: record.expiresAtMs }),
    ...(withValues && record.value !== null && { value: toBase64(record.value) }),
  }))
  return { items, cursor: page.cursor === undefined ? null : encodeCursor(page.cursor) }
}

function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('base64')
}
