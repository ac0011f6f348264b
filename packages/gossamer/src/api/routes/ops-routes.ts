/**
 * Operational routes: `/v1/health` (the process is alive and answering), `/v1/ready` (the node
 * serves requests: started, storage healthy, not shutting down) and `/metrics` (Prometheus text
 * format from the node's own registry).
 */
import type { FastifyInstance } from 'fastify'
import { GossamerError } from '../../errors.ts'
import type { NodeMetrics } from '../metrics.ts'

interface OpsDeps {
  readonly name: string
  readonly metrics: NodeMetrics
  readonly isReady: () => boolean
}

/** Registers `/v1/health`, `/v1/ready` and `/metrics`. */
export function registerOpsRoutes(app: FastifyInstance, deps: OpsDeps): void {
  app.get('/v1/health', async () => ({ status: 'ok', name: deps.name }))
  app.get('/v1/ready', async () => {
    if (!deps.isReady()) {
      throw new GossamerError('GOSSAMER_ERR_NOT_READY', `node ${deps.name} is not ready`)
    }
    return { status: 'ready', name: deps.name }
  })
  app.get('/metrics', async (_request, reply) => {
    const text = await deps.metrics.registry.metrics()
    return reply.header('content-type', deps.metrics.registry.contentType).send(text)
  })
}
