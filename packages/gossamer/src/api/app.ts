/**
 * The HTTP application (Fastify): the original seed routes, `/v1/kv`, health, readiness and
 * metrics, with one error shape everywhere. `buildApp` wires it over injected components, so
 * tests drive it with `app.inject()` and no socket; `node.ts` makes it listen.
 *
 * Bodies are never parsed by Fastify: a catch-all content-type parser hands every route the raw
 * bytes as a Buffer (`/v1/kv` stores any bytes of any type; `/put` parses its JSON itself, so a
 * client that forgets `Content-Type: application/json` still works).
 */
import http from 'node:http'
import Fastify, {
  type FastifyHttpOptions,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify'
import type { NodeConfig } from '../config.ts'
import { GossamerError } from '../errors.ts'
import type { Logger } from '../log.ts'
import type { Engine } from '../storage/engine.ts'
import {
  errorBody,
  type RouteErrorConfig,
  rawBadRequestResponse,
  toGossamerError,
} from './error-mapper.ts'
import { createFastPath } from './fast-path.ts'
import type { KvApi } from './kv-api.ts'
import { KvService, type LiveRecord, type VersionClock } from './kv-service.ts'
import type { NodeMetrics } from './metrics.ts'
import { type ClusterApi, registerClusterRoutes } from './routes/cluster-routes.ts'
import {
  CONTENT_TYPE_MAX_LENGTH,
  DEFAULT_CONTENT_TYPE,
  PUT_ROUTE_CONFIG,
  registerKvRoutes,
} from './routes/kv-routes.ts'
import { registerNotFound } from './routes/not-found.ts'
import { registerOpsRoutes } from './routes/ops-routes.ts'
import { registerSeedRoutes } from './routes/seed-routes.ts'

/** Says whether the node is ready to serve (started and not shutting down). */
export interface Readiness {
  isReady(): boolean
}

/** Capabilities and settings the app is built from. */
export interface AppComponents {
  readonly engine: Engine
  readonly clock: VersionClock
  readonly config: Pick<NodeConfig, 'name' | 'maxKeyBytes' | 'maxValueBytes'>
  readonly logger: Logger
  readonly metrics: NodeMetrics
  /** Wall clock for TTL and expiry, Unix ms. @default Date.now */
  readonly nowMs?: (() => number) | undefined
  /** @default always ready */
  readonly readiness?: Readiness | undefined
  /** Called once when the storage engine fails (the node then stops serving). */
  readonly onStorageFailure?: ((error: unknown) => void) | undefined
  /** Coordinated key-value operations (a clustered node). @default a local `KvService` */
  readonly kv?: KvApi | undefined
  /** The cluster runtime, for `/v1/cluster/*` and `/v1/admin/*`. @default no such routes */
  readonly cluster?: ClusterApi | undefined
  /**
   * Enables the HTTP fast path for plain `GET /v1/kv/{key}` (`fast-path.ts`): the live record
   * when this node alone answers the read, else undefined (never throws). @default no fast path
   */
  readonly fastRead?: ((key: string) => LiveRecord | undefined) | undefined
}

/** Largest `/put` JSON body: key and value may each be escaped up to 6 bytes per byte. */
export function seedBodyLimitBytes(config: Pick<NodeConfig, 'maxKeyBytes' | 'maxValueBytes'>) {
  return 6 * (config.maxKeyBytes + config.maxValueBytes) + 1024
}

/** Builds the Fastify app (not listening). Call `app.ready()` or `inject()` to use it. */
export function buildApp(components: AppComponents): FastifyInstance {
  const { config, logger } = components
  const closing = { isClosing: false }
  const limits = { maxKeyBytes: config.maxKeyBytes, maxValueBytes: config.maxValueBytes }
  const fastRead = components.fastRead
  const fastPath =
    fastRead === undefined
      ? undefined
      : createFastPath({
          readLocal: fastRead,
          limits,
          metrics: components.metrics,
          isClosing: () => closing.isClosing,
          defaultContentType: DEFAULT_CONTENT_TYPE,
          contentTypeMaxLength: CONTENT_TYPE_MAX_LENGTH,
          put: (input) => kv.put(input),
          onError: (error) => {
            const mapped = toGossamerError(error, PUT_ROUTE_CONFIG)
            reportError(mapped, error, 'fast-path')
            components.metrics.httpErrors.inc({ code: mapped.code })
            return mapped
          },
        })
  const app = Fastify({
    // With a fast path, the HTTP server offers each request to it first (Fastify's own server
    // settings applied as Fastify applies them to the server it creates).
    ...(fastPath !== undefined && { serverFactory: fastPathServer(fastPath) }),
    // Fastify gets no logger: with one it builds a child logger per request (the request id
    // bound), a measurable share of a GET, and per-request log lines cost throughput anyway
    // (metrics count requests instead). The error handler logs on the node's logger and names
    // the request id itself.
    logger: false,
    bodyLimit: seedBodyLimitBytes(config),
    // Our own hook answers requests that arrive while closing, in the JSON error shape.
    return503OnClosing: false,
    frameworkErrors: (error, _request, reply) => {
      sendError(reply, toGossamerError(error), components.metrics)
    },
    clientErrorHandler: (_error, socket) => {
      if (socket.writable) socket.end(rawBadRequestResponse())
      else socket.destroy()
    },
  })
  const kv =
    components.kv ??
    new KvService({
      engine: components.engine,
      clock: components.clock,
      nowMs: components.nowMs ?? Date.now,
      onStorageFailure: components.onStorageFailure,
    })
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body))
  // 503/504 are expected operating outcomes (not ready, quorum or deadline missed): counted in
  // metrics (by `sendError` / the fast path), logged at debug; other 5xx are bugs or storage
  // failures.
  function reportError(mapped: GossamerError, error: unknown, reqId: string): void {
    if (mapped.httpStatus === 503 || mapped.httpStatus === 504) {
      logger.debug({ reqId, code: mapped.code }, mapped.message)
    } else if (mapped.httpStatus >= 500) {
      logger.error({ reqId, err: error }, 'request failed')
    }
  }
  app.setErrorHandler((error, request, reply) => {
    const mapped = toGossamerError(error, request.routeOptions.config as RouteErrorConfig)
    reportError(mapped, error, request.id)
    sendError(reply, mapped, components.metrics)
  })
  instrument(app, components.metrics)
  refuseWhileClosing(app, closing)
  const readiness = components.readiness ?? { isReady: () => true }
  registerSeedRoutes(app, { kv, limits })
  registerKvRoutes(app, { kv, limits })
  if (components.cluster !== undefined) {
    registerClusterRoutes(app, { cluster: components.cluster, limits })
  }
  registerOpsRoutes(app, {
    name: config.name,
    metrics: components.metrics,
    isReady: () => readiness.isReady() && kv.isHealthy,
  })
  registerNotFound(app)
  return app
}

