/**
 * The composition root: the one place where a node is assembled from its parts — config,
 * logger, storage engine (LMDB at `dataDir`, or memory), hybrid logical clock, reaper, metrics,
 * the cluster runtime (membership, RPC, replication) and the HTTP app — and where real time
 * (`Date.now`) is handed to them. A lone node is a cluster of one: every request goes through
 * the replication coordinator, which then talks only to this node.
 *
 * Start-up order: validate config → open the store → build the app → listen (HTTP) → start the
 * cluster runtime (RPC listen, replication driver, gossip, join in the background) → ready once
 * joined and any inbound handoff is done.
 * Shutdown order (`close()`): graceful leave when `leaveOnShutdown` (hand off, leave the
 * ownership set and memberlist) → not ready → stop the reaper → stop accepting connections and
 * finish in-flight requests (Fastify's close) → stop the cluster runtime → close the store. A
 * failure while starting closes whatever was already opened.
 */
import { buildApp } from './api/app.ts'
import { ClusterKvService } from './api/cluster-kv-service.ts'
import type { KvApi } from './api/kv-api.ts'
import { NodeMetrics } from './api/metrics.ts'
import { ClusterRuntime } from './cluster/runtime/cluster-runtime.ts'
import { type ConfigLayer, type NodeConfig, resolveNodeConfig } from './config.ts'
import { GossamerError } from './errors.ts'
import { HybridLogicalClock } from './hlc/hlc.ts'
import { createLogger, type Logger } from './log.ts'
import { KEY_HASH_VERSION } from './ring/hash.ts'
import { partitionOf } from './ring/partitioner.ts'
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
  /** Gossip endpoint with the actual port, `ip:port`. */
  readonly gossipAddress: string
  /** RPC endpoint with the actual port, `host:port`. */
  readonly rpcAddress: string
  /** The cluster runtime (membership, placement, replication). */
  readonly cluster: ClusterRuntime
  /** The resolved configuration. */
  readonly config: Readonly<NodeConfig>
  /** The node's logger. */
  readonly logger: Logger
  /**
   * Leaves the cluster gracefully when `leaveOnShutdown` (or `options.leave`), stops accepting
   * connections, waits for in-flight requests, closes the store. Idempotent: later calls
   * return the same promise.
   */
  close(options?: { leave?: boolean }): Promise<void>
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
  // The engine keeps a partition index, so anti-entropy and handoff read one partition
  // without walking the whole store.
  const partitionIndex = {
    partitionCount: config.partitions,
    partitionOf: (key: string) => partitionOf(key, config.partitions),
    hashVersion: KEY_HASH_VERSION,
  }
  if (config.inMemory) return new MemoryEngine({ partitionIndex })
  return LmdbEngine.open({ path: config.dataDir, durability: config.durability, partitionIndex })
}

