/**
 * Prometheus metrics for one node, in a registry of its own (never prom-client's global one, so
 * that several nodes in one process — tests, embedded use — do not collide). Storage gauges are
 * computed when scraped.
 *
 * The per-request HTTP metrics are recorded into plain numbers (a count per status and a bucket
 * histogram per route and method) and handed to prom-client only when scraped: prom-client
 * hashes the label set on every `inc` / `observe`, which cost more than the rest of the metrics
 * path together at tens of thousands of requests per second (docs/performance.md).
 */
import {
  Counter,
  collectDefaultMetrics,
  Gauge,
  type Metric,
  type MetricValueWithName,
  Registry,
} from 'prom-client'
import type { Engine } from '../storage/engine.ts'

/** HTTP methods reported as themselves; anything else is `OTHER` (bounded label values). */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'PATCH', 'OPTIONS'])

/** What the replication metrics read when scraped. */
export interface ReplicationMetricsSource {
  readonly hintsPending: number
  readonly hintsStored: number
  readonly hintsDelivered: number
  /** Hints moved off a replica that left the ownership set to the key's current replicas. */
  readonly hintsRetargeted: number
  /** Re-targeted hint copies a full queue refused (dropped; anti-entropy covers them). */
  readonly hintsDropped: number
  readonly readRepairs: number
  readonly quorumFailures: number
  readonly timeouts: number
  readonly rpcErrors: number
  readonly skewRefusals: number
  /**
   * Requests coordinated again after a replica refused them, or after a write's acks came from
   * new replicas still streaming the partition in (`refusalRetryDelayMs`).
   */
  readonly refusalRetries: number
  readonly handoffRecords: number
  readonly handoffBytes: number
  readonly handoffPartitions: number
  /** Partition pushes started by this node as an old replica whose hand-off waited too long. */
  readonly handoffDrains: number
  /** Partitions still to stream in to this node (pending or receiving). */
  readonly handoffInboundPending: number
  /** Partitions this node still holds for receivers that have not reported done. */
  readonly handoffOutboundPending: number
  readonly antiEntropy: {
    readonly rounds: number
    readonly repaired: number
    /** Messages waiting for the anti-entropy token budget (`AntiEntropy.waitingCount`). */
    readonly waiting: number
  }
}

/** Upper bounds of the request latency histogram, in seconds. */
const DURATION_BUCKETS_SECONDS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
] as const

/** What one route and method answered so far. */
interface RouteStats {
  readonly route: string
  readonly method: string
  readonly countByStatus: Map<number, number>
  /** Requests per latency bucket (not cumulative); the last slot is +Inf. */
  readonly buckets: Float64Array
  sumSeconds: number
  count: number
}

/** The node's metrics and their registry. */
export class NodeMetrics {
  readonly registry: Registry
  readonly httpRequests: Counter<'route' | 'method' | 'status'>
  readonly httpErrors: Counter<'code'>
  // route -> method -> stats; both levels are bounded (route patterns, KNOWN_METHODS + OTHER).
  readonly #routes = new Map<string, Map<string, RouteStats>>()
  /** Requests answered by the HTTP fast path (`fast-path.ts`), also counted per route above. */
  fastPathRequests = 0