function sendError(reply: FastifyReply, error: GossamerError, metrics: NodeMetrics): void {
  metrics.httpErrors.inc({ code: error.code })
  reply
    .code(error.httpStatus)
    .header('content-type', 'application/json; charset=utf-8')
    .send(errorBody(error))
}

// Requests that arrive on kept-alive connections after close() began get 503 NOT_READY and a
// closed connection; requests already in flight finish normally.
function refuseWhileClosing(app: FastifyInstance, closing: { isClosing: boolean }): void {
  app.addHook('preClose', (done) => {
    closing.isClosing = true
    done()
  })
  app.addHook('onRequest', (_request, reply, done) => {
    if (!closing.isClosing) return done()
    reply.header('connection', 'close')
    done(new GossamerError('GOSSAMER_ERR_NOT_READY', 'the node is shutting down'))
  })
}

function instrument(app: FastifyInstance, metrics: NodeMetrics): void {
  app.addHook('onResponse', (request: FastifyRequest, reply: FastifyReply, done) => {
    metrics.observeRequest({
      route: request.routeOptions.url ?? 'unmatched',
      method: request.method,
      status: reply.statusCode,
      durationMs: reply.elapsedTime,
    })
    done()
  })
}

type RequestListener = (request: http.IncomingMessage, response: http.ServerResponse) => void

function fastPathServer(
  fastPath: (request: http.IncomingMessage, response: http.ServerResponse) => boolean,
): NonNullable<FastifyHttpOptions<http.Server>['serverFactory']> {
  return (handler: RequestListener, fastifyOptions) => {
    // The options Fastify resolved (its defaults filled in).
    const options = fastifyOptions as {
      http?: http.ServerOptions
      keepAliveTimeout?: number
      requestTimeout?: number
      connectionTimeout?: number
      maxRequestsPerSocket?: number
    }
    const server = http.createServer(options.http ?? {}, (request, response) => {
      if (!fastPath(request, response)) handler(request, response)
    })
    server.keepAliveTimeout = options.keepAliveTimeout ?? 72_000
    server.requestTimeout = options.requestTimeout ?? 0
    server.setTimeout(options.connectionTimeout ?? 0)
    if ((options.maxRequestsPerSocket ?? 0) > 0) {
      server.maxRequestsPerSocket = options.maxRequestsPerSocket ?? 0
    }
    return server
  }
}
