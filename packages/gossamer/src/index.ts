/**
 * @packageDocumentation
 * Gossamer: a distributed key-value store for Node.js. This entry point is the embedded mode:
 * run a node inside your own program.
 *
 * @example
 * ```ts
 * import { startNode } from 'gossamer'
 *
 * const node = await startNode({ name: 'n1', httpPort: 0, dataDir: './gossamer-data' })
 * const response = await fetch(`${node.httpUrl}/get?key=greeting`)
 * await node.close()
 * ```
 */
export { type AppComponents, buildApp, type Readiness } from './api/app.ts'
export { ClusterKvService } from './api/cluster-kv-service.ts'
export type { KvApi } from './api/kv-api.ts'
export type { VersionClock } from './api/kv-service.ts'
export { NodeMetrics } from './api/metrics.ts'
export {
  ClusterRuntime,
  type MemberRow,
  type PartitionRow,
} from './cluster/runtime/cluster-runtime.ts'
export type { ReplicationStats } from './cluster/runtime/replication-driver.ts'
export {
  CONFIG_FIELDS,
  defaultNodeConfig,
  envVarName,
  joinAddresses,
  type LogFormat,
  type LogLevel,
  loadNodeConfig,
  type NodeConfig,
  resolveNodeConfig,
} from './config.ts'
export {
  ERROR_CATALOGUE,
  ERROR_CODES,
  GossamerError,
  type GossamerErrorCode,
  isGossamerError,
} from './errors.ts'
export { compareVersions, formatVersion, parseVersion, type Version } from './hlc/version.ts'
export { createLogger, type Logger } from './log.ts'
export { type GossamerNode, type StartNodeOptions, startNode } from './node.ts'
