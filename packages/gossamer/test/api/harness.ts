// Test harness: an app over the in-memory engine, a real HLC on a settable wall clock, and a
// silent logger, driven with inject().
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../src/api/app.ts'
import { NodeMetrics } from '../../src/api/metrics.ts'
import { HybridLogicalClock } from '../../src/hlc/hlc.ts'
import { silentLogger } from '../../src/log.ts'
import type { Engine } from '../../src/storage/engine.ts'
import { MemoryEngine } from '../../src/storage/memory-engine.ts'

export interface Harness {
  readonly app: FastifyInstance
  readonly engine: Engine
  readonly metrics: NodeMetrics
  /** The injected wall clock, Unix ms; tests move it to expire TTLs. */
  wallMs: number
  ready: boolean
}

export async function makeHarness(
  options: { maxKeyBytes?: number; maxValueBytes?: number; engine?: Engine } = {},
): Promise<Harness> {
  const engine = options.engine ?? new MemoryEngine()
  const metrics = new NodeMetrics({ engine, defaultMetrics: false })
  const harness = { engine, metrics, wallMs: 1_764_000_000_000, ready: true } as Harness
  const clock = new HybridLogicalClock({ nodeId: 'n1', wallClockMs: () => harness.wallMs })
  const app = buildApp({
    engine,
    clock,
    metrics,
    logger: silentLogger(),
    config: {
      name: 'n1',
      maxKeyBytes: options.maxKeyBytes ?? 1024,
      maxValueBytes: options.maxValueBytes ?? 1024 * 1024,
    },
    nowMs: () => harness.wallMs,
    readiness: { isReady: () => harness.ready },
  })
  ;(harness as { app: FastifyInstance }).app = app
  await app.ready()
  return harness
}

/** The `error.code` of a JSON error response. */
export function errorCode(response: { json(): unknown }): string {
  return (response.json() as { error: { code: string } }).error.code
}