  constructor(options: { engine?: Engine | undefined; defaultMetrics?: boolean | undefined } = {}) {
    this.registry = new Registry()
    const registers = [this.registry]
    const routes = this.#routes
    this.httpRequests = new Counter({
      name: 'gossamer_http_requests_total',
      help: 'HTTP requests answered, by route pattern, method and status code.',
      labelNames: ['route', 'method', 'status'],
      registers,
      collect() {
        this.reset()
        for (const byMethod of routes.values()) {
          for (const stats of byMethod.values()) {
            const { route, method } = stats
            for (const [status, count] of stats.countByStatus) {
              this.inc({ route, method, status: String(status) }, count)
            }
          }
        }
      },
    })
    this.registry.registerMetric(durationHistogram(routes) as unknown as Metric)
    this.httpErrors = new Counter({
      name: 'gossamer_http_errors_total',
      help: 'Error responses, by GOSSAMER_ERR_* code.',
      labelNames: ['code'],
      registers,
    })
    const metrics = this
    new Counter({
      name: 'gossamer_http_fast_path_total',
      help: 'Requests answered by the HTTP fast path (plain GET /v1/kv/{key} read from this node alone, before Fastify); also counted in gossamer_http_requests_total.',
      registers,
      collect() {
        this.reset()
        this.inc(metrics.fastPathRequests)
      },
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
    const stats = this.#statsOf(options.route, method)
    stats.countByStatus.set(options.status, (stats.countByStatus.get(options.status) ?? 0) + 1)
    const seconds = options.durationMs / 1000
    let bucket = 0
    while (
      bucket < DURATION_BUCKETS_SECONDS.length &&
      seconds > DURATION_BUCKETS_SECONDS[bucket]!
    ) {
      bucket += 1
    }
    stats.buckets[bucket]! += 1
    stats.sumSeconds += seconds
    stats.count += 1
  }

  #statsOf(route: string, method: string): RouteStats {
    let byMethod = this.#routes.get(route)
    if (byMethod === undefined) {
      byMethod = new Map()
      this.#routes.set(route, byMethod)
    }
    let stats = byMethod.get(method)
    if (stats === undefined) {
      stats = {
        route,
        method,
        countByStatus: new Map(),
        buckets: new Float64Array(DURATION_BUCKETS_SECONDS.length + 1),
        sumSeconds: 0,
        count: 0,
      }
      byMethod.set(method, stats)
    }
    return stats
  }

  /**
   * Replication metrics, read from `source` when scraped: hints pending, stored, delivered,
   * re-targeted and dropped, repairs, quorum failures, timeouts, RPC errors, clock-skew
   * refusals, rebalancing (records, bytes, partitions received, partitions still to move in and
   * out), anti-entropy rounds.
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
      'gossamer_hints_retargeted_total',
      'Hints held for a node that left the ownership set, moved to the current replicas.',
      (s) => s.hintsRetargeted,
    )
    gauge(
      'gossamer_hints_dropped_total',
      'Re-targeted hint copies refused by a full hint queue (dropped; anti-entropy repairs them).',
      (s) => s.hintsDropped,
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
      'gossamer_refusal_retries_total',
      'Requests coordinated again after a replica refused them (its placement differed), or after a write missed acks from settled replicas.',
      (s) => s.refusalRetries,
    )
    gauge(
      'gossamer_handoff_records_total',
      'Records received by rebalancing.',
      (s) => s.handoffRecords,
    )
    gauge(
      'gossamer_handoff_bytes_total',
      'Payload bytes (key + value) of the records received by rebalancing.',
      (s) => s.handoffBytes,
    )
    gauge(
      'gossamer_handoff_partitions_total',
      'Inbound partition transfers finished by rebalancing.',
      (s) => s.handoffPartitions,
    )
    gauge(
      'gossamer_handoff_drains_total',
      'Partitions this node pushed to their new replicas because the hand-off waited too long.',
      (s) => s.handoffDrains,
    )
    gauge(
      'gossamer_handoff_inbound_partitions',
      'Partitions still to stream in to this node (pending or streaming).',
      (s) => s.handoffInboundPending,
    )
    gauge(
      'gossamer_handoff_outbound_partitions',
      'Partitions this node holds until their new replicas report them received.',
      (s) => s.handoffOutboundPending,
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
    gauge(
      'gossamer_anti_entropy_waiting_messages',
      'Anti-entropy messages waiting for the token budget (pushes of finished sessions included).',
      (s) => s.antiEntropy.waiting,
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

/**
 * `gossamer_http_request_duration_seconds` as a registry metric read from the route stats when
 * scraped, in prom-client's histogram form (cumulative `_bucket` lines with `le` first, then
 * `_sum` and `_count`).
 */
function durationHistogram(routes: Map<string, Map<string, RouteStats>>) {
  const name = 'gossamer_http_request_duration_seconds'
  const get = async () => {
    const values: MetricValueWithName<string>[] = []
    for (const byMethod of routes.values()) {
      for (const stats of byMethod.values()) {
        const { route, method } = stats
        let cumulative = 0
        DURATION_BUCKETS_SECONDS.forEach((le, i) => {
          cumulative += stats.buckets[i]!
          values.push({
            metricName: `${name}_bucket`,
            labels: { le, route, method },
            value: cumulative,
          })
        })
        values.push(
          {
            metricName: `${name}_bucket`,
            labels: { le: '+Inf', route, method },
            value: stats.count,
          },
          { metricName: `${name}_sum`, labels: { route, method }, value: stats.sumSeconds },
          { metricName: `${name}_count`, labels: { route, method }, value: stats.count },
        )
      }
    }
    return {
      name,
      help: 'Time from request received to response sent, by route pattern and method.',
      type: 'histogram',
      values,
      aggregator: 'sum',
    }
  }
  return {
    name,
    help: 'Time from request received to response sent, by route pattern and method.',
    type: 'histogram',
    aggregator: 'sum',
    get,
    reset: () => {
      for (const byMethod of routes.values()) {
        for (const stats of byMethod.values()) {
          stats.countByStatus.clear()
          stats.buckets.fill(0)
          stats.sumSeconds = 0
          stats.count = 0
        }
      }
    },
  }
}
