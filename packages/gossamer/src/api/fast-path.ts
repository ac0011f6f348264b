/**
 * The HTTP fast path: the two plainest key-value requests are served straight from Node's HTTP
 * server, before Fastify builds its request, reply and hook chain:
 *
 * - `GET /v1/kv/{key}` with no query string, no conditional header and no body, answered from
 *   this node's own replica. Every case where the fast path is not certain of the answer
 *   (absent or expired key, a read that needs coordinating, a malformed key, a node not serving
 *   or closing) goes to Fastify unchanged, so every error, 404 and 304 keeps one
 *   implementation: the route in `routes/kv-routes.ts`.
 * - `PUT /v1/kv/{key}` with no query string, no precondition header, a `Content-Length` within
 *   the value limit and a valid key: the body is read and handed to the same `put` the route
 *   calls. Which requests qualify is decided from the request line and headers alone, before
 *   any body byte is read; a write that then fails answers the same JSON error the route's
 *   error handler would (`onError` maps, counts and logs it).
 *
 * A fast-path response is the same bytes as the route's (status, headers in the same order,
 * body; `test/api/fast-path.test.ts` compares them) and is counted in the same request metrics.
 * The reason it exists: on a single node a GET is a few microseconds of storage work inside
 * ~50 µs of per-request HTTP machinery, and Fastify's share of that machinery (request and
 * reply objects, hooks, reply serialization) was the largest part of the gap to a bare handler
 * (docs/performance.md, "HTTP fast path").
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { performance } from 'node:perf_hooks'
import type { GossamerError } from '../errors.ts'
import { formatVersion } from '../hlc/version.ts'
import { errorBody } from './error-mapper.ts'
import {
  decodeComponent,
  etagOf,
  type InputLimits,
  storedContentType,
  validateKey,
} from './http-input.ts'
import type { LiveRecord, WriteResult } from './kv-service.ts'
import type { NodeMetrics } from './metrics.ts'

/** What the fast path needs from the node. */
export interface FastPathDeps {
  /** The live record when this node alone answers a default read; otherwise undefined. Never throws. */
  readonly readLocal: (key: string) => LiveRecord | undefined
  readonly limits: InputLimits
  readonly metrics: NodeMetrics
  /** True once the server began closing (the full route then answers 503). */
  readonly isClosing: () => boolean
  /** Content type of values stored without one. */
  readonly defaultContentType: string
  /** The write `PUT /v1/kv/{key}` makes (the route's own call, default `w` and `r`). */
  readonly put: (input: {
    key: string
    value: Uint8Array
    contentType: string | undefined
  }) => Promise<WriteResult>
  /** Maps a failed write to the route's error (and counts and logs it as the route would). */
  readonly onError: (error: unknown) => GossamerError
  /** Longest stored Content-Type; a longer one is the route's 400. */
  readonly contentTypeMaxLength: number
}

const JSON_CONTENT_TYPE = 'application/json; charset=utf-8'

const KV_PREFIX = '/v1/kv/'
/** The route label of `GET /v1/kv/*` in the request metrics (Fastify's route URL). */
const KV_ROUTE = '/v1/kv/*'

/**
 * The key of a plain `/v1/kv/{key}` request target (no query string) when it is a valid key,
 * else undefined (the route then answers, errors included).
 */
function plainKey(url: string | undefined, limits: InputLimits): string | undefined {
  if (url === undefined || !url.startsWith(KV_PREFIX) || url.includes('?')) return undefined
  try {
    return validateKey(decodeComponent(url.slice(KV_PREFIX.length), 'key'), limits)
  } catch {
    return undefined
  }
}

/**
 * Returns a handler that answers the request and returns true, or returns false without
 * touching the request or the response (the caller then hands it to Fastify).
 */
