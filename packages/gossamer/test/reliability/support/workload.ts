/**
 * The workload generator of the reliability scenarios (issue 5): a bounded number of concurrent
 * clients, each issuing puts, gets and deletes of random keys from a small keyspace (so writes
 * conflict) with values unique per put, against the HTTP addresses of whichever nodes exist —
 * down, paused or partitioned ones included — and recording every invocation and completion in a
 * {@link History}. After healing, {@link readFinalState} reads every key's record on each of its
 * replicas (`/v1/admin/local`, no coordination) until they agree, and reports how long that took.
 *
 * How answers become outcomes (see history.ts): 2xx is ok (and 404 is ok for a get — nothing
 * there — and for a delete, which still wrote its tombstone); a refused connection, a 4xx or a
 * 503 NOT_READY is failed (nothing was coordinated); anything else — a timeout, a reset
 * connection, quorum not reached, a 5xx — is unknown.
 */
import { performance } from 'node:perf_hooks'
import type { FinalRecord } from '../../../src/testing/history/checker.ts'
import type { History, OperationKind, Outcome } from '../../../src/testing/history/history.ts'
import {
  type Cluster,
  compareVersionText,
  delay,
  replicasOf,
  seededRandom,
  waitFor,
} from '../../helpers/cluster-harness.ts'

/** A node the clients may send to. */
export interface Target {
  readonly name: string
  readonly http: string
}

/** Share of each operation kind (weights, need not sum to 1). */
export interface OperationMix {
  readonly put: number
  readonly get: number
  readonly delete: number
}

/** Options of {@link runWorkload}. */
export interface WorkloadOptions {
  /** The nodes to pick from, asked before every operation (restarts may move nothing, but may). */
  readonly targets: () => readonly Target[]
  readonly history: History
  /** Concurrent clients. */
  readonly clients: number
  /** Clients start no new operation after this long. */
  readonly durationMs: number
  /** Upper bound of operations per client. @default 100_000 */
  readonly maxOperationsPerClient?: number
  /** Keys `k00` .. `k<keyCount-1>`. */
  readonly keyCount: number
  readonly seed: number
  /** Per-request timeout; a request that takes longer is unknown. @default 8000 */
  readonly requestTimeoutMs?: number
  /** @default put 5, get 4, delete 1 */
  readonly mix?: OperationMix
  /** Pause between a client's operations, so five agents on two cores keep up. @default 5 */
  readonly thinkMs?: number
  /** `w` and `r` of every request. @default 'quorum' */
  readonly consistency?: string
  /** Stop early when aborted. */
  readonly signal?: AbortSignal
}

/** Key names of a workload's keyspace. */
export function keyspace(keyCount: number): string[] {
  return Array.from({ length: keyCount }, (_, i) => `k${String(i).padStart(2, '0')}`)
}

/** Runs the clients until the duration, their operation bound or the signal ends them. */
export async function runWorkload(options: WorkloadOptions): Promise<void> {
  const until = performance.now() + options.durationMs
  const keys = keyspace(options.keyCount)
  const mix = options.mix ?? { put: 5, get: 4, delete: 1 }
  const total = mix.put + mix.get + mix.delete
  const maxOps = options.maxOperationsPerClient ?? 100_000
  const client = async (clientId: number) => {
    const random = seededRandom(options.seed * 1000 + clientId)
    for (let seq = 0; seq < maxOps; seq++) {
      if (performance.now() >= until || options.signal?.aborted === true) return
      const targets = options.targets()
      const target = targets[Math.floor(random() * targets.length)]!
      const key = keys[Math.floor(random() * keys.length)]!
      const draw = random() * total
      const kind: OperationKind =
        draw < mix.put ? 'put' : draw < mix.put + mix.get ? 'get' : 'delete'
      const value = `c${clientId}-${seq}-s${options.seed}`
      await perform(options, { client: clientId, target, kind, key, value })
      await delay(options.thinkMs ?? 5)
    }
  }
  await Promise.all(Array.from({ length: options.clients }, (_, i) => client(i)))
}

interface Request {
  readonly client: number
  readonly target: Target
  readonly kind: OperationKind
  readonly key: string
  readonly value: string
}

/** Issues one operation and records it. Never throws: every ending is an outcome. */
async function perform(options: WorkloadOptions, request: Request): Promise<void> {
  const consistency = options.consistency ?? 'quorum'
  const { history } = options
  const id = history.invoke({
    client: request.client,
    node: request.target.name,
    kind: request.kind,
    key: request.key,
    ...(request.kind === 'put' ? { value: request.value } : {}),
    consistency,
  })
  const param = request.kind === 'get' ? 'r' : 'w'
  const url = `${request.target.http}/v1/kv/${encodeURIComponent(request.key)}?${param}=${consistency}`
  try {
    const response = await fetch(url, {
      method: request.kind === 'put' ? 'PUT' : request.kind === 'get' ? 'GET' : 'DELETE',
      ...(request.kind === 'put'
        ? { body: request.value, headers: { 'content-type': 'text/plain' } }
        : {}),
      signal: AbortSignal.timeout(options.requestTimeoutMs ?? 8000),
    })
    const text = await response.text()
    history.complete(id, completionOf(request.kind, response, text))
  } catch (error) {
    history.complete(id, { outcome: errorOutcome(error), error: errorText(error) })
  }
}

