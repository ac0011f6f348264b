/**
 * Cluster and admin routes (the cluster contract, docs/cluster.md):
 *
 * - `GET /v1/cluster/members` → `{"members":[{"name","address","state","role","http","rpc","owner"}]}`
 *   for every memberlist member (Go nodes included: `role`, `http` and `rpc` are null).
 * - `GET /v1/cluster/partitions` → `{"partitionCount","replicas","partitions":[{"partition",
 *   "owners","fallbacks","handoff"}]}`.
 * - `DELETE /v1/cluster/members/{name}` → operator removal from the ownership set; 404
 *   `GOSSAMER_ERR_NODE_NOT_FOUND` for a name the cluster does not know.
 * - `GET /v1/admin/local/{key}` → this node's raw record, without coordination:
 *   `{"key","version","tombstone","value" (base64 or null),"expiresAtMs"?}`, or 404.
 * - `GET /v1/admin/stats` → `{"hintsPending","handoffsPending","antiEntropy":{"rounds",
 *   "repaired"},"keys"}`.
 */
import type { FastifyInstance } from 'fastify'
import { GossamerError } from '../../errors.ts'
import { formatVersion } from '../../hlc/version.ts'
import type { StoredRecord } from '../../storage/engine.ts'
import { decodeComponent, type InputLimits, rawPathAfter, validateKey } from '../http-input.ts'
import { notFound } from './seed-routes.ts'

/** What the cluster routes read from the node's cluster runtime. */
export interface ClusterApi {
  members(): readonly object[]
  partitions(): object
  knows(name: string): boolean
  removeMember(name: string): void
  adminStats(): object
  localRecord(key: string): StoredRecord | undefined
}

/** Registers the cluster and admin routes. */
export function registerClusterRoutes(
  app: FastifyInstance,
  deps: { cluster: ClusterApi; limits: InputLimits },
): void {
  const { cluster, limits } = deps
  app.get('/v1/cluster/members', async () => ({ members: cluster.members() }))
  app.get('/v1/cluster/partitions', async () => cluster.partitions())
  app.delete('/v1/cluster/members/*', async (request) => {
    const name = decodeComponent(rawPathAfter(request.url, '/v1/cluster/members/'), 'name')
    if (name === '' || !cluster.knows(name)) {
      throw new GossamerError(
        'GOSSAMER_ERR_NODE_NOT_FOUND',
        `no member named ${JSON.stringify(name.slice(0, 100))}`,
      )
    }
    cluster.removeMember(name)
    return { name, removed: true }
  })
  app.get('/v1/admin/local/*', async (request) => {
    const raw = rawPathAfter(request.url, '/v1/admin/local/')
    const key = validateKey(decodeComponent(raw, 'key'), limits)
    const record = cluster.localRecord(key)
    if (record === undefined) throw notFound(key)
    return {
      key,
      version: formatVersion(record.version),
      tombstone: record.value === null,
      value: record.value === null ? null : Buffer.from(record.value).toString('base64'),
      ...(record.expiresAtMs !== undefined && { expiresAtMs: record.expiresAtMs }),
    }
  })
  app.get('/v1/admin/stats', async () => cluster.adminStats())
}
