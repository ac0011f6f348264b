/**
 * Prometheus metrics for one node, in a registry of its own (never prom-client's global one, so
 * that several nodes in one process — tests, embedded use — do not collide). Storage gauges are
 * computed when scraped.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { Engine } from '../storage/engine.ts'

/** HTTP methods reported as themselves; anything else is `OTHER` (bounded label values). */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'PATCH', 'OPTIONS'])

/** What the replication metrics read when scraped. */
export interface ReplicationMetricsSource {
  readonly hintsPending: number
  readonly hintsStored: number
  readonly hintsDelivered: number
  readonly readRepairs: number
  readonly quorumFailures: number
  readonly timeouts: number
  readonly rpcErrors: number
  readonly skewRefusals: number
  readonly handoffRecords: number
  readonly antiEntropy: { readonly rounds: number; readonly repaired: number }
}

/** The node's metrics and their registry. */
export class NodeMetrics {
  readonly registry: Registry
  readonly httpRequests: Counter<'route' | 'method' | 'status'>
  readonly httpDurationSeconds: Histogram<'route' | 'method'>
  readonly httpErrors: Counter<'code'>

  constructor(options: { engine?: Engine | undefined; defaultMetrics?: boolean | undefined } = {}) {
    this.registry = new Registry()
    const registers = [this.registry]
    this.httpRequests = new Counter({
      name: 'gossamer_http_requests_total',
      help: 'HTTP requests answered, by route pattern, method and status code.',
      labelNames: ['route', 'method', 'status'],
      registers,
    })
    this.httpDurationSeconds = new Histogram({
      name: 'gossamer_http_request_duration_seconds',
      help: 'Time from request received to response sent, by route pattern and method.',
      labelNames: ['route', 'method'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    })
    this.httpErrors = new Counter({
      name: 'gossamer_http_errors_total',
      help: 'Error responses, by GOSSAMER_ERR_* code.',
      labelNames: ['code'],
      registers,
    })
    if (options.engine !== undefined) this.#registerStorageGauges(options.engine)
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry })
  }

  /** Records one answered request. */
  observeRequest(options: {
    route: string
    method: string
    status: number
    durationMs: number
  }): void {
    const method = KNOWN_METHODS.has(options.method) ? options.method : 'OTHER'
    this.httpRequests.inc({ route: options.route, method, status: String(options.status) })
    this.httpDurationSeconds.observe({ route: options.route, method }, options.durationMs / 1000)
  }

  /**
   * Replication metrics, read from `source` when scraped: hints pending, repairs, quorum
   * failures, timeouts, RPC errors, clock-skew refusals, handoff records, anti-entropy rounds.
   */
  registerReplication(source: () => ReplicationMetricsSource): void {
    const registers = [this.registry]
    const gauge = (name: string, help: string, read: (s: ReplicationMetricsSource) => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read(source()))
        },
      })
    gauge('gossamer_hints_pending', 'Hints held for unreachable replicas.', (s) => s.hintsPending)
    gauge(
      'gossamer_hints_stored_total',
      'Hinted writes accepted as a fallback.',
      (s) => s.hintsStored,
    )
    gauge(
      'gossamer_hints_delivered_total',
      'Hints delivered and acknowledged.',
      (s) => s.hintsDelivered,
    )
    gauge(
      'gossamer_read_repairs_total',
      'Read-repair writes sent to stale replicas.',
      (s) => s.readRepairs,
    )
    gauge(
      'gossamer_quorum_failures_total',
      'Requests that could not reach r or w.',
      (s) => s.quorumFailures,
    )
    gauge('gossamer_request_timeouts_total', 'Requests that hit their deadline.', (s) => s.timeouts)
    gauge('gossamer_rpc_errors_total', 'Node-to-node requests that failed.', (s) => s.rpcErrors)
    gauge(
      'gossamer_clock_skew_refusals_total',
      'Records refused for being too far ahead.',
      (s) => s.skewRefusals,
    )
    gauge(
      'gossamer_handoff_records_total',
      'Records received by rebalancing.',
      (s) => s.handoffRecords,
    )
    gauge(
      'gossamer_anti_entropy_rounds_total',
      'Anti-entropy sessions finished.',
      (s) => s.antiEntropy.rounds,
    )
    gauge(
      'gossamer_anti_entropy_repaired_total',
      'Records moved by anti-entropy.',
      (s) => s.antiEntropy.repaired,
    )
  }

  #registerStorageGauges(engine: Engine): void {
    new Gauge({
      name: 'gossamer_storage_size_bytes',
      help: 'Approximate bytes used by the storage engine.',
      registers: [this.registry],
      collect() {
        this.set(engine.stats().sizeBytes)
      },
    })
    new Gauge({
      name: 'gossamer_storage_keys',
      help: 'Records held by the storage engine, tombstones included.',
      registers: [this.registry],
      collect() {
        this.set(engine.stats().keyCount)
      },
    })
  }
}