function completionOf(kind: OperationKind, response: Response, text: string) {
  const status = response.status
  if (kind === 'get' && status === 200) {
    const etag = response.headers.get('etag')
    return {
      outcome: 'ok' as const,
      found: true,
      readValue: text,
      version: etag?.replace(/^"|"$/g, ''),
    }
  }
  if (kind === 'get' && status === 404) return { outcome: 'ok' as const, found: false }
  if (kind === 'delete' && (status === 204 || status === 404)) return { outcome: 'ok' as const }
  if (kind === 'put' && (status === 200 || status === 201)) {
    const version = (parseJson(text) as { version?: unknown } | undefined)?.version
    if (typeof version === 'string') return { outcome: 'ok' as const, version }
  }
  const code = (parseJson(text) as { error?: { code?: unknown } } | undefined)?.error?.code
  const definite = (status >= 400 && status < 500) || code === 'GOSSAMER_ERR_NOT_READY'
  return {
    outcome: (definite ? 'failed' : 'unknown') as Outcome,
    error: `${status} ${typeof code === 'string' ? code : text.slice(0, 80)}`,
  }
}

/** A refused connection never reached the node; every other transport error is unknown. */
function errorOutcome(error: unknown): Outcome {
  const cause = (error as { cause?: { code?: unknown } }).cause
  return cause?.code === 'ECONNREFUSED' ? 'failed' : 'unknown'
}

function errorText(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown } }).cause
  if (typeof cause?.code === 'string') return cause.code
  return (error as Error).name === 'TimeoutError' ? 'timeout' : String((error as Error).message)
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** What {@link readFinalState} found. */
export interface FinalState {
  /** Every key's newest record across its replicas (null: no replica holds it). */
  readonly final: Map<string, FinalRecord | null>
  /** Each key's record on each of its replicas, from the last poll. */
  readonly replicas: Map<string, Map<string, FinalRecord | null>>
  /** Whether the replicas agreed before the deadline. */
  readonly converged: boolean
  /** Time from the call until they agreed (or the deadline). */
  readonly convergeMs: number
}

/**
 * Polls every key's replicas until they all hold the same record or `deadlineMs` passes. Run it
 * after healing, with every node up; it only reads (no read repair is triggered).
 */
export async function readFinalState(
  cluster: Cluster,
  keys: readonly string[],
  options: { deadlineMs: number; intervalMs?: number },
): Promise<FinalState> {
  const started = performance.now()
  let last = new Map<string, Map<string, FinalRecord | null>>()
  let converged = false
  try {
    await waitFor(
      'every replica of every key to agree',
      async () => {
        last = await readReplicas(cluster, keys)
        converged = [...last.values()].every((byNode) => agree(byNode))
        return converged
      },
      { deadlineMs: options.deadlineMs, intervalMs: options.intervalMs ?? 500 },
    )
  } catch {
    converged = false
  }
  const convergeMs = performance.now() - started
  const final = new Map<string, FinalRecord | null>()
  for (const [key, byNode] of last) final.set(key, newest([...byNode.values()]))
  return { final, replicas: last, converged, convergeMs }
}

async function readReplicas(
  cluster: Cluster,
  keys: readonly string[],
): Promise<Map<string, Map<string, FinalRecord | null>>> {
  const view = await cluster.partitions(cluster.up[0]!.name)
  const result = new Map<string, Map<string, FinalRecord | null>>()
  for (const key of keys) {
    const byNode = new Map<string, FinalRecord | null>()
    for (const node of replicasOf(view, key)) {
      const local = await cluster.local(node, key)
      byNode.set(
        node,
        local === undefined
          ? null
          : {
              version: local.version,
              tombstone: local.tombstone,
              value: local.value === null ? null : Buffer.from(local.value, 'base64').toString(),
            },
      )
    }
    result.set(key, byNode)
  }
  return result
}

function agree(byNode: ReadonlyMap<string, FinalRecord | null>): boolean {
  const versions = new Set([...byNode.values()].map((r) => r?.version ?? 'absent'))
  return versions.size <= 1
}

function newest(records: readonly (FinalRecord | null)[]): FinalRecord | null {
  let best: FinalRecord | null = null
  for (const record of records) {
    if (record === null) continue
    if (best === null || compareVersionText(record.version, best.version) > 0) best = record
  }
  return best
}