export function createFastPath(
  deps: FastPathDeps,
): (request: IncomingMessage, response: ServerResponse) => boolean {
  const put = createFastPut(deps)
  return (request, response) => {
    if (request.method !== 'GET') return request.method === 'PUT' && put(request, response)
    const headers = request.headers
    if (
      headers['if-none-match'] !== undefined ||
      headers['content-length'] !== undefined ||
      headers['transfer-encoding'] !== undefined ||
      deps.isClosing()
    ) {
      return false
    }
    const startedMs = performance.now()
    const key = plainKey(request.url, deps.limits)
    if (key === undefined) return false
    const record = deps.readLocal(key)
    if (record === undefined) return false
    const value = record.value
    const body = Buffer.from(value.buffer, value.byteOffset, value.length)
    const out: Record<string, string> = {
      'content-type': record.contentType ?? deps.defaultContentType,
      etag: etagOf(record.version),
    }
    if (record.expiresAtMs !== undefined) out['gossamer-expires-at'] = String(record.expiresAtMs)
    out['content-length'] = String(body.length)
    response.writeHead(200, out)
    response.end(body)
    observe(deps, 'GET', 200, startedMs)
    return true
  }
}

/** The response body of a successful `PUT /v1/kv/{key}` (shared with the route). */
export function putResponseBody(key: string, version: string): string {
  return `{"key":${JSON.stringify(key)},"version":${JSON.stringify(version)}}`
}

function createFastPut(
  deps: FastPathDeps,
): (request: IncomingMessage, response: ServerResponse) => boolean {
  return (request, response) => {
    const headers = request.headers
    const lengthText = headers['content-length']
    if (
      lengthText === undefined ||
      headers['transfer-encoding'] !== undefined ||
      headers['if-match'] !== undefined ||
      headers['if-none-match'] !== undefined ||
      deps.isClosing()
    ) {
      return false
    }
    const contentLength = Number(lengthText)
    if (
      !isShortDecimal(lengthText) ||
      contentLength > deps.limits.maxValueBytes ||
      (headers['content-type']?.length ?? 0) > deps.contentTypeMaxLength
    ) {
      return false
    }
    const startedMs = performance.now()
    const key = plainKey(request.url, deps.limits)
    if (key === undefined) return false
    const contentType = storedContentType(headers['content-type'])
    const chunks: Buffer[] = []
    let received = 0
    request.on('data', (chunk: Buffer) => {
      received += chunk.length
      chunks.push(chunk)
    })
    request.on('end', () => {
      // Node's parser delivers exactly Content-Length bytes before 'end'.
      const value =
        chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, Math.min(received, contentLength))
      deps.put({ key, value, contentType }).then(
        (result) => {
          const version = formatVersion(result.version)
          const status = result.previous === undefined ? 201 : 200
          const body = putResponseBody(key, version)
          // A flat [name, value, ...] list: no headers object per response.
          response.writeHead(status, [
            'etag',
            `"${version}"`,
            'content-type',
            JSON_CONTENT_TYPE,
            'content-length',
            String(Buffer.byteLength(body)),
          ])
          response.end(body)
          observe(deps, 'PUT', status, startedMs)
        },
        (error: unknown) => {
          const mapped = deps.onError(error)
          const body = JSON.stringify(errorBody(mapped))
          response.writeHead(mapped.httpStatus, {
            'content-type': JSON_CONTENT_TYPE,
            'content-length': String(Buffer.byteLength(body)),
          })
          response.end(body)
          observe(deps, 'PUT', mapped.httpStatus, startedMs)
        },
      )
    })
    return true
  }
}

// 1 to 12 ASCII digits (a Content-Length the fast path takes), tested without a regular
// expression: this runs once per PUT.
function isShortDecimal(text: string): boolean {
  if (text.length === 0 || text.length > 12) return false
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code < 0x30 || code > 0x39) return false
  }
  return true
}

function observe(deps: FastPathDeps, method: string, status: number, startedMs: number): void {
  deps.metrics.fastPathRequests += 1
  deps.metrics.observeRequest({
    route: KV_ROUTE,
    method,
    status,
    durationMs: performance.now() - startedMs,
  })
}
