/**
 * Unknown routes answer 404 `GOSSAMER_ERR_ROUTE_NOT_FOUND`; a known path with the wrong method
 * answers 405 `GOSSAMER_ERR_METHOD_NOT_ALLOWED` with an `Allow` header, so a client that sends
 * `POST /get` learns what to do instead of guessing from a 404.
 */
import type { FastifyInstance } from 'fastify'
import { GossamerError } from '../../errors.ts'

/** Path patterns of every route and the methods they accept (HEAD comes with GET). */
const ROUTE_METHODS: ReadonlyArray<{ readonly pattern: RegExp; readonly allow: string }> = [
  { pattern: /^\/put$/, allow: 'PUT' },
  { pattern: /^\/get(\/.*)?$/, allow: 'GET, HEAD' },
  { pattern: /^\/delete$/, allow: 'DELETE' },
  { pattern: /^\/set\/.*$/, allow: 'POST' },
  { pattern: /^\/v1\/kv$/, allow: 'GET, HEAD' },
  { pattern: /^\/v1\/kv\/.*$/, allow: 'GET, HEAD, PUT, DELETE' },
  { pattern: /^\/v1\/(health|ready)$/, allow: 'GET, HEAD' },
  { pattern: /^\/metrics$/, allow: 'GET, HEAD' },
  { pattern: /^\/v1\/cluster\/(members|partitions)$/, allow: 'GET, HEAD' },
  { pattern: /^\/v1\/cluster\/members\/.+$/, allow: 'DELETE' },
  { pattern: /^\/v1\/admin\/local\/.+$/, allow: 'GET, HEAD' },
  { pattern: /^\/v1\/admin\/stats$/, allow: 'GET, HEAD' },
]

/** The `Allow` value for a path that exists under other methods, or undefined. */
export function allowedMethods(path: string): string | undefined {
  return ROUTE_METHODS.find((route) => route.pattern.test(path))?.allow
}

/** Installs the not-found handler. */
export function registerNotFound(app: FastifyInstance): void {
  app.setNotFoundHandler(async (request, reply) => {
    const queryIndex = request.url.indexOf('?')
    const path = queryIndex === -1 ? request.url : request.url.slice(0, queryIndex)
    const allow = allowedMethods(path)
    if (allow !== undefined) {
      reply.header('allow', allow)
      throw new GossamerError(
        'GOSSAMER_ERR_METHOD_NOT_ALLOWED',
        `${request.method} is not allowed on ${path.slice(0, 100)}; use ${allow}`,
      )
    }
    throw new GossamerError(
      'GOSSAMER_ERR_ROUTE_NOT_FOUND',
      `no route ${request.method} ${path.slice(0, 100)}`,
    )
  })
}
