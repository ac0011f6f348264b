/**
 * Counters of the memberlist core. Plain mutable numbers so a driver can add its own
 * (bytes in/out, malformed input) and a metrics exporter can read them without callbacks.
 */

/** Monotonic counters. The core increments the protocol ones; the driver the I/O ones. */
export interface MemberlistMetrics {
  /** Probe rounds started. */
  probes: number
  /** Probe rounds that failed (target suspected). */
  probeFailures: number
  /** Acks received that matched a pending handler. */
  acksReceived: number
  /** Nacks received that matched a pending handler. */
  nacksReceived: number
  /** Nodes we marked suspect (first suspicion, not confirmations). */
  suspicions: number
  /** Nodes we marked dead (not left). */
  deaths: number
  /** Nodes we marked left. */
  leaves: number
  /** Times we refuted a suspicion or death about ourselves. */
  refutations: number
  /** Messages handled (packet parts and stream frames). */
  messagesIn: number
  /** Messages sent (packet parts and stream frames). */
  messagesOut: number
  /** Push/pull exchanges completed (both directions). */
  pushPulls: number
  /** Input dropped as malformed or invalid (driver: undecodable bytes; core: bad fields). */
  malformedDropped: number
  /** Bytes received (driver). */
  bytesIn: number
  /** Bytes sent (driver). */
  bytesOut: number
}

/** A zeroed counter set. */
export function createMetrics(): MemberlistMetrics {
  return {
    probes: 0,
    probeFailures: 0,
    acksReceived: 0,
    nacksReceived: 0,
    suspicions: 0,
    deaths: 0,
    leaves: 0,
    refutations: 0,
    messagesIn: 0,
    messagesOut: 0,
    pushPulls: 0,
    malformedDropped: 0,
    bytesIn: 0,
    bytesOut: 0,
  }
}
