/**
 * The composition root: the one place where a node is assembled from its parts — config,
 * logger, storage engine (LMDB at `dataDir`, or memory), hybrid logical clock, reaper, metrics
 * and the HTTP app — and where real time (`Date.now`) is handed to them.
 *
 * Start-up order: validate config → open the store → build the app → listen → ready.
 * Shutdown order (`close()`): not ready → stop the reaper → stop accepting connections and
 * finish in-flight requests (Fastify's close) → close the store. A failure while starting
 * closes whatever was already opened.
 */
import { buildApp } from './api/app.ts'
import { NodeMetrics } from './api/metrics.ts'
import { type ConfigLayer, type NodeConfig, resolveNodeConfig } from './config.ts'
import { HybridLogicalClock } from './hlc/hlc.ts'
import { createLogger, type Logger } from './log.ts'
import type { Engine } from './storage/engine.ts'
import { LmdbEngine } from './storage/lmdb-engine.ts'
import { MemoryEngine } from './storage/memory-engine.ts'
import { Reaper } from './storage/reaper.ts'

/**
 * Options for {@link startNode}: any config field (see `NodeConfig`; defaults apply to the
 * rest), plus optional capabilities.
 */
export interface StartNodeOptions extends Partial<NodeConfig> {
  /** A logger to use instead of one built from `logLevel` / `logFormat`. */
  readonly logger?: Logger | undefined
  /**
   * Called once if the storage engine fails; the node has already stopped serving (fail-stop).
   * The CLI exits non-zero from here. @default logs the error
   */
  readonly onStorageFailure?: ((error: unknown) => void) | undefined
}

/** A running node. */
export interface GossamerNode {
  /** The node's name (also its id in versions). */
  readonly name: string
  /** Base URL of the HTTP API with the actual port, e.g. `http://127.0.0.1:8080`. */
  readonly httpUrl: string
  /** The resolved configuration. */
  readonly config: Readonly<NodeConfig>
  /** The node's logger. */
  readonly logger: Logger
  /**
   * Stops accepting connections, waits for in-flight requests, closes the store. Idempotent:
   * later calls return the same promise.
   */
  close(): Promise<void>
}

/**
 * Starts a node inside this process (embedded mode) and resolves once it is listening.
 *
 * @example
 * ```ts
 * import { startNode } from 'gossamer'
 * const node = await startNode({ httpPort: 0, dataDir: './data' })
 * console.log(node.httpUrl)
 * await node.close()
 * ```
 * @throws GossamerError `GOSSAMER_ERR_CONFIG_INVALID` for bad options; storage or listen errors
 *   as thrown by LMDB / Node.
 */
export async function startNode(options: StartNodeOptions = {}): Promise<GossamerNode> {
  const { logger: givenLogger, onStorageFailure, ...fields } = options
  const layer: ConfigLayer = { source: 'startNode options', values: fields }
  const config = resolveNodeConfig(layer)
  const logger =
    givenLogger ??
    createLogger({
      level: config.logLevel,
      format: config.logFormat,
      bindings: { node: config.name },
    })
  const engine = await openEngine(config)
  try {
    return await serve({ config, logger, engine, onStorageFailure })
  } catch (error) {
    await engine.close().catch(() => {})
    throw error
  }
}

async function openEngine(config: NodeConfig): Promise<Engine> {
  if (config.inMemory) return new MemoryEngine()
  return LmdbEngine.open({ path: config.dataDir, durability: config.durability })
}

async function serve(parts: {
  config: Readonly<NodeConfig>
  logger: Logger
  engine: Engine
  onStorageFailure: ((error: unknown) => void) | undefined
}): Promise<GossamerNode> {
  const { config, logger, engine } = parts
  const nowMs = () => Date.now()
  let isReady = false
  const clock = new HybridLogicalClock({
    nodeId: config.name,
    wallClockMs: nowMs,
    maxSkewMs: config.maxClockSkewMs,
  })
  const reaper = new Reaper({
    engine,
    nowMs,
    tombstoneGraceMs: config.tombstoneGraceMs,
    intervalMs: config.reapIntervalMs,
    onError: (error) => logger.warn({ err: error }, 'reaper run failed'),
  })
  const app = buildApp({
    engine,
    clock,
    config,
    logger,
    metrics: new NodeMetrics({ engine }),
    nowMs,
    readiness: { isReady: () => isReady },
    onStorageFailure: (error) => {
      isReady = false
      logger.fatal({ err: error }, 'storage failed; the node stops serving')
      parts.onStorageFailure?.(error)
    },
  })
  await app.listen({ host: config.bind, port: config.httpPort })
  const httpUrl = urlOf(config.bind, app.server.address())
  reaper.start()
  isReady = true
  logger.info({ httpUrl, dataDir: config.inMemory ? null : config.dataDir }, 'node started')
  let closing: Promise<void> | undefined
  const close = () => {
    closing ??= (async () => {
      isReady = false
      reaper.stop()
      await app.close()
      await engine.close()
      logger.info('node stopped')
    })()
    return closing
  }
  return { name: config.name, httpUrl, config, logger, close }
}

function urlOf(bind: string, address: ReturnType<import('node:net').Server['address']>): string {
  if (address === null || typeof address === 'string') {
    throw new Error(`unexpected server address ${String(address)}`)
  }
  const host = bind.includes(':') ? `[${bind}]` : bind
  return `http://${host}:${address.port}`
}
