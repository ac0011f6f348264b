/**
 * Consistency levels and the failure values of the replication cores (architecture §4, §6).
 *
 * A request names how many replicas must answer: `one`, `quorum` (a majority of N, ⌊N/2⌋+1),
 * `all` (N) or an explicit number. With R + W > N every read quorum meets every write quorum,
 * which is what makes an acknowledged `w=quorum` write visible to a later `r=quorum` read.
 * N here is the partition's effective replica count (fewer owners than the configured N give a
 * smaller N); a number larger than that can never be met and fails the request at once.
 *
 * Expected failures are values, never exceptions (house style B7): `ReplicationFailure` carries
 * a stable `GOSSAMER_ERR_*` code and what was received, for the API to report.
 */

/** Per-request consistency for r or w. */
export type Consistency = 'one' | 'quorum' | 'all' | number

/** Codes a replicated request can fail with. */
export type ReplicationErrorCode =
  /** Too many replicas failed or refused for R (or W) to be reached. */
  | 'GOSSAMER_ERR_QUORUM_NOT_REACHED'
  /** The deadline passed before R replies (or W acks) arrived. */
  | 'GOSSAMER_ERR_TIMEOUT'
  /** Replicas rejected a conditional write, so W acks cannot be reached. */
  | 'GOSSAMER_ERR_PRECONDITION_FAILED'

/** What one replica slot of a request ended as (for error details and metrics). */
export interface ReplicaReport {
  /** The node the request went to (a fallback when `hintFor` is set). */
  readonly node: string
  /** The intended replica when `node` is a fallback. */
  readonly hintFor?: string | undefined
  readonly status:
    | 'pending'
    | 'acked'
    | 'hinted'
    | 'replied'
    | 'rejected'
    | 'failed'
    | 'unreachable'
}

/** A request that did not complete. */
export interface ReplicationFailure {
  readonly code: ReplicationErrorCode
  readonly message: string
  /** Acks (writes) or replies (reads) required. */
  readonly required: number
  /** Acks or replies that counted. */
  readonly received: number
  readonly replicas: readonly ReplicaReport[]
  /**
   * Replicas (not fallbacks) that answered a write `refused`: they do not hold the key's
   * partition, or place it on other replicas than the coordinator (the placement fence). Their
   * slots moved on to fallbacks, so `replicas` no longer shows them. Absent when none did.
   */
  readonly refused?: number | undefined
  /**
   * Replicas whose ack did not count towards the acks a write needs from settled replicas: they
   * took it as new replicas still streaming the key's partition in
   * (`PutReplyMessage.streamingIn`). Absent when none did.
   */
  readonly streamingIn?: number | undefined
}

/**
 * How many acks or replies `consistency` requires out of `replicaCount` replicas.
 * Always at least 1 (a request with no replicas cannot succeed). Throws RangeError for a number
 * that is not a positive integer: the API validates `r`/`w` before a core sees them.
 */
export function requiredCount(consistency: Consistency, replicaCount: number): number {
  if (typeof consistency === 'number') {
    if (!Number.isInteger(consistency) || consistency < 1) {
      throw new RangeError(`consistency must be one|quorum|all or an integer >= 1: ${consistency}`)
    }
    return consistency
  }
  switch (consistency) {
    case 'one':
      return 1
    case 'quorum':
      return Math.floor(replicaCount / 2) + 1
    case 'all':
      return Math.max(1, replicaCount)
  }
}

/** Parses `one|quorum|all|<positive integer>`; undefined for anything else. */
export function parseConsistency(text: string): Consistency | undefined {
  if (text === 'one' || text === 'quorum' || text === 'all') return text
  if (!/^[1-9]\d{0,5}$/.test(text)) return undefined
  return Number(text)
}