async function serve(parts: {
  config: Readonly<NodeConfig>
  logger: Logger
  engine: Engine
  onStorageFailure: ((error: unknown) => void) | undefined
}): Promise<GossamerNode> {
  const { config, logger, engine } = parts
  const nowMs = () => Date.now() + config.clockOffsetMs
  let isStarted = false
  let runtime: ClusterRuntime | undefined
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
  const started = () => {
    if (runtime === undefined) throw new GossamerError('GOSSAMER_ERR_NOT_READY', 'node starting')
    return runtime
  }
  // Coordinated requests wait until the node has joined and merged the cluster's ownership set:
  // before that its placement may be a stale one, or a cluster of one (see
  // ClusterRuntime.canCoordinate).
  const coordinating = () => {
    const cluster = started()
    if (!cluster.canCoordinate) {
      throw new GossamerError(
        'GOSSAMER_ERR_NOT_READY',
        'the node has not joined its cluster yet (ownership set not merged)',
      )
    }
    return cluster
  }
  const kv = new ClusterKvService({
    coordinator: {
      write: (input) => coordinating().driver.write(input),
      read: (input) => coordinating().driver.read(input),
      readLocal: (key, r) =>
        runtime?.canCoordinate === true ? runtime.driver.readLocal(key, r) : undefined,
    },
    engine,
    self: config.name,
    placement: () => started().placement,
    observe: (version) => clock.observe(version),
    nowMs,
  })
  const storageFailed = (error: unknown) => {
    if (!kv.isHealthy) return
    kv.markUnhealthy()
    isStarted = false
    logger.fatal({ err: error }, 'storage failed; the node stops serving')
    parts.onStorageFailure?.(error)
  }
  const metrics = new NodeMetrics({ engine })
  const app = buildApp({
    engine,
    clock,
    config,
    logger,
    metrics,
    nowMs,
    kv: withClusterListing(kv, (options) => coordinating().list(options)),
    cluster: {
      members: () => started().members(),
      partitions: () => started().partitions(),
      knows: (name) => started().knows(name),
      removeMember: (name) => started().removeMember(name),
      adminStats: () => started().adminStats(),
      localRecord: (key) => engine.getRecord(key),
    },
    readiness: { isReady: () => isStarted && kv.isHealthy && (runtime?.isReady ?? false) },
    onStorageFailure: storageFailed,
    fastRead: config.httpFastPath ? (key) => kv.readLocal(key) : undefined,
  })
  await app.listen({ host: config.bind, port: config.httpPort })
  const httpUrl = urlOf(config.bind, app.server.address())
  try {
    runtime = await ClusterRuntime.start(
      { config, engine, hlc: clock, logger, nowMs, onStorageFailure: storageFailed },
      httpUrl,
    )
  } catch (error) {
    await app.close()
    throw error
  }
  metrics.registerReplication(() => ({
    ...runtime!.driver.stats,
    hintsPending: runtime!.driver.hintsPending,
    // Getters: each gauge reads the source, and only these two walk every partition.
    get handoffInboundPending() {
      return runtime!.driver.inboundPending()
    },
    get handoffOutboundPending() {
      return runtime!.driver.outboundPending()
    },
    antiEntropy: runtime!.driver.antiEntropy,
  }))
  const cluster = runtime
  reaper.start()
  isStarted = true
  logger.info(
    {
      httpUrl,
      gossip: cluster.gossipAddress,
      rpc: cluster.rpcAddress,
      dataDir: config.inMemory ? null : config.dataDir,
    },
    'node started',
  )
  let closing: Promise<void> | undefined
  const close = (options: { leave?: boolean } = {}) => {
    closing ??= (async () => {
      if (options.leave ?? config.leaveOnShutdown) await cluster.leave()
      isStarted = false
      reaper.stop()
      await app.close()
      await cluster.close()
      await engine.close()
      logger.info('node stopped')
    })()
    return closing
  }
  return {
    name: config.name,
    httpUrl,
    gossipAddress: cluster.gossipAddress,
    rpcAddress: cluster.rpcAddress,
    cluster,
    config,
    logger,
    close,
  }
}

/**
 * The cluster's key-value surface with listing coordinated across the cluster
 * (`ClusterRuntime.list`: every node's ordered records merged) instead of this node's local
 * store, which with N below the number of owners holds only some partitions.
 */
function withClusterListing(kv: ClusterKvService, list: KvApi['list']): KvApi {
  return {
    get isHealthy() {
      return kv.isHealthy
    },
    nowMs: () => kv.nowMs(),
    get: (key, options) => kv.get(key, options),
    put: (options) => kv.put(options),
    delete: (options) => kv.delete(options),
    list: (options) => {
      if (!kv.isHealthy) {
        throw new GossamerError(
          'GOSSAMER_ERR_NOT_READY',
          'the node stopped serving after a storage failure',
        )
      }
      return list(options)
    },
  }
}

function urlOf(bind: string, address: ReturnType<import('node:net').Server['address']>): string {
  if (address === null || typeof address === 'string') {
    throw new Error(`unexpected server address ${String(address)}`)
  }
  const host = bind.includes(':') ? `[${bind}]` : bind
  return `http://${host}:${address.port}`
}
