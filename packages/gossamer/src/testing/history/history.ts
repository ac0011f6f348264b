/**
 * A recorded client history, in the style of Jepsen and etcd's robustness tests: every
 * operation a client issues is an *invocation* (what, where, when) followed by at most one
 * *completion* (ok, failed or unknown, and what came back). The checker (`checker.ts`) judges the
 * history against the promise of architecture §4.
 *
 * Outcomes mean exactly this:
 * - `ok`: the node answered success; for a put the answer carried the version it was stored at.
 * - `failed`: the operation certainly did not take effect (the connection was refused, or the
 *   node rejected the request before coordinating it).
 * - `unknown`: it may or may not have taken effect (a timeout, a dropped connection, quorum not
 *   reached — a Dynamo-style write that misses its quorum may still have landed on some replicas
 *   and spread later). An operation that never completes is unknown as well.
 *
 * A put may carry an expiry (`expiresAtMs`, Unix ms as the coordinating node computed it from
 * `?ttl=`) and a condition (`ifMatch`: the version the live record must have; `ifNoneMatch`:
 * there must be no live record). A conditional put whose condition did not hold (HTTP 412) is
 * `failed`: the API promises that nothing was written.
 *
 * Times are milliseconds on one monotonic clock, injected (`nowMs`), so a history can be built
 * by hand in unit tests. Pure: no clock, no I/O.
 */

/** What an operation does. */
export type OperationKind = 'put' | 'get' | 'delete'

/** How an operation ended; see the file header. */
export type Outcome = 'ok' | 'failed' | 'unknown'

/** One operation: its invocation and (once known) its completion. */
export interface Operation {
  /** Position in the history (0-based, in invocation order). */
  readonly id: number
  /** The client (a logical thread) that issued it. */
  readonly client: number
  /** Name of the node the request was sent to (the coordinator). */
  readonly node: string
  readonly kind: OperationKind
  readonly key: string
  /** Put: the value written (unique per put in a well-formed workload). */
  readonly value?: string | undefined
  /** `r` for a get, `w` for a put or delete: `one | quorum | all | <n>`. */
  readonly consistency: string
  /** Put with a TTL: when the value expires, Unix ms on the coordinating node's clock. */
  readonly expiresAtMs?: number | undefined
  /** Conditional put (If-Match): the version the live record must have. */
  readonly ifMatch?: string | undefined
  /** Conditional put (If-None-Match: *): there must be no live record. */
  readonly ifNoneMatch?: boolean | undefined
  readonly invokeMs: number
  /** Undefined while the operation is in flight (treated as unknown, never completed). */
  completeMs?: number | undefined
  outcome?: Outcome | undefined
  /** Put ok: the version stored. Get ok and found: the version read (the ETag). */
  version?: string | undefined
  /** Get ok: whether a live value was returned (false = 404). */
  found?: boolean | undefined
  /** Get ok and found: the value read. */
  readValue?: string | undefined
  /** Failed or unknown: why, for reports. */
  error?: string | undefined
}

/** What a client knows when it starts an operation. */
export interface Invocation {
  readonly client: number
  readonly node: string
  readonly kind: OperationKind
  readonly key: string
  readonly value?: string | undefined
  readonly consistency: string
  readonly expiresAtMs?: number | undefined
  readonly ifMatch?: string | undefined
  readonly ifNoneMatch?: boolean | undefined
}

/** What a client learns when an operation ends. */
export interface Completion {
  readonly outcome: Outcome
  readonly version?: string | undefined
  readonly found?: boolean | undefined
  readonly readValue?: string | undefined
  readonly error?: string | undefined
}

/** Collects operations in invocation order. */
export class History {
  readonly #nowMs: () => number
  readonly #operations: Operation[] = []

  /** @param options.nowMs the monotonic clock every invocation and completion is stamped with */
  constructor(options: { nowMs: () => number }) {
    this.#nowMs = options.nowMs
  }

  /** Records an invocation; returns its id for {@link History.complete}. */
  invoke(invocation: Invocation): number {
    const id = this.#operations.length
    this.#operations.push({ id, ...invocation, invokeMs: this.#nowMs() })
    return id
  }

  /** Records the completion of operation `id` (once; a second completion is a bug). */
  complete(id: number, completion: Completion): void {
    const op = this.#operations[id]
    if (op === undefined) throw new Error(`complete: no operation ${id}`)
    if (op.outcome !== undefined) throw new Error(`complete: operation ${id} completed twice`)
    Object.assign(op, completion, { completeMs: this.#nowMs() })
  }

  /** Every operation so far, in invocation order. */
  get operations(): readonly Operation[] {
    return this.#operations
  }

  /** Counts by kind and outcome, for reports. */
  summary(): HistorySummary {
    const summary = { attempted: 0, acknowledged: 0, failed: 0, unknown: 0, writesAcknowledged: 0 }
    for (const op of this.#operations) {
      summary.attempted++
      const outcome = op.outcome ?? 'unknown'
      if (outcome === 'ok') summary.acknowledged++
      else if (outcome === 'failed') summary.failed++
      else summary.unknown++
      if (outcome === 'ok' && op.kind !== 'get') summary.writesAcknowledged++
    }
    return summary
  }
}

/** Counts of a history. */
export interface HistorySummary {
  attempted: number
  acknowledged: number
  failed: number
  unknown: number
  /** Acknowledged puts and deletes. */
  writesAcknowledged: number
}

/** One line describing an operation, for violation reports. */
export function describeOperation(op: Operation): string {
  const extras = [
    op.expiresAtMs === undefined ? '' : ` expires=${op.expiresAtMs}`,
    op.ifMatch === undefined ? '' : ` if-match=${op.ifMatch}`,
    op.ifNoneMatch === true ? ' if-none-match=*' : '',
  ].join('')
  const what =
    op.kind === 'put'
      ? `put ${op.key}=${op.value ?? '?'} w=${op.consistency}${extras}`
      : op.kind === 'delete'
        ? `delete ${op.key} w=${op.consistency}`
        : `get ${op.key} r=${op.consistency}`
  const end = op.completeMs === undefined ? '…' : op.completeMs.toFixed(1)
  const result =
    op.outcome === 'ok' && op.kind === 'get'
      ? op.found === true
        ? ` → ${op.readValue ?? '?'} @ ${op.version ?? '?'}`
        : ' → not found'
      : op.outcome === 'ok' && op.version !== undefined
        ? ` @ ${op.version}`
        : op.error === undefined
          ? ''
          : ` (${op.error})`
  return `#${op.id} client ${op.client} via ${op.node} [${op.invokeMs.toFixed(1)}..${end} ms] ${what}: ${op.outcome ?? 'pending'}${result}`
}
