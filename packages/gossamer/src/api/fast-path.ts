/**
 * The HTTP fast path: the plainest `GET /v1/kv/{key}` — no query string, no conditional
 * header, no body, answered from this node's own replica — is served straight from Node's HTTP
 * server, before Fastify builds its request, reply and hook chain. Everything else, and every
 * case where the fast path is not certain of the answer (absent or expired key, a read that
 * needs coordinating, a malformed key, a node not serving or closing), goes to Fastify
 * unchanged, so every error, 404 and 304 keeps one implementation: the route in
 * `routes/kv-routes.ts`.
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
import { decodeComponent, etagOf, type InputLimits, validateKey } from './http-input.ts'
import type { LiveRecord } from './kv-service.ts'
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
}

const KV_PREFIX = '/v1/kv/'
/** The route label of `GET /v1/kv/*` in the request metrics (Fastify's route URL). */
const KV_ROUTE = '/v1/kv/*'

/**
 * Returns a handler that answers the request and returns true, or returns false without
 * touching the request or the response (the caller then hands it to Fastify).
 */
export function createFastPath(
  deps: FastPathDeps,
): (request: IncomingMessage, response: ServerResponse) => boolean {
  return (request, response) => {
    if (request.method !== 'GET') return false
    const url = request.url
    if (url === undefined || !url.startsWith(KV_PREFIX) || url.includes('?')) return false
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
    let key: string
    try {
      key = validateKey(decodeComponent(url.slice(KV_PREFIX.length), 'key'), deps.limits)
    } catch {
      return false
    }
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
    deps.metrics.fastPathRequests += 1
    deps.metrics.observeRequest({
      route: KV_ROUTE,
      method: 'GET',
      status: 200,
      durationMs: performance.now() - startedMs,
    })
    return true
  }
}
